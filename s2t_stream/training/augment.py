"""Augmentation: clean speech -> speed-perturbed, reverberant, padded, noisy, gain-changed speech
(numpy only; every random draw comes from the utterance's own generator)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from s2t_stream.model.audio import SAMPLE_RATE, resample

logger = logging.getLogger(__name__)

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
