"""Acoustic variety in augmentation: telephone channel, noise kinds, babble, tempo and pitch (sox),
microphone colouration, level, padding; speed, peak gain and room reverb; the draws, their
shares, determinism and the labels."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE, resample
from s2t_stream.training.augment import (
    KINDS,
    NOISE_KINDS,
    AugmentOptions,
    AugmentPlan,
    Biquad,
    EqBand,
    MicPlan,
    add_noise,
    add_reverb,
    apply_augment,
    biquad_response,
    draw_augment,
    eq_peak_db,
    filter_biquads,
    g711,
    level_curve,
    limit_eq,
    mic_colour,
    pad_silence,
    peak_normalize,
    rbj_biquad,
    speed_perturb,
    telephone_band,
)

ALWAYS = dataclasses.replace(
    AugmentOptions(*([1.0] * 5)),
    clean_prob=0.0, tempo_prob=1.0, pitch_prob=1.0, mic_prob=1.0, babble_prob=1.0,
    telephone_prob=1.0, level_prob=1.0,
)  # fmt: skip


def only(**probs: float) -> AugmentOptions:
    """Options with every probability 0 but `probs`."""
    return dataclasses.replace(AugmentOptions.off(), **probs)


def speech_like(seconds: float = 2.0, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    """Harmonics of `f0` up to 7 kHz (falling 6 dB/octave) under a 4 Hz syllable envelope,
    plus a little noise; peak 0.3."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    voice = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k
                for k in range(1, int(7000 // f0)))  # fmt: skip
    wave = (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)) * voice + 0.01 * rng.standard_normal(t.size)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def tone(hz: float = 440.0, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def white(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(round(seconds * SAMPLE_RATE))).astype(np.float32)


def peak_hz(samples: np.ndarray) -> float:
    """Frequency of the largest spectral peak, refined by parabolic interpolation."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    k = int(spectrum[1:-1].argmax()) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-30)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SAMPLE_RATE / samples.size


def psd(samples: np.ndarray, frame: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, mean power per bin) over hann-windowed half-overlapping frames."""
    hop = frame // 2
    starts = range(0, samples.size - frame + 1, hop)
    frames = np.stack([samples[s : s + frame] for s in starts]) * np.hanning(frame)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    return np.fft.rfftfreq(frame, 1 / SAMPLE_RATE), power


def band_db(samples: np.ndarray, low: float, high: float, ref: tuple[float, float]) -> float:
    """Power in [low, high) Hz relative to the power in `ref` (dB, per Hz of each band)."""
    freqs, power = psd(samples)
    inside = power[(freqs >= low) & (freqs < high)].mean()
    reference = power[(freqs >= ref[0]) & (freqs < ref[1])].mean()
    return float(10 * np.log10(inside / reference))


def snr_db(clean: np.ndarray, mixed: np.ndarray) -> float:
    residual = mixed.astype(np.float64) - clean
    return float(10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(residual**2)))


# ---------------------------------------------------------------------------------------------
# Telephone channel
# ---------------------------------------------------------------------------------------------


SPEECH_BAND = (300.0, 3400.0)


def through_channel(x: np.ndarray, codec: str) -> np.ndarray:
    """`x` through the telephone channel `codec`, checked to hold nothing above 4 kHz."""
    y = apply_augment(x, AugmentPlan(telephone=codec), np.random.default_rng(0))
    assert y.size == x.size and y.dtype == np.float32
    freqs, power = psd(y)
    above = power[freqs >= 4000].sum() / power[(freqs >= 300) & (freqs < 3400)].sum()
    assert 10 * np.log10(above) < -40
    return y


@pytest.mark.parametrize("codec", ["linear", "ulaw", "alaw"])
def test_telephone_leaves_nothing_above_4khz_and_keeps_the_speech_band(codec: str) -> None:
    x = white()
    y = through_channel(x, codec)
    assert band_db(x, 4500, 7500, SPEECH_BAND) > -3  # the input did have that band
    assert abs(band_db(y, 500, 3000, SPEECH_BAND)) < 1.5  # the speech band goes through
    assert band_db(y, 40, 120, SPEECH_BAND) < -20  # the 300 Hz high-pass
    assert band_db(y, 3800, 3950, SPEECH_BAND) < -10  # the 3400 Hz low-pass


@pytest.mark.parametrize("codec", ["8k-linear", "8k-ulaw", "8k-alaw"])
def test_an_8khz_recording_keeps_the_whole_band_below_4khz(codec: str) -> None:
    """`8k-…`: what an 8 kHz file holds (resampled, coded), without the line's 300-3400 Hz."""
    x = white()
    y = through_channel(x, codec)
    assert abs(band_db(y, 40, 120, SPEECH_BAND)) < 1.5  # no high-pass
    assert abs(band_db(y, 3500, 3700, SPEECH_BAND)) < 1.5  # no 3400 Hz low-pass
    line = through_channel(x, codec.removeprefix("8k-"))
    assert band_db(line, 40, 120, SPEECH_BAND) < -20  # where the line differs
    with pytest.raises(ValueError, match="ulaw"):
        telephone_band(x, "8k-gsm")


def test_telephone_keeps_the_level_and_the_timing() -> None:
    x = white(2.0)
    y = telephone_band(x, "linear")
    cross = np.fft.irfft(np.fft.rfft(y) * np.conj(np.fft.rfft(x)), x.size)
    delay = int(np.argmax(np.abs(cross)))
    assert 0 <= delay <= 0.002 * SAMPLE_RATE  # the channel's filters: a group delay of ~1 ms
    speech = speech_like()
    kept = float(np.sqrt(np.mean(telephone_band(speech, "ulaw") ** 2) / np.mean(speech**2)))
    assert 0.5 < kept <= 1.05  # the speech band holds most of the power; nothing gained


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_really_quantises(codec: str) -> None:
    x = speech_like()
    narrow = resample(x, SAMPLE_RATE, 8000)
    coded = g711(narrow, codec)
    assert coded.size == narrow.size
    assert np.unique(coded).size <= 256 < np.unique(narrow).size  # 8-bit codes
    assert np.max(np.abs(coded - narrow)) > 0 and np.max(np.abs(coded)) == pytest.approx(
        np.max(np.abs(narrow)), rel=0.05
    )
    y, linear = telephone_band(x, codec), telephone_band(x, "linear")
    assert not np.allclose(y, linear, atol=1e-4)
    assert np.corrcoef(y, linear)[0, 1] > 0.99
    with pytest.raises(ValueError, match="ulaw"):
        g711(narrow, "gsm")


def test_noise_and_babble_go_through_the_telephone_channel() -> None:
    """Order: noise and babble are added before the channel, so they are band-limited too."""
    x, voices = speech_like(), [white(2.0, seed=1)]
    plan = AugmentPlan(noise=("white", 5.0), babble=(1, 5.0), telephone="ulaw", gain_dbfs=-3.0)
    y = apply_augment(x, plan, np.random.default_rng(0), babble_sources=voices)
    freqs, power = psd(y)
    assert 10 * np.log10(power[freqs >= 4000].sum() / power.sum()) < -40
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-3 / 20), rel=1e-4)  # level comes after


# ---------------------------------------------------------------------------------------------
# Noise kinds and babble
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_every_noise_kind_hits_the_snr(kind: str) -> None:
    x = speech_like()
    y = add_noise(x, 5.0, np.random.default_rng(0), kind=kind)
    assert snr_db(x, y) == pytest.approx(5.0, abs=0.05)
    with pytest.raises(ValueError, match="noise kind"):
        add_noise(x, 5.0, np.random.default_rng(0), kind="purple")


def test_noise_draws_cover_every_kind_and_low_snrs() -> None:
    rng = np.random.default_rng(0)
    noises = [draw_augment(rng, only(noise_prob=1.0)).noise for _ in range(500)]
    assert all(n is not None for n in noises)
    kinds = [n[0] for n in noises if n is not None]
    snrs = np.array([n[1] for n in noises if n is not None])
    assert set(kinds) == set(NOISE_KINDS) >= {"brown", "hum", "tones"}
    assert 5.0 <= snrs.min() < 6.0 and 29.0 < snrs.max() <= 30.0
    assert 0.04 < np.mean(snrs < 10.0) < 0.13  # 40 % of draws from 5–30 dB: 0.4 * 5/25 = 8 %


@pytest.mark.parametrize(("talkers", "snr"), [(1, 5.0), (2, 12.5), (3, 20.0)])
def test_babble_is_mixed_at_the_drawn_snr(talkers: int, snr: float) -> None:
    x = speech_like(2.0)
    voices = [speech_like(1.3 + 0.4 * i, f0=110.0 + 60 * i, seed=i + 1) for i in range(3)]
    plan = AugmentPlan(babble=(talkers, snr))
    y = apply_augment(x, plan, np.random.default_rng(0), babble_sources=voices)
    assert y.size == x.size
    assert snr_db(x, y) == pytest.approx(snr, abs=1.0)
    # only the first `talkers` sources are used
    used = apply_augment(x, plan, np.random.default_rng(0), babble_sources=voices[:talkers])
    np.testing.assert_array_equal(y, used)


def test_babble_needs_its_talkers() -> None:
    x, plan = speech_like(1.0), AugmentPlan(babble=(2, 10.0))
    with pytest.raises(ValueError, match="babble_sources"):
        apply_augment(x, plan, np.random.default_rng(0))
    with pytest.raises(ValueError, match="got 1"):
        apply_augment(x, plan, np.random.default_rng(0), babble_sources=[speech_like(1.0)])
    with pytest.raises(ValueError, match="silent"):
        apply_augment(x, plan, np.random.default_rng(0), babble_sources=[np.zeros(100)] * 2)
    clean = apply_augment(x, AugmentPlan(), np.random.default_rng(0), babble_sources=[x])
    np.testing.assert_array_equal(clean, x)  # sources without babble in the plan: unused


def test_babble_draws_talkers_and_snr_in_range() -> None:
    rng = np.random.default_rng(0)
    drawn = [draw_augment(rng, only(babble_prob=1.0)).babble for _ in range(300)]
    assert {b[0] for b in drawn if b is not None} == {1, 2, 3}
    snrs = [b[1] for b in drawn if b is not None]
    assert len(snrs) == 300 and 5.0 <= min(snrs) < 6.0 and 19.0 < max(snrs) <= 20.0


def test_noise_depends_on_the_seed_only() -> None:
    x = speech_like()
    for kind in ("white", "pink"):
        y = add_noise(x, 15.0, np.random.default_rng(1), kind=kind)
        assert snr_db(x, y) == pytest.approx(15.0, abs=0.1)
        np.testing.assert_array_equal(y, add_noise(x, 15.0, np.random.default_rng(1), kind=kind))
        assert not np.array_equal(y, add_noise(x, 15.0, np.random.default_rng(2), kind=kind))


def test_pink_noise_has_more_low_than_high_energy() -> None:
    silence = np.zeros(SAMPLE_RATE, np.float32)
    pink = add_noise(silence, 0.0, np.random.default_rng(0), kind="pink", signal_power=1.0)
    assert np.mean(pink.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-3)
    # mean of 1/f over 50-500 Hz vs 4-7.5 kHz: (ln 10 / 450) / (ln 1.875 / 3500), 14.5 dB
    assert band_db(pink, 50, 500, (4000, 7500)) == pytest.approx(14.5, abs=1.5)


# ---------------------------------------------------------------------------------------------
# Tempo and pitch (sox)
# ---------------------------------------------------------------------------------------------


@pytest.mark.audio("sox")
@pytest.mark.parametrize("cents", [-300, 200, 300])
def test_pitch_shift_moves_the_frequency_and_keeps_the_length(cents: int) -> None:
    x = tone(440.0)
    y = apply_augment(x, AugmentPlan(pitch_cents=cents), np.random.default_rng(0))
    assert y.size == pytest.approx(x.size, rel=0.01)
    assert peak_hz(y) / 440.0 == pytest.approx(2 ** (cents / 1200), rel=0.02)
    assert np.max(np.abs(y)) == pytest.approx(0.5, rel=0.2)  # the level is kept


@pytest.mark.audio("sox")
@pytest.mark.parametrize("factor", [0.85, 0.93, 1.15])
def test_tempo_changes_the_length_and_keeps_the_frequency(factor: float) -> None:
    x = tone(440.0)
    y = apply_augment(x, AugmentPlan(tempo=factor), np.random.default_rng(0))
    assert y.size == pytest.approx(x.size / factor, rel=0.01)
    assert peak_hz(y) == pytest.approx(440.0, rel=0.02)


@pytest.mark.audio("sox")
def test_tempo_and_pitch_together_and_loud_input_is_not_clipped() -> None:
    x = np.clip(3 * tone(440.0), -1, 1) * 1.5  # peaks above full scale going in
    y = apply_augment(x, AugmentPlan(tempo=1.1, pitch_cents=-200), np.random.default_rng(0))
    assert y.size == pytest.approx(x.size / 1.1, rel=0.01)
    assert peak_hz(y) / 440.0 == pytest.approx(2 ** (-200 / 1200), rel=0.02)


def test_missing_sox_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(S2TError, match="sox"):
        apply_augment(tone(), AugmentPlan(pitch_cents=100), np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# Speed and room reverb (numpy)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.9, 0.95, 1.1])
def test_speed_perturb_scales_length_and_pitch(factor: float) -> None:
    x = tone(200.0, 1.0)
    y = speed_perturb(x, factor)
    assert abs(y.size - x.size / factor) <= 2
    assert peak_hz(y) == pytest.approx(200 * factor, abs=1)


def test_add_reverb_adds_a_decaying_tail_and_keeps_the_peak() -> None:
    impulse = np.zeros(SAMPLE_RATE // 2, np.float32)
    impulse[0] = 0.5
    y = add_reverb(impulse, 0.4, np.random.default_rng(0))
    tail = round(0.4 * SAMPLE_RATE)
    assert y.size == impulse.size + tail - 1
    assert np.abs(y).argmax() == 0 and np.abs(y).max() == pytest.approx(0.5)
    early = np.sum(y[100:2000].astype(np.float64) ** 2)
    late = np.sum(y[tail - 2000 : tail - 100].astype(np.float64) ** 2)
    assert late < early / 100  # decays ~40+ dB between the two windows
    np.testing.assert_array_equal(y, add_reverb(impulse, 0.4, np.random.default_rng(0)))
    rooms = [draw_augment(np.random.default_rng(i), only(reverb_prob=1.0)) for i in range(200)]
    rt60 = [plan.reverb_rt60_s for plan in rooms]
    assert all(r is not None and 0.15 <= r <= 0.6 for r in rt60)


# ---------------------------------------------------------------------------------------------
# Microphone colouration: RBJ biquads
# ---------------------------------------------------------------------------------------------


def response_db(sections: list[Biquad], hz: float) -> float:
    w = np.array([2 * np.pi * hz / SAMPLE_RATE])
    return float(20 * np.log10(np.abs(biquad_response(sections, w))[0]))


def test_rbj_biquads_have_the_cookbook_gains() -> None:
    assert response_db([rbj_biquad("peak", 1000, 1.0, 5.0)], 1000) == pytest.approx(5.0, abs=1e-6)
    assert response_db([rbj_biquad("peak", 1000, 1.0, -4.0)], 8000 - 1e-6) == pytest.approx(
        0, abs=1e-3
    )
    low = [rbj_biquad("lowshelf", 300, 0.71, -6.0)]
    assert response_db(low, 1e-6) == pytest.approx(-6.0, abs=1e-6)
    assert response_db(low, 300) == pytest.approx(-3.0, abs=1e-6)  # midpoint: half the gain
    assert response_db(low, 7999) == pytest.approx(0.0, abs=1e-3)
    high = [rbj_biquad("highshelf", 3000, 0.71, 6.0)]
    assert response_db(high, 1e-6) == pytest.approx(0.0, abs=1e-6)
    assert response_db(high, 3000) == pytest.approx(3.0, abs=1e-6)
    assert response_db(high, 8000 - 1e-6) == pytest.approx(6.0, abs=1e-3)
    hp = [rbj_biquad("highpass", 200, 1 / np.sqrt(2))]
    assert response_db(hp, 200) == pytest.approx(-3.01, abs=0.01)  # Butterworth: -3 dB
    assert response_db(hp, 50) == pytest.approx(-24, abs=0.5)  # 12 dB/octave
    lp = [rbj_biquad("lowpass", 3400, 1 / np.sqrt(2), sample_rate=8000)]
    assert response_db(lp, 3400 / 2) > -0.5
    with pytest.raises(ValueError, match="biquad"):
        rbj_biquad("notch", 1000, 1.0)
    with pytest.raises(ValueError, match="freq_hz"):
        rbj_biquad("peak", 9000, 1.0)


def direct_form(samples: np.ndarray, sections: list[Biquad]) -> np.ndarray:
    """The textbook difference equation, sample by sample (the reference)."""
    out = samples.astype(np.float64)
    for s in sections:
        b, a = np.array(s.b) / s.a[0], np.array(s.a) / s.a[0]
        x1 = x2 = y1 = y2 = 0.0
        result = np.empty_like(out)
        for i, x0 in enumerate(out):
            y0 = b[0] * x0 + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
            result[i], x2, x1, y2, y1 = y0, x1, x0, y1, y0
        out = result
    return out


def test_filter_biquads_equals_direct_form_filtering() -> None:
    sections = [
        rbj_biquad("lowshelf", 120, 0.71, 5.0),
        rbj_biquad("peak", 900, 2.5, -6.0),
        rbj_biquad("highshelf", 5000, 0.71, 4.0),
        rbj_biquad("highpass", 100, 0.71),
    ]
    x = speech_like(0.3, seed=3)[:4090]  # just under a power of two: a short FFT would wrap
    np.testing.assert_allclose(filter_biquads(x, sections), direct_form(x, sections), atol=2e-6)
    np.testing.assert_array_equal(filter_biquads(x, []), x)


def smoothed_gain_db(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Third-octave band centres 100 Hz – 7 kHz and the output/input power ratio in each (dB)."""
    freqs, px = psd(x)
    _, py = psd(y)
    centres = 100 * 2 ** (np.arange(0, 19) / 3)
    gains = []
    for centre in centres:
        inside = (freqs >= centre * 2 ** (-1 / 6)) & (freqs < centre * 2 ** (1 / 6))
        gains.append(10 * np.log10(py[inside].sum() / px[inside].sum()))
    return centres, np.array(gains)


def drawn_mics(count: int) -> list[MicPlan]:
    rng = np.random.default_rng(0)
    mics = [draw_augment(rng, only(mic_prob=1.0)).mic for _ in range(count)]
    return [mic for mic in mics if mic is not None]


def test_drawn_eq_stays_within_6_db_on_white_noise() -> None:
    mics = drawn_mics(200)
    assert len(mics) == 200
    assert max(eq_peak_db(mic.bands) for mic in mics) <= 6.0
    boldest = sorted(mics, key=lambda mic: eq_peak_db(mic.bands))[-3:]
    assert eq_peak_db(boldest[0].bands) > 4.5  # the draws do colour
    x = white()
    for mic in boldest:
        bands_only = MicPlan(mic.bands)
        centres, measured = smoothed_gain_db(x, mic_colour(x, bands_only))
        assert np.all(np.abs(measured) <= 6.3), measured
        sections = bands_only.sections()
        expected = np.array([response_db(sections, c) for c in centres])
        np.testing.assert_allclose(measured, expected, atol=1.0)
        assert np.max(np.abs(measured)) > 2.0


def test_drawn_mics_vary_and_their_high_pass_cuts_the_lows() -> None:
    mics = drawn_mics(200)
    kinds = {band.kind for mic in mics for band in mic.bands}
    assert kinds == {"lowshelf", "peak", "highshelf"}
    highpasses = [mic.highpass_hz for mic in mics if mic.highpass_hz is not None]
    assert 0.35 < len(highpasses) / len(mics) < 0.65
    assert 100 <= min(highpasses) < 120 and 270 < max(highpasses) <= 300
    x = white()
    y = mic_colour(x, MicPlan(highpass_hz=250.0))
    assert band_db(y, 40, 70, (1000, 4000)) - band_db(x, 40, 70, (1000, 4000)) < -25


def test_limit_eq_brings_stacked_bands_within_6_db() -> None:
    stacked = [EqBand("peak", 1000.0, 6.0, 1.0), EqBand("peak", 1100.0, 6.0, 1.0)]
    assert eq_peak_db(stacked) > 10
    limited = limit_eq(stacked)
    assert 5.5 < eq_peak_db(limited) <= 6.0
    assert limit_eq(limited) == limited  # already within: unchanged


# ---------------------------------------------------------------------------------------------
# Level, gain, padding
# ---------------------------------------------------------------------------------------------


def test_level_curve_is_a_smooth_ramp_through_its_points() -> None:
    curve_db = 20 * np.log10(level_curve(16000, (-6.0, 6.0, 0.0)))
    assert curve_db[0] == pytest.approx(-6.0) and curve_db[-1] == pytest.approx(0.0)
    assert curve_db[8000] == pytest.approx(6.0, abs=0.01)
    assert np.max(np.abs(np.diff(curve_db))) < 0.01  # no step: at most 0.01 dB per sample
    with pytest.raises(ValueError, match="2 points"):
        level_curve(100, (3.0,))


def test_level_fluctuation_changes_the_level_across_the_utterance_not_the_peak() -> None:
    x = tone(440.0, 3.0)
    y = apply_augment(x, AugmentPlan(level_db=(-6.0, 6.0)), np.random.default_rng(0))
    first, last = y[:1600].astype(np.float64), y[-1600:].astype(np.float64)
    rise = 10 * np.log10(np.mean(last**2) / np.mean(first**2))
    assert rise == pytest.approx(12.0, abs=0.5)
    assert np.max(np.abs(y)) == pytest.approx(0.5, rel=1e-3)


def test_gain_draws_include_very_quiet_and_clipped_loud() -> None:
    rng = np.random.default_rng(0)
    gains = np.array([draw_augment(rng, only(gain_prob=1.0)).gain_dbfs for _ in range(2000)])
    assert gains.min() >= -35.0 and gains.max() <= 4.0
    assert 0.05 < np.mean(gains <= -25.0) < 0.11
    assert 0.03 < np.mean(gains > 0.0) < 0.08
    assert np.mean((gains >= -20.0) & (gains <= -1.0)) > 0.8
    loud = apply_augment(speech_like(), AugmentPlan(gain_dbfs=3.0), np.random.default_rng(0))
    clipped = np.mean(np.abs(loud) >= 1.0)
    assert 0.0 < clipped < 0.05  # mild clipping
    quiet = apply_augment(speech_like(), AugmentPlan(gain_dbfs=-35.0), np.random.default_rng(0))
    assert 20 * np.log10(np.max(np.abs(quiet))) == pytest.approx(-35.0, abs=0.01)


def test_pads_reach_1_5_s_for_part_of_the_draws() -> None:
    rng = np.random.default_rng(0)
    pads = np.array([draw_augment(rng, only(pad_prob=1.0)).pad_s for _ in range(1000)])
    assert pads.min() >= 0.0 and 1.4 < pads.max() <= 1.5
    long_share = np.mean(pads.max(axis=1) > 0.6)
    assert 0.18 < long_share < 0.32  # 30 % from 0–1.5 s, of which 1 - 0.4² exceed 0.6: 25 %


def test_peak_normalize_hits_the_level() -> None:
    y = peak_normalize(speech_like(), -6.0)
    assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-6.0, abs=1e-3)
    assert not peak_normalize(np.zeros(10, np.float32), -6.0).any()


def test_pad_silence_adds_samples_with_a_quiet_floor() -> None:
    x = speech_like(0.5)
    y = pad_silence(x, 0.25, 0.1, np.random.default_rng(0))
    lead, trail = round(0.25 * SAMPLE_RATE), round(0.1 * SAMPLE_RATE)
    assert y.size == x.size + lead + trail
    np.testing.assert_array_equal(y[lead : lead + x.size], x)
    floor = np.concatenate([y[:lead], y[lead + x.size :]])
    assert floor.any() and np.abs(floor).max() < 10 ** (-50 / 20)


# ---------------------------------------------------------------------------------------------
# Draws, shares, determinism, labels
# ---------------------------------------------------------------------------------------------


def test_default_shares_match_the_targets() -> None:
    rng = np.random.default_rng(123)
    plans = [draw_augment(rng, AugmentOptions()) for _ in range(2000)]
    share = {kind: np.mean([kind in p.kinds() for p in plans]) for kind in KINDS}
    clean = np.mean([p == AugmentPlan() for p in plans])
    assert 0.10 <= clean <= 0.15
    assert 0.12 <= share["telephone"] <= 0.18
    assert 0.12 <= share["babble"] <= 0.18
    assert 0.35 <= share["noise"] <= 0.45
    assert all(share[kind] > 0.1 for kind in KINDS)


def test_off_and_clean() -> None:
    assert draw_augment(np.random.default_rng(0), AugmentOptions.off()) == AugmentPlan()
    everything_but = dataclasses.replace(ALWAYS, clean_prob=1.0)
    assert draw_augment(np.random.default_rng(0), everything_but) == AugmentPlan()
    x = speech_like()
    np.testing.assert_array_equal(apply_augment(x, AugmentPlan(), np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="telephone_prob"):
        AugmentOptions(telephone_prob=-0.1)


def test_one_probability_leaves_the_other_draws_unchanged() -> None:
    with_phone = draw_augment(np.random.default_rng(5), ALWAYS)
    without = draw_augment(np.random.default_rng(5), dataclasses.replace(ALWAYS, telephone_prob=0))
    assert with_phone.telephone is not None and without.telephone is None
    assert dataclasses.replace(with_phone, telephone=None) == without


@pytest.mark.audio("sox")
def test_same_seed_same_output_for_every_kind() -> None:
    x, voices = speech_like(1.5), [speech_like(1.0, f0=210.0, seed=s) for s in range(3)]
    for seed in range(3):
        plan = draw_augment(np.random.default_rng(seed), ALWAYS)
        assert plan.kinds() == list(KINDS)
        assert plan == draw_augment(np.random.default_rng(seed), ALWAYS)
        runs = [apply_augment(x, plan, np.random.default_rng(9), babble_sources=voices)
                for _ in range(2)]  # fmt: skip
        np.testing.assert_array_equal(runs[0], runs[1])
        assert runs[0].dtype == np.float32 and np.max(np.abs(runs[0])) <= 1.0
        other = apply_augment(x, plan, np.random.default_rng(10), babble_sources=voices)
        assert other.shape != runs[0].shape or not np.array_equal(other, runs[0])


def test_labels_round_trip_for_every_kind() -> None:
    rng = np.random.default_rng(0)
    plans = [draw_augment(rng, ALWAYS) for _ in range(100)]
    plans += [draw_augment(rng, AugmentOptions()) for _ in range(200)]
    for plan in plans:
        assert AugmentPlan.from_labels(plan.labels()) == plan
        assert json.loads(json.dumps(dataclasses.asdict(plan)))  # the corpus hashes it
    seen = {kind for plan in plans for kind in plan.kinds()}
    assert seen == set(KINDS)
    assert AugmentPlan.from_labels([]) == AugmentPlan()
    with pytest.raises(ValueError, match="unknown augmentation label"):
        AugmentPlan.from_labels(["echo0.5"])


def test_labels_of_each_kind() -> None:
    mic = MicPlan((EqBand("lowshelf", 150.0, -2.5, 0.71), EqBand("peak", 1200.0, 3.5, 1.4)), 180.0)
    plan = AugmentPlan(
        speed=1.05, tempo=0.9, pitch_cents=-120, reverb_rt60_s=0.5, mic=mic, pad_s=(0.2, 1.3),
        noise=("hum", 7.5), babble=(2, 12.0), telephone="ulaw", level_db=(-3.0, 4.5, 0.0),
        gain_dbfs=-1.0,
    )  # fmt: skip
    assert plan.labels() == [
        "speed1.05", "tempo0.90", "pitch-120", "reverb0.50", "mic-ls150-2.5q0.71",
        "mic-pk1200+3.5q1.40", "mic-hp180", "pad0.20+1.30", "noise-hum7.5", "babble2@12.0",
        "tel-ulaw", "level-3.0/+4.5/+0.0", "gain-1.0",
    ]  # fmt: skip
    assert AugmentPlan.from_labels(plan.labels()) == plan
    assert AugmentPlan(mic=MicPlan()).labels() == ["mic"]
    assert AugmentPlan.from_labels(["mic"]) == AugmentPlan(mic=MicPlan())
    assert AugmentPlan(telephone="8k-alaw").labels() == ["tel-8k-alaw"]
    assert AugmentPlan.from_labels(["tel-8k-alaw"]) == AugmentPlan(telephone="8k-alaw")
    assert AugmentPlan(pitch_cents=50, gain_dbfs=2.5).labels() == ["pitch+50", "gain2.5"]
