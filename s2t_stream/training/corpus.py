"""Corpus stage: sentence text of several styles in -> a synthesised, augmented 16 kHz speech
corpus out, with evaluation splits that leave the training distribution (a held-out text style,
held-out voices, telephone-band and noisy copies of the test split; see `build_corpus` for what
it writes). Torch-free."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE
from s2t_stream.training.augment import (
    NOISE_KINDS,
    AugmentOptions,
    AugmentPlan,
    apply_augment,
    draw_augment,
)
from s2t_stream.training.isolated import isolated_words
from s2t_stream.training.manifest import Utterance, write_audio, write_manifest
from s2t_stream.training.realsets import (
    FSDD_HELD_OUT_SPEAKERS,
    write_fsdd_training_manifest,
    write_real_manifests,
)
from s2t_stream.training.styles import hold_out
from s2t_stream.training.texts import (
    TEXT_DIR,
    TEXT_SOURCES,
    StyledSentence,
    TextSource,
    read_styled_sentences,
)
from s2t_stream.training.translations import translate_corpus
from s2t_stream.training.voices import (
    DEFAULT_VOICE_WEIGHTS,
    WEIGHT_GROUPS,
    Purpose,
    Voice,
    VoiceInventory,
    VoiceSampler,
    discover_voices,
    synthesize,
)

logger = logging.getLogger(__name__)

SPLITS = ("test", "dev", "train", "test-style", "test-voices", "test-phone", "test-noisy",
          "train-phone", "train-words", "test-words")  # fmt: skip
"""test: held-out sentences of the training styles, training voices, clean; dev: the same kind,
for training's dev WER; train: augmented; test-style: sentences of the held-out styles, training
voices; test-voices: test sentences spoken by held-out voices; test-phone: the test utterances
through an 8 kHz mu-law telephone channel; test-noisy: the test utterances in noise or babble at
5-20 dB SNR; train-phone: a share of the training utterances (`train_phone_share`) again, at
8 kHz (TRAIN_PHONE_CODECS); train-words: isolated words of the training sentences
(`isolated.py`), each in `word_voices` training voices, augmented; test-words: other isolated
words, one held-out voice each, clean. (The order fixes each split's random stream: append,
never reorder.)"""
EVAL_SPLITS = ("test", "test-style", "test-voices", "test-phone", "test-noisy", "test-words")
TRAINED_SPLITS = ("train", "train-words")
"""Splits planned with augmentation (`draw_augment`)."""
HELD_OUT_VOICE_SPLITS = ("test-voices", "test-words")
"""Splits spoken by held-out voices (`HELD_OUT_VOICE_WEIGHTS`)."""
DERIVED_SPLITS = {"test-phone": "test", "test-noisy": "test", "train-phone": "train"}
"""Splits made from another split's audio (same index), through a channel: derived -> source."""
TRAIN_PHONE_CODECS = {"8k-linear": 0.35, "8k-ulaw": 0.2, "8k-alaw": 0.1, "ulaw": 0.2,
                      "linear": 0.15}  # fmt: skip
"""The channels of train-phone (`channel.telephone_band`): most are 8 kHz recordings (the whole
0-4 kHz band: what an 8 kHz file holds, which the train split's telephone lines never give), the
rest telephone lines. Measured by `bench/bench_telephone.py`."""
FORMAT_VERSION = 2
"""Bump when synthesis or augmentation code changes output, so `--resume` re-synthesises."""
DEFAULT_STYLE_SHARES = (
    ("read", 0.14), ("news", 0.14), ("dialogue", 0.24), ("assistant", 0.2), ("everyday", 0.2),
    ("digits", 0.08),
)  # fmt: skip
"""Share of the training sentences per style (a style not named here is not trained on)."""
HELD_OUT_VOICE_WEIGHTS = (("espeak", 1.0), ("rhvoice", 1.0), ("festival", 1.0), ("kokoro", 4.0))
"""Engines of the held-out voices, weighted so that each held-out voice gets about as many
test-voices utterances (Kokoro has four; espeak-ng one variant)."""
BABBLE_VOICE_WEIGHTS = (("espeak", 0.5), ("mbrola", 0.2), ("rhvoice", 0.3))
"""Voices of babble talkers: fast engines only (a babble talker is one more synthesis)."""
NOISY_TEST_KINDS = (*NOISE_KINDS, "babble")
NOISY_TEST_SNR_DB = (5.0, 20.0)
MIN_TRAIN_UTTERANCE_S = 1.0
"""A lower bound on the mean training utterance's length: how many training sentences are planned
for `train_hours` (the plan is cheap, but not for 400 k sentences)."""
BABBLE_POOL_SENTENCES = 28_800
"""Babble talkers say the first this many training sentences (a fixed pool, so that the plan
does not depend on `train_hours`)."""
SHORT_SENTENCE_WORDS = 2
"""Training sentences of at most this many words are spoken in `short_sentence_voices` voices
(isolated words and digits are rare in the text but common in use)."""

# ---------------------------------------------------------------------------------------------
# Corpus plan and synthesis jobs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusOptions:
    """Everything that determines the corpus; the `corpus` command's flags map one-to-one onto
    these fields."""

    texts: tuple[TextSource, ...] = TEXT_SOURCES
    text_dir: Path = TEXT_DIR
    out_dir: Path = Path("data/corpus")
    seed: int = 0
    train_hours: float = 20.0
    dev_sentences: int = 200
    test_sentences_per_style: int = 50
    style_shares: tuple[tuple[str, float], ...] = DEFAULT_STYLE_SHARES
    held_out_styles: tuple[str, ...] = ("dictionary",)
    style_test_sentences: int = 300
    held_out_voice_utterances: int = 300
    max_words: int = 30
    voices_per_test_sentence: int = 1
    voices_per_train_sentence: int = 1
    short_sentence_voices: int = 20
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    voice_weights: tuple[tuple[str, float], ...] = DEFAULT_VOICE_WEIGHTS
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    resume: bool = False
    real_dir: Path | None = None
    """Folder of real recordings (`ljspeech/`, `fsdd/`): also write the real-voice manifests."""
    fsdd_dir: Path | None = None
    """The whole Free Spoken Digit Dataset's `recordings/` folder: also write `train-real.jsonl`
    (`realsets.write_fsdd_training_manifest`)."""
    fsdd_held_out_speakers: tuple[str, ...] = FSDD_HELD_OUT_SPEAKERS
    """FSDD speakers left out of train-real."""
    tgt_langs: tuple[str, ...] = ()
    """Translate every manifest's sentences into these languages (`translations.py`)."""
    train_phone_share: float = 0.3
    """Share of the training utterances not already through a telephone channel that are
    spoken again at 8 kHz in train-phone (0: no train-phone)."""
    train_words: int = 2000
    """Isolated words in train-words (`isolated.isolated_words`; 0: none)."""
    word_voices: int = 3
    """Distinct training voices speaking each word of train-words."""
    test_words: int = 300
    """Isolated words in test-words, none of them in train-words (0: none)."""

    def __post_init__(self) -> None:
        checks = {
            "texts": len(self.texts) > 0,
            "seed": self.seed >= 0,
            "train_hours": self.train_hours > 0,
            "dev_sentences": self.dev_sentences >= 0,
            "test_sentences_per_style": self.test_sentences_per_style >= 0,
            "style_shares": all(share >= 0 for _, share in self.style_shares)
            and sum(share for _, share in self.style_shares) > 0,
            "style_test_sentences": self.style_test_sentences >= 0,
            "held_out_voice_utterances": self.held_out_voice_utterances >= 0,
            "max_words": self.max_words >= 1,
            "voices_per_test_sentence": self.voices_per_test_sentence >= 1,
            "voices_per_train_sentence": self.voices_per_train_sentence >= 1,
            "short_sentence_voices": self.short_sentence_voices >= 1,
            "jobs": self.jobs >= 1,
            "train_phone_share": 0 <= self.train_phone_share <= 1,
            "train_words": self.train_words >= 0,
            "word_voices": self.word_voices >= 1,
            "test_words": self.test_words >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"CorpusOptions.{name} is out of range: {getattr(self, name)!r}")
        known = set(WEIGHT_GROUPS)
        for name, weight in self.voice_weights:
            if name not in known or weight < 0:
                raise ValueError(
                    f"CorpusOptions.voice_weights: expected weights >= 0 for {sorted(known)}, "
                    f"got {name}={weight}"
                )
        if sum(weight for _, weight in self.voice_weights) <= 0:
            raise ValueError(f"CorpusOptions.voice_weights: all zero: {self.voice_weights!r}")

        trained = {style for style, share in self.style_shares if share > 0}
        if trained & set(self.held_out_styles):
            raise ValueError(
                f"CorpusOptions: styles {sorted(trained & set(self.held_out_styles))} are both "
                f"held out and given a training share"
            )

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["texts"] = [dataclasses.asdict(t) for t in self.texts]
        data["text_dir"] = str(self.text_dir)
        data["out_dir"] = str(self.out_dir)
        data["real_dir"] = None if self.real_dir is None else str(self.real_dir)
        data["fsdd_dir"] = None if self.fsdd_dir is None else str(self.fsdd_dir)
        data["style_shares"] = dict(self.style_shares)
        data["voice_weights"] = dict(self.voice_weights)
        return data


@dataclass(frozen=True)
class Talker:
    """A babble talker: another sentence in another voice, mixed under the utterance."""

    speech_text: str
    voice: Voice
    voice_arg: str


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
    style: str = ""
    caption: str = ""
    purpose: Purpose = "train"
    babble: tuple[Talker, ...] = ()

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


@dataclass(frozen=True)
class Samplers:
    """The voice samplers of a plan: training voices, held-out voices (test-voices) and the
    fast voices of babble talkers."""

    train: VoiceSampler
    held_out: VoiceSampler | None
    babble: VoiceSampler

    @classmethod
    def discover(cls, options: CorpusOptions) -> Samplers:
        """Find the engines this machine has for `options.voice_weights` and build the three."""
        inventory = discover_voices(options.voice_weights)
        train = VoiceSampler(inventory, options.voice_weights)
        in_use = set(train.groups)
        babble = [(g, w) for g, w in BABBLE_VOICE_WEIGHTS if g in in_use]
        return cls(
            train=train,
            held_out=_held_out_sampler(inventory) if options.held_out_voice_utterances else None,
            babble=VoiceSampler(inventory, babble) if babble else train,
        )


def _held_out_sampler(inventory: VoiceInventory) -> VoiceSampler | None:
    try:
        return VoiceSampler(inventory, HELD_OUT_VOICE_WEIGHTS, purpose="eval")
    except S2TError as e:
        logger.warning("no held-out voice here (%s): no test-voices or test-words split", e)
        return None


def _voice(sampler: VoiceSampler, rng: np.random.Generator, avoid: set[str]) -> Voice:
    voice = sampler.draw(rng)
    for _attempt in range(20):  # distinct voices when one sentence gets several
        if voice.id not in avoid:
            break
        voice = sampler.draw(rng)
    return voice


def _talkers(
    plan: AugmentPlan, rng: np.random.Generator, sampler: VoiceSampler,
    pool: Sequence[StyledSentence],
) -> tuple[Talker, ...]:  # fmt: skip
    """The babble talkers `plan` asks for: random sentences of `pool` in `sampler`'s voices."""
    talkers = []
    for _ in range(plan.babble[0] if plan.babble else 0):
        other = pool[int(rng.integers(len(pool)))]
        voice = sampler.draw(rng)
        talkers.append(Talker(other.speech, voice, sampler.engine_arg(voice)))
    return tuple(talkers)


def _plan_one(
    split: str, index: int, sentence: StyledSentence, options: CorpusOptions,
    samplers: Samplers, avoid: set[str], babble_pool: Sequence[StyledSentence],
) -> UtteranceJob:  # fmt: skip
    """One utterance, from its own generator: voice (not one in `avoid`), augmentation with its
    babble talkers, noise seed."""
    rng = _rng(options.seed, split, index)
    held_out = split in HELD_OUT_VOICE_SPLITS and samplers.held_out is not None
    sampler = samplers.held_out if held_out and samplers.held_out else samplers.train
    voice = _voice(sampler, rng, avoid)
    plan = draw_augment(rng, options.augment) if split in TRAINED_SPLITS else AugmentPlan()
    talkers = _talkers(plan, rng, samplers.babble, babble_pool)
    return UtteranceJob(
        split=split,
        index=index,
        text=sentence.words,
        speech_text=sentence.speech,
        voice=voice,
        voice_arg=sampler.engine_arg(voice),
        augment=plan,
        noise_seed=int(rng.integers(2**32)),
        style=sentence.style,
        caption=sentence.caption,
        purpose="eval" if held_out else "train",
        babble=talkers,
    )


def _degraded(
    source: Sequence[UtteranceJob], split: str, options: CorpusOptions, samplers: Samplers,
    babble_pool: Sequence[StyledSentence],
) -> list[UtteranceJob]:  # fmt: skip
    """The `source` utterances (same sentence and voice) through a channel: `test-phone` an
    8 kHz mu-law telephone line, `test-noisy` one noise kind of NOISY_TEST_KINDS or two-talker
    babble at NOISY_TEST_SNR_DB, `train-phone` a share of them at 8 kHz (`_phone_copy`)."""
    jobs = []
    for job in source:
        rng = _rng(options.seed, split, job.index)
        if split == "train-phone":
            jobs += _phone_copy(job, rng, options.train_phone_share)
            continue
        if split == "test-phone":
            plan = AugmentPlan(telephone="ulaw")
        else:
            kind = NOISY_TEST_KINDS[int(rng.integers(len(NOISY_TEST_KINDS)))]
            snr = round(float(rng.uniform(*NOISY_TEST_SNR_DB)), 1)
            babble = kind == "babble"
            plan = AugmentPlan(babble=(2, snr)) if babble else AugmentPlan(noise=(kind, snr))
        talkers = _talkers(plan, rng, samplers.babble, babble_pool)
        jobs.append(dataclasses.replace(
            job, split=split, augment=plan, babble=talkers, noise_seed=int(rng.integers(2**32))
        ))  # fmt: skip
    return jobs


def _phone_copy(job: UtteranceJob, rng: np.random.Generator, share: float) -> list[UtteranceJob]:
    """A train-phone job for the train utterance `job` (its augmented audio at 8 kHz, a channel
    of TRAIN_PHONE_CODECS) with probability `share`, unless it went through a telephone line
    already. The noise seed (the channel draws no noise) is taken from the source job's key, so
    that a changed train utterance changes its copy's key and `--resume` makes it again."""
    if job.augment.telephone is not None or rng.random() >= share:
        return []
    codec = rng.choice(list(TRAIN_PHONE_CODECS), p=list(TRAIN_PHONE_CODECS.values()))
    plan = AugmentPlan(telephone=str(codec))
    return [dataclasses.replace(
        job, split="train-phone", augment=plan, babble=(), noise_seed=int(job.key()[:8], 16)
    )]  # fmt: skip


def split_sentences(
    sentences: Sequence[StyledSentence], options: CorpusOptions
) -> dict[str, list[StyledSentence]]:
    usable = [s for s in sentences if len(s.words.split()) <= options.max_words]
    return hold_out(
        usable,
        held_out_styles=options.held_out_styles,
        test_per_style=options.test_sentences_per_style,
        style_test=options.style_test_sentences,
        dev=options.dev_sentences,
        shares=dict(options.style_shares),
        seed=options.seed,
    )


def _voices_each(split: str, sentence: StyledSentence, options: CorpusOptions) -> tuple[int, int]:
    """(rounds, voices in the first round) for one sentence of `split`."""
    if split == "test":
        return options.voices_per_test_sentence, 1
    if split == "train-words":
        return 1, options.word_voices
    if split != "train":
        return 1, 1
    short = len(sentence.words.split()) <= SHORT_SENTENCE_WORDS
    return options.voices_per_train_sentence, options.short_sentence_voices if short else 1


def plan_corpus(
    sentences: Sequence[StyledSentence], options: CorpusOptions, samplers: Samplers
) -> dict[str, list[UtteranceJob]]:
    """Hold out the test, dev and held-out-style sentences first, then plan every utterance of
    every split (`SPLITS`).

    Deterministic in (seed, split, index). A split with several voices per sentence is planned
    in rounds: round r speaks every sentence once more, in a voice that sentence has not had
    yet, so the first round is the same whatever the count and `train_hours` (applied after
    synthesis) caps the later rounds first — they are reached only when the text runs out
    before `train_hours`; a short training sentence gets its extra voices in the first round.
    Train utterances are augmented; the others clean, except the derived splits
    (`DERIVED_SPLITS`): test-phone and test-noisy, the test utterances (their audio) through a
    telephone channel or in noise, and train-phone, a share of the train utterances at 8 kHz
    (only those kept under `train_hours` are made). train-words and test-words speak isolated
    words of the training sentences (`isolated.isolated_words`), outside `train_hours`.
    """
    sentences_of = split_sentences(sentences, options)
    babble_pool = sentences_of["train"][:BABBLE_POOL_SENTENCES]
    words = isolated_words(sentences_of["train"], options.train_words, options.test_words,
                           options.seed)  # fmt: skip
    # train_hours caps the audio anyway: plan no more sentences than it could need
    needed = math.ceil(options.train_hours * 3600 / MIN_TRAIN_UTTERANCE_S)
    sentences_of["train"] = sentences_of["train"][:needed]
    if len(sentences_of["test"]) < options.held_out_voice_utterances:
        logger.warning(
            "test-voices: %d utterances asked for, but only %d test sentences to speak",
            options.held_out_voice_utterances, len(sentences_of["test"]),
        )  # fmt: skip
    plans: dict[str, list[UtteranceJob]] = {split: [] for split in SPLITS}
    voices_test = sentences_of["test"][: options.held_out_voice_utterances]
    for split, texts in {**sentences_of, "test-voices": voices_test, **words}.items():
        if split in HELD_OUT_VOICE_SPLITS and samplers.held_out is None:
            continue
        seen: list[set[str]] = [set() for _ in texts]
        rounds = max((_voices_each(split, s, options)[0] for s in texts), default=0)
        for round_ in range(rounds):
            for sentence, voices in zip(texts, seen, strict=True):
                count, first = _voices_each(split, sentence, options)
                for _ in range(first if round_ == 0 else int(round_ < count)):
                    index = len(plans[split])
                    job = _plan_one(split, index, sentence, options, samplers, voices, babble_pool)
                    voices.add(job.voice.id)
                    plans[split].append(job)
    for split, source in DERIVED_SPLITS.items():
        plans[split] = _degraded(plans[source], split, options, samplers, babble_pool)
    return plans


def _speech(job: UtteranceJob, out_dir: Path) -> np.ndarray:
    """The speech of a job: synthesised, or for a derived split its source utterance's audio
    (written before, `SYNTHESIS_ORDER`), so both sets hold the very same speech."""
    if job.split not in DERIVED_SPLITS:
        return synthesize(job.speech_text, job.voice, job.voice_arg, purpose=job.purpose)
    for suffix in (".flac", ".wav"):
        source = out_dir / "audio" / DERIVED_SPLITS[job.split] / f"{job.index:06d}{suffix}"
        if source.is_file():
            samples, rate = sf.read(source, dtype="float32")
            if rate != SAMPLE_RATE:
                raise S2TError(f"{source}: expected {SAMPLE_RATE} Hz, got {rate}")
            return samples
    raise S2TError(
        f"{job.split} utterance {job.index}: its {DERIVED_SPLITS[job.split]} utterance's audio "
        "is missing"
    )


def synthesize_job(job: UtteranceJob, out_dir: Path) -> Synthesized:
    """Worker: synthesise, augment and write one utterance (deterministic in `job`, except
    Piper, whose model draws its own noise)."""
    samples = _speech(job, out_dir)
    babble = [synthesize(t.speech_text, t.voice, t.voice_arg) for t in job.babble]
    rng = np.random.default_rng(job.noise_seed)
    samples = apply_augment(samples, job.augment, rng, babble_sources=babble)
    utterance = Utterance(
        audio=write_audio(out_dir, f"audio/{job.split}/{job.index:06d}", samples, SAMPLE_RATE),
        text=job.text,
        voice=job.voice.id,
        duration=round(samples.size / SAMPLE_RATE, 3),
        augment=tuple(job.augment.labels()),
        style=job.style or None,
        caption=job.caption or None,
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
        self.results: dict[int, Synthesized | None] = {}  # by index; None: synthesis failed
        self.next = 0  # position in `jobs` (a derived split's indices have gaps)
        self.kept: list[Synthesized] = []
        self.kept_s = 0.0
        self.failed = 0

    def _full(self) -> bool:
        return self.kept_s >= self.cap_s

    def _advance(self) -> None:
        """Move finished utterances, in index order, into `kept` until the cap is reached."""
        while (
            not self._full()
            and self.next < len(self.jobs)
            and self.jobs[self.next].index in self.results
        ):
            finished = self.results.pop(self.jobs[self.next].index)
            self.next += 1
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
            self.progress.update(self.split, self.next, len(self.jobs), self.cap_s, finished)

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
    sentences = read_styled_sentences(options.texts, options.text_dir)
    if not sentences:
        raise S2TError(
            f"no sentence in {[t.file_name for t in options.texts]} survives normalising"
        )
    samplers = Samplers.discover(options)
    plans = plan_corpus(sentences, options, samplers)
    logger.info(
        "%d sentences (%s); voices %s; %d workers",
        len(sentences), ", ".join(f"{s} {len(p)}" for s, p in plans.items()),
        samplers.train.inventory.describe(), options.jobs,
    )  # fmt: skip
    return plans, len(sentences)


SYNTHESIS_ORDER = ("test", "dev", "test-style", "test-voices", "test-phone", "test-noisy",
                   "test-words", "train-words", "train", "train-phone")  # fmt: skip
"""The evaluation splits first, then the isolated words: they are small, and usable while the
training split grows (a model fine-tuned on a growing `train` without `train-words` forgets
isolated words: README, the stage-19 trial); each derived split after its source."""


def _kept_jobs(
    plans: dict[str, list[UtteranceJob]], kept: dict[str, list[Synthesized]], split: str
) -> list[UtteranceJob]:
    """The jobs of `split`; for a split derived from train, only those of the train utterances
    kept under `train_hours` (the plan has more)."""
    if DERIVED_SPLITS.get(split) != "train":
        return plans[split]
    indices = {s.index for s in kept["train"]}
    return [job for job in plans[split] if job.index in indices]


def build_corpus(options: CorpusOptions) -> CorpusSummary:
    """Read, normalise and split the text, synthesise every split, write manifests + summary.

    Writes under `options.out_dir`: `audio/{split}/{index:06d}.flac`, the manifests
    `{split}.jsonl` (see `manifest.Utterance`; each written when its split is done, in
    `SYNTHESIS_ORDER`), `summary.json`, a journal per split in `state/` that lets `resume`
    reuse finished utterances, with `real_dir` the real-voice manifests
    (`realsets.REAL_SETS`), with `fsdd_dir` `train-real.jsonl`, and with `tgt_langs` every
    manifest's translations (and their cache, `translations/`)."""
    start = time.monotonic()
    plans, sentences = _prepare_plan(options)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    if options.real_dir is not None:
        logger.info(
            "real-voice manifests: %s", write_real_manifests(options.real_dir, options.out_dir)
        )
    if options.fsdd_dir is not None:
        count = write_fsdd_training_manifest(
            options.fsdd_dir,
            options.out_dir,
            options.fsdd_held_out_speakers,
            augment=options.augment,
            seed=options.seed,
        )
        speakers = ", ".join(options.fsdd_held_out_speakers)
        logger.info("train-real: %d utterances, FSDD's training takes (all speakers but %s) "
                    "as given and augmented", count, speakers)  # fmt: skip
    progress = _Progress()
    kept: dict[str, list[Synthesized]] = {}
    failed: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=options.jobs) as executor:
        for split in SYNTHESIS_ORDER:
            jobs = _kept_jobs(plans, kept, split)
            runner = _SplitRunner(executor, split, jobs, options, progress)
            kept[split], failed[split] = runner.run(), runner.failed
            _prune(options.out_dir, split, kept[split])
            write_manifest(options.out_dir / f"{split}.jsonl", (s.utterance for s in kept[split]))
    if sum(s.duration for s in kept["train"]) < options.train_hours * 3600:
        logger.warning(
            "all %d planned training utterances used before reaching %.2f h of training audio",
            len(plans["train"]), options.train_hours,
        )  # fmt: skip
    if options.tgt_langs:
        translate_corpus(options.out_dir, options.tgt_langs)
    wall_s = time.monotonic() - start
    summary = _summary(kept, failed, sentences, progress.synthesized, wall_s, options)
    (options.out_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    return summary
