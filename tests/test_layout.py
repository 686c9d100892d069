"""The house rules of the code's layout, checked on the source: no import cycles; each layer
imports only the layers below it (inference never imports training or a transport); the command
line answers `--help` without torch; and inference runs with every optional extra missing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SAMPLES, sample_texts

ROOT = Path(__file__).resolve().parents[1]

# Lower layers first; a module may import its own package and packages of lower rank.
RANKS = {
    "s2t_stream.errors": 0,
    "s2t_stream.defaults": 1,
    "s2t_stream.model": 2,
    "s2t_stream.streaming": 3,
    "s2t_stream.offline": 4,
    "s2t_stream.io": 4,
    "s2t_stream.translation": 4,
    "s2t_stream.training": 5,
    "s2t_stream.server": 6,
    "gui": 6,
    "s2t_stream.cli": 7,
    "s2t_stream.__main__": 8,
}
INFERENCE = (
    "s2t_stream.model",
    "s2t_stream.streaming",
    "s2t_stream.offline",
    "s2t_stream.io",
    "s2t_stream.translation",
)
TRANSPORTS = ("s2t_stream.cli", "s2t_stream.server", "gui")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    files = [*ROOT.glob("s2t_stream/**/*.py"), *ROOT.glob("gui/*.py")]
    return {module_name(f): f for f in files}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module `path` imports — at the top, inside functions, or for type checking
    only (`from x import y` counts as x.y where that is a module, else x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name not in ("s2t_stream", "gui"):  # packages' own inits re-export lazily
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    """Module → the project modules it imports. The package root `s2t_stream` is left out: it
    re-exports the public API lazily (its imports are for type checkers only)."""
    modules = project_modules()
    return {
        name: imports_of(path, modules) - {name}
        for name, path in modules.items()
        if name != "s2t_stream"
    }


def layer(module: str) -> str:
    """The entry of RANKS that `module` belongs to ('' when none)."""
    owners = [p for p in RANKS if module == p or module.startswith(p + ".")]
    return max(owners, key=len, default="")


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target] if target in path else [node, target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_each_layer_imports_only_lower_layers() -> None:
    wrong = []
    for module, targets in graph().items():
        here = layer(module)
        for target in targets:
            there = layer(target)
            if there != here and RANKS[there] >= RANKS[here]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_inference_never_imports_training_or_a_transport() -> None:
    offending = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if module.startswith(INFERENCE)
        for target in targets
        if target.startswith(("s2t_stream.training", *TRANSPORTS))
    ]
    assert not offending, "\n".join(offending)


def test_the_layer_table_covers_every_module() -> None:
    modules = set(project_modules()) - {"s2t_stream", "gui"}
    assert [m for m in sorted(modules) if not layer(m)] == []


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_help_and_usage_errors_import_no_torch() -> None:
    help_run = python("-X", "importtime", "-m", "s2t_stream", "--help")
    assert help_run.returncode == 0 and "transcribe" in help_run.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in help_run.stderr.splitlines()]
    assert "torch" not in imported and not any(m.startswith("torch.") for m in imported)
    probe = python(
        "-c",
        "import sys; from s2t_stream.cli import main; code = main(['stream', '--step', '0', 'x']);"
        "print(code, 'torch' in sys.modules)",
    )
    assert probe.stdout.split() == ["2", "False"], probe.stderr
    assert "argument --step" in probe.stderr


# What a base install lacks: the 'server', 'gui', 'mic', 'train' and 'bench' extras.
WITHOUT_EXTRAS = """
import sys
for name in ("websockets", "prometheus_client", "PyQt6", "sounddevice", "jiwer", "matplotlib"):
    sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
from s2t_stream.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.model
def test_transcribe_works_without_the_optional_extras() -> None:
    wav = SAMPLES / "sample2-espeak-en-us-f5.wav"
    done = python("-c", WITHOUT_EXTRAS, "transcribe", str(wav))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sample_texts()[1]


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (["serve", "--port", "0"], "server"),
        (["client", "x.wav"], "server"),
        (["gui"], "gui"),
        (["eval", "manifest.jsonl"], "train"),
    ],
)
def test_commands_needing_an_extra_say_which_in_one_line(command: list[str], extra: str) -> None:
    done = python("-c", WITHOUT_EXTRAS, *command)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"s2t-stream[{extra}]" in lines[0], done.stderr
