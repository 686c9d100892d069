"""bench/bench_work.py: the engine's work, counted by hooks on the encoder and decoder, is one
encoder pass per update and the same for the same model and audio however often it is run (the
property that lets it compare models on a noisy machine), and the report has a row per model."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from s2t_stream.training.harness import build_stream
from tests.helpers import BUNDLED_MODEL, sample_paths, sample_texts, script_module

pytestmark = pytest.mark.model


def bench() -> ModuleType:
    return script_module("bench_work")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("work") / "test.jsonl"
    with path.open("w") as f:
        for audio, text in zip(sample_paths(), sample_texts(), strict=True):
            f.write(json.dumps({"audio": str(audio), "text": text}) + "\n")
    return path


def test_counts_one_encoder_pass_per_update_and_repeat_exactly(manifest: Path) -> None:
    module = bench()
    streams = [build_stream(manifest, minutes=0.3, seed=0)]
    first = module.count(str(BUNDLED_MODEL), streams)
    second = module.count(str(BUNDLED_MODEL), streams)
    assert first.updates > 0
    assert first.encoder_calls == first.updates
    assert first.encoder_frames > 0
    assert first.decoder_tokens >= first.decoder_calls > first.updates
    assert first.finals > 0 and first.final_words > 0
    counted = ("encoder_calls", "encoder_frames", "decoder_calls", "decoder_tokens", "final_words")
    assert [getattr(first, k) for k in counted] == [getattr(second, k) for k in counted]


def test_report_has_a_row_per_model(
    manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "work.json"
    model = str(BUNDLED_MODEL)
    args = ["--model", model, "--model", model, "--manifest", str(manifest), "--streams", "1"]
    bench().main([*args, "--minutes", "0.2", "--json", str(out)])
    report = json.loads(out.read_text())
    assert [row["model"] for row in report["rows"]] == [model, model]
    assert report["rows"][0]["decoder_calls"] == report["rows"][1]["decoder_calls"]
    assert capsys.readouterr().out.count(f"| {model} |") == 2
