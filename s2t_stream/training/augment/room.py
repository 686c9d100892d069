"""Room: a synthetic impulse response (direct path and an exponentially decaying tail) and
reverb by FFT convolution."""

from __future__ import annotations

import numpy as np

from s2t_stream.model.audio import SAMPLE_RATE


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
