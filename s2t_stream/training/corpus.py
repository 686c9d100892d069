"""Corpus stage: sentence text files in -> a synthesised, augmented 16 kHz speech corpus out
(espeak-ng and flite voices; see `build_corpus` for what it writes). Torch-free."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from s2t_stream.defaults import REPO_ROOT
from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE
from s2t_stream.training.augment import AugmentOptions, AugmentPlan, apply_augment, draw_augment
from s2t_stream.training.manifest import Utterance
from s2t_stream.training.textnorm import read_spoken_sentences
from s2t_stream.training.voices import (
    DEFAULT_VOICE_WEIGHTS,
    FLITE_VOICES,
    Voice,
    VoiceSampler,
    discover_voices,
    synthesize,
)

logger = logging.getLogger(__name__)

DEFAULT_TEXT_DIR = REPO_ROOT / "data" / "text"
"""The sentence text shipped with the repository (sources and licences in its README.md)."""
DEFAULT_TEXT_FILES = ("ljspeech_sentences.txt", "vctk_prompts.txt")
SPLITS = ("test", "dev", "train")
FORMAT_VERSION = 1
"""Bump when synthesis or augmentation code changes output, so `--resume` re-synthesises."""

# ---------------------------------------------------------------------------------------------
# Corpus plan and synthesis jobs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusOptions:
    """Everything that determines the corpus; the `corpus` command's flags map one-to-one onto
    these fields."""

    text_paths: tuple[Path, ...] = tuple(DEFAULT_TEXT_DIR / f for f in DEFAULT_TEXT_FILES)
    out_dir: Path = Path("data/corpus")
    seed: int = 0
    train_hours: float = 20.0
    dev_sentences: int = 200
    test_sentences: int = 300
    max_words: int = 30
    voices_per_test_sentence: int = 1
    voices_per_train_sentence: int = 1
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    augment_test: bool = False
    voice_weights: tuple[tuple[str, float], ...] = DEFAULT_VOICE_WEIGHTS
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    resume: bool = False

    def __post_init__(self) -> None:
        checks = {
            "text_paths": len(self.text_paths) > 0,
            "seed": self.seed >= 0,
            "train_hours": self.train_hours > 0,
            "dev_sentences": self.dev_sentences >= 0,
            "test_sentences": self.test_sentences >= 0,
            "max_words": self.max_words >= 1,
            "voices_per_test_sentence": self.voices_per_test_sentence >= 1,
            "voices_per_train_sentence": self.voices_per_train_sentence >= 1,
            "jobs": self.jobs >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"CorpusOptions.{name} is out of range: {getattr(self, name)!r}")
        known = {"espeak", *(f"flite:{v}" for v in FLITE_VOICES)}
        for name, weight in self.voice_weights:
            if name not in known or weight < 0:
                raise ValueError(
                    f"CorpusOptions.voice_weights: expected weights >= 0 for {sorted(known)}, "
                    f"got {name}={weight}"
                )
        if sum(weight for _, weight in self.voice_weights) <= 0:
            raise ValueError(f"CorpusOptions.voice_weights: all zero: {self.voice_weights!r}")

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["text_paths"] = [str(p) for p in self.text_paths]
        data["out_dir"] = str(self.out_dir)
        data["voice_weights"] = dict(self.voice_weights)
        return data


@dataclass(frozen=True)
class UtteranceJob:
    """Everything a worker needs to produce one utterance: output is a function of this."""

    split: str
    index: int
    text: str
    speech_text: str
    voice: Voice
    voice_arg: str
    augment: AugmentPlan
    noise_seed: int

    def key(self) -> str:
        """Hash of every parameter, so `--resume` reuses a file only if nothing changed."""
        data = dataclasses.asdict(self) | {"version": FORMAT_VERSION}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Synthesized:
    """One finished utterance: its manifest line, and for the resume journal its index in the
    split's plan and its job's parameter key."""

    utterance: Utterance
    index: int
    key: str

    @property
    def duration(self) -> float:
        return self.utterance.duration or 0.0

    def to_json(self) -> dict[str, Any]:
        """The journal line: the manifest line plus index and key."""
        return {**self.utterance.to_json(), "index": self.index, "key": self.key}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Synthesized:
        """Raises KeyError, TypeError or ValueError for a line that is not a journal entry."""
        index, key = entry["index"], entry["key"]
        if not isinstance(index, int) or not isinstance(key, str):
            raise TypeError(f"expected an integer index and a string key, got {index!r}, {key!r}")
        return cls(Utterance.from_json(entry), index, key)


@dataclass(frozen=True)
class CorpusSummary:
    """What `build_corpus` produced: counts and hours per split, voices, throughput."""

    utterances: dict[str, int]
    hours: dict[str, float]
    voices: dict[str, dict[str, int]]
    sentences: dict[str, int]
    synthesized: int
    failed: dict[str, int]
    wall_s: float
    options: CorpusOptions

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["options"] = self.options.to_json()
        data["seed"] = self.options.seed
        return data


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), index])


def _plan_one(
    split: str, index: int, text: str, spoken: str, options: CorpusOptions,
    sampler: VoiceSampler, avoid: set[str],
) -> UtteranceJob:  # fmt: skip
    """One utterance, from its own generator: voice (not one in `avoid`), augmentation, seed."""
    rng = _rng(options.seed, split, index)
    voice = sampler.draw(rng)
    for _attempt in range(20):  # distinct voices when one test sentence gets several
        if voice.id not in avoid:
            break
        voice = sampler.draw(rng)
    augmented = split == "train" or (split == "test" and options.augment_test)
    plan = draw_augment(rng, options.augment) if augmented else AugmentPlan()
    return UtteranceJob(
        split=split,
        index=index,
        text=text,
        speech_text=spoken,
        voice=voice,
        voice_arg=sampler.engine_arg(voice),
        augment=plan,
        noise_seed=int(rng.integers(2**32)),
    )


def _split_sentences(sentences: Sequence[str], options: CorpusOptions) -> dict[str, list[str]]:
    usable = [s for s in sentences if len(s.split()) <= options.max_words]
    held_out = options.test_sentences + options.dev_sentences
    if len(usable) <= held_out:
        raise S2TError(
            f"{len(usable)} sentences of at most {options.max_words} words: need more than "
            f"{held_out} (test + dev) to leave any for training"
        )
    order = np.random.default_rng(options.seed).permutation(len(usable))
    shuffled = [usable[i] for i in order]
    return {
        "test": shuffled[: options.test_sentences],
        "dev": shuffled[options.test_sentences : held_out],
        "train": shuffled[held_out:],
    }


def plan_corpus(
    sentences: Mapping[str, str], options: CorpusOptions, sampler: VoiceSampler
) -> dict[str, list[UtteranceJob]]:
    """Hold out test and dev sentences first, then plan every utterance of every split.

    `sentences` maps normalised text to the text to synthesise. Deterministic in
    (seed, split, index). A split with several voices per sentence is planned in rounds: round
    r speaks every sentence once more, in a voice that sentence has not had yet, so the first
    round is the same whatever the count and `train_hours` (applied after synthesis) caps the
    later rounds first. Train utterances are augmented; dev and test are clean.
    """
    voices_each = {
        "test": options.voices_per_test_sentence,
        "dev": 1,
        "train": options.voices_per_train_sentence,
    }
    plans: dict[str, list[UtteranceJob]] = {split: [] for split in SPLITS}
    for split, texts in _split_sentences(list(sentences), options).items():
        seen: list[set[str]] = [set() for _ in texts]
        for _round in range(voices_each[split]):
            for text, voices in zip(texts, seen, strict=True):
                index = len(plans[split])
                job = _plan_one(split, index, text, sentences[text], options, sampler, voices)
                voices.add(job.voice.id)
                plans[split].append(job)
    return plans


def _write_audio(out_dir: Path, job: UtteranceJob, samples: np.ndarray) -> Path:
    """Write FLAC 16-bit (WAV if this libsndfile cannot), atomically; return the relative path."""
    folder = out_dir / "audio" / job.split
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, fmt in ((".flac", "FLAC"), (".wav", "WAV")):
        relative = f"audio/{job.split}/{job.index:06d}{suffix}"
        part = out_dir / (relative + ".part")
        try:
            sf.write(part, samples, SAMPLE_RATE, format=fmt, subtype="PCM_16")
        except (sf.SoundFileError, RuntimeError) as e:
            logger.warning("cannot write %s (%s): trying the next format", relative, e)
            part.unlink(missing_ok=True)
            continue
        part.replace(out_dir / relative)
        return Path(relative)
    raise S2TError(f"could not write {folder}/{job.index:06d} as FLAC or WAV")


def synthesize_job(job: UtteranceJob, out_dir: Path) -> Synthesized:
    """Worker: synthesise, augment and write one utterance (deterministic in `job`)."""
    samples = synthesize(job.speech_text, job.voice, job.voice_arg)
    samples = apply_augment(samples, job.augment, np.random.default_rng(job.noise_seed))
    utterance = Utterance(
        audio=_write_audio(out_dir, job, samples),
        text=job.text,
        voice=job.voice.id,
        duration=round(samples.size / SAMPLE_RATE, 3),
        augment=tuple(job.augment.labels()),
    )
    return Synthesized(utterance, job.index, job.key())


# ---------------------------------------------------------------------------------------------
# Running the plan: worker pool, resume journal, progress, manifests
# ---------------------------------------------------------------------------------------------


class _Journal:
    """Append-only `state/{split}.jsonl` of finished utterances, read back by `--resume`."""

    def __init__(self, out_dir: Path, split: str, resume: bool) -> None:
        self.out_dir = out_dir
        self.path = out_dir / "state" / f"{split}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: dict[int, Synthesized] = self._load() if resume else {}
        self._file = self.path.open("a" if resume else "w", encoding="utf-8")

    def _load(self) -> dict[int, Synthesized]:
        done: dict[int, Synthesized] = {}
        if not self.path.exists():
            return done
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                finished = Synthesized.from_json(json.loads(line))
            except (json.JSONDecodeError, TypeError, KeyError, ValueError):
                continue  # a line cut short by an interrupted run
            done[finished.index] = finished
        return done

    def reusable(self, job: UtteranceJob) -> Synthesized | None:
        finished = self.done.get(job.index)
        if finished is None or finished.key != job.key():
            return None
        return finished if (self.out_dir / finished.utterance.audio).is_file() else None

    def add(self, finished: Synthesized) -> None:
        self._file.write(json.dumps(finished.to_json()) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class _Progress:
    """Logs utterances done / total, audio hours and speed every `every_s` seconds."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.start = self.last = time.monotonic()
        self.every_s = every_s
        self.synthesized = 0
        self.audio_s = 0.0

    def update(self, split: str, done: int, total: int, cap_s: float, fresh: Synthesized) -> None:
        self.synthesized += 1
        self.audio_s += fresh.duration
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        wall = now - self.start
        logger.info(
            "%s: %d/%d utterances%s; synthesised %.2f h audio in %.0f s (%.0fx real time, "
            "RTF %.4f)",
            split,
            done,
            total,
            f" (cap {cap_s / 3600:.2f} h)" if cap_s < float("inf") else "",
            self.audio_s / 3600,
            wall,
            self.audio_s / wall,
            wall / max(self.audio_s, 1e-9),
        )


class _SplitRunner:
    """Synthesise one split's jobs in order on the pool; keep the prefix up to `cap_s` audio.

    Results are taken in index order whatever order the workers finish in, so the kept set
    (and so the corpus) does not depend on timing or on the number of workers.
    """

    def __init__(
        self,
        executor: ProcessPoolExecutor,
        split: str,
        jobs: Sequence[UtteranceJob],
        options: CorpusOptions,
        progress: _Progress,
    ) -> None:
        self.executor = executor
        self.split = split
        self.jobs = jobs
        self.out_dir = options.out_dir
        self.window = options.jobs * 8
        self.cap_s = options.train_hours * 3600 if split == "train" else float("inf")
        self.progress = progress
        self.journal = _Journal(options.out_dir, split, options.resume)
        self.pending: dict[Future[Synthesized], int] = {}
        self.results: dict[int, Synthesized | None] = {}  # None: synthesis failed
        self.next_index = 0
        self.kept: list[Synthesized] = []
        self.kept_s = 0.0
        self.failed = 0

    def _full(self) -> bool:
        return self.kept_s >= self.cap_s

    def _advance(self) -> None:
        """Move finished utterances, in index order, into `kept` until the cap is reached."""
        while not self._full() and self.next_index in self.results:
            finished = self.results.pop(self.next_index)
            self.next_index += 1
            if finished is not None:
                self.kept.append(finished)
                self.kept_s += finished.duration

    def _collect(self) -> None:
        done, _ = wait(self.pending, return_when=FIRST_COMPLETED)
        for future in done:
            index = self.pending.pop(future)
            try:
                finished = future.result()
            except S2TError as e:  # one unspeakable sentence should not stop the corpus
                logger.warning("%s utterance %d skipped: %s", self.split, index, e)
                self.failed += 1
                self.results[index] = None
                self._advance()
                continue
            self.journal.add(finished)
            self.results[index] = finished
            self._advance()
            self.progress.update(self.split, self.next_index, len(self.jobs), self.cap_s, finished)

    def _drain(self) -> None:
        """Cap reached: cancel queued jobs, let running ones finish (journaled, then pruned)."""
        for future in self.pending:
            future.cancel()
        for future in wait(self.pending).done:
            if not future.cancelled() and future.exception() is None:
                self.journal.add(future.result())
        self.pending.clear()

    def run(self) -> list[Synthesized]:
        try:
            for job in self.jobs:
                if self._full():
                    break
                reused = self.journal.reusable(job)
                if reused is not None:
                    self.results[job.index] = reused
                    self._advance()
                    continue
                while len(self.pending) >= self.window:
                    self._collect()
                self.pending[self.executor.submit(synthesize_job, job, self.out_dir)] = job.index
            while self.pending and not self._full():
                self._collect()
            self._drain()
        finally:
            for future in self.pending:
                future.cancel()
            self.journal.close()
        return self.kept


def _prune(out_dir: Path, split: str, kept: Sequence[Synthesized]) -> int:
    """Delete this split's audio files that no manifest line refers to (from capped or old runs)."""
    folder = out_dir / "audio" / split
    if not folder.is_dir():
        return 0
    referenced = {s.utterance.audio.name for s in kept}
    removed = 0
    for path in folder.iterdir():
        ours = re.fullmatch(r"\d{6}\.(flac|wav)(\.part)?", path.name)
        if ours and path.name not in referenced:
            path.unlink()
            removed += 1
    return removed


def _write_json_lines(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    part = path.with_name(path.name + ".part")
    with part.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    part.replace(path)


def _summary(
    kept: dict[str, list[Synthesized]], failed: dict[str, int], sentences: int, synthesized: int,
    wall_s: float, options: CorpusOptions,
) -> CorpusSummary:  # fmt: skip
    lines = {split: [s.utterance for s in kept[split]] for split in SPLITS}
    return CorpusSummary(
        utterances={split: len(kept[split]) for split in SPLITS},
        hours={split: round(sum(s.duration for s in kept[split]) / 3600, 4) for split in SPLITS},
        voices={
            split: dict(sorted(Counter(u.voice for u in lines[split]).items())) for split in SPLITS
        },
        sentences={"normalised": sentences, **{s: len({u.text for u in lines[s]}) for s in SPLITS}},
        synthesized=synthesized,
        failed=failed,
        wall_s=round(wall_s, 1),
        options=options,
    )


def _prepare_plan(options: CorpusOptions) -> tuple[dict[str, list[UtteranceJob]], int]:
    """The plan, and how many distinct sentences survived normalisation."""
    sentences = read_spoken_sentences(options.text_paths)
    if not sentences:
        raise S2TError(
            f"no sentence in {[str(p) for p in options.text_paths]} survives normalising"
        )
    inventory = discover_voices(options.voice_weights)
    plans = plan_corpus(sentences, options, VoiceSampler(inventory, options.voice_weights))
    logger.info(
        "%d sentences (%s); %d espeak-ng voices x %d variants, flite %s; %d workers",
        len(sentences), ", ".join(f"{s} {len(p)}" for s, p in plans.items()),
        len(inventory.espeak), len(inventory.variants), list(inventory.flite), options.jobs,
    )  # fmt: skip
    return plans, len(sentences)


def build_corpus(options: CorpusOptions) -> CorpusSummary:
    """Read, normalise and split the text, synthesise every split, write manifests + summary.

    Writes under `options.out_dir`: `audio/{split}/{index:06d}.flac`, the manifests
    `{split}.jsonl` (see `manifest.Utterance`), `summary.json`, and a journal per split in
    `state/` that lets `resume` reuse finished utterances."""
    start = time.monotonic()
    plans, sentences = _prepare_plan(options)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    progress = _Progress()
    kept: dict[str, list[Synthesized]] = {}
    failed: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=options.jobs) as executor:
        for split in SPLITS:
            runner = _SplitRunner(executor, split, plans[split], options, progress)
            kept[split], failed[split] = runner.run(), runner.failed
            _prune(options.out_dir, split, kept[split])
            manifest = options.out_dir / f"{split}.jsonl"
            _write_json_lines(manifest, (s.utterance.to_json() for s in kept[split]))
    if sum(s.duration for s in kept["train"]) < options.train_hours * 3600:
        logger.warning(
            "all %d planned training utterances used before reaching %.2f h of training audio",
            len(plans["train"]), options.train_hours,
        )  # fmt: skip
    wall_s = time.monotonic() - start
    summary = _summary(kept, failed, sentences, progress.synthesized, wall_s, options)
    (options.out_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    return summary
