"""The engines that run as programs: espeak-ng, MBROLA (through espeak-ng), flite, RHVoice and
Festival. Each has an inventory probe (which of its English voices work here) and a `speak_*`
function: text + `Voice` -> mono float32 (n,) at 16 kHz."""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE, resample, to_mono
from s2t_stream.training.voices.catalog import (
    ESPEAK_VARIANTS,
    ESPEAK_VOICES,
    FESTIVAL_VOICES,
    FLITE_VOICES,
    MBROLA_VOICES,
    RHVOICE_VOICES,
    Voice,
)

logger = logging.getLogger(__name__)

INSTALL_SCRIPT = "scripts/install_voices.sh"
_PACKAGES = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "RHVoice-test": "rhvoice rhvoice-english",
    "text2wave": "festival festvox-kdlpc16k festvox-rablpc16k festvox-don",
    "mbrola": "mbrola mbrola-us3 mbrola-en1",
}
_NOTES = {"mbrola": " (in Debian's contrib and non-free components)"}
RHVOICE_DATA = (Path("/usr/share/RHVoice/voices"), Path("/usr/local/share/RHVoice/voices"))
"""Where RHVoice keeps its voices: RHVoice-test silently falls back to another voice for a name
it does not have, so presence is checked here."""
_PROBE = "testing one two"


def require(binary: str) -> str:
    """The path of `binary`, or S2TError naming the Debian package(s) that install it."""
    path = shutil.which(binary)
    if path is None:
        package = _PACKAGES[binary]
        noun = "packages" if " " in package else "package"
        raise S2TError(
            f"{binary} not found on PATH: install the Debian {noun} {package}"
            f"{_NOTES.get(binary, '')} (apt-get install -y --no-install-recommends {package}; "
            f"{INSTALL_SCRIPT} installs every engine)"
        )
    return path


def run(cmd: Sequence[str], stdin: str | None = None) -> bytes:
    """Run `cmd` (feeding `stdin` as UTF-8) -> its stdout; S2TError on failure or timeout."""
    data = None if stdin is None else stdin.encode("utf-8")
    try:
        done = subprocess.run(cmd, input=data, capture_output=True, check=False, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise S2TError(f"{cmd[0]} could not run ({e})") from e
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()[-500:]
        raise S2TError(f"{' '.join(cmd[:-1])} ... failed (exit {done.returncode}): {stderr}")
    return done.stdout


def read_wav(data: bytes | Path) -> np.ndarray:
    """WAV bytes or file (any rate, any channels) -> mono float32 (n,) at 16 kHz."""
    if isinstance(data, Path) and not data.is_file():
        raise S2TError(f"the synthesiser wrote no WAV file (expected {data})")
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        samples, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        raise S2TError(f"the synthesiser wrote no readable WAV ({e})") from e
    return resample(to_mono(samples), int(rate), SAMPLE_RATE)


def _via_file(write: Callable[[Path], object]) -> np.ndarray:
    """Run `write(path)` for an engine that writes a WAV file, then read that file."""
    with tempfile.TemporaryDirectory(prefix="s2t-voice-") as tmp:
        wav = Path(tmp) / "out.wav"
        write(wav)
        return read_wav(wav)


def _works(speak: Callable[[], np.ndarray]) -> bool:
    """Whether a probe utterance comes out as more than a few samples."""
    try:
        return speak().size > SAMPLE_RATE // 10
    except S2TError as e:
        logger.debug("voice probe failed: %s", e)
        return False


def _keep_working(
    engine: str, names: Sequence[str], works: Callable[[str], bool]
) -> tuple[str, ...]:
    found = tuple(name for name in names if works(name))
    for name in sorted(set(names) - set(found)):
        logger.warning("%s voice %s does not work here: not used", engine, name)
    if not found:
        raise S2TError(f"{engine} has none of the English voices {tuple(names)}")
    return found


# ---------------------------------------------------------------------------------------------
# espeak-ng and MBROLA
# ---------------------------------------------------------------------------------------------


@functools.cache
def espeak_files() -> dict[str, str]:
    """Language code -> voice file from `espeak-ng --voices=en`, skipping mbrola voices.

    The file is passed to `-v` because espeak-ng 1.51 silently ignores `+variant` after some
    language codes (`en-gb+f1` sounds like `en-gb`), but not after the file (`gmw/en+f1`).
    """
    files: dict[str, str] = {}
    for line in run(["espeak-ng", "--voices=en"]).decode(errors="replace").splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5 and not columns[4].startswith("mb/"):
            files.setdefault(columns[1], columns[4])
    return files


def _espeak_probe(voice_arg: str) -> bytes:
    return run(["espeak-ng", "-v", voice_arg, "--stdout", _PROBE])


def espeak_inventory() -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The working English voices as (name, `-v` file) pairs, and the working variants."""
    require("espeak-ng")
    files = espeak_files()
    listed = run(["espeak-ng", "--voices=variant"]).decode(errors="replace")
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


def speak_espeak(text: str, voice: Voice, voice_file: str) -> np.ndarray:
    """espeak-ng `voice_file` (`gmw/en-US`) + variant, rate, pitch and word gap."""
    if "mb-" in voice_file or voice_file.startswith("mb/"):
        raise S2TError(
            f"espeak-ng voice file {voice_file!r} is an MBROLA voice: use the mbrola engine"
        )
    spec = voice_file + (f"+{voice.variant}" if voice.variant else "")
    cmd = ["espeak-ng", "-v", spec, "-s", str(voice.rate or 175), "-p", str(voice.pitch or 50)]
    return read_wav(run([*cmd, "-g", str(voice.gap or 0), "--stdout", text]))


def mbrola_inventory() -> tuple[str, ...]:
    """The MBROLA voices that espeak-ng can drive here (`mb-us3`, ...)."""
    require("espeak-ng")
    require("mbrola")
    return _keep_working("mbrola", MBROLA_VOICES, lambda n: _works(lambda: _mbrola(_PROBE, n)))


def _mbrola(text: str, name: str, rate: int = 175, pitch: int = 50) -> np.ndarray:
    cmd = ["espeak-ng", "-v", f"mb-{name}", "-s", str(rate), "-p", str(pitch), "--stdout", text]
    return read_wav(run(cmd))


def speak_mbrola(text: str, voice: Voice) -> np.ndarray:
    """MBROLA diphones through espeak-ng's `mb-{name}` voice, with its rate and pitch."""
    return _mbrola(text, voice.name, voice.rate or 175, voice.pitch or 50)


# ---------------------------------------------------------------------------------------------
# flite, RHVoice, Festival
# ---------------------------------------------------------------------------------------------


def flite_inventory() -> tuple[str, ...]:
    """The flite voices in `FLITE_VOICES` that this flite build lists (`flite -lv`)."""
    require("flite")
    listed = run(["flite", "-lv"]).decode(errors="replace").split()
    found = tuple(v for v in FLITE_VOICES if v in listed)
    for missing in sorted(set(FLITE_VOICES) - set(found)):
        logger.warning("flite voice %s is not available here: not used", missing)
    return found


def speak_flite(text: str, voice: Voice) -> np.ndarray:
    """flite's built-in voice `name`, its durations stretched by 1 / `speed`."""
    stretch = ["--setf", f"duration_stretch={1 / voice.speed:.3f}"] if voice.speed else []
    return _via_file(
        lambda wav: run(["flite", "-voice", voice.name, *stretch, "-o", str(wav), "-t", text])
    )


def rhvoice_inventory() -> tuple[str, ...]:
    """The RHVoice English voices whose data is installed and that speak."""
    require("RHVoice-test")
    installed = {p.name for root in RHVOICE_DATA if root.is_dir() for p in root.iterdir()}
    return _keep_working(
        "rhvoice",
        RHVOICE_VOICES,
        lambda n: n in installed and _works(lambda: speak_rhvoice(_PROBE, Voice("rhvoice", n))),
    )


def speak_rhvoice(text: str, voice: Voice) -> np.ndarray:
    """RHVoice profile `name` (24 kHz), rate and pitch in percent of its default."""
    cmd = ["RHVoice-test", "-p", voice.name, "-r", str(voice.rate or 100)]
    cmd += ["-t", str(voice.pitch or 100)]
    return _via_file(lambda wav: run([*cmd, "-o", str(wav)], stdin=text))


def festival_inventory() -> tuple[str, ...]:
    """The Festival diphone voices in `FESTIVAL_VOICES` that load and speak here."""
    require("text2wave")
    return _keep_working(
        "festival",
        FESTIVAL_VOICES,
        lambda n: _works(lambda: speak_festival(_PROBE, Voice("festival", n))),
    )


def speak_festival(text: str, voice: Voice) -> np.ndarray:
    """Festival's `voice_{name}_diphone` (16 kHz; don is 10 kHz), durations stretched by
    1 / `speed`. text2wave exits 0 even when the voice does not load: then no file is written
    and `read_wav` says so."""
    cmd = ["text2wave", "-eval", f"(voice_{voice.name}_diphone)"]
    if voice.speed:
        cmd += ["-eval", f"(Parameter.set 'Duration_Stretch {1 / voice.speed:.3f})"]
    return _via_file(lambda wav: run([*cmd, "-o", str(wav)], stdin=text))
