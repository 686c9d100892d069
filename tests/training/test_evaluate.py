"""`s2t-stream eval`: scoring (normalisation, WER overall and per voice, error counts, worked out
by hand here) and the command on the bundled samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2t_stream.cli import main
from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.training.evaluate import score, summary_table, table
from s2t_stream.training.manifest import Utterance, read_manifest
from s2t_stream.training.textnorm import normalize_text
from tests.helpers import SAMPLES

SAMPLES = SAMPLES / "samples.jsonl"


def test_score_counts_errors_overall_and_per_voice() -> None:
    utterances = [
        Utterance(Path("a.wav"), "the cat sat", "v1"),
        Utterance(Path("b.wav"), "on the mat", "v1"),
        Utterance(Path("c.wav"), "two dogs", "v2"),
    ]
    # a: "The CAT, sat!" is right once normalised; b: "mat" → "hat" and "again" inserted;
    # c: nothing heard, both words deleted.
    result = score(utterances, ["The CAT, sat!", "on the hat again", ""], num_beams=5)
    assert result.hypotheses == ("the cat sat", "on the hat again", "")
    assert (result.substitutions, result.deletions, result.insertions) == (1, 2, 1)
    assert result.words == 8
    assert result.wer == pytest.approx(4 / 8)
    assert result.per_voice == pytest.approx({"v1": 2 / 6, "v2": 1.0})
    report = result.to_json(utterances)
    assert report["hypotheses"][1] == {
        "audio": "b.wav",
        "voice": "v1",
        "style": None,
        "reference": "on the mat",
        "hypothesis": "on the hat again",
    }
    assert "hypotheses" not in result.to_json()
    rows = table([result]).splitlines()
    assert rows[2].split() == ["voice", "v1", "33.33%"]
    assert rows[4].split() == ["ALL", "50.00%"]
    assert "1 substituted, 2 deleted, 1 inserted" in rows[5]


def test_score_per_style_leaves_out_utterances_without_one() -> None:
    utterances = [
        Utterance(Path("a.wav"), "turn the lights on", "v1", style="assistant"),
        Utterance(Path("b.wav"), "two four", "v2", style="digits"),
        Utterance(Path("c.wav"), "no style here", "v1"),
    ]
    # a: one word of four wrong; b: right; c: all wrong, but it has no style
    result = score(utterances, ["turn the light on", "two four", ""], num_beams=1)
    assert result.per_style == pytest.approx({"assistant": 1 / 4, "digits": 0.0})
    assert result.wer == pytest.approx(4 / 9)
    rows = table([result]).splitlines()
    assert ["style", "assistant", "25.00%"] in [row.split() for row in rows]
    assert result.to_json()["per_style"] == {"assistant": 0.25, "digits": 0.0}


def test_summary_table_has_a_row_per_set_and_a_column_per_beam() -> None:
    one = [Utterance(Path("a.wav"), "a b", "v")]
    results = {
        "test": [score(one, ["a b"], num_beams=1), score(one, ["a"], num_beams=5)],
        "real-lj": [score(one, ["x y"], num_beams=1)],
    }
    rows = [row.split() for row in summary_table(results).splitlines()]
    assert rows[0] == ["set", "beam", "1", "beam", "5", "words"]
    assert rows[2] == ["test", "0.00%", "50.00%", "2"]
    assert rows[3] == ["real-lj", "100.00%", "2"]


def test_score_needs_one_hypothesis_per_utterance() -> None:
    with pytest.raises(ValueError, match="expected 1 hypotheses, one per utterance, got 2"):
        score([Utterance(Path("a.wav"), "a", "v")], ["a", "b"], num_beams=1)


@pytest.mark.model
def test_eval_command_on_the_bundled_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bundle: Bundle
) -> None:
    out = tmp_path / "wer.json"
    assert main(["eval", str(SAMPLES), "--beams", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ALL" in printed
    report = json.loads(out.read_text())
    (evaluated,) = report["sets"]
    assert evaluated["name"] == "samples"
    (result,) = evaluated["results"]
    utterances = read_manifest(SAMPLES)
    assert set(result["per_voice"]) == {u.voice for u in utterances}
    # the hypotheses are the library's greedy transcripts, normalised
    greedy = TranscribeOptions(decoding=DecodingOptions(num_beams=1))
    transcriber = Transcriber(bundle, greedy)
    waves = [load_audio(u.audio, transcriber.sample_rate) for u in utterances]
    texts = [t.text for t in transcriber.transcribe(waves)]
    assert [h["hypothesis"] for h in result["hypotheses"]] == [
        normalize_text(t) or "" for t in texts
    ]
    assert [h["reference"] for h in result["hypotheses"]] == [u.text for u in utterances]
