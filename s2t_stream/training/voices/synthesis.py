"""Synthesis: text + a `Voice` -> mono float32 (n,) speech at 16 kHz, from any engine, refusing
reserved voices always and held-out voices for training."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE
from s2t_stream.training.voices.catalog import Purpose, Voice, check_allowed
from s2t_stream.training.voices.engines import (
    speak_espeak,
    speak_festival,
    speak_flite,
    speak_mbrola,
    speak_rhvoice,
)
from s2t_stream.training.voices.inventory import default_engine_arg
from s2t_stream.training.voices.kokoro import speak_kokoro
from s2t_stream.training.voices.piper import speak_piper

_SPEAK: dict[str, Callable[[str, Voice], np.ndarray]] = {
    "flite": speak_flite,
    "rhvoice": speak_rhvoice,
    "festival": speak_festival,
    "mbrola": speak_mbrola,
    "piper": speak_piper,
    "kokoro": speak_kokoro,
}


def synthesize(
    text: str, voice: Voice, voice_arg: str | None = None, *, purpose: Purpose = "train"
) -> np.ndarray:
    """Speak `text` -> mono float32 (n,) at 16 kHz.

    `voice_arg` is `VoiceSampler.engine_arg(voice)` (espeak-ng's `-v` file; for the other
    engines it must equal `default_engine_arg(voice)`); None looks it up. `purpose="train"`
    (training and tuning data) refuses held-out voices; `"eval"` (our unseen-voice validation)
    allows them. Reserved voices and voices outside the catalogue are always refused. Samples
    are clipped to [-1, 1]. Raises
    S2TError when refused, when the engine fails, or when it returns under 0.1 s of audio.
    """
    check_allowed(voice, purpose)
    if voice.engine == "espeak":
        voice_file = voice_arg or default_engine_arg(voice)
        if "mb-" in voice_file or voice_file.startswith("mb/"):
            raise S2TError(
                f"espeak-ng voice file {voice_file!r} is an MBROLA voice: use the mbrola engine"
            )
        samples = speak_espeak(text, voice, voice_file)
    else:
        expected = default_engine_arg(voice)
        if voice_arg is not None and voice_arg != expected:
            raise S2TError(
                f"{voice.id}: expected the engine argument {expected!r}, got {voice_arg!r}"
            )
        samples = _SPEAK[voice.engine](text, voice)
    if samples.size < SAMPLE_RATE // 10:
        raise S2TError(f"{voice.id} produced {samples.size} samples for {text!r}")
    return np.clip(samples, -1.0, 1.0)  # resampling can overshoot a full-scale engine
