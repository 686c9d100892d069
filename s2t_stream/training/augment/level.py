"""Level: peak normalisation (the peak gain) and a smooth level fluctuation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def peak_normalize(samples: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """Scale (n,) audio so its peak is `peak_dbfs` dB re full scale (silence unchanged)."""
    peak = float(np.max(np.abs(samples), initial=0.0))
    if peak == 0.0:
        return samples.astype(np.float32)
    return (samples * (10 ** (peak_dbfs / 20) / peak)).astype(np.float32)


def level_curve(n: int, points_db: Sequence[float]) -> np.ndarray:
    """(n,) float64 gain (linear) through `points_db` (dB; at least 2) placed evenly from the
    first sample to the last, joined by raised-cosine ramps (smooth: no step, no click)."""
    points = np.asarray(points_db, dtype=np.float64)
    if points.size < 2:
        raise ValueError(f"a level curve needs at least 2 points, got {points.size}")
    position = np.arange(n) * ((points.size - 1) / max(n - 1, 1))
    segment = np.minimum(position.astype(np.int64), points.size - 2)
    ramp = (1 - np.cos(np.pi * (position - segment))) / 2
    curve_db = points[segment] * (1 - ramp) + points[segment + 1] * ramp
    return np.asarray(10 ** (curve_db / 20))


def fluctuate_level(samples: np.ndarray, points_db: Sequence[float]) -> np.ndarray:
    """(n,) audio times `level_curve` (a talker moving, an automatic gain control), rescaled to
    its former peak: the shape changes here, the absolute level is the peak gain's job."""
    peak = float(np.max(np.abs(samples), initial=0.0))
    if peak == 0.0:
        return np.asarray(samples, dtype=np.float32)
    return peak_normalize(samples * level_curve(samples.size, points_db), 20 * math.log10(peak))
