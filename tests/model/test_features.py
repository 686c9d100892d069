"""Tests for the feature stage: knf fbank vs HF's extractor, CMVN, streaming fbank, batching."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from s2t_stream.errors import AudioError
from s2t_stream.model.audio import quantize16, resample, to_mono
from s2t_stream.model.features import (
    STD_FLOOR,
    FeatureOptions,
    OnlineFbank,
    empty_band_start,
    extract_features,
    fbank,
    guarded_cmvn,
    mask_empty_band,
    utterance_cmvn,
)
from s2t_stream.model.network import pad_batch

transformers = pytest.importorskip("transformers", reason="transformers (test reference) missing")
Speech2TextFeatureExtractor = transformers.Speech2TextFeatureExtractor

SENTENCE = "The quick brown fox jumps over the lazy dog while the sun sets behind the hills."

# knf runs its FFT in float32; HF's numpy path is within 1e-6 of float64 math. Measured: bins
# more than ~15 nats (65 dB) below their frame's loudest bin carry float32 round-off up to ~1e-2
# (so does torchaudio's float32 fbank, which the checkpoints were trained on). The 5e-4 parity
# bound therefore applies within that dynamic range; beyond it only a loose bound holds.
DYNAMIC_RANGE_NATS = 15.0
ATOL_FBANK = 5e-4
ATOL_FBANK_FLOOR = 1e-2


@pytest.fixture(scope="session")
def hf_extractor() -> object:
    return Speech2TextFeatureExtractor()


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """About 4.5 s of espeak-ng speech, mono float32 at 16 kHz (espeak writes 22.05 kHz)."""
    path: Path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), SENTENCE], check=True)
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return resample(to_mono(data), int(rate), 16000)


@pytest.fixture(scope="session")
def noise() -> np.ndarray:
    """3 s of 50 Hz - 7.9 kHz band-limited Gaussian noise, peak 0.1.

    The band covers every mel bin (20 Hz - 8 kHz): a bin left empty holds only float32 FFT
    leakage, ~25 nats below the frame peak, where knf and HF differ by up to 1e-2.
    """
    rng = np.random.default_rng(1234)
    white = rng.standard_normal(3 * 16000)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(white.size, 1 / 16000)
    spectrum[(freqs < 50) | (freqs > 7900)] = 0
    band = np.fft.irfft(spectrum, white.size)
    return (0.1 * band / np.abs(band).max()).astype(np.float32)


def assert_fbank_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    assert ours.dtype == np.float32
    diff = np.abs(ours - ref)
    within_range = ref >= ref.max(axis=1, keepdims=True) - DYNAMIC_RANGE_NATS
    assert within_range.mean() > 0.5  # the bound must cover most of the matrix
    assert diff[within_range].max() <= ATOL_FBANK
    assert diff.max() <= ATOL_FBANK_FLOOR
    assert diff.mean() <= 2e-5


# ----------------------------------------------------------------------------- fbank vs HF


# A pure sine is deliberately absent: in near-empty mel bins any two fbank implementations
# differ by up to 0.2 (log of round-off), so it says nothing about parity.
@pytest.mark.parametrize("signal", ["speech", "noise"])
def test_fbank_matches_hf(
    signal: str, request: pytest.FixtureRequest, hf_extractor: object
) -> None:
    samples: np.ndarray = request.getfixturevalue(signal)
    ref = hf_extractor._extract_fbank_features(samples)  # type: ignore[attr-defined]
    ours = fbank(samples)
    assert ours.shape[0] == 1 + (samples.size - 400) // 160
    assert_fbank_close(ours, ref)


@pytest.mark.audio("espeak-ng")
def test_fbank_24_bins_matches_hf(speech: np.ndarray) -> None:
    config = {"feature_size": 24, "num_mel_bins": 24}
    ref = Speech2TextFeatureExtractor(**config)._extract_fbank_features(speech)
    ours = fbank(speech, FeatureOptions.from_preprocessor_config(config))
    assert ours.shape == (1 + (speech.size - 400) // 160, 24)
    assert_fbank_close(ours, ref)


@pytest.mark.parametrize("num_samples", [0, 1, 399, 400, 559, 560, 16000, 16001])
def test_fbank_frame_count(num_samples: int) -> None:
    samples = np.random.default_rng(num_samples).uniform(-0.1, 0.1, num_samples)
    feats = fbank(samples.astype(np.float32))
    expected = 1 + (num_samples - 400) // 160 if num_samples >= 400 else 0
    assert feats.shape == (expected, 80)
    assert feats.dtype == np.float32


def test_fbank_is_deterministic(noise: np.ndarray) -> None:
    # knf's default dither (3e-5 random noise) would make two runs differ.
    np.testing.assert_array_equal(fbank(noise), fbank(noise))


def test_fbank_rejects_bad_input() -> None:
    with pytest.raises(AudioError, match=r"expected mono samples of shape \(n,\)"):
        fbank(np.zeros((1000, 2), np.float32))
    with pytest.raises(AudioError, match="floating-point"):
        fbank(np.zeros(1000, np.int16))
    with pytest.raises(AudioError, match="1 NaN"):
        fbank(np.array([0.0] * 500 + [np.nan], np.float32))


# ----------------------------------------------------------------------------- CMVN vs HF


@pytest.mark.audio("espeak-ng")
def test_full_extractor_matches_hf(speech: np.ndarray, hf_extractor: object) -> None:
    ref = hf_extractor(speech, sampling_rate=16000, return_tensors="np")  # type: ignore[operator]
    exact = extract_features(speech, guard=False)
    assert exact.shape == ref["input_features"][0].shape
    np.testing.assert_allclose(exact, ref["input_features"][0], atol=1e-3, rtol=0)
    # Real speech has every bin's std far above the floor: guarded == exact, bit for bit.
    np.testing.assert_array_equal(extract_features(speech), exact)


@pytest.mark.audio("espeak-ng")
def test_batched_padding_matches_hf(
    speech: np.ndarray, noise: np.ndarray, hf_extractor: object
) -> None:
    waves = [speech[:20000], speech, noise]
    ref = hf_extractor(  # type: ignore[operator]
        waves, sampling_rate=16000, padding=True, return_tensors="np"
    )
    batch, mask = pad_batch([extract_features(w, guard=False) for w in waves])
    assert batch.dtype == torch.float32 and mask.dtype == torch.int64
    assert tuple(batch.shape) == ref["input_features"].shape
    np.testing.assert_array_equal(mask.numpy(), ref["attention_mask"])
    np.testing.assert_allclose(batch.numpy(), ref["input_features"], atol=1e-3, rtol=0)
    padded = mask.numpy() == 0
    assert padded.any()
    assert (batch.numpy()[padded] == 0.0).all()


def numpy_cmvn(x: np.ndarray, means: bool = True, variances: bool = True) -> np.ndarray:
    """Straightforward float32 replica of HF's utterance CMVN (two-pass population std)."""
    x = x.astype(np.float32)
    if means:
        x = x - x.mean(axis=0)
    if variances:
        x = x / np.sqrt(((x - x.mean(axis=0)) ** 2).mean(axis=0))
    return x


@pytest.mark.parametrize(("means", "variances"), [(True, True), (True, False), (False, True)])
@pytest.mark.audio("espeak-ng")
def test_utterance_cmvn_matches_replica(
    speech: np.ndarray, means: bool, variances: bool, hf_extractor: object
) -> None:
    feats = fbank(speech)
    options = FeatureOptions(normalize_means=means, normalize_vars=variances)
    ours = utterance_cmvn(feats, options)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, numpy_cmvn(feats, means, variances), atol=1e-6, rtol=0)
    hf = hf_extractor.utterance_cmvn(feats, feats.shape[0], means, variances)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(ours, hf)


@pytest.mark.audio("espeak-ng")
def test_cmvn_disabled_returns_fbank(speech: np.ndarray) -> None:
    options = FeatureOptions.from_preprocessor_config({"do_ceptral_normalize": False})
    np.testing.assert_array_equal(extract_features(speech, options), fbank(speech))


def test_utterance_cmvn_reproduces_hf_nan_on_one_frame(noise: np.ndarray) -> None:
    one_frame = fbank(noise[:450])
    assert one_frame.shape == (1, 80)
    assert np.isnan(utterance_cmvn(one_frame)).all()


def test_utterance_cmvn_reproduces_hf_inf_on_silence() -> None:
    feats = fbank(np.zeros(16000, np.float32))
    assert not np.isfinite(utterance_cmvn(feats)).any()


def test_guarded_cmvn_silence_is_finite() -> None:
    feats = extract_features(np.zeros(16000, np.float32))
    assert feats.shape == (98, 80)
    assert np.isfinite(feats).all()
    # float32 mean round-off leaves ~1e-6 residuals, divided by the 1e-5 floor: small, not 0.
    assert np.abs(feats).max() < 1.0


def test_guarded_cmvn_one_frame_and_constant() -> None:
    one = guarded_cmvn(np.linspace(-5, 5, 80, dtype=np.float32)[None, :])
    np.testing.assert_array_equal(one, np.zeros((1, 80), np.float32))
    constant = guarded_cmvn(np.full((50, 80), 3.0, np.float32))
    np.testing.assert_array_equal(constant, np.zeros((50, 80), np.float32))


def test_guarded_cmvn_floors_only_tiny_std() -> None:
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((200, 80)).astype(np.float32)
    feats[:, 7] = 1.0 + 1e-7 * rng.standard_normal(200).astype(np.float32)
    guarded = guarded_cmvn(feats)
    exact = utterance_cmvn(feats)
    np.testing.assert_array_equal(np.delete(guarded, 7, axis=1), np.delete(exact, 7, axis=1))
    centred = feats[:, 7] - feats[:, 7].mean()
    np.testing.assert_allclose(guarded[:, 7], centred / STD_FLOOR, rtol=1e-5, atol=1e-6)
    assert np.abs(guarded[:, 7]).max() < 0.1


def test_cmvn_zero_frames() -> None:
    empty = np.zeros((0, 80), np.float32)
    assert guarded_cmvn(empty).shape == (0, 80)
    assert utterance_cmvn(empty).shape == (0, 80)
    assert extract_features(np.zeros(100, np.float32)).shape == (0, 80)


# ----------------------------------------------------------------------------- OnlineFbank


def feed(extractor: OnlineFbank, samples: np.ndarray, sizes: list[int]) -> np.ndarray:
    pieces, start = [], 0
    for size in sizes:
        out = extractor.accept(samples[start : start + size])
        assert out.dtype == np.float32 and out.shape[1] == 80
        pieces.append(out)
        start += size
    assert start >= samples.size
    pieces.append(extractor.finish())
    return np.concatenate(pieces)


@pytest.mark.audio("espeak-ng")
def test_online_fbank_random_chunks_equal_offline(speech: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 4001, size=speech.size // 1000 + 10).tolist()
    extractor = OnlineFbank()
    streamed = feed(extractor, speech, sizes)
    offline = fbank(speech)
    assert np.array_equal(streamed, offline)
    assert extractor.num_frames == offline.shape[0]


def test_online_fbank_single_samples_and_empty_chunks(noise: np.ndarray) -> None:
    short = noise[:2345]
    sizes = [1] * 1000 + [0, 0] + [1] * 1345 + [0]
    streamed = feed(OnlineFbank(), short, sizes)
    assert np.array_equal(streamed, fbank(short))
    assert streamed.shape[0] == 1 + (2345 - 400) // 160


def test_online_fbank_emits_frames_as_soon_as_window_is_full() -> None:
    extractor = OnlineFbank()
    samples = np.random.default_rng(0).uniform(-0.1, 0.1, 800).astype(np.float32)
    assert extractor.accept(samples[:399]).shape == (0, 80)
    assert extractor.accept(samples[399:400]).shape == (1, 80)
    assert extractor.accept(samples[400:559]).shape == (0, 80)
    assert extractor.accept(samples[559:560]).shape == (1, 80)
    assert extractor.num_frames == 2
    assert extractor.finish().shape == (0, 80)
    with pytest.raises(RuntimeError, match="after finish"):
        extractor.accept(samples)


def test_online_fbank_memory_stays_bounded() -> None:
    rng = np.random.default_rng(3)
    extractor = OnlineFbank()
    chunk = 1600  # 100 ms
    for _ in range(600):  # 60 s
        extractor.accept(rng.uniform(-0.1, 0.1, chunk).astype(np.float32))
        assert extractor.buffered_frames == 0
    assert extractor.num_frames == 1 + (600 * chunk - 400) // 160
    # The counter is bookkeeping; check knf itself released the frames (it raises on them).
    knf_extractor = extractor._fbank
    with pytest.raises(RuntimeError, match="already removed"):
        knf_extractor.get_frame(extractor.num_frames - 1)


# ----------------------------------------------------------------------------- empty band


def test_the_empty_band_of_8khz_audio_is_found_and_zeroed(speech: np.ndarray) -> None:
    """Speech brought down to 8 kHz and back (as load_audio reads an 8 kHz file: upsampled,
    rounded to 16 bits) has nothing but rounding noise above ~3.9 kHz, which CMVN scales up to
    unit variance; the mask sets those bins to 0 and leaves the rest as they were."""
    narrow = quantize16(resample(resample(speech, 16000, 8000), 8000, 16000))
    start = empty_band_start(fbank(narrow))
    assert start is not None and 58 <= start <= 61  # bin 60 starts at 3.86 kHz
    plain, masked = extract_features(narrow), extract_features(narrow, band_mask=True)
    assert np.all(masked[:, start:] == 0.0) and plain[:, start:].std() > 0.5
    np.testing.assert_array_equal(masked[:, :start], plain[:, :start])
    float_up = resample(resample(speech, 16000, 8000), 8000, 16000)  # not rounded: log floor
    assert empty_band_start(fbank(float_up)) == start


def test_wideband_audio_silence_and_nothing_have_no_empty_band(
    speech: np.ndarray, noise: np.ndarray
) -> None:
    for wave in (speech, noise):
        assert empty_band_start(fbank(wave)) is None
        np.testing.assert_array_equal(
            extract_features(wave, band_mask=True), extract_features(wave)
        )
    assert empty_band_start(fbank(np.zeros(16000, dtype=np.float32))) is None  # all bins alike
    assert empty_band_start(np.zeros((0, 80), dtype=np.float32)) is None
    assert empty_band_start(np.zeros((5, 24), dtype=np.float32)) is None  # no speech band


def test_only_a_run_of_empty_bins_up_to_the_top_is_masked() -> None:
    """An empty bin with sound above it (a notch) is not a missing band."""
    raw = np.full((50, 80), 20.0, dtype=np.float32)
    raw[:, 62:70] = 5.0  # a notch: the bins above it are loud
    assert empty_band_start(raw) is None
    raw[:, 70:] = 5.0
    assert empty_band_start(raw) == 62
    raw[:, 66] = 13.0  # within EMPTY_BAND_DEPTH (8) of the speech band: not empty
    assert empty_band_start(raw) == 67
    features = np.ones((50, 80), dtype=np.float32)
    masked = mask_empty_band(features, raw)
    assert masked[:, 67:].max() == 0.0 and masked[:, :67].min() == 1.0
    assert features.min() == 1.0  # a copy: the input is left alone
