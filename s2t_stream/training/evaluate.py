"""Evaluation: a manifest's utterances → offline transcripts → WER overall and per voice, with
error counts and every hypothesis, for one or more beam sizes; JSON and a short table."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from s2t_stream.model.audio import load_audio
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.training.manifest import Utterance
from s2t_stream.training.wer import grouped_wer, normalize, word_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    """WER (0–1) overall and per voice for one decoding setting, its error counts (as jiwer
    aligns them) and every normalised hypothesis, in manifest order."""

    num_beams: int
    wer: float
    per_voice: dict[str, float]
    utterances: int
    words: int
    substitutions: int
    deletions: int
    insertions: int
    hypotheses: tuple[str, ...]
    seconds: float
    audio_s: float

    def to_json(self, utterances: Sequence[Utterance] = ()) -> dict[str, Any]:
        """The summary; with the evaluated `utterances`, also each one's reference and
        hypothesis (for error analysis)."""
        report: dict[str, Any] = {
            "num_beams": self.num_beams,
            "wer": round(self.wer, 5),
            "per_voice": {k: round(v, 5) for k, v in sorted(self.per_voice.items())},
            "utterances": self.utterances,
            "words": self.words,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "decode_s": round(self.seconds, 2),
            "audio_s": round(self.audio_s, 2),
            "rtf": round(self.seconds / max(self.audio_s, 1e-9), 4),
        }
        if utterances:
            report["hypotheses"] = [
                {"audio": str(u.audio), "voice": u.voice, "reference": u.text, "hypothesis": h}
                for u, h in zip(utterances, self.hypotheses, strict=True)
            ]
        return report


def evaluate(
    transcriber: Transcriber, utterances: Sequence[Utterance], num_beams: int
) -> EvalResult:
    """Transcribe every utterance with `num_beams` and score against its normalised text."""
    decoding = replace(transcriber.options.decoding, num_beams=num_beams)
    run = Transcriber(transcriber.bundle, replace(transcriber.options, decoding=decoding))
    waves = [load_audio(u.audio, run.sample_rate) for u in utterances]
    start = time.perf_counter()
    hyps = [t.text for t in run.transcribe(waves)]
    seconds = time.perf_counter() - start
    audio_s = sum(len(w) for w in waves) / run.sample_rate
    return score(utterances, hyps, num_beams=num_beams, seconds=seconds, audio_s=audio_s)


def score(
    utterances: Sequence[Utterance],
    hyps: Sequence[str],
    *,
    num_beams: int,
    seconds: float = 0.0,
    audio_s: float = 0.0,
) -> EvalResult:
    """Score the hypotheses against the utterances' texts, overall and per voice, both
    normalised as the training targets are (`wer.normalize`)."""
    if len(hyps) != len(utterances):
        raise ValueError(
            f"expected {len(utterances)} hypotheses, one per utterance, got {len(hyps)}"
        )
    refs = [u.text for u in utterances]
    errors = word_errors(refs, hyps)
    return EvalResult(
        num_beams=num_beams,
        wer=errors.wer,
        per_voice=grouped_wer(refs, hyps, [u.voice for u in utterances]),
        utterances=len(utterances),
        words=errors.words,
        substitutions=errors.substitutions,
        deletions=errors.deletions,
        insertions=errors.insertions,
        hypotheses=tuple(normalize(h) for h in hyps),
        seconds=seconds,
        audio_s=audio_s,
    )


def table(results: Sequence[EvalResult]) -> str:
    """A plain-text table: one row per voice, one column per beam setting."""
    voices = sorted({v for r in results for v in r.per_voice})
    header = f"{'voice':32s}" + "".join(f"  beam {r.num_beams:<3d}" for r in results)
    rows = [header, "-" * len(header)]
    for voice in voices:
        cells = "".join(f"  {100 * r.per_voice.get(voice, float('nan')):7.2f}%" for r in results)
        rows.append(f"{voice:32s}{cells}")
    rows.append(f"{'ALL':32s}" + "".join(f"  {100 * r.wer:7.2f}%" for r in results))
    for r in results:
        rows.append(
            f"beam {r.num_beams}: {r.words} words, {r.substitutions} substituted, "
            f"{r.deletions} deleted, {r.insertions} inserted"
        )
    return "\n".join(rows)
