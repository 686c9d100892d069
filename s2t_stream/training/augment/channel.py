"""Telephone channel: 8 kHz, G.711 μ-law / A-law (libsndfile via soundfile), the 300–3400 Hz
band, back to the original rate; or an 8 kHz recording (the whole 0–4 kHz band kept)."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from s2t_stream.model.audio import SAMPLE_RATE, resample
from s2t_stream.training.augment.filters import filter_biquads, rbj_biquad

TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
"""The telephone speech band (ITU-T G.712 channel: 300–3400 Hz)."""
G711_PEAK = 10 ** (-3 / 20)
"""Peak the telephone channel scales speech to before G.711 coding (undone after)."""
RECORDING_PREFIX = "8k-"
"""A channel named `8k-{codec}` is an 8 kHz recording: coded, but not band-passed to
TELEPHONE_BAND_HZ (what an 8 kHz file made by resampling holds)."""
BUTTERWORTH4_Q = (0.5412, 1.3066)
"""The two biquads of a 4th-order Butterworth filter: Q = 1 / (2 cos θ), θ = π/8, 3π/8."""


def telephone_band(
    samples: np.ndarray, codec: str = "linear", sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """(n,) audio through a telephone channel -> (n,) float32 at `sample_rate`, the same level.

    Resampled to 8 kHz (soxr), coded with G.711 `codec` ("ulaw", "alaw"; "linear": none),
    band-limited to TELEPHONE_BAND_HZ (4th-order Butterworth high- and low-pass as RBJ
    biquads), resampled back: nothing is left above 4 kHz. `8k-ulaw`, `8k-alaw`, `8k-linear`
    (RECORDING_PREFIX): the same without the band-pass. Raises ValueError for another codec.
    """
    line = not codec.startswith(RECORDING_PREFIX)
    codec = codec.removeprefix(RECORDING_PREFIX)
    narrow = resample(samples, sample_rate, TELEPHONE_RATE)
    if codec != "linear":
        narrow = g711(narrow, codec)
    if line:
        narrow = speech_band(narrow)
    wide = resample(narrow, TELEPHONE_RATE, sample_rate)
    out = np.zeros(samples.size, dtype=np.float32)
    out[: min(wide.size, out.size)] = wide[: out.size]
    return out


def speech_band(narrow: np.ndarray) -> np.ndarray:
    """(n,) audio at TELEPHONE_RATE band-limited to TELEPHONE_BAND_HZ (4th-order Butterworth
    high- and low-pass as RBJ biquads) -> (n,) float32."""
    low, high = TELEPHONE_BAND_HZ
    sections = [rbj_biquad("highpass", low, q, 0.0, TELEPHONE_RATE) for q in BUTTERWORTH4_Q]
    sections += [rbj_biquad("lowpass", high, q, 0.0, TELEPHONE_RATE) for q in BUTTERWORTH4_Q]
    return filter_biquads(narrow, sections)


def g711(samples: np.ndarray, codec: str, sample_rate: int = TELEPHONE_RATE) -> np.ndarray:
    """(n,) audio coded and decoded with G.711 `codec` ("ulaw" or "alaw") by libsndfile (an
    in-memory WAV of that subtype) -> (n,) float32. Scaled to a G711_PEAK peak for the codec
    and back, so the level is kept and nothing overflows. Raises ValueError for another codec."""
    subtypes = {"ulaw": "ULAW", "alaw": "ALAW"}
    if codec not in subtypes:
        raise ValueError(f"G.711 codec must be 'ulaw' or 'alaw', got {codec!r}")
    peak = float(np.max(np.abs(samples), initial=0.0))
    if peak == 0.0:
        return np.asarray(samples, dtype=np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, samples * (G711_PEAK / peak), sample_rate, subtype=subtypes[codec],
             format="WAV")  # fmt: skip
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    return (decoded * (peak / G711_PEAK)).astype(np.float32)
