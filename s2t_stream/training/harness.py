"""Latency/accuracy harness: a long-form stream of held-out test sentences at known times,
replayed through the engine on a simulated real-time clock and scored against offline runs."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s2t_stream.model.audio import load_audio
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.streaming.drive import StreamDriver
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Final
from s2t_stream.training.bleu import corpus_bleu
from s2t_stream.training.latency import (
    Reference,
    finalisation_latencies,
    first_partial_latencies,
    sentence_lagging,
    summarise,
)
from s2t_stream.training.manifest import Utterance, read_manifest
from s2t_stream.training.simul import simul_lagging, stream_hypotheses, translation_quality
from s2t_stream.training.targets import normalize_translation
from s2t_stream.training.wer import joined_wer, normalize

SPEECH_DBFS = -45.0  # a file's speech span: from the first to the last sample above this


@dataclass(frozen=True)
class TestStream:
    """Sentences with natural pauses at known times. The offline runs it is scored against hear
    each sentence cut from the stream itself (`heard`), so offline and streaming hear the same
    samples (the noise floor alone costs the demo model 1–2 WER points offline; the clean
    files' offline WER is reported beside it)."""

    audio: np.ndarray  # mono float32 at `sample_rate`
    sample_rate: int
    references: tuple[Reference, ...]
    sources: tuple[np.ndarray, ...]  # each sentence's own (clean) audio file
    spans: tuple[tuple[int, int], ...]  # each file's first and one-past-last sample in `audio`
    # each sentence's manifest `translations` (language code → text as the translator wrote it)
    translations: tuple[Mapping[str, str], ...] = ()

    def heard(self) -> list[np.ndarray]:
        """Each sentence's file as the stream carries it (noise floor included): the offline
        run's input, so that offline and streaming hear the same samples."""
        return [self.audio[begin:end] for begin, end in self.spans]

    def reference_translations(self, lang: str) -> list[str]:
        """Each sentence's translation into `lang`, as the manifest has it. Raises ValueError
        naming how many sentences lack one."""
        missing = sum(lang not in t for t in self.translations)
        missing += len(self.references) - len(self.translations)
        if missing:
            raise ValueError(
                f"{missing} of {len(self.references)} sentences have no {lang!r} translation "
                f"(make the corpus with `s2t-stream corpus --tgt-langs {lang}`)"
            )
        return [t[lang] for t in self.translations]

    def translation_sources(self, lang: str) -> list[Reference]:
        """SimulEval's view of each sentence (`simul`): its reference translation into `lang`,
        normalised, over its file's span in the stream (s)."""
        rate = self.sample_rate
        return [
            Reference(normalize_translation(text), begin / rate, end / rate)
            for text, (begin, end) in zip(
                self.reference_translations(lang), self.spans, strict=True
            )
        ]


def speech_span(samples: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Seconds from the first to the last sample louder than SPEECH_DBFS (whole file if none)."""
    loud = np.flatnonzero(np.abs(samples) > 10 ** (SPEECH_DBFS / 20))
    if len(loud) == 0:
        return 0.0, len(samples) / sample_rate
    return loud[0] / sample_rate, (loud[-1] + 1) / sample_rate


def build_stream(
    manifest: Path,
    *,
    minutes: float,
    seed: int = 0,
    pause_s: tuple[float, float] = (0.4, 1.5),
    noise_dbfs: float = -65.0,
    sample_rate: int = 16000,
) -> TestStream:
    """Sentences of `manifest` in a seeded random order, repeated as needed for `minutes` of
    audio, joined by pauses drawn from `pause_s`, over a faint noise floor (so silence is not
    digital zero)."""
    entries = read_manifest(manifest)
    if not entries:
        raise ValueError(f"{manifest}: expected JSON lines with 'audio' and 'text', found none")
    rng = random.Random(seed)
    pieces: list[np.ndarray] = []
    references: list[Reference] = []
    sources: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    translations: list[Mapping[str, str]] = []
    cursor = 0
    order: list[Utterance] = []
    while cursor < minutes * 60 * sample_rate:
        if not order:
            order = rng.sample(entries, len(entries))
        entry = order.pop()
        audio = load_audio(entry.audio, sample_rate)
        gap = np.zeros(round(rng.uniform(*pause_s) * sample_rate), dtype=np.float32)
        begin, end = speech_span(audio, sample_rate)
        start_s = (cursor + len(gap)) / sample_rate
        references.append(Reference(normalize(entry.text), start_s + begin, start_s + end))
        pieces += [gap, audio]
        sources.append(audio)
        spans.append((cursor + len(gap), cursor + len(gap) + len(audio)))
        translations.append(entry.translations)
        cursor += len(gap) + len(audio)
    tail = np.zeros(round(pause_s[1] * sample_rate), dtype=np.float32)
    audio = np.concatenate([*pieces, tail])
    noise = np.random.default_rng(seed).standard_normal(len(audio)).astype(np.float32)
    audio += noise * np.float32(10 ** (noise_dbfs / 20))
    return TestStream(
        audio, sample_rate, tuple(references), tuple(sources), tuple(spans), tuple(translations)
    )


class SimulatedClock:
    """`now` is set by the replay; reading it adds the compute time spent since."""

    def __init__(self) -> None:
        self.base = 0.0
        self.since = time.perf_counter()

    def start(self, at: float) -> None:
        self.base, self.since = at, time.perf_counter()

    def __call__(self) -> float:
        return self.base + time.perf_counter() - self.since


@dataclass
class Replay:
    """What one streaming run produced and cost."""

    events: list[Event] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    updates: list[tuple[float, float, int]] = field(default_factory=list)  # audio_s, s, jobs
    memory: list[tuple[float, float]] = field(default_factory=list)  # audio_s, RSS MiB


def rss_mib(pid: int | str = "self") -> float:
    """A process's resident memory (Linux), in MiB; this process by default."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def replay(engine: Engine, stream: TestStream, *, chunk_s: float = 0.1) -> Replay:
    """Feed `stream` chunk by chunk on a simulated real-time clock.

    Chunk i (of `chunk_s` seconds) arrives at (i + 1)·chunk_s; the engine starts on it when it
    has arrived and the previous step is done, and the time an update takes is its measured
    compute time. So `wall_s` of each event is what a live user would see on this machine
    (computation-aware), `audio_s` what an infinitely fast one would (computation-unaware)."""
    clock = SimulatedClock()
    engine.clock = clock
    clock.start(0.0)
    driver = StreamDriver(engine, stream.sample_rate)
    result = Replay()
    size = round(chunk_s * stream.sample_rate)
    busy_until, next_memory = 0.0, 0.0
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    for i, begin in enumerate(range(0, len(stream.audio), size)):
        arrived = (i + 1) * chunk_s
        clock.start(max(arrived, busy_until))
        tick = time.perf_counter()
        result.events += driver.push(stream.audio[begin : begin + size])
        spent = time.perf_counter() - tick
        busy_until = clock.base + spent
        audio_s = driver.stream.audio_s
        if driver.updates:
            result.updates.append((audio_s, spent, driver.updates))
        if audio_s >= next_memory:
            result.memory.append((audio_s, rss_mib()))
            next_memory += 10.0
    clock.start(max(len(stream.audio) / stream.sample_rate, busy_until))
    result.events += driver.end()
    result.cpu_s = time.process_time() - cpu_started
    result.wall_s = time.perf_counter() - wall_started
    return result


@dataclass
class Offline:
    texts: list[str]
    cpu_s: float


def transcribe_offline(transcriber: Transcriber, sources: Sequence[np.ndarray]) -> Offline:
    """Each sentence's own audio transcribed offline, one at a time; CPU seconds counted."""
    started = time.process_time()
    texts = [transcriber.transcribe([audio])[0].text for audio in sources]
    return Offline(texts, time.process_time() - started)


def window(values: Sequence[tuple[float, float]], start_s: float, stop_s: float) -> list[float]:
    return [v for t, v in values if start_s <= t < stop_s]


def _lagging(
    events: Sequence[Event], sentences: Sequence[Reference], *, aware: bool, adaptive: bool
) -> dict[str, Any]:
    return summarise(sentence_lagging(events, sentences, aware=aware, length_adaptive=adaptive))


def _flatness(
    run: Replay,
    refs: Sequence[Reference],
    duration: float,
    lagged: Sequence[Reference] | None = None,
) -> dict[str, Any]:
    """Costs and latencies of the first and the last 10 minutes of an hour (a sixth of a shorter
    stream): a stream that keeps up stays flat. `lagged`: what AL is measured against (default
    `refs`; a translation run's `TestStream.translation_sources`)."""
    edge = min(600.0, duration / 6)
    costs = [(t, s) for t, s, _ in run.updates]
    first = [r for r in refs if r.start_s < edge]
    last = [r for r in refs if r.start_s >= duration - edge]
    lagged = refs if lagged is None else lagged
    lagged_first = [r for r in lagged if r.start_s < edge]
    lagged_last = [r for r in lagged if r.start_s >= duration - edge]
    return {
        "first_window_s": edge,
        "update_cost_first_s": summarise(window(costs, 0, edge)),
        "update_cost_last_s": summarise(window(costs, duration - edge, duration + 1)),
        "rss_first_mib": summarise(window(run.memory, 0, edge)),
        "rss_last_mib": summarise(window(run.memory, duration - edge, duration + 1)),
        "finalisation_first_s": summarise(finalisation_latencies(run.events, first)),
        "finalisation_last_s": summarise(finalisation_latencies(run.events, last)),
        "al_aware_first_s": _lagging(run.events, lagged_first, aware=True, adaptive=False),
        "al_aware_last_s": _lagging(run.events, lagged_last, aware=True, adaptive=False),
    }


def _costs(run: Replay, offline: Offline, duration: float) -> dict[str, Any]:
    return {
        "cpu_s_streaming": round(run.cpu_s, 2),
        "cpu_s_offline": round(offline.cpu_s, 2),
        "compute_ratio": round(run.cpu_s / max(offline.cpu_s, 1e-9), 3),
        "real_time_factor": round(run.wall_s / duration, 4),
        "updates": len(run.updates),
        "update_cost_s": summarise([s for _, s, _ in run.updates]),
    }


def score(
    stream: TestStream,
    run: Replay,
    offline: Offline,
    default: Offline | None = None,
    clean: Offline | None = None,
) -> dict[str, Any]:
    """Every number the harness reports for one streaming run. `offline`: the same greedy
    search as the engine on `stream.heard()`; if given, `default`: the checkpoint's own search
    (e.g. beam 5) on the same, `clean`: the greedy search on the clean files (`sources`). WERs
    are of the joined texts (`wer.joined_wer`): a stream's finals need not be cut where its
    sentences are."""
    refs = list(stream.references)
    texts = [r.text for r in refs]
    finals = [e for e in run.events if isinstance(e, Final)]
    duration = len(stream.audio) / stream.sample_rate
    events = run.events
    report: dict[str, Any] = {
        "audio_s": round(duration, 1),
        "sentences": len(refs),
        "wer_streaming": joined_wer(texts, [f.text for f in finals]),
        "wer_offline": joined_wer(texts, offline.texts),
        "finalisation_latency_s": summarise(finalisation_latencies(events, refs)),
        "first_partial_latency_s": summarise(first_partial_latencies(events, refs)),
        "al_aware_s": _lagging(events, refs, aware=True, adaptive=False),
        "al_unaware_s": _lagging(events, refs, aware=False, adaptive=False),
        "laal_aware_s": _lagging(events, refs, aware=True, adaptive=True),
        "laal_unaware_s": _lagging(events, refs, aware=False, adaptive=True),
        **_costs(run, offline, duration),
        "flatness": _flatness(run, refs, duration),
        "memory_mib": [(round(t, 1), round(m, 1)) for t, m in run.memory],
    }
    report["wer_ratio"] = round(report["wer_streaming"] / max(report["wer_offline"], 1e-9), 3)
    if default is not None:
        report["wer_offline_default_search"] = joined_wer(texts, default.texts)
        report["cpu_s_offline_default_search"] = round(default.cpu_s, 2)
        report["compute_ratio_vs_default_search"] = round(run.cpu_s / max(default.cpu_s, 1e-9), 3)
    if clean is not None:
        report["wer_offline_clean_files"] = joined_wer(texts, clean.texts)
    return report


def score_translation(
    stream: TestStream,
    run: Replay,
    offline: Offline,
    lang: str,
    default: Offline | None = None,
    clean: Offline | None = None,
) -> dict[str, Any]:
    """Every number the harness reports for one streaming run of a speech-translation model
    into `lang` (its events' text is the translation; `offline` and the optional `default` and
    `clean` runs translate as `score` says they transcribe). Quality: corpus BLEU and chrF of
    the stream's finals (each sentence's as `simul.stream_hypotheses` gathers them) and of the
    offline run against the manifests' `translations[lang]`, and the streaming/offline BLEU
    ratio (`simul.translation_quality`). Latency: AL and LAAL on target words, computation-
    unaware and -aware, per sentence as SimulEval scores speech input (`simul`; summarised:
    SimulEval reports the mean), and, as for ASR, finalisation and first-partial latency
    against each sentence's speech span. Raises ValueError when a sentence lacks a `lang`
    translation."""
    translations = stream.reference_translations(lang)
    sources = stream.translation_sources(lang)
    refs = list(stream.references)
    duration = len(stream.audio) / stream.sample_rate
    events = run.events
    report: dict[str, Any] = {
        "tgt_lang": lang,
        "audio_s": round(duration, 1),
        "sentences": len(refs),
        **translation_quality(translations, stream_hypotheses(events, sources), offline.texts),
        "finalisation_latency_s": summarise(finalisation_latencies(events, refs)),
        "first_partial_latency_s": summarise(first_partial_latencies(events, refs)),
        **{key: summarise(values) for key, values in simul_lagging(events, sources).items()},
        **_costs(run, offline, duration),
        "flatness": _flatness(run, refs, duration, sources),
        "memory_mib": [(round(t, 1), round(m, 1)) for t, m in run.memory],
    }
    if default is not None:
        report["bleu_offline_default_search"] = round(corpus_bleu(translations, default.texts), 2)
        report["cpu_s_offline_default_search"] = round(default.cpu_s, 2)
        report["compute_ratio_vs_default_search"] = round(run.cpu_s / max(default.cpu_s, 1e-9), 3)
    if clean is not None:
        report["bleu_offline_clean_files"] = round(corpus_bleu(translations, clean.texts), 2)
    return report
