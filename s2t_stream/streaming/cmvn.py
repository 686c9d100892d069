"""Running CMVN for streams: S2T models were trained with utterance CMVN (statistics of the
whole utterance), which a stream never has; `Normaliser` stands in for it per window."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from s2t_stream.model.features import STD_FLOOR, FeatureOptions, guarded_cmvn, mask_empty_band

CmvnMode = Literal["segment", "prior", "global"]


@dataclass(frozen=True)
class CmvnOptions:
    """How each encoder window is normalised:

    - `segment`: the statistics of the window itself (the current segment so far) — equals
      offline utterance CMVN once the segment is complete;
    - `prior`: the window's statistics pooled with those of earlier speech in the stream (worth
      `prior_frames` frames), so a segment's first short windows are not normalised on 0.5 s;
    - `global`: fixed statistics from a file (`mean` and `std` arrays, as fairseq's global
      CMVN).

    The latency harness measures them against offline CMVN (README, Streaming)."""

    mode: CmvnMode = "segment"
    prior_frames: int = 300  # weight of earlier speech in `prior` mode, in 10 ms frames
    stats_path: str | None = None  # `global` mode: .npz with `mean` and `std`

    def __post_init__(self) -> None:
        if self.mode not in ("segment", "prior", "global"):
            raise ValueError(f"CMVN mode must be 'segment', 'prior' or 'global', got {self.mode!r}")
        if self.prior_frames < 0:
            raise ValueError(f"CmvnOptions.prior_frames must be ≥ 0, got {self.prior_frames}")
        if self.mode == "global" and not self.stats_path:
            raise ValueError("CMVN mode 'global' needs a statistics file (stats_path)")


@dataclass
class Moments:
    """Per-bin frame count, sum and sum of squares (float64), mergeable and scalable."""

    count: float
    total: np.ndarray
    squares: np.ndarray

    @classmethod
    def of(cls, frames: np.ndarray) -> Moments:
        x = frames.astype(np.float64)
        return cls(float(len(x)), x.sum(0), (x * x).sum(0))

    def scaled_to(self, count: float) -> Moments:
        factor = min(1.0, count / self.count) if self.count else 0.0
        return Moments(self.count * factor, self.total * factor, self.squares * factor)

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.count + other.count, self.total + other.total, self.squares + other.squares
        )

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count
        var = np.maximum(self.squares / self.count - mean * mean, 0.0)
        return mean, np.maximum(np.sqrt(var), STD_FLOOR)


def load_global_stats(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """`mean` and `std` (bins,) from an .npz file, with a clear error for anything else."""
    try:
        with np.load(path) as data:
            mean, std = np.asarray(data["mean"]), np.asarray(data["std"])
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(
            f"{path}: expected an .npz file with arrays 'mean' and 'std' ({error})"
        ) from error
    if mean.ndim != 1 or mean.shape != std.shape:
        raise ValueError(
            f"{path}: expected 'mean' and 'std' of one shape (bins,), got {mean.shape}, {std.shape}"
        )
    return mean.astype(np.float64), np.maximum(std.astype(np.float64), STD_FLOOR)


class Normaliser:
    """Normalises encoder windows of one stream and learns its `prior` from finished segments;
    with `band_mask`, zeroes each window's empty band (`features.mask_empty_band`)."""

    def __init__(
        self, options: CmvnOptions, features: FeatureOptions, *, band_mask: bool = False
    ) -> None:
        self.options = options
        self.features = features
        self.band_mask = band_mask
        self.prior: Moments | None = None
        self.fixed = load_global_stats(options.stats_path) if options.stats_path else None

    def __call__(self, window: np.ndarray) -> np.ndarray:
        """Raw log-mel (T, bins) → normalised float32 features."""
        normalised = self._normalise(window)
        return mask_empty_band(normalised, window) if self.band_mask else normalised

    def _normalise(self, window: np.ndarray) -> np.ndarray:
        mode = self.options.mode
        if mode == "segment" or (mode == "prior" and self.prior is None) or len(window) == 0:
            return guarded_cmvn(window, self.features)
        if mode == "global":
            assert self.fixed is not None
            mean, std = self.fixed
        else:
            assert self.prior is not None
            pooled = Moments.of(window) + self.prior.scaled_to(self.options.prior_frames)
            mean, std = pooled.mean_std()
        out = window.astype(np.float64)
        if self.features.normalize_means:
            out = out - mean
        if self.features.normalize_vars:
            out = out / std
        return out.astype(np.float32)

    def learn(self, segment: np.ndarray) -> None:
        """Fold a finished segment's raw frames into the prior (older speech fades out)."""
        if len(segment) == 0 or self.options.mode != "prior":
            return
        recent = Moments.of(segment)
        if self.prior is None:
            self.prior = recent
        else:
            self.prior = self.prior.scaled_to(self.options.prior_frames) + recent
