"""Biquad filters: RBJ cookbook sections, their cascade's response, and filtering by FFT
(numpy has no IIR filter and scipy is not a dependency); the microphone colouration built
from them (EQ bands limited to ±MIC_EQ_MAX_DB together, an optional high-pass). The
telephone band uses them too."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from s2t_stream.model.audio import SAMPLE_RATE

MIC_EQ_MAX_DB = 6.0
"""The microphone colouration's response stays within ±this many dB (high-pass aside)."""
SHELF_Q = 0.71
"""Shelf and high-pass Q: 1/√2 rounded (Butterworth-like, no bump)."""


@dataclass(frozen=True)
class Biquad:
    """One second-order section H(z) = (b0 + b1 z⁻¹ + b2 z⁻²) / (a0 + a1 z⁻¹ + a2 z⁻²)."""

    b: tuple[float, float, float]
    a: tuple[float, float, float]


def rbj_biquad(
    kind: str, freq_hz: float, q: float, gain_db: float = 0.0, sample_rate: int = SAMPLE_RATE
) -> Biquad:
    """A `kind` biquad ("lowpass", "highpass", "peak", "lowshelf", "highshelf") at `freq_hz`
    (cut-off, centre or shelf midpoint) with quality `q` and, for peak and shelves, `gain_db`.

    Formulas: R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter coefficients"
    (W3C Audio EQ Cookbook, https://www.w3.org/TR/audio-eq-cookbook/): A = 10^(gain/40),
    w0 = 2π f0 / Fs, α = sin(w0) / (2Q). Raises ValueError for another kind, a frequency
    outside (0, Fs/2) or q <= 0.
    """
    if not 0 < freq_hz < sample_rate / 2 or q <= 0:
        raise ValueError(
            f"biquad needs 0 < freq_hz < {sample_rate / 2:g} and q > 0, got {freq_hz!r}, {q!r}"
        )
    w0 = 2 * math.pi * freq_hz / sample_rate
    cos, alpha, big_a = math.cos(w0), math.sin(w0) / (2 * q), 10 ** (gain_db / 40)
    if kind == "lowpass":
        return Biquad(((1 - cos) / 2, 1 - cos, (1 - cos) / 2), (1 + alpha, -2 * cos, 1 - alpha))
    if kind == "highpass":
        return Biquad(((1 + cos) / 2, -(1 + cos), (1 + cos) / 2), (1 + alpha, -2 * cos, 1 - alpha))
    if kind == "peak":
        return Biquad(
            (1 + alpha * big_a, -2 * cos, 1 - alpha * big_a),
            (1 + alpha / big_a, -2 * cos, 1 - alpha / big_a),
        )
    if kind in ("lowshelf", "highshelf"):
        return _shelf(kind == "lowshelf", cos, alpha, big_a)
    raise ValueError(
        f"biquad kind must be lowpass, highpass, peak, lowshelf or highshelf: {kind!r}"
    )


def _shelf(low: bool, cos: float, alpha: float, big_a: float) -> Biquad:
    """The cookbook's lowShelf (`low`) or highShelf: its two formulas differ only in the signs
    written `s` here (+1 low, -1 high)."""
    s = 1.0 if low else -1.0
    root = 2 * math.sqrt(big_a) * alpha
    plus, minus = big_a + 1, big_a - 1
    return Biquad(
        (big_a * (plus - s * minus * cos + root), s * 2 * big_a * (minus - s * plus * cos),
         big_a * (plus - s * minus * cos - root)),
        (plus + s * minus * cos + root, -s * 2 * (minus + s * plus * cos),
         plus + s * minus * cos - root),
    )  # fmt: skip


def biquad_response(sections: Sequence[Biquad], w: np.ndarray) -> np.ndarray:
    """Complex response of the cascade of `sections` at angular frequencies `w` (rad/sample,
    any shape): the product of each H(e^{jw})."""
    z = np.exp(-1j * np.asarray(w, dtype=np.float64))
    response = np.ones_like(z)
    for section in sections:
        b, a = section.b, section.a
        response *= (b[0] + b[1] * z + b[2] * z**2) / (a[0] + a[1] * z + a[2] * z**2)
    return response


def _decay_samples(sections: Sequence[Biquad], decay_db: float = 140.0) -> int:
    """Samples after which every section's impulse response has fallen `decay_db` (from its
    slowest pole radius r: |h[k]| ∝ r^k). Raises ValueError for an unstable section."""
    longest = 2
    for section in sections:
        radius = float(np.max(np.abs(np.roots(section.a)), initial=0.0))
        if radius >= 1.0:
            raise ValueError(f"unstable biquad (pole radius {radius:.4f}): {section}")
        if radius > 0.0:
            longest = max(longest, math.ceil(decay_db / 20 * math.log(10) / -math.log(radius)))
    return longest * len(sections) + 2


def filter_biquads(samples: np.ndarray, sections: Sequence[Biquad]) -> np.ndarray:
    """(n,) audio through the cascade of `sections` (causal, zero initial state) -> (n,) float32.

    Hand-written because numpy has no IIR filter and scipy is not a dependency: the cascade's
    exact response on an FFT grid longer than the input plus the sections' decay time gives
    the output of direct-form filtering (time aliasing below -140 dB), in one FFT pair rather
    than a per-sample Python loop.
    """
    if not sections or samples.size == 0:
        return np.asarray(samples, dtype=np.float32)
    size = 1 << (samples.size + _decay_samples(sections) - 1).bit_length()
    w = 2 * np.pi * np.fft.rfftfreq(size)
    spectrum = np.fft.rfft(np.asarray(samples, dtype=np.float64), size)
    out = np.fft.irfft(spectrum * biquad_response(sections, w), size)[: samples.size]
    return out.astype(np.float32)


@dataclass(frozen=True)
class EqBand:
    """One band of a microphone's colouration: an RBJ "peak", "lowshelf" or "highshelf"."""

    kind: str
    freq_hz: float
    gain_db: float
    q: float


@dataclass(frozen=True)
class MicPlan:
    """A microphone's colouration: EQ `bands` (within ±MIC_EQ_MAX_DB together) and an optional
    2nd-order high-pass at `highpass_hz`."""

    bands: tuple[EqBand, ...] = ()
    highpass_hz: float | None = None

    def sections(self, sample_rate: int = SAMPLE_RATE) -> list[Biquad]:
        """The biquads (high-pass last). Raises ValueError for a bad band."""
        sections = [rbj_biquad(b.kind, b.freq_hz, b.q, b.gain_db, sample_rate) for b in self.bands]
        if self.highpass_hz is not None:
            sections.append(rbj_biquad("highpass", self.highpass_hz, SHELF_Q, 0.0, sample_rate))
        return sections


def eq_peak_db(bands: Sequence[EqBand], sample_rate: int = SAMPLE_RATE) -> float:
    """Largest |response| in dB of `bands` together, on a 2048-point grid 0..Fs/2."""
    w = np.linspace(0.0, np.pi, 2048)
    sections = [rbj_biquad(b.kind, b.freq_hz, b.q, b.gain_db, sample_rate) for b in bands]
    magnitude = np.abs(biquad_response(sections, w))
    return float(np.max(np.abs(20 * np.log10(magnitude))))


def limit_eq(bands: Sequence[EqBand], max_db: float = MIC_EQ_MAX_DB) -> tuple[EqBand, ...]:
    """`bands` with their gains scaled down together (rounded to 0.1 dB) until the combined
    response stays within ±`max_db` (overlapping bands add up)."""
    limited = tuple(bands)
    for _attempt in range(20):
        peak = eq_peak_db(limited)
        if peak <= max_db:
            return limited
        factor = 0.98 * max_db / peak
        limited = tuple(
            dataclasses.replace(b, gain_db=round(b.gain_db * factor, 1)) for b in limited
        )
    raise AssertionError(f"EQ gains did not converge below {max_db} dB: {limited}")


def mic_colour(samples: np.ndarray, mic: MicPlan, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n,) audio as `mic` would pick it up -> (n,) float32 (`filter_biquads`)."""
    return filter_biquads(samples, mic.sections(sample_rate))
