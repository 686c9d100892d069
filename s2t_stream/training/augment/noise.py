"""Noise and babble: unit-power noise of each kind (white, pink, brown, hum, tones), other
talkers' babble, and mixing either into speech at an SNR."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from s2t_stream.model.audio import SAMPLE_RATE

NOISE_KINDS = ("white", "pink", "brown", "hum", "tones")
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power falls as 1/f ** this


def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(n,) float64 noise of unit mean power: "white", "pink" (1/f power) or "brown" (1/f²),
    shaped by FFT."""
    if kind not in COLOURS:
        raise ValueError(f"noise kind must be one of {sorted(COLOURS)}, got {kind!r}")
    white = rng.standard_normal(n)
    if COLOURS[kind]:
        spectrum = np.fft.rfft(white)
        spectrum[1:] /= np.arange(1, spectrum.size) ** (COLOURS[kind] / 2)
        spectrum[0] = 0.0
        white = np.fft.irfft(spectrum, n)
    return _unit_power(white)


def _unit_power(noise: np.ndarray) -> np.ndarray:
    power = float(np.mean(noise**2)) if noise.size else 0.0
    return noise / np.sqrt(power) if power > 0 else noise


def hum(n: int, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n,) mains hum of unit power: 50 or 60 Hz and its harmonics up to 1 kHz, each weaker than
    the last, at random phases (a ground loop, a transformer)."""
    t = np.arange(n) / sample_rate
    base = rng.choice([50.0, 60.0])
    harmonics = np.arange(1, int(1000 // base) + 1)
    amplitudes = rng.uniform(0.3, 1.0, harmonics.size) / harmonics
    phases = rng.uniform(0, 2 * np.pi, harmonics.size)
    wave = sum(a * np.sin(2 * np.pi * base * k * t + p)
               for k, a, p in zip(harmonics, amplitudes, phases, strict=True))  # fmt: skip
    return _unit_power(np.asarray(wave, dtype=np.float64))


def tones(n: int, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n,) music-like noise of unit power: chords of 1–3 harmonic notes (110–880 Hz), each
    lasting 0.2–0.8 s with an attack and a decay."""
    out = np.zeros(n)
    start = 0
    while start < n:
        length = min(n - start, round(rng.uniform(0.2, 0.8) * sample_rate))
        t = np.arange(length) / sample_rate
        envelope = np.minimum(1.0, t / 0.02) * np.exp(-t * rng.uniform(1.0, 4.0))
        for _ in range(int(rng.integers(1, 4))):
            f0 = 110.0 * 2 ** (rng.integers(0, 37) / 12)
            note = sum(np.sin(2 * np.pi * f0 * h * t) / h**1.5 for h in range(1, 6))
            out[start : start + length] += envelope * note
        start += length
    return _unit_power(out)


def babble(n: int, voices: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """(n,) babble of unit power: `voices` (other people's speech) each looped from a random
    offset and summed — the hardest noise for a voice-activity detector."""
    out = np.zeros(n)
    for voice in voices:
        if voice.size:
            looped = np.resize(np.roll(voice, int(rng.integers(voice.size))), n)
            out += looped / max(float(np.sqrt(np.mean(looped**2))), 1e-12)
    return _unit_power(out)


def noise_of_kind(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(n,) float64 noise of unit mean power, `kind` one of NOISE_KINDS: a colour of
    `colored_noise`, "hum" (`hum`) or "tones" (`tones`). Raises ValueError for another kind."""
    if kind == "hum":
        return hum(n, rng)
    if kind == "tones":
        return tones(n, rng)
    return colored_noise(n, kind, rng)


def add_noise(
    samples: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    *,
    kind: str = "white",
    signal_power: float | None = None,
) -> np.ndarray:
    """Add noise of `kind` (NOISE_KINDS: `noise_of_kind`) at `snr_db` below `signal_power`
    (default: the mean power of `samples`)."""
    power = signal_power
    if power is None:
        power = float(np.mean(np.square(samples, dtype=np.float64)))
    noise = noise_of_kind(samples.size, kind, rng) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def add_babble(
    samples: np.ndarray,
    voices: Sequence[np.ndarray],
    snr_db: float,
    rng: np.random.Generator,
    *,
    signal_power: float | None = None,
) -> np.ndarray:
    """Mix (n,) audio with `babble` of `voices` (each (m,) float at the same rate) at `snr_db`
    below `signal_power` (default: the mean power of `samples`). Raises ValueError when no
    voice has any sound."""
    if not any(np.any(voice) for voice in voices):
        raise ValueError(f"babble needs other talkers' speech, got {len(voices)} silent voices")
    power = signal_power
    if power is None:
        power = float(np.mean(np.square(samples, dtype=np.float64)))
    chatter = babble(samples.size, list(voices), rng) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + chatter).astype(np.float32)
