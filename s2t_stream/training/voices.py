"""Voices: text + an espeak-ng or flite voice -> 16 kHz mono speech (the only engines used for
training, so that evaluation on other engines stays honest)."""

from __future__ import annotations

import dataclasses
import io
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE, resample, to_mono

logger = logging.getLogger(__name__)

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
