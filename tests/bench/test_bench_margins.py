"""bench/bench_margins.py: the margins it adds, the clips it picks, its table and its errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from s2t_stream.offline.transcriber import Transcriber
from tests.helpers import SAMPLES, script_module


def bench() -> ModuleType:
    return script_module("bench_margins")


def test_margins_parse_lead_and_trail_pairs_and_refuse_anything_else() -> None:
    margins = bench().margins
    assert margins("0/0,0.2/0.5") == [(0.0, 0.0), (0.2, 0.5)]
    for bad in ("0.2", "a/b", "0.1/-1", "0/0/0", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="expected LEAD/TRAIL seconds"):
            margins(bad)


def test_a_limit_spreads_the_clips_over_the_whole_manifest() -> None:
    spread = bench().spread
    clips = list(range(300))  # a manifest sorted by digit: 30 of each
    assert spread(clips, 10) == list(range(0, 300, 30))  # one of each digit
    assert spread(clips, None) == clips and spread(clips, 500) == clips


@pytest.mark.model
def test_the_bundled_samples_with_and_without_margins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table has a row per margin, the first (none) reading the samples, greedy, with few
    errors (5 of their 44 words wrong today), and the JSON keeps the same rows."""
    out = tmp_path / "margins.json"
    manifest = SAMPLES / "samples.jsonl"
    argv = ["--manifest", str(manifest), "--margins", "0/0,0.3/0.3", "--json", str(out)]
    heard: list[list[int]] = []  # the lengths each margin's decoding was given
    transcribe = Transcriber.transcribe

    def spy(self: Transcriber, waves: list[np.ndarray]) -> list[Any]:
        heard.append([len(w) for w in waves])
        return transcribe(self, waves)

    monkeypatch.setattr(Transcriber, "transcribe", spy)
    assert bench().main(argv) == 0
    assert len(heard) == 2 and [b - a for a, b in zip(*heard, strict=True)] == [9600] * 5
    table = capsys.readouterr().out.splitlines()
    assert table[:2] == ["| lead s | trail s | WER |", "| --- | --- | --- |"] and len(table) == 4
    rows = json.loads(out.read_text())["rows"]
    assert [(r["lead_s"], r["trail_s"]) for r in rows] == [(0.0, 0.0), (0.3, 0.3)]
    assert rows[0]["wer"] < 0.2 and all(0 <= r["wer"] <= 1 for r in rows)


def test_bad_weights_and_missing_files_are_one_line_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main = bench().main
    samples = str(SAMPLES / "samples.jsonl")  # a clean checkout has no corpus
    assert main(["--manifest", samples, "--ctc-weight", "1"]) == 2
    assert "ctc_weight must be a number in [0, 1)" in capsys.readouterr().err
    assert main(["--manifest", "/nowhere/x.jsonl"]) == 2
    assert "bench_margins: /nowhere/x.jsonl: manifest not found" in capsys.readouterr().err
