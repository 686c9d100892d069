"""Running CMVN: segment, prior and global statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s2t_stream.model.features import FeatureOptions, guarded_cmvn, mask_empty_band
from s2t_stream.streaming.cmvn import CmvnOptions, Moments, Normaliser

FEATURES = FeatureOptions()


def test_segment_cmvn_is_utterance_cmvn() -> None:
    window = np.random.default_rng(0).normal(3.0, 2.0, (120, 80)).astype(np.float32)
    normaliser = Normaliser(CmvnOptions("segment"), FEATURES)
    np.testing.assert_array_equal(normaliser(window), guarded_cmvn(window))


def test_prior_cmvn_pools_earlier_speech() -> None:
    rng = np.random.default_rng(1)
    earlier = rng.normal(5.0, 1.0, (1000, 80)).astype(np.float32)
    window = rng.normal(1.0, 1.0, (100, 80)).astype(np.float32)
    normaliser = Normaliser(CmvnOptions("prior", prior_frames=100), FEATURES)
    np.testing.assert_array_equal(normaliser(window), guarded_cmvn(window))  # no prior yet
    normaliser.learn(earlier)
    pooled = np.concatenate([window, earlier[:100]])  # the prior counts as 100 frames
    mean = pooled.mean(0)
    out = normaliser(window)
    # pooled mean ≈ (1 + 5) / 2 = 3, so the window sits ≈ 2 below it
    np.testing.assert_allclose(out.mean(0) * pooled.std(0), window.mean(0) - mean, atol=0.2)
    assert out.mean() < -0.5


def test_moments_scale_and_merge() -> None:
    a = Moments.of(np.ones((4, 2), dtype=np.float32))
    b = Moments.of(np.full((6, 2), 3.0, dtype=np.float32))
    mean, std = (a.scaled_to(2) + b).mean_std()
    np.testing.assert_allclose(mean, (2 * 1 + 6 * 3) / 8)
    assert np.all(std > 0.5)


def test_global_cmvn_from_file(tmp_path: Path) -> None:
    path = tmp_path / "global_cmvn.npz"
    np.savez(path, mean=np.full(80, 2.0), std=np.full(80, 4.0))
    normaliser = Normaliser(CmvnOptions("global", stats_path=str(path)), FEATURES)
    np.testing.assert_allclose(normaliser(np.full((5, 80), 10.0, dtype=np.float32)), 2.0)
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu=np.zeros(80))
    with pytest.raises(ValueError, match="'mean' and 'std'"):
        Normaliser(CmvnOptions("global", stats_path=str(bad)), FEATURES)
    with pytest.raises(ValueError, match="needs a statistics file"):
        CmvnOptions("global")


def test_the_empty_band_is_zeroed_in_segment_and_prior_modes_when_asked() -> None:
    """Windows of upsampled 8 kHz audio: its top bins hold only rounding noise."""
    rng = np.random.default_rng(0)
    window = rng.normal(20.0, 2.0, (120, 80))
    window[:, 60:] = rng.normal(6.0, 0.3, (120, 20))
    features = FeatureOptions()
    for options in (CmvnOptions(), CmvnOptions(mode="prior")):
        plain = Normaliser(options, features)
        masked = Normaliser(options, features, band_mask=True)
        plain.learn(window)
        masked.learn(window)
        expected = mask_empty_band(plain(window), window)
        np.testing.assert_array_equal(masked(window), expected)
        assert np.all(expected[:, 60:] == 0.0) and expected[:, :60].std() > 0.5
