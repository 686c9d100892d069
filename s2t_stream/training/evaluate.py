"""Evaluation: a manifest (JSON lines: audio, text, voice) → offline transcripts → WER overall
and per voice (jiwer), with error counts and every hypothesis, for one or more beam sizes; JSON
and a short table."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import load_audio
from s2t_stream.transcribe import Transcriber

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    audio: Path
    text: str
    voice: str


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


def read_utterances(manifest: Path, limit: int | None = None) -> list[Utterance]:
    """Manifest lines `{"audio": path relative to the manifest, "text": ..., "voice": ...}`."""
    if not manifest.is_file():
        raise S2TError(f"{manifest}: manifest not found")
    utterances = []
    with manifest.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                utterances.append(
                    Utterance(
                        manifest.parent / entry["audio"], entry["text"], entry.get("voice", "?")
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise S2TError(
                    f"{manifest}:{number}: expected a JSON object with 'audio' and 'text' ({e})"
                ) from e
    return utterances[:limit] if limit else utterances


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
    """Normalise the hypotheses as the references were (lower case, no punctuation, digits
    spelled out) and score them with jiwer, overall and per voice."""
    import jiwer

    from s2t_stream.training.textnorm import normalize_text

    if len(hyps) != len(utterances):
        raise ValueError(
            f"expected {len(utterances)} hypotheses, one per utterance, got {len(hyps)}"
        )
    refs = [u.text for u in utterances]
    hyps = [normalize_text(h) or "" for h in hyps]
    by_voice: dict[str, list[int]] = defaultdict(list)
    for i, u in enumerate(utterances):
        by_voice[u.voice].append(i)
    per_voice = {
        voice: float(jiwer.wer([refs[i] for i in idx], [hyps[i] for i in idx]))
        for voice, idx in by_voice.items()
    }
    counts = jiwer.process_words(refs, hyps)
    return EvalResult(
        num_beams=num_beams,
        wer=float(counts.wer),
        per_voice=per_voice,
        utterances=len(utterances),
        words=sum(len(r.split()) for r in refs),
        substitutions=counts.substitutions,
        deletions=counts.deletions,
        insertions=counts.insertions,
        hypotheses=tuple(hyps),
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
