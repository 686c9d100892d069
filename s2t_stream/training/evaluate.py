"""Evaluation: a manifest's utterances → offline transcripts → WER overall, per voice and per text
style, with error counts and every hypothesis, for one or more beam sizes; JSON and tables."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from s2t_stream.model.audio import load_audio
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.training.manifest import Utterance
from s2t_stream.training.wer import corpus_wer, grouped, normalize, word_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    """WER (0–1) overall, per voice and per text style (utterances without a style are left out
    of `per_style`) for one decoding setting, its error counts (as jiwer aligns them) and every
    normalised hypothesis, in manifest order."""

    num_beams: int
    wer: float
    per_voice: dict[str, float]
    per_style: dict[str, float]
    utterances: int
    words: int
    substitutions: int
    deletions: int
    insertions: int
    hypotheses: tuple[str, ...]
    seconds: float
    audio_s: float
    lm_weight: float = 0.0
    ctc_weight: float = 0.0
    """The fusion and joint-decoding weights the search used (`SearchSettings`)."""

    def to_json(self, utterances: Sequence[Utterance] = ()) -> dict[str, Any]:
        """The summary; with the evaluated `utterances`, also each one's reference and
        hypothesis (for error analysis)."""
        report: dict[str, Any] = {
            "num_beams": self.num_beams,
            "lm_weight": self.lm_weight,
            "ctc_weight": self.ctc_weight,
            "wer": round(self.wer, 5),
            "per_voice": {k: round(v, 5) for k, v in sorted(self.per_voice.items())},
            "per_style": {k: round(v, 5) for k, v in sorted(self.per_style.items())},
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
                {
                    "audio": str(u.audio),
                    "voice": u.voice,
                    "style": u.style,
                    "reference": u.text,
                    "hypothesis": h,
                }
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
    result = score(utterances, hyps, num_beams=num_beams, seconds=seconds, audio_s=audio_s)
    settings = run.settings  # greedy's default weights differ from beam search's
    return replace(result, lm_weight=settings.lm_weight, ctc_weight=settings.ctc_weight)


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
    per_voice, per_style = voice_and_style(corpus_wer, utterances, refs, hyps)
    return EvalResult(
        num_beams=num_beams,
        wer=errors.wer,
        per_voice=per_voice,
        per_style=per_style,
        utterances=len(utterances),
        words=errors.words,
        substitutions=errors.substitutions,
        deletions=errors.deletions,
        insertions=errors.insertions,
        hypotheses=tuple(normalize(h) for h in hyps),
        seconds=seconds,
        audio_s=audio_s,
    )


def voice_and_style(
    score: Callable[[list[str], list[str]], float],
    utterances: Sequence[Utterance],
    references: Sequence[str],
    hypotheses: Sequence[str],
) -> tuple[dict[str, float], dict[str, float]]:
    """`score` (e.g. `corpus_wer`) of the utterances' pairs per voice, and per text style
    (utterances without a style left out), by name."""
    styled = [i for i, u in enumerate(utterances) if u.style is not None]
    per_voice = grouped(score, references, hypotheses, [u.voice for u in utterances])
    per_style = grouped(
        score,
        [references[i] for i in styled],
        [hypotheses[i] for i in styled],
        [str(utterances[i].style) for i in styled],
    )
    return per_voice, per_style


def _rows(label: str, groups: Sequence[dict[str, float]]) -> list[str]:
    names = sorted({name for group in groups for name in group})
    cells = (
        (name, "".join(f"  {100 * g.get(name, float('nan')):7.2f}%" for g in groups))
        for name in names
    )
    return [f"{label + ' ' + name:32s}{row}" for name, row in cells]


def table(results: Sequence[EvalResult]) -> str:
    """A plain-text table: one row per voice and per text style (when there is more than one),
    one column per beam setting."""
    header = f"{'':32s}" + "".join(f"  beam {r.num_beams:<3d}" for r in results)
    rows = [header, "-" * len(header)]
    rows += _rows("voice", [r.per_voice for r in results])
    if len({style for r in results for style in r.per_style}) > 1:
        rows += _rows("style", [r.per_style for r in results])
    rows.append(f"{'ALL':32s}" + "".join(f"  {100 * r.wer:7.2f}%" for r in results))
    for r in results:
        rows.append(
            f"beam {r.num_beams}: {r.words} words, {r.substitutions} substituted, "
            f"{r.deletions} deleted, {r.insertions} inserted"
        )
    return "\n".join(rows)


def summary_table(results: Mapping[str, Sequence[EvalResult]]) -> str:
    """One row per evaluation set (manifest name), one column per beam setting: the WER."""
    beams = sorted({r.num_beams for rs in results.values() for r in rs})
    header = f"{'set':32s}" + "".join(f"  beam {b:<3d}" for b in beams) + "   words"
    rows = [header, "-" * len(header)]
    for name, rs in results.items():
        by_beam = {r.num_beams: r for r in rs}
        cells = "".join(
            f"  {100 * by_beam[b].wer:7.2f}%" if b in by_beam else f"  {'':8s}" for b in beams
        )
        rows.append(f"{name:32s}{cells}  {rs[0].words if rs else 0:6d}")
    return "\n".join(rows)
