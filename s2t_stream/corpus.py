"""Corpus stage: sentence text files in -> synthesised, augmented 16 kHz speech corpus out.

Output under OUT: `audio/{split}/{index:06d}.flac`, JSON-lines manifests `{split}.jsonl`
(audio, text, duration, voice, augment), `summary.json`, and a per-split journal in `state/`
that lets `--resume` reuse finished utterances. Voices: espeak-ng and flite only.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from s2t_stream.audio import SAMPLE_RATE, resample, to_mono
from s2t_stream.errors import S2TError

logger = logging.getLogger(__name__)

DEFAULT_TEXT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"
DEFAULT_TEXT_FILES = ("ljspeech_sentences.txt", "vctk_prompts.txt")
SPLITS = ("test", "dev", "train")
FORMAT_VERSION = 1
"""Bump when synthesis or augmentation code changes output, so `--resume` re-synthesises."""

# ---------------------------------------------------------------------------------------------
# Text normalisation (one function for training targets and WER scoring)
# ---------------------------------------------------------------------------------------------

# fmt: off
_UNICODE_PUNCT = str.maketrans({
    "‘": "'", "’": "'", "‛": "'", "`": "'", "“": '"', "”": '"', "„": '"',
    "–": " - ", "—": " - ", "―": " - ", "…": "...", "\u00a0": " ",
})
# fmt: on
_STRIP = '.,;:!?"()[]{}<>*_~^|'
"""Punctuation removed from tokens; anything else non-alphabetic makes the sentence fail."""
_PAUSES = {".": ".", "?": "?", "!": "!", ",": ",", ";": ",", ":": ","}
"""Token-final punctuation kept in the text given to the synthesiser, for natural pauses."""

# Conservative: only abbreviations whose reading is unambiguous in front of a name.
_ABBREVIATIONS = (
    (re.compile(r"\bMrs\b\.?"), "missus"),
    (re.compile(r"\bMr\b\.?"), "mister"),
    (re.compile(r"\bMessrs\b\.?"), "messieurs"),
    (re.compile(r"\bDrs\b\.?"), "doctors"),
    (re.compile(r"\bDr\b\.?"), "doctor"),
    (re.compile(r"\bSt\b\.?(?=\s+[A-Z])"), "saint"),
    (re.compile(r"\bJr\."), "junior"),
    (re.compile(r"\bLt\."), "lieutenant"),
    (re.compile(r"\bSgt\."), "sergeant"),
    (re.compile(r"\bCapt\."), "captain"),
)
_STREET_OR_SAINT = re.compile(r"\bSt\b")
_STRIP_RUN = re.compile(f"[{re.escape(_STRIP)}]+")
_DIGIT = re.compile(r"\d")
_TARGET = re.compile(r"[a-z' ]*[a-z][a-z' ]*")
_INITIAL = re.compile(r"\b([A-Z])\.")

# A hand-written speller: integers below a million, years and ordinals are all the corpus
# needs, so no dependency (num2words is not installed and not worth adding for this).
# fmt: off
_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                  "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
# fmt: on
_INTEGER = re.compile(r"[1-9]\d*|0")
_GROUPED = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+")
_ORDINAL = re.compile(r"([1-9]\d*)(st|nd|rd|th)")
_DECADES = re.compile(r"'?([1-9]\d*0)'?s")


def _cardinal(n: int) -> str:
    """0 <= n < 1e6 as words, American style ("one hundred five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    head, rest, unit = (*divmod(n, 100), "hundred") if n < 1000 else (*divmod(n, 1000), "thousand")
    return f"{_cardinal(head)} {unit}" + ("" if rest == 0 else " " + _cardinal(rest))


def _year_or_cardinal(n: int) -> str:
    """Plain four-digit numbers 1100-1999 and 2010-2099 read as years ("eighteen sixty three")."""
    if not (1100 <= n <= 1999 or 2010 <= n <= 2099):
        return _cardinal(n)
    century, rest = divmod(n, 100)
    if rest == 0:
        return f"{_cardinal(century)} hundred"
    if rest < 10:
        return f"{_cardinal(century)} oh {_ONES[rest]}"
    return f"{_cardinal(century)} {_cardinal(rest)}"


def _ordinal_suffix(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _last_word(words: str, transform: dict[str, str], y_ending: str, default: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in transform:
        last = transform[last]
    elif last.endswith("y"):
        last = last[:-1] + y_ending
    else:
        last += default
    return f"{head} {last}".strip()


def spell_number(token: str) -> str | None:
    """Spell one digit token ("1863", "1,500", "22nd", "1860s") in words; None if unsupported."""
    if _INTEGER.fullmatch(token) or _GROUPED.fullmatch(token):
        n = int(token.replace(",", ""))
        if n >= 1_000_000:
            return None
        return _year_or_cardinal(n) if len(token) == 4 else _cardinal(n)
    if match := _ORDINAL.fullmatch(token):
        n = int(match.group(1))
        if n >= 1_000_000 or match.group(2) != _ordinal_suffix(n):
            return None
        return _last_word(_cardinal(n), _ORDINAL_WORDS, "ieth", "th")
    if match := _DECADES.fullmatch(token):
        n = int(match.group(1))
        if n >= 10_000:
            return None
        words = _year_or_cardinal(n) if len(match.group(1)) == 4 else _cardinal(n)
        return _last_word(words, {}, "ies", "s")
    return None


def _prepare(text: str) -> str | None:
    """Unicode -> ASCII, abbreviations, initials and symbols, before tokenising."""
    text = unicodedata.normalize("NFKD", text.translate(_UNICODE_PUNCT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    for pattern, words in _ABBREVIATIONS:
        text = pattern.sub(words, text)
    if _STREET_OR_SAINT.search(text):
        return None  # "St" not before a name: street or saint, cannot tell
    text = _INITIAL.sub(r"\1 ", text)  # "U.S." -> "U S", "J. Smith" -> "J  Smith"
    text = text.replace("&", " and ").replace("%", " percent ")
    return re.sub(r"[-/\s]+", " ", text).strip()


def _split_token(token: str) -> tuple[str | None, str]:
    """A raw token -> (lower-case words, "" or None if unspellable; pause mark or "")."""
    core = token.strip(_STRIP)
    trailing = token[len(token.rstrip(_STRIP + "'")) :]
    pause = next((_PAUSES[ch] for ch in "?!.;:," if ch in trailing), "")
    if _DIGIT.search(core):
        return spell_number(core.strip("'")), pause
    word = _STRIP_RUN.sub(" ", core.lower())
    parts = (part.strip("'") for part in word.split())  # apostrophes inside words only
    word = " ".join(part for part in parts if part)
    return word, pause


def _words_and_pauses(text: str) -> list[tuple[str, str]] | None:
    prepared = _prepare(text)
    if prepared is None:
        return None
    tokens: list[tuple[str, str]] = []
    for raw in prepared.split():
        word, pause = _split_token(raw)
        if word is None:
            return None  # a number we cannot spell: drop the sentence
        if word:
            tokens.append((word, pause))
        elif pause and tokens:
            tokens[-1] = (tokens[-1][0], tokens[-1][1] or pause)
    if not _TARGET.fullmatch(" ".join(word for word, _ in tokens)):
        return None  # empty, or characters that ASCII folding could not map
    return tokens


def normalize_text(text: str) -> str | None:
    """The one normaliser for training targets and WER: lower-case words, apostrophes, spaces.

    Returns None when the sentence cannot be normalised safely (a number that cannot be
    spelled, an ambiguous "St", characters outside [a-z' ] after ASCII folding) or is empty.
    """
    tokens = _words_and_pauses(text)
    return None if tokens is None else " ".join(word for word, _ in tokens)


def speech_text(text: str) -> str | None:
    """The words of `normalize_text`, keeping sentence punctuation so synthesis pauses."""
    tokens = _words_and_pauses(text)
    return None if tokens is None else " ".join(word + pause for word, pause in tokens)


def normalize_pair(text: str) -> tuple[str, str] | None:
    """(`normalize_text`, `speech_text`) of one sentence, normalising once."""
    tokens = _words_and_pauses(text)
    if tokens is None:
        return None
    return " ".join(w for w, _ in tokens), " ".join(w + pause for w, pause in tokens)


def _read_lines(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        if not path.is_file():
            raise S2TError(f"{path}: text file not found (expected one sentence per line)")
        with path.open(encoding="utf-8") as lines:
            yield from lines


def read_spoken_sentences(paths: Iterable[str | Path]) -> dict[str, str]:
    """Read text files (one sentence per line) -> {normalised text: text to synthesise}.

    De-duplicated on the normalised text (the first spelling wins), in file order.
    """
    sentences: dict[str, str] = {}
    for line in _read_lines(Path(p) for p in paths):
        pair = normalize_pair(line)
        if pair is not None:
            sentences.setdefault(*pair)
    return sentences


def read_sentences(paths: Iterable[str | Path]) -> list[str]:
    """Read text files (one sentence per line) -> normalised, de-duplicated, in file order."""
    return list(read_spoken_sentences(paths))


# ---------------------------------------------------------------------------------------------
# Voices
# ---------------------------------------------------------------------------------------------

# fmt: off
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                 "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = ("", "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7",
                   "klatt", "klatt2")
FLITE_VOICES = ("kal16", "slt", "awb", "rms")  # kal is 8 kHz: not used
ESPEAK_RATE = (140, 200)
ESPEAK_PITCH = (30, 70)
ESPEAK_GAP = (0, 3)
DEFAULT_VOICE_WEIGHTS = (("espeak", 0.80), ("flite:kal16", 0.08), ("flite:slt", 0.04),
                         ("flite:awb", 0.04), ("flite:rms", 0.04))
# fmt: on
# Most utterances from espeak-ng (~1000x real time): flite slt/awb/rms are only ~80x.
_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite"}


@dataclass(frozen=True)
class Voice:
    """One synthesiser setting; `id` (engine, voice, variant) is what per-voice WER groups by."""

    engine: str
    name: str
    variant: str = ""
    rate: int | None = None
    pitch: int | None = None
    gap: int | None = None

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}" + (f"+{self.variant}" if self.variant else "")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class VoiceInventory:
    """The voices that work on this machine. `espeak` pairs a voice name with its `-v` file."""

    espeak: tuple[tuple[str, str], ...]
    variants: tuple[str, ...]
    flite: tuple[str, ...]


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        package = _PACKAGES[binary]
        raise S2TError(
            f"{binary} not found on PATH: install the Debian package {package} "
            f"(apt-get install -y --no-install-recommends {package})"
        )
    return path


def _run(cmd: Sequence[str]) -> bytes:
    try:
        done = subprocess.run(cmd, capture_output=True, check=False, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise S2TError(f"{cmd[0]} could not run ({e})") from e
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()[-500:]
        raise S2TError(f"{' '.join(cmd[:-1])} ... failed (exit {done.returncode}): {stderr}")
    return done.stdout


def _espeak_files() -> dict[str, str]:
    """Language code -> voice file from `espeak-ng --voices=en`, skipping mbrola voices.

    The file is passed to `-v` because espeak-ng 1.51 silently ignores `+variant` after some
    language codes (`en-gb+f1` sounds like `en-gb`), but not after the file (`gmw/en+f1`).
    """
    files: dict[str, str] = {}
    for line in _run(["espeak-ng", "--voices=en"]).decode(errors="replace").splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5 and not columns[4].startswith("mb/"):
            files.setdefault(columns[1], columns[4])
    return files


def _espeak_probe(voice_arg: str) -> bytes:
    return _run(["espeak-ng", "-v", voice_arg, "--stdout", "testing one two"])


def _espeak_inventory() -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    files = _espeak_files()
    listed = _run(["espeak-ng", "--voices=variant"]).decode(errors="replace")
    known = {col.removeprefix("!v/") for col in listed.split() if col.startswith("!v/")}
    voices = []
    for name in ESPEAK_VOICES:
        if name in files and len(_espeak_probe(files[name])) > 1000:
            voices.append((name, files[name]))
        else:
            logger.warning("espeak-ng voice %s does not work here: not used", name)
    if not voices:
        raise S2TError(f"espeak-ng has none of the English voices {ESPEAK_VOICES}")
    plain = _espeak_probe(voices[0][1])
    variants = [""]
    for variant in ESPEAK_VARIANTS[1:]:
        if variant in known and _espeak_probe(f"{voices[0][1]}+{variant}") != plain:
            variants.append(variant)
        else:
            logger.warning("espeak-ng variant %s does not work here: not used", variant)
    return tuple(voices), tuple(variants)


def discover_voices(weights: Sequence[tuple[str, float]]) -> VoiceInventory:
    """Check the engines that have weight > 0 exist and list their working English voices."""
    engines = {name.split(":")[0] for name, weight in weights if weight > 0}
    espeak: tuple[tuple[str, str], ...] = ()
    variants: tuple[str, ...] = ("",)
    flite: tuple[str, ...] = ()
    if "espeak" in engines:
        _require("espeak-ng")
        espeak, variants = _espeak_inventory()
    if "flite" in engines:
        _require("flite")
        listed = _run(["flite", "-lv"]).decode(errors="replace").split()
        flite = tuple(v for v in FLITE_VOICES if v in listed)
        for missing in sorted(set(FLITE_VOICES) - set(flite)):
            logger.warning("flite voice %s is not available here: not used", missing)
    return VoiceInventory(espeak=espeak, variants=variants, flite=flite)


class VoiceSampler:
    """Draws random voices: an engine group by weight, then voice, variant, rate, pitch, gap."""

    def __init__(self, inventory: VoiceInventory, weights: Sequence[tuple[str, float]]) -> None:
        available = {"espeak"} if inventory.espeak else set()
        available |= {f"flite:{name}" for name in inventory.flite}
        self.groups = [name for name, weight in weights if weight > 0 and name in available]
        if not self.groups:
            raise S2TError(f"none of the weighted voices {dict(weights)} is available here")
        p = np.array([dict(weights)[name] for name in self.groups], dtype=np.float64)
        self.p = p / p.sum()
        self.inventory = inventory
        self._espeak_args = dict(inventory.espeak)

    def draw(self, rng: np.random.Generator) -> Voice:
        group = self.groups[int(rng.choice(len(self.groups), p=self.p))]
        if group.startswith("flite:"):
            return Voice(engine="flite", name=group.removeprefix("flite:"))
        espeak, variants = self.inventory.espeak, self.inventory.variants
        return Voice(
            engine="espeak",
            name=espeak[int(rng.integers(len(espeak)))][0],
            variant=variants[int(rng.integers(len(variants)))],
            rate=int(rng.integers(ESPEAK_RATE[0], ESPEAK_RATE[1] + 1)),
            pitch=int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1)),
            gap=int(rng.integers(ESPEAK_GAP[0], ESPEAK_GAP[1] + 1)),
        )

    def engine_arg(self, voice: Voice) -> str:
        """What the engine is given: espeak-ng's `-v` voice file, or flite's voice name."""
        return self._espeak_args[voice.name] if voice.engine == "espeak" else voice.name


def _read_wav(data: bytes | Path) -> np.ndarray:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        samples, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        raise S2TError(f"the synthesiser wrote no readable WAV ({e})") from e
    return resample(to_mono(samples), int(rate), SAMPLE_RATE)


def synthesize(text: str, voice: Voice, voice_arg: str) -> np.ndarray:
    """Speak `text` -> mono float32 (n,) at 16 kHz. `voice_arg`: espeak `-v` file or flite name."""
    if voice.engine == "espeak":
        spec = voice_arg + (f"+{voice.variant}" if voice.variant else "")
        cmd = ["espeak-ng", "-v", spec, "-s", str(voice.rate), "-p", str(voice.pitch)]
        samples = _read_wav(_run([*cmd, "-g", str(voice.gap), "--stdout", text]))
    elif voice.engine == "flite":
        with tempfile.TemporaryDirectory(prefix="s2t-flite-") as tmp:
            wav = Path(tmp) / "out.wav"
            _run(["flite", "-voice", voice_arg, "-o", str(wav), "-t", text])
            samples = _read_wav(wav)
    else:
        raise ValueError(f"Voice.engine must be 'espeak' or 'flite', got {voice.engine!r}")
    if samples.size < SAMPLE_RATE // 10:
        raise S2TError(f"{voice.id} produced {samples.size} samples for {text!r}")
    return samples


# ---------------------------------------------------------------------------------------------
# Augmentation (numpy only; every random draw comes from the utterance's own generator)
# ---------------------------------------------------------------------------------------------

SPEED_RANGE = (0.9, 1.1)
GAIN_DBFS_RANGE = (-20.0, -1.0)
SNR_DB_RANGE = (10.0, 30.0)
RT60_S_RANGE = (0.15, 0.6)
PAD_S_RANGE = (0.0, 0.6)
PAD_FLOOR_DBFS = -65.0
NOISE_KINDS = ("white", "pink")


def speed_perturb(samples: np.ndarray, factor: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Play (n,) audio `factor` times faster: length / factor, pitch * factor.

    The resample trick of Kaldi speed perturbation: treat the audio as recorded at
    factor * rate and resample it back to the rate.
    """
    return resample(samples, round(sample_rate * factor), sample_rate)


def peak_normalize(samples: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """Scale (n,) audio so its peak is `peak_dbfs` dB re full scale (silence unchanged)."""
    peak = float(np.max(np.abs(samples), initial=0.0))
    if peak == 0.0:
        return samples.astype(np.float32)
    return (samples * (10 ** (peak_dbfs / 20) / peak)).astype(np.float32)


def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(n,) float64 noise of unit mean power: "white", or "pink" (1/f power, shaped by FFT)."""
    white = rng.standard_normal(n)
    if kind == "pink":
        spectrum = np.fft.rfft(white)
        spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
        spectrum[0] = 0.0
        white = np.fft.irfft(spectrum, n)
    elif kind != "white":
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}, got {kind!r}")
    power = float(np.mean(white**2)) if n else 0.0
    return white / np.sqrt(power) if power > 0 else white


def add_noise(
    samples: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    *,
    kind: str = "white",
    signal_power: float | None = None,
) -> np.ndarray:
    """Add noise at `snr_db` below `signal_power` (default: the mean power of `samples`)."""
    power = signal_power
    if power is None:
        power = float(np.mean(np.square(samples, dtype=np.float64)))
    noise = colored_noise(samples.size, kind, rng) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def room_impulse_response(
    rt60_s: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A synthetic room: a unit direct path, then noise decaying 60 dB over `rt60_s`.

    The tail starts after a few ms (first reflections arrive later than the direct sound) and
    its energy sits 0-6 dB below the direct path (a random direct-to-reverberant ratio).
    """
    length = max(2, round(rt60_s * sample_rate))
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.908 * t / rt60_s)  # ln(1000): -60 dB
    tail[: round(0.003 * sample_rate)] = 0.0
    drr_db = rng.uniform(0.0, 6.0)
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(float(np.sum(tail**2)), 1e-12))
    tail[0] = 1.0
    return tail


def add_reverb(
    samples: np.ndarray, rt60_s: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Convolve (n,) audio with a synthetic room (FFT); keeps the tail and the input's peak."""
    ir = room_impulse_response(rt60_s, rng, sample_rate)
    size = samples.size + ir.size - 1
    fft_size = 1 << (size - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(samples, fft_size) * np.fft.rfft(ir, fft_size), fft_size)[:size]
    peak_in = float(np.max(np.abs(samples), initial=0.0))
    peak_out = float(np.max(np.abs(wet), initial=0.0))
    return (wet * (peak_in / peak_out if peak_out > 0 else 1.0)).astype(np.float32)


def pad_silence(
    samples: np.ndarray,
    lead_s: float,
    trail_s: float,
    rng: np.random.Generator,
    *,
    floor_dbfs: float = PAD_FLOOR_DBFS,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Add `lead_s` / `trail_s` seconds of near-silence (a white noise floor) at each end."""
    lead = rng.standard_normal(round(lead_s * sample_rate)) * 10 ** (floor_dbfs / 20)
    trail = rng.standard_normal(round(trail_s * sample_rate)) * 10 ** (floor_dbfs / 20)
    return np.concatenate([lead, samples, trail]).astype(np.float32)


@dataclass(frozen=True)
class AugmentOptions:
    """Probability that each augmentation is applied to a training utterance."""

    speed_prob: float = 0.5
    gain_prob: float = 0.8
    noise_prob: float = 0.4
    reverb_prob: float = 0.3
    pad_prob: float = 0.8

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"AugmentOptions.{f.name} must be in [0, 1], got {value!r}")


@dataclass(frozen=True)
class AugmentPlan:
    """The augmentations drawn for one utterance (None = not applied), in application order."""

    speed: float | None = None
    reverb_rt60_s: float | None = None
    pad_s: tuple[float, float] | None = None
    noise: tuple[str, float] | None = None
    gain_dbfs: float | None = None

    def labels(self) -> list[str]:
        labels = []
        if self.speed is not None:
            labels.append(f"speed{self.speed:.2f}")
        if self.reverb_rt60_s is not None:
            labels.append(f"reverb{self.reverb_rt60_s:.2f}")
        if self.pad_s is not None:
            labels.append(f"pad{self.pad_s[0]:.2f}+{self.pad_s[1]:.2f}")
        if self.noise is not None:
            labels.append(f"noise-{self.noise[0]}{self.noise[1]:.1f}")
        if self.gain_dbfs is not None:
            labels.append(f"gain{self.gain_dbfs:.1f}")
        return labels


def draw_augment(rng: np.random.Generator, options: AugmentOptions) -> AugmentPlan:
    """Draw which augmentations apply (each with its probability) and their parameters."""

    def pick(prob: float, low: float, high: float, digits: int) -> float | None:
        applied, value = rng.random() < prob, round(float(rng.uniform(low, high)), digits)
        return value if applied else None

    speed = pick(options.speed_prob, *SPEED_RANGE, 2)
    rt60 = pick(options.reverb_prob, *RT60_S_RANGE, 2)
    lead, trail = pick(options.pad_prob, *PAD_S_RANGE, 2), round(rng.uniform(*PAD_S_RANGE), 2)
    snr = pick(options.noise_prob, *SNR_DB_RANGE, 1)
    kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    gain = pick(options.gain_prob, *GAIN_DBFS_RANGE, 1)
    return AugmentPlan(
        speed=speed if speed != 1.0 else None,
        reverb_rt60_s=rt60,
        pad_s=None if lead is None else (lead, trail),
        noise=None if snr is None else (kind, snr),
        gain_dbfs=gain,
    )


def apply_augment(samples: np.ndarray, plan: AugmentPlan, rng: np.random.Generator) -> np.ndarray:
    """Speed, reverb, padding, noise (SNR against the speech, not the pads), gain; clip."""
    out = np.asarray(samples, dtype=np.float32)
    if plan.speed is not None:
        out = speed_perturb(out, plan.speed)
    if plan.reverb_rt60_s is not None:
        out = add_reverb(out, plan.reverb_rt60_s, rng)
    speech_power = float(np.mean(np.square(out, dtype=np.float64)))
    if plan.pad_s is not None:
        out = pad_silence(out, *plan.pad_s, rng)
    if plan.noise is not None:
        out = add_noise(out, plan.noise[1], rng, kind=plan.noise[0], signal_power=speech_power)
    if plan.gain_dbfs is not None:
        out = peak_normalize(out, plan.gain_dbfs)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Corpus plan and synthesis jobs
# ---------------------------------------------------------------------------------------------


def _parse_weights(text: str) -> tuple[tuple[str, float], ...]:
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return tuple((name.strip(), float(value)) for name, value in pairs)
    except ValueError as e:
        raise ValueError(f"--voice-weights: expected NAME=WEIGHT,..., got {text!r}") from e


@dataclass(frozen=True)
class CorpusOptions:
    """Everything that determines the corpus; the CLI flags map one-to-one onto these fields."""

    text_paths: tuple[Path, ...] = tuple(DEFAULT_TEXT_DIR / f for f in DEFAULT_TEXT_FILES)
    out_dir: Path = Path("data/corpus")
    seed: int = 0
    train_hours: float = 20.0
    dev_sentences: int = 200
    test_sentences: int = 300
    max_words: int = 30
    voices_per_test_sentence: int = 1
    augment: AugmentOptions = AugmentOptions()
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
class Utterance:
    """One manifest line (plus its index and parameter key for the resume journal)."""

    audio: str
    text: str
    duration: float
    voice: str
    augment: tuple[str, ...]
    index: int
    key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "audio": self.audio,
            "text": self.text,
            "duration": self.duration,
            "voice": self.voice,
            "augment": list(self.augment),
        }


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
    (seed, split, index). Train gets one voice and augmentations per sentence (all of them:
    `train_hours` truncates after synthesis); dev and test are clean.
    """
    plans: dict[str, list[UtteranceJob]] = {split: [] for split in SPLITS}
    for split, texts in _split_sentences(list(sentences), options).items():
        voices_each = options.voices_per_test_sentence if split == "test" else 1
        for text in texts:
            seen: set[str] = set()
            for _ in range(voices_each):
                index = len(plans[split])
                job = _plan_one(split, index, text, sentences[text], options, sampler, seen)
                seen.add(job.voice.id)
                plans[split].append(job)
    return plans


def _write_audio(out_dir: Path, job: UtteranceJob, samples: np.ndarray) -> str:
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
        return relative
    raise S2TError(f"could not write {folder}/{job.index:06d} as FLAC or WAV")


def synthesize_job(job: UtteranceJob, out_dir: Path) -> Utterance:
    """Worker: synthesise, augment and write one utterance (deterministic in `job`)."""
    samples = synthesize(job.speech_text, job.voice, job.voice_arg)
    samples = apply_augment(samples, job.augment, np.random.default_rng(job.noise_seed))
    relative = _write_audio(out_dir, job, samples)
    return Utterance(
        audio=relative,
        text=job.text,
        duration=round(samples.size / SAMPLE_RATE, 3),
        voice=job.voice.id,
        augment=tuple(job.augment.labels()),
        index=job.index,
        key=job.key(),
    )


# ---------------------------------------------------------------------------------------------
# Running the plan: worker pool, resume journal, progress, manifests
# ---------------------------------------------------------------------------------------------


class _Journal:
    """Append-only `state/{split}.jsonl` of finished utterances, read back by `--resume`."""

    def __init__(self, out_dir: Path, split: str, resume: bool) -> None:
        self.out_dir = out_dir
        self.path = out_dir / "state" / f"{split}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: dict[int, Utterance] = self._load() if resume else {}
        self._file = self.path.open("a" if resume else "w", encoding="utf-8")

    def _load(self) -> dict[int, Utterance]:
        done: dict[int, Utterance] = {}
        if not self.path.exists():
            return done
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                utterance = Utterance(**{**entry, "augment": tuple(entry["augment"])})
            except (json.JSONDecodeError, TypeError, KeyError):
                continue  # a line cut short by an interrupted run
            done[utterance.index] = utterance
        return done

    def reusable(self, job: UtteranceJob) -> Utterance | None:
        utterance = self.done.get(job.index)
        if utterance is None or utterance.key != job.key():
            return None
        return utterance if (self.out_dir / utterance.audio).is_file() else None

    def add(self, utterance: Utterance) -> None:
        self._file.write(json.dumps(dataclasses.asdict(utterance)) + "\n")
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

    def update(self, split: str, done: int, total: int, cap_s: float, fresh: Utterance) -> None:
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
        self.pending: dict[Future[Utterance], int] = {}
        self.results: dict[int, Utterance | None] = {}  # None: synthesis failed
        self.next_index = 0
        self.kept: list[Utterance] = []
        self.kept_s = 0.0
        self.failed = 0

    def _full(self) -> bool:
        return self.kept_s >= self.cap_s

    def _advance(self) -> None:
        """Move finished utterances, in index order, into `kept` until the cap is reached."""
        while not self._full() and self.next_index in self.results:
            utterance = self.results.pop(self.next_index)
            self.next_index += 1
            if utterance is not None:
                self.kept.append(utterance)
                self.kept_s += utterance.duration

    def _collect(self) -> None:
        done, _ = wait(self.pending, return_when=FIRST_COMPLETED)
        for future in done:
            index = self.pending.pop(future)
            try:
                utterance = future.result()
            except S2TError as e:  # one unspeakable sentence should not stop the corpus
                logger.warning("%s utterance %d skipped: %s", self.split, index, e)
                self.failed += 1
                self.results[index] = None
                self._advance()
                continue
            self.journal.add(utterance)
            self.results[index] = utterance
            self._advance()
            self.progress.update(self.split, self.next_index, len(self.jobs), self.cap_s, utterance)

    def _drain(self) -> None:
        """Cap reached: cancel queued jobs, let running ones finish (journaled, then pruned)."""
        for future in self.pending:
            future.cancel()
        for future in wait(self.pending).done:
            if not future.cancelled() and future.exception() is None:
                self.journal.add(future.result())
        self.pending.clear()

    def run(self) -> list[Utterance]:
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


def _prune(out_dir: Path, split: str, kept: Sequence[Utterance]) -> int:
    """Delete this split's audio files that no manifest line refers to (from capped or old runs)."""
    folder = out_dir / "audio" / split
    if not folder.is_dir():
        return 0
    referenced = {Path(u.audio).name for u in kept}
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
    kept: dict[str, list[Utterance]], failed: dict[str, int], sentences: int, synthesized: int,
    wall_s: float, options: CorpusOptions,
) -> CorpusSummary:  # fmt: skip
    return CorpusSummary(
        utterances={split: len(kept[split]) for split in SPLITS},
        hours={split: round(sum(u.duration for u in kept[split]) / 3600, 4) for split in SPLITS},
        voices={
            split: dict(sorted(Counter(u.voice for u in kept[split]).items())) for split in SPLITS
        },
        sentences={"normalised": sentences, **{s: len({u.text for u in kept[s]}) for s in SPLITS}},
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
    """Read, normalise and split the text, synthesise every split, write manifests + summary."""
    start = time.monotonic()
    plans, sentences = _prepare_plan(options)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    progress = _Progress()
    kept: dict[str, list[Utterance]] = {}
    failed: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=options.jobs) as executor:
        for split in SPLITS:
            runner = _SplitRunner(executor, split, plans[split], options, progress)
            kept[split], failed[split] = runner.run(), runner.failed
            _prune(options.out_dir, split, kept[split])
            manifest = options.out_dir / f"{split}.jsonl"
            _write_json_lines(manifest, (u.to_json() for u in kept[split]))
    if sum(u.duration for u in kept["train"]) < options.train_hours * 3600:
        logger.warning(
            "all %d training sentences used before reaching %.2f h of training audio",
            len(plans["train"]), options.train_hours,
        )  # fmt: skip
    wall_s = time.monotonic() - start
    summary = _summary(kept, failed, sentences, progress.synthesized, wall_s, options)
    (options.out_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    return summary


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The corpus flags, one per CorpusOptions field (shared with `s2t-stream corpus`)."""
    d, a = CorpusOptions(), AugmentOptions()
    add = parser.add_argument
    add(
        "--text",
        type=Path,
        action="append",
        default=None,
        help=f"sentence file, repeatable (default: {', '.join(DEFAULT_TEXT_FILES)} in "
        f"{DEFAULT_TEXT_DIR})",
    )
    add("--out", type=Path, default=d.out_dir, help=f"output folder (default: {d.out_dir})")
    add("--seed", type=int, default=d.seed, help=f"(default: {d.seed})")
    add(
        "--train-hours",
        type=float,
        default=d.train_hours,
        help="cap on training audio (default: %(default)s)",
    )
    add("--dev-sentences", type=int, default=d.dev_sentences, help="(default: %(default)s)")
    add("--test-sentences", type=int, default=d.test_sentences, help="(default: %(default)s)")
    add(
        "--max-words",
        type=int,
        default=d.max_words,
        help="skip longer sentences (default: %(default)s)",
    )
    add("--voices-per-test-sentence", type=int, default=d.voices_per_test_sentence)
    for f in dataclasses.fields(AugmentOptions):
        flag = "--" + f.name.replace("_", "-")
        add(
            flag,
            type=float,
            default=getattr(a, f.name),
            help="probability for train utterances (default: %(default)s)",
        )
    add("--augment-test", action="store_true", help="augment the test split too")
    add(
        "--voice-weights",
        type=_parse_weights,
        default=d.voice_weights,
        help="NAME=WEIGHT,... for espeak, flite:kal16, flite:slt, flite:awb, flite:rms",
    )
    add("--jobs", type=int, default=d.jobs, help=f"worker processes (default: {d.jobs})")
    add("--resume", action="store_true", help="reuse audio already made with the same parameters")


def options_from_args(args: argparse.Namespace) -> CorpusOptions:
    augment = AugmentOptions(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(AugmentOptions)}
    )
    return CorpusOptions(
        text_paths=tuple(args.text) if args.text else CorpusOptions().text_paths,
        out_dir=args.out,
        seed=args.seed,
        train_hours=args.train_hours,
        dev_sentences=args.dev_sentences,
        test_sentences=args.test_sentences,
        max_words=args.max_words,
        voices_per_test_sentence=args.voices_per_test_sentence,
        augment=augment,
        augment_test=args.augment_test,
        voice_weights=args.voice_weights,
        jobs=args.jobs,
        resume=args.resume,
    )


def run_from_args(args: argparse.Namespace) -> int:
    summary = build_corpus(options_from_args(args))
    logger.info(
        "corpus in %s: %s utterances, %s hours, %d synthesised in %.0f s",
        args.out,
        summary.utterances,
        summary.hours,
        summary.synthesized,
        summary.wall_s,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m s2t_stream.corpus", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return run_from_args(args)
    except (S2TError, ValueError) as e:
        logger.error("%s", e)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
