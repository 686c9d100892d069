"""Tests for the audio stage: file reading, downmix, resampling, validation errors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2t_stream.errors import AudioError
from s2t_stream.model.audio import (
    FRAME_LENGTH_S,
    SAMPLE_RATE,
    StreamResampler,
    check_samples,
    load_audio,
    resample,
    source_name,
    to_mono,
)

TONE_HZ = 440.0


def sine(rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[spectrum.argmax()])


def write(path: Path, samples: np.ndarray, rate: int, subtype: str) -> Path:
    try:
        sf.write(path, samples, rate, subtype=subtype)
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as e:
        pytest.skip(f"libsndfile here cannot write {path.suffix} ({subtype}): {e}")
    return path


# ----------------------------------------------------------------------------- load_audio


@pytest.mark.parametrize(
    ("suffix", "subtype", "atol"),
    [
        (".wav", "PCM_16", 1e-3),
        (".flac", "PCM_16", 1e-3),
        # Lossy codecs: measured max error 8e-3 (vorbis) / 5e-3 (mp3) on this tone.
        (".ogg", "VORBIS", 5e-2),
        (".mp3", "MPEG_LAYER_III", 5e-2),
    ],
)
def test_load_audio_formats(tmp_path: Path, suffix: str, subtype: str, atol: float) -> None:
    tone = sine(44100)
    path = write(tmp_path / f"tone{suffix}", np.stack([tone, tone], axis=1), 44100, subtype)
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert audio.shape == (SAMPLE_RATE,)
    expected = sine(SAMPLE_RATE)
    inner = slice(1600, -1600)  # away from the resampler's edge transients
    np.testing.assert_allclose(audio[inner], expected[inner], atol=atol)
    assert abs(peak_hz(audio, SAMPLE_RATE) - TONE_HZ) <= 1.0


@pytest.mark.parametrize("rate", [44100, 48000, 8000, 16000])
def test_load_audio_resamples_to_model_rate(tmp_path: Path, rate: int) -> None:
    path = write(tmp_path / "tone.wav", sine(rate, seconds=1.5), rate, "FLOAT")
    audio = load_audio(path)
    assert audio.shape == (round(1.5 * SAMPLE_RATE),)
    expected = sine(SAMPLE_RATE, seconds=1.5)
    inner = slice(1600, -1600)
    np.testing.assert_allclose(audio[inner], expected[inner], atol=1e-3)


def test_load_audio_other_model_rate(tmp_path: Path) -> None:
    path = write(tmp_path / "tone.wav", sine(16000), 16000, "FLOAT")
    audio = load_audio(path, sample_rate=8000)
    assert audio.shape == (8000,)
    assert abs(peak_hz(audio, 8000) - TONE_HZ) <= 1.0


@pytest.mark.parametrize("channels", [2, 3, 6])
def test_load_audio_averages_channels(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(channels)
    data = (0.2 * rng.standard_normal((SAMPLE_RATE, channels))).astype(np.float32)
    path = write(tmp_path / "multi.wav", data, SAMPLE_RATE, "FLOAT")
    audio = load_audio(path)
    np.testing.assert_allclose(audio, data.mean(axis=1), atol=1e-7)


def test_load_audio_accepts_str_path_and_exactly_one_window(tmp_path: Path) -> None:
    data = np.linspace(-0.5, 0.5, 400, dtype=np.float32)
    path = write(tmp_path / "short.wav", data, SAMPLE_RATE, "FLOAT")
    audio = load_audio(str(path))
    np.testing.assert_array_equal(audio, data)


def test_min_samples_is_one_fbank_window() -> None:
    assert round(SAMPLE_RATE * FRAME_LENGTH_S) == 400  # one 25 ms window at 16 kHz


# ----------------------------------------------------------------------------- load errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=r"nope\.wav.*no such file"):
        load_audio(path)


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.wav"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match=r"corrupt\.wav.*could not be decoded") as info:
        load_audio(path)
    assert isinstance(info.value.__cause__, sf.SoundFileError)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"^\S*empty\.wav is empty: expected audio in a supported"):
        load_audio(path)


def test_errors_name_a_stream_as_the_caller_calls_it_and_never_by_its_repr(
    tmp_path: Path,
) -> None:
    """Undecodable or empty audio from an open file or from memory: the message names the
    source (`name`, else the file's name, "standard input" or "the audio stream"), gives
    libsndfile's reason and says what was expected, never a Python repr of the file object."""
    noise = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path = tmp_path / "noise.wav"
    path.write_bytes(noise)
    expected = "expected audio in a supported format: WAV, FLAC, Ogg Vorbis or Opus, MP3, AIFF"
    cases = [
        (io.BytesIO(noise), {}, "the audio stream could not be decoded (Format not recognised)"),
        (io.BytesIO(noise), {"name": "the upload"}, "the upload could not be decoded"),
        (io.BytesIO(b""), {"name": "standard input"}, "standard input is empty"),
        (io.BytesIO(b""), {}, "the audio stream is empty"),
        (path.open("rb"), {}, f"{path} could not be decoded (Format not recognised)"),
        (str(path), {}, f"{path} could not be decoded (Format not recognised)"),
    ]
    for source, named, said in cases:
        with pytest.raises(AudioError) as info:
            load_audio(source, **named)
        message = str(info.value)
        assert message.startswith(said) and expected in message, message
        assert not any(repr_part in message for repr_part in ("<_io", "object at", "Error opening"))
        if not isinstance(source, str):
            source.close()


def test_the_names_of_sources(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(b"")
    assert source_name(path) == source_name(str(path)) == str(path)
    with path.open("rb") as opened:
        assert source_name(opened) == str(path)
    with open(0, "rb", closefd=False) as stdin:  # standard input's descriptor (as `-` reads it)
        assert source_name(stdin) == "standard input"
    assert source_name(io.BytesIO(b"x")) == "the audio stream"
    code = "import sys; from s2t_stream.model.audio import source_name; "
    code += "print(source_name(sys.stdin.buffer))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "standard input\n"  # sys.stdin.buffer is called '<stdin>'


def test_zero_samples(tmp_path: Path) -> None:
    path = write(tmp_path / "nothing.wav", np.zeros(0, np.float32), SAMPLE_RATE, "PCM_16")
    with pytest.raises(AudioError, match=r"nothing\.wav.*zero samples"):
        load_audio(path)


def test_too_short(tmp_path: Path) -> None:
    path = write(tmp_path / "blip.wav", np.full(100, 0.1, np.float32), SAMPLE_RATE, "FLOAT")
    with pytest.raises(
        AudioError, match=r"blip\.wav.*at least 400 samples.*25 ms.*got 100 samples \(6\.2 ms\)"
    ):
        load_audio(path)


def test_too_short_after_resampling(tmp_path: Path) -> None:
    # 1000 samples at 48 kHz = 333 samples at 16 kHz: long enough in the file, too short after.
    path = write(tmp_path / "blip48.wav", np.full(1000, 0.1, np.float32), 48000, "FLOAT")
    with pytest.raises(AudioError, match=r"at least 400 samples at 16000 Hz.*got 333 samples"):
        load_audio(path)


def test_non_finite_file(tmp_path: Path) -> None:
    data = sine(SAMPLE_RATE)
    data[10:13] = np.nan
    data[20] = np.inf
    path = write(tmp_path / "nan.wav", data, SAMPLE_RATE, "FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav.*3 NaN and 1 inf"):
        load_audio(path)


# ----------------------------------------------------------------------------- helpers


def test_check_samples_counts_non_finite() -> None:
    data = np.zeros((100, 2), np.float64)
    data[0, 0] = np.nan
    data[5, 1] = -np.inf
    with pytest.raises(AudioError, match=r"mic chunk: expected finite.*1 NaN and 1 inf"):
        check_samples(data, where="mic chunk")


def test_check_samples_returns_float32() -> None:
    data = np.linspace(-1, 1, 50)
    out = check_samples(data, where="x")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data.astype(np.float32))


def test_check_samples_rejects_int_and_bad_shape() -> None:
    with pytest.raises(AudioError, match=r"where1: expected floating-point.*int16"):
        check_samples(np.zeros(10, np.int16), where="where1")
    with pytest.raises(AudioError, match=r"where2: expected samples of shape.*\(2, 3, 4\)"):
        check_samples(np.zeros((2, 3, 4), np.float32), where="where2")


def test_to_mono() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, -0.5], [0.2, 0.4]])
    mono = to_mono(stereo)
    assert mono.dtype == np.float32
    np.testing.assert_allclose(mono, [0.5, 0.0, 0.3], atol=1e-7)
    np.testing.assert_array_equal(to_mono(np.array([0.1, 0.2])), np.array([0.1, 0.2], np.float32))
    np.testing.assert_array_equal(to_mono(stereo[:, :1]), np.array([1.0, 0.5, 0.2], np.float32))


def test_resample_equal_rates_is_identity() -> None:
    data = sine(16000)
    np.testing.assert_array_equal(resample(data, 16000, 16000), data)


def test_resample_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match=r"from_rate.*-1"):
        resample(sine(16000), -1, 16000)


@pytest.mark.parametrize(("from_rate", "to_rate"), [(44100, 16000), (8000, 16000), (16000, 16000)])
def test_stream_resampler_matches_one_shot(from_rate: int, to_rate: int) -> None:
    rng = np.random.default_rng(0)
    data = (0.1 * rng.standard_normal(2 * from_rate)).astype(np.float32)
    one_shot = resample(data, from_rate, to_rate)
    stream = StreamResampler(from_rate, to_rate)
    pieces, start = [], 0
    while start < data.size:
        size = int(rng.integers(0, 3000))  # includes empty chunks
        pieces.append(stream.process(data[start : start + size]))
        start += size
    pieces.append(stream.flush())
    chunked = np.concatenate(pieces)
    assert chunked.dtype == np.float32
    assert chunked.shape == one_shot.shape
    np.testing.assert_allclose(chunked, one_shot, atol=1e-6)


def test_stream_resampler_rejects_use_after_flush_and_bad_chunks() -> None:
    stream = StreamResampler(48000, 16000)
    with pytest.raises(AudioError, match=r"StreamResampler.process.*1 NaN"):
        stream.process(np.array([0.0, np.nan], np.float32))
    stream.flush()
    with pytest.raises(RuntimeError, match="after flush"):
        stream.process(np.zeros(10, np.float32))
