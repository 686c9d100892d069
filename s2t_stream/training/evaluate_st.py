"""Translation evaluation (`s2t-stream eval --tgt-lang`): a manifest's utterances → translations
into one language → corpus BLEU and chrF (0–100, `bleu.py`) against each utterance's machine
reference (`Utterance.translations`), overall, per voice and per text style, for one or more beam
sizes; JSON and plain-text tables. Two systems can be scored on the same audio:

- "e2e": a speech-translation model decoding straight into the language (its tag forced);
- "cascade": an ASR model's transcripts, each segment machine-translated, as `transcribe --mt`
  and the streaming finals translate them.

Utterances without a reference in the language are left out, and counted. WER is evaluate.py's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import load_audio
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.offline.transcription import Transcription
from s2t_stream.training.bleu import corpus_bleu, corpus_chrf
from s2t_stream.training.evaluate import voice_and_style
from s2t_stream.training.manifest import Utterance
from s2t_stream.training.targets import normalize_translation
from s2t_stream.training.wer import word_errors

if TYPE_CHECKING:
    from s2t_stream.translation.translator import Translator

log = logging.getLogger(__name__)

E2E, CASCADE = "e2e", "cascade"
SYSTEMS = (E2E, CASCADE)  # the order of columns and JSON keys


class Decoder(Protocol):
    """What decodes audio: a `Transcriber` set to one beam size and target language."""

    @property
    def sample_rate(self) -> int: ...

    def transcribe(self, waveforms: Sequence[np.ndarray]) -> list[Transcription]: ...


@dataclass(frozen=True)
class Decoded:
    """One decoding of a set's recordings: their transcriptions (or end-to-end translations) in
    order, the wall-clock seconds the decoding took, and the seconds of audio decoded."""

    transcriptions: tuple[Transcription, ...]
    seconds: float
    audio_s: float


def decode(decoder: Decoder, waves: Sequence[np.ndarray]) -> Decoded:
    """Decode `waves` (mono float32 at `decoder.sample_rate`), timed."""
    start = time.perf_counter()
    transcriptions = tuple(decoder.transcribe(waves))
    seconds = time.perf_counter() - start
    if len(transcriptions) != len(waves):
        raise ValueError(
            f"expected one transcription per recording ({len(waves)}), got {len(transcriptions)}"
        )
    return Decoded(transcriptions, seconds, sum(len(w) for w in waves) / decoder.sample_rate)


def configured(transcriber: Transcriber, num_beams: int, tgt_lang: str | None) -> Transcriber:
    """`transcriber`'s model and options, but with `num_beams` beams, decoding into `tgt_lang`
    (None: transcribing). Raises OptionsError, naming the model's languages, for one it lacks."""
    decoding = replace(transcriber.options.decoding, num_beams=num_beams)
    options = replace(transcriber.options, decoding=decoding, tgt_lang=tgt_lang)
    return Transcriber(transcriber.bundle, options)


def with_translation(
    utterances: Sequence[Utterance], lang: str, source: str
) -> tuple[list[Utterance], int]:
    """The utterances with a (non-empty) translation into `lang`, in order, and how many have
    none. Raises S2TError naming `source` (the manifest) when none has one."""
    kept = [u for u in utterances if u.translations.get(lang)]
    if not kept:
        found = sorted({code for u in utterances for code, text in u.translations.items() if text})
        raise S2TError(
            f"{source}: no utterance has a translation into {lang!r} to score against (expected "
            f'lines with "translations": {{"{lang}": …}}, as `s2t-stream corpus --tgt-langs` '
            f"writes them; found {'only ' + ', '.join(found) if found else 'none'})"
        )
    return kept, len(utterances) - len(kept)


@dataclass(frozen=True)
class TranslationResult:
    """One system's translations of one set into `lang` with `num_beams` beams, scored: corpus
    BLEU and chrF (0–100) overall, BLEU (0–100) per voice and per text style (utterances without
    a style left out of `per_style`). `items`: the utterances scored, in manifest order;
    `skipped`: how many of the set's had no reference in `lang`. `hypotheses` and `references`
    are normalised as scored (`normalize_translation`); a cascade also keeps its `transcripts`
    (as the ASR model wrote them) and their WER (0–1) against the utterances' texts.
    `seconds`: wall-clock decoding time plus, for a cascade, `mt_seconds` of machine
    translation; `audio_s`: seconds of audio decoded."""

    lang: str
    system: str  # E2E or CASCADE
    num_beams: int
    bleu: float
    chrf: float
    per_voice: dict[str, float]
    per_style: dict[str, float]
    items: tuple[Utterance, ...]
    skipped: int
    references: tuple[str, ...]
    hypotheses: tuple[str, ...]
    transcripts: tuple[str, ...] | None = None
    transcript_wer: float | None = None
    seconds: float = 0.0
    mt_seconds: float = 0.0
    audio_s: float = 0.0

    @property
    def rtf(self) -> float:
        """Real-time factor: `seconds` per second of audio."""
        return self.seconds / max(self.audio_s, 1e-9)

    def to_json(self, detailed: bool = False) -> dict[str, Any]:
        """The summary (scores rounded to 0.01); `detailed`: also each utterance's normalised
        reference and hypothesis (and transcript, for a cascade), for error analysis."""
        report: dict[str, Any] = {
            "num_beams": self.num_beams,
            "bleu": round(self.bleu, 2),
            "chrf": round(self.chrf, 2),
            "per_voice": {k: round(v, 2) for k, v in sorted(self.per_voice.items())},
            "per_style": {k: round(v, 2) for k, v in sorted(self.per_style.items())},
            "utterances": len(self.items),
            "skipped": self.skipped,
            "decode_s": round(self.seconds, 2),
            "audio_s": round(self.audio_s, 2),
            "rtf": round(self.rtf, 4),
        }
        if self.system == CASCADE:
            report["mt_s"] = round(self.mt_seconds, 2)
        if self.transcript_wer is not None:
            report["transcript_wer"] = round(self.transcript_wer, 5)
        if detailed:
            report["hypotheses"] = [
                {
                    "audio": str(u.audio),
                    "voice": u.voice,
                    "style": u.style,
                    "reference": reference,
                    "hypothesis": hypothesis,
                }
                for u, reference, hypothesis in zip(
                    self.items, self.references, self.hypotheses, strict=True
                )
            ]
            if self.transcripts is not None:
                for entry, transcript in zip(report["hypotheses"], self.transcripts, strict=True):
                    entry["transcript"] = transcript
        return report


def score_translations(
    utterances: Sequence[Utterance],
    hyps: Sequence[str],
    *,
    lang: str,
    system: str,
    num_beams: int,
    skipped: int = 0,
    transcripts: Sequence[str] | None = None,
    seconds: float = 0.0,
    mt_seconds: float = 0.0,
    audio_s: float = 0.0,
) -> TranslationResult:
    """Score `hyps` (one per utterance, in order) against the utterances' translations into
    `lang`; with a cascade's `transcripts`, also their WER against the utterances' texts.
    Raises ValueError when the counts differ, when there is nothing to score, or when an
    utterance has no translation into `lang`."""
    if system not in SYSTEMS:
        raise ValueError(f"expected a system in {SYSTEMS}, got {system!r}")
    if len(hyps) != len(utterances):
        raise ValueError(
            f"expected {len(utterances)} translations, one per utterance, got {len(hyps)}"
        )
    if transcripts is not None and len(transcripts) != len(utterances):
        raise ValueError(
            f"expected {len(utterances)} transcripts, one per utterance, got {len(transcripts)}"
        )
    if not utterances:
        raise ValueError("expected at least one utterance to score, got none")
    missing = [u for u in utterances if not u.translations.get(lang)]
    if missing:
        raise ValueError(
            f"expected every utterance to have a translation into {lang!r}; {missing[0].audio} "
            f"has {', '.join(sorted(missing[0].translations)) or 'none'}"
        )
    refs = [u.translations[lang] for u in utterances]
    per_voice, per_style = voice_and_style(corpus_bleu, utterances, refs, hyps)
    return TranslationResult(
        lang=lang,
        system=system,
        num_beams=num_beams,
        bleu=corpus_bleu(refs, hyps),
        chrf=corpus_chrf(refs, hyps),
        per_voice=per_voice,
        per_style=per_style,
        items=tuple(utterances),
        skipped=skipped,
        references=tuple(normalize_translation(r) for r in refs),
        hypotheses=tuple(normalize_translation(h) for h in hyps),
        transcripts=None if transcripts is None else tuple(transcripts),
        transcript_wer=(
            None
            if transcripts is None
            else word_errors([u.text for u in utterances], transcripts).wer
        ),
        seconds=seconds,
        mt_seconds=mt_seconds,
        audio_s=audio_s,
    )


def score_e2e(
    decoded: Decoded,
    utterances: Sequence[Utterance],
    *,
    lang: str,
    num_beams: int,
    skipped: int = 0,
) -> TranslationResult:
    """Score a speech-translation model's decoding (into `lang`) of the utterances."""
    return score_translations(
        utterances,
        [t.text for t in decoded.transcriptions],
        lang=lang,
        system=E2E,
        num_beams=num_beams,
        skipped=skipped,
        seconds=decoded.seconds,
        audio_s=decoded.audio_s,
    )


def translate_segments(transcription: Transcription, translator: Translator) -> str:
    """A transcription translated segment by segment (as `transcribe --mt` does), joined."""
    translations = (translator.translate(s.text) for s in transcription.segments if s.text)
    return " ".join(t for t in translations if t)


def score_cascade(
    decoded: Decoded,
    translator: Translator,
    utterances: Sequence[Utterance],
    *,
    lang: str,
    num_beams: int,
    skipped: int = 0,
) -> TranslationResult:
    """Translate an ASR model's transcripts of the utterances with `translator` (into `lang`)
    and score them; the translating time counts in `seconds` and is also `mt_seconds`."""
    start = time.perf_counter()
    hyps = [translate_segments(t, translator) for t in decoded.transcriptions]
    mt_seconds = time.perf_counter() - start
    return score_translations(
        utterances,
        hyps,
        lang=lang,
        system=CASCADE,
        num_beams=num_beams,
        skipped=skipped,
        transcripts=[t.text for t in decoded.transcriptions],
        seconds=decoded.seconds + mt_seconds,
        mt_seconds=mt_seconds,
        audio_s=decoded.audio_s,
    )


@dataclass(frozen=True)
class Systems:
    """What `evaluate_set` scores. End to end: `e2e(num_beams, lang)` gives the decoder into
    `lang`, for each language in `e2e_langs`. The cascade: `asr(num_beams)` gives the ASR
    decoder, whose transcripts `translators[lang]` translate, for each language in
    `translators`. Either may be absent."""

    e2e: Callable[[int, str], Decoder] | None = None
    e2e_langs: frozenset[str] = frozenset()
    asr: Callable[[int], Decoder] | None = None
    translators: Mapping[str, Translator] = field(default_factory=dict)


def evaluate_set(
    utterances: Sequence[Utterance],
    langs: Sequence[str],
    beams: Sequence[int],
    systems: Systems,
    source: str,
) -> list[TranslationResult]:
    """Every result for one set (`source`: its manifest, for errors): for each language, beam
    size and system that `systems` has. Each recording is loaded once per sample rate; the
    cascade's ASR decoding is shared by the languages whose references cover the same
    utterances (its time then counts in each). Raises S2TError (`with_translation`) before
    decoding anything when a language has no reference at all."""
    subsets = {lang: with_translation(utterances, lang, source) for lang in langs}
    audio: dict[tuple[Path, int], np.ndarray] = {}

    def waves(items: Sequence[Utterance], rate: int) -> list[np.ndarray]:
        for u in items:
            if (u.audio, rate) not in audio:
                audio[u.audio, rate] = load_audio(u.audio, rate)
        return [audio[u.audio, rate] for u in items]

    transcribed: dict[tuple[int, tuple[int, ...]], Decoded] = {}
    results: list[TranslationResult] = []
    for lang in langs:
        items, skipped = subsets[lang]
        for num_beams in beams:
            if systems.e2e is not None and lang in systems.e2e_langs:
                log.info("%s → %s: e2e, beam %d", source, lang, num_beams)
                decoder = systems.e2e(num_beams, lang)
                decoded = decode(decoder, waves(items, decoder.sample_rate))
                results.append(
                    score_e2e(decoded, items, lang=lang, num_beams=num_beams, skipped=skipped)
                )
            translator = systems.translators.get(lang)
            if systems.asr is not None and translator is not None:
                log.info("%s → %s: cascade, beam %d", source, lang, num_beams)
                key = (num_beams, tuple(id(u) for u in items))  # the same utterances, decoded
                if key not in transcribed:
                    decoder = systems.asr(num_beams)
                    transcribed[key] = decode(decoder, waves(items, decoder.sample_rate))
                results.append(
                    score_cascade(
                        transcribed[key],
                        translator,
                        items,
                        lang=lang,
                        num_beams=num_beams,
                        skipped=skipped,
                    )
                )
    return results


def _ordered(results: Sequence[TranslationResult]) -> list[TranslationResult]:
    return sorted(results, key=lambda r: (SYSTEMS.index(r.system), r.num_beams))


def _label(result: TranslationResult) -> str:
    return f"{result.system} b{result.num_beams}"


def _rows(label: str, groups: Sequence[dict[str, float]]) -> list[str]:
    names = sorted({name for group in groups for name in group})
    return [
        f"{label + ' ' + name:32s}"
        + "".join(f"  {g.get(name, float('nan')):10.2f}" for g in groups)
        for name in names
    ]


def table(results: Sequence[TranslationResult]) -> str:
    """A plain-text table of one set and language: one column per system and beam size; rows
    of BLEU per voice and per text style (when there is more than one), then BLEU and chrF of
    all (0–100); then each column's counts and times."""
    columns = _ordered(results)
    header = f"{'BLEU, chrF (0-100)':32s}" + "".join(f"  {_label(r):>10s}" for r in columns)
    rows = [header, "-" * len(header)]
    rows += _rows("voice", [r.per_voice for r in columns])
    if len({style for r in columns for style in r.per_style}) > 1:
        rows += _rows("style", [r.per_style for r in columns])
    rows.append(f"{'ALL BLEU':32s}" + "".join(f"  {r.bleu:10.2f}" for r in columns))
    rows.append(f"{'ALL chrF':32s}" + "".join(f"  {r.chrf:10.2f}" for r in columns))
    for r in columns:
        extra = ""
        if r.system == CASCADE:
            extra = f", {r.mt_seconds:.1f} s of it translating"
        if r.transcript_wer is not None:
            extra += f"; transcripts' WER {100 * r.transcript_wer:.2f}%"
        rows.append(
            f"{_label(r)}: {len(r.items)} utterances scored, {r.skipped} without a reference "
            f"skipped; {r.seconds:.1f} s for {r.audio_s:.1f} s of audio (RTF {r.rtf:.3f}){extra}"
        )
    return "\n".join(rows)


def summary_table(results: Mapping[str, Sequence[TranslationResult]]) -> str:
    """One row per evaluation set (manifest name), language and system; for each beam size a
    BLEU and a chrF column (0–100)."""
    beams = sorted({r.num_beams for rs in results.values() for r in rs})
    header = f"{'set':24s}  {'lang':4s}  {'system':7s}" + "".join(
        f"  {f'b{b} BLEU':>8s}  {f'b{b} chrF':>8s}" for b in beams
    )
    rows = [header, "-" * len(header)]
    for name, rs in results.items():
        langs = list(dict.fromkeys(r.lang for r in rs))  # in the order scored
        keys = sorted({(r.lang, r.system) for r in rs})
        for lang, system in sorted(keys, key=lambda k: (langs.index(k[0]), SYSTEMS.index(k[1]))):
            by_beam = {r.num_beams: r for r in rs if (r.lang, r.system) == (lang, system)}
            cells = "".join(
                f"  {by_beam[b].bleu:8.2f}  {by_beam[b].chrf:8.2f}" if b in by_beam else " " * 20
                for b in beams
            )
            rows.append(f"{name:24s}  {lang:4s}  {system:7s}{cells}")
    return "\n".join(rows)


def translation_json(
    results: Mapping[str, Sequence[TranslationResult]], detailed: bool = False
) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """The results as JSON: set → language → system → beam size (a string) → result."""
    report: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for name, rs in results.items():
        by_lang = report.setdefault(name, {})
        for r in sorted(rs, key=lambda r: SYSTEMS.index(r.system)):
            by_system = by_lang.setdefault(r.lang, {}).setdefault(r.system, {})
            by_system[str(r.num_beams)] = r.to_json(detailed)
    return report
