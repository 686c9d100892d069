"""scripts/model_card.py --refresh: a card's evaluation and decoding sections made anew from an
eval report, its model and data sections kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT, script_module

CARD = """# s2t-demo-en

Intro.

## Targets

| set | target (beam 5) | measured | met |
| --- | --- | --- | --- |
| test-style | ≤ 10 % | 35.0 % | **no** |

## Model

- Files: 1.0 MB (weights stored as float16).
- Trained in 18 stages.

## Data

Training: 20.0 h.

## Word error rate (offline; `s2t-stream eval`)

| set | greedy | beam 5 | utterances | words |
| --- | --- | --- | --- | --- |
| test-style: old | 39.55 % | 35.03 % | 300 | 1770 |

## Reproduce

Run it.
"""


def result(beams: int, wer: float, ctc_weight: float = 0.0) -> dict[str, object]:
    hypothesis = {"audio": "a.wav", "voice": "espeak:en", "style": "dictionary",
                  "reference": "a b", "hypothesis": "a c"}  # fmt: skip
    return {"num_beams": beams, "wer": wer, "utterances": 1, "words": 2, "per_style": {},
            "per_voice": {}, "hypotheses": [hypothesis], "ctc_weight": ctc_weight,
            "lm_weight": 0.0}  # fmt: skip


def test_refresh_rewrites_the_measured_sections_and_keeps_the_rest(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "ctc").mkdir(parents=True)
    (model / "README.md").write_text(CARD)
    (model / "ctc" / "config.json").write_text(json.dumps({"weight": 0.1, "vocab_size": 8}))
    (model / "model.safetensors").write_bytes(b"x" * 2_000_000)
    results = [result(1, 0.3887, ctc_weight=0.2), result(5, 0.3345, ctc_weight=0.1)]
    report = {"model": "m", "sets": [{"name": "test-style", "manifest": "t", "results": results}]}
    (tmp_path / "eval.json").write_text(json.dumps(report))
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "model_card.py"), "--refresh",
         "--eval", str(tmp_path / "eval.json"), "--model", str(model)],
        check=True, cwd=REPO_ROOT,
    )  # fmt: skip
    card = (model / "README.md").read_text()
    assert "| test-style | ≤ 10 % | 33.5 % | **no** |" in card
    assert "38.87 % | 33.45 %" in card and "35.03 %" not in card
    assert "- `ctc/`: a CTC head (joint CTC/attention decoding), default weight 0.1 in beam" in card
    assert "The `--beam 1` column below was measured with `--ctc-weight 0.2`." in card
    assert "- Files: 2.0 MB" in card  # the head's folder counted too
    for kept in ("Intro.", "- Trained in 18 stages.", "Training: 20.0 h.", "Run it."):
        assert kept in card
    headings = [line for line in card.splitlines() if line.startswith("## ")]
    wer = "## Word error rate (offline; `s2t-stream eval`)"
    assert headings == ["## Targets", "## Model", "## Decoding", "## Data", wer, "## Reproduce"]
    saved = json.loads((model / "eval.json").read_text())
    assert "hypotheses" not in saved["sets"][0]["results"][0]  # the card keeps the numbers


def test_the_data_section_counts_real_takes_apart_from_their_augmented_copies(
    tmp_path: Path,
) -> None:
    """Copies are told apart by where they lie (the corpus's audio/train-real/), not by their
    labels: a copy may carry none."""
    card = script_module("model_card", folder="scripts")
    take = {"text": "four", "duration": 0.5, "voice": "real:fsdd:george", "style": "digits"}
    given = [{**take, "audio": f"/fsdd/4_george_{n}.wav", "augment": []} for n in (5, 6, 7)]
    copies = [
        {**take, "audio": f"audio/train-real/4_george_{n}-0a.flac", "augment": labels}
        for n, labels in ((5, ["gain-3.0"]), (6, []))
    ]

    def line(entries: list[dict[str, object]]) -> str:
        manifest = tmp_path / "train-real.jsonl"
        manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
        corpus = {"options": {}, "hours": {}, "utterances": {}}
        (text,) = [t for t in card._extra_splits(corpus, tmp_path, "train,train-real") if t]
        return text

    both = line(given + copies)
    assert both.startswith("train-real: 3 recordings of real people as given, and 2 augmented")
    assert line(copies).startswith("train-real: 2 recordings of real people, augmented as")
    only = line(given)
    assert only.startswith("train-real: 3 recordings of real people, the Free Spoken Digit")
