"""Drawing an `AugmentPlan`: the parameter ranges and the shares within a kind (the
probabilities of each kind: `AugmentOptions`), and `draw_augment`."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from s2t_stream.training.augment.filters import (
    MIC_EQ_MAX_DB,
    SHELF_Q,
    EqBand,
    MicPlan,
    limit_eq,
)
from s2t_stream.training.augment.noise import NOISE_KINDS
from s2t_stream.training.augment.plan import AugmentOptions, AugmentPlan

T = TypeVar("T")

SPEED_RANGE = (0.9, 1.1)
TEMPO_RANGE = (0.85, 1.15)
"""Tempo factor (sox `tempo`): duration / factor, pitch kept."""
PITCH_CENTS_RANGE = (-300, 300)
"""Pitch shift in cents (sox `pitch`): duration kept."""
GAIN_DBFS_RANGE = (-20.0, -1.0)
QUIET_GAIN_DBFS_RANGE = (-35.0, -25.0)
LOUD_GAIN_DBFS_RANGE = (0.5, 4.0)
"""A peak above full scale: the final clip flattens the loudest 0.5–4 dB (mild clipping)."""
GAIN_SHARES = {"normal": 0.87, "quiet": 0.08, "loud": 0.05}
"""Of the utterances whose gain is set, which range the peak level comes from."""
SNR_DB_RANGE = (10.0, 30.0)
WIDE_SNR_DB_RANGE = (5.0, 30.0)
WIDE_SNR_SHARE = 0.4
"""Of the noisy utterances, the share whose SNR comes from WIDE_SNR_DB_RANGE."""
BABBLE_SNR_DB_RANGE = (5.0, 20.0)
BABBLE_TALKERS = (1, 3)
RT60_S_RANGE = (0.15, 0.6)
PAD_S_RANGE = (0.0, 0.6)
LONG_PAD_S_RANGE = (0.0, 1.5)
LONG_PAD_SHARE = 0.3
"""Of the padded utterances, the share whose pads come from LONG_PAD_S_RANGE."""
LEVEL_DB_RANGE = (-6.0, 6.0)
LEVEL_POINTS = (2, 5)
"""A level fluctuation passes through 2–5 gains (dB) spread evenly over the utterance."""
TELEPHONE_CODECS = {"linear": 0.2, "ulaw": 0.4, "alaw": 0.4}
"""Of the telephone utterances, the share per codec: none (8 kHz linear), G.711 μ-law, A-law."""
MIC_LOWSHELF_HZ = (80.0, 400.0)
MIC_HIGHSHELF_HZ = (2000.0, 6000.0)
MIC_PEAK_HZ = (250.0, 5000.0)
MIC_PEAK_Q = (0.5, 2.5)
MIC_HIGHPASS_HZ = (100.0, 300.0)
"""A small microphone's (or its housing's) low cut-off."""
MIC_SHARES = {"lowshelf": 0.5, "highshelf": 0.5, "second_peak": 0.5, "highpass": 0.5}
"""Of the coloured utterances, the share with each optional part (one peak always)."""


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], digits: int) -> float:
    return round(float(rng.uniform(*bounds)), digits)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], digits: int) -> float:
    """Uniform on a log scale (frequencies: as many draws per octave)."""
    return round(float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1])))), digits)


def _share(rng: np.random.Generator, shares: dict[str, float]) -> str:
    """One key of `shares` drawn with its weight (one uniform draw)."""
    keys, weights = list(shares), np.asarray(list(shares.values()), dtype=np.float64)
    index = int(np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(), side="right"))
    return keys[min(index, len(keys) - 1)]


def _maybe(applies: bool, value: T) -> T | None:
    return value if applies else None


def _draw_pad(rng: np.random.Generator) -> tuple[float, float]:
    bounds = LONG_PAD_S_RANGE if rng.random() < LONG_PAD_SHARE else PAD_S_RANGE
    return _uniform(rng, bounds, 2), _uniform(rng, bounds, 2)


def _draw_noise(rng: np.random.Generator) -> tuple[str, float]:
    kind = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    bounds = WIDE_SNR_DB_RANGE if rng.random() < WIDE_SNR_SHARE else SNR_DB_RANGE
    return kind, _uniform(rng, bounds, 1)


def _draw_babble(rng: np.random.Generator) -> tuple[int, float]:
    talkers = int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1))
    return talkers, _uniform(rng, BABBLE_SNR_DB_RANGE, 1)


def _draw_level(rng: np.random.Generator) -> tuple[float, ...]:
    points = int(rng.integers(LEVEL_POINTS[0], LEVEL_POINTS[1] + 1))
    values = [_uniform(rng, LEVEL_DB_RANGE, 1) for _ in range(LEVEL_POINTS[1])]
    return tuple(values[:points])


def _draw_gain(rng: np.random.Generator) -> float:
    ranges = {"normal": GAIN_DBFS_RANGE, "quiet": QUIET_GAIN_DBFS_RANGE,
              "loud": LOUD_GAIN_DBFS_RANGE}  # fmt: skip
    return _uniform(rng, ranges[_share(rng, GAIN_SHARES)], 1)


def _draw_band(rng: np.random.Generator, kind: str, bounds: tuple[float, float]) -> EqBand:
    freq, gain = _log_uniform(rng, bounds, 0), _uniform(rng, (-MIC_EQ_MAX_DB, MIC_EQ_MAX_DB), 1)
    q = _uniform(rng, MIC_PEAK_Q, 2)  # drawn for shelves too: the same number of draws
    return EqBand(kind, freq, gain, q if kind == "peak" else SHELF_Q)


def _draw_mic(rng: np.random.Generator) -> MicPlan:
    """Optional low and high shelf, one or two peaks (gains limited to ±MIC_EQ_MAX_DB together),
    optional high-pass; the same number of draws whichever parts apply."""
    parts = {part: rng.random() < share for part, share in MIC_SHARES.items()}
    candidates = [
        (parts["lowshelf"], _draw_band(rng, "lowshelf", MIC_LOWSHELF_HZ)),
        (True, _draw_band(rng, "peak", MIC_PEAK_HZ)),
        (parts["second_peak"], _draw_band(rng, "peak", MIC_PEAK_HZ)),
        (parts["highshelf"], _draw_band(rng, "highshelf", MIC_HIGHSHELF_HZ)),
    ]
    highpass = _log_uniform(rng, MIC_HIGHPASS_HZ, 0)
    bands = limit_eq([band for applies, band in candidates if applies])
    return MicPlan(bands, highpass if parts["highpass"] else None)


def draw_augment(rng: np.random.Generator, options: AugmentOptions) -> AugmentPlan:
    """Draw which augmentations apply (each with its probability) and their parameters; with
    `clean_prob`, none. Every parameter is drawn whether or not it applies, so changing one
    probability leaves the other kinds' draws as they were."""
    o = options
    speed = _maybe(rng.random() < o.speed_prob, _uniform(rng, SPEED_RANGE, 2))
    tempo = _maybe(rng.random() < o.tempo_prob, _uniform(rng, TEMPO_RANGE, 2))
    pitch = _maybe(
        rng.random() < o.pitch_prob, int(rng.integers(*PITCH_CENTS_RANGE, endpoint=True))
    )
    plan = AugmentPlan(
        speed=None if speed == 1.0 else speed,
        tempo=None if tempo == 1.0 else tempo,
        pitch_cents=None if pitch == 0 else pitch,
        reverb_rt60_s=_maybe(rng.random() < o.reverb_prob, _uniform(rng, RT60_S_RANGE, 2)),
        mic=_maybe(rng.random() < o.mic_prob, _draw_mic(rng)),
        pad_s=_maybe(rng.random() < o.pad_prob, _draw_pad(rng)),
        noise=_maybe(rng.random() < o.noise_prob, _draw_noise(rng)),
        babble=_maybe(rng.random() < o.babble_prob, _draw_babble(rng)),
        telephone=_maybe(rng.random() < o.telephone_prob, _share(rng, TELEPHONE_CODECS)),
        level_db=_maybe(rng.random() < o.level_prob, _draw_level(rng)),
        gain_dbfs=_maybe(rng.random() < o.gain_prob, _draw_gain(rng)),
    )
    return AugmentPlan() if rng.random() < o.clean_prob else plan
