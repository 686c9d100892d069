"""Audio stage: file or chunks in -> mono float32 samples in [-1, 1] at the model rate out."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import soundfile as sf
import soxr

from s2t_stream.errors import AudioError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
"""The rate every published Speech2Text checkpoint was trained at (Hz)."""

FRAME_LENGTH_S = 0.025
"""One Kaldi fbank window (25 ms): shorter audio yields zero feature frames."""

RESAMPLE_QUALITY = "HQ"
"""soxr quality recipe: 'HQ' is soxr's default, transparent for speech at 16 kHz."""

PCM16_SCALE = np.float32(32768.0)
"""16-bit PCM full scale: int16 sample k is k / 32768, in [-1, 1) — the convention of
libsndfile, Kaldi (whose fbank takes int16-range samples) and the reference feature extractor.
Exact in float32, so audio read from 16-bit files round-trips."""


def quantize16(samples: np.ndarray) -> np.ndarray:
    """`samples` rounded to the 16-bit grid (float32). Audio upsampled from a lower rate (8 kHz
    telephone audio) has an exactly empty band above the source's Nyquist frequency, unlike the
    16-bit recordings the model learned from, whose rounding noise fills it: the model then
    mishears ("the weather is knife today"). Rounding restores it; Gaussian dither of the same
    level, which also fills the silences, does not (measured: tests/model/test_audio.py)."""
    scaled = np.round(np.asarray(samples, dtype=np.float32) * PCM16_SCALE)
    return (np.clip(scaled, -32768, 32767) / PCM16_SCALE).astype(np.float32)


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] → 16-bit little-endian PCM bytes (rounded, clipped)."""
    scaled = np.round(np.asarray(samples, dtype=np.float32) * PCM16_SCALE)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    """16-bit little-endian PCM bytes → float32 samples in [-1, 1) (an odd byte is an error)."""
    if len(data) % 2:
        raise AudioError(f"16-bit PCM needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / PCM16_SCALE


def check_samples(samples: np.ndarray, *, where: str) -> np.ndarray:
    """Validate a 1-D (n,) or 2-D (n, channels) float array is finite; return it as float32.

    Raises AudioError naming `where` when the array is not floating point, has the wrong
    number of dimensions, or holds NaN/inf (with their counts).
    """
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise AudioError(
            f"{where}: expected samples of shape (n,) or (n, channels), got shape {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise AudioError(
            f"{where}: expected floating-point samples in [-1, 1], got dtype {array.dtype} "
            "(divide int16 audio by 32768 first)"
        )
    array = array.astype(np.float32, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        num_nan = int(np.isnan(array).sum())
        num_inf = int(np.isinf(array).sum())
        raise AudioError(
            f"{where}: expected finite samples, got {num_nan} NaN and {num_inf} inf "
            f"among {array.size} values"
        )
    return array


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Downmix (n,) or (n, channels) samples to (n,) float32 by averaging the channels."""
    array = np.asarray(samples)
    if array.ndim == 1:
        return array.astype(np.float32, copy=False)
    if array.ndim != 2:
        raise ValueError(f"expected samples of shape (n,) or (n, channels), got {array.shape}")
    if array.shape[1] == 1:
        return array[:, 0].astype(np.float32, copy=True)
    return array.mean(axis=1, dtype=np.float32)


def _check_rate(name: str, rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise ValueError(f"{name} must be a positive int (Hz), got {rate!r}")


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono (n,) float samples from `from_rate` to `to_rate` Hz in one shot (float32)."""
    _check_rate("from_rate", from_rate)
    _check_rate("to_rate", to_rate)
    array = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return array
    return np.asarray(soxr.resample(array, from_rate, to_rate, quality=RESAMPLE_QUALITY))


class StreamResampler:
    """Chunk-by-chunk mono float32 resampler; concatenated output equals one-shot `resample`.

    Pass-through (no soxr state) when both rates are equal. Call `flush` once at end of input
    to drain the filter's delay line.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        _check_rate("from_rate", from_rate)
        _check_rate("to_rate", to_rate)
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream: soxr.ResampleStream | None = None
        if from_rate != to_rate:
            self._stream = soxr.ResampleStream(
                from_rate, to_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY
            )
        self._flushed = False

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Resample one (n,) chunk (any n, including 0); returns the samples ready so far."""
        if self._flushed:
            raise RuntimeError("StreamResampler.process() called after flush()")
        array = check_samples(chunk, where="StreamResampler.process")
        if array.ndim != 1:
            raise AudioError(f"StreamResampler.process: expected mono (n,), got {array.shape}")
        if self._stream is None:
            return array
        return np.asarray(self._stream.resample_chunk(array, last=False))

    def flush(self) -> np.ndarray:
        """End of input: return the samples still held in the filter."""
        if self._flushed:
            raise RuntimeError("StreamResampler.flush() called twice")
        self._flushed = True
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        empty = np.zeros(0, dtype=np.float32)
        return np.asarray(self._stream.resample_chunk(empty, last=True))


@dataclass(frozen=True)
class RawFormat:
    """Headerless PCM: its rate (Hz), sample encoding and channel count (little-endian)."""

    sample_rate: int
    encoding: Literal["s16le", "f32le"] = "s16le"
    channels: int = 1

    def read_options(self) -> dict[str, Any]:
        subtype = {"s16le": "PCM_16", "f32le": "FLOAT"}[self.encoding]
        return dict(
            format="RAW",
            samplerate=self.sample_rate,
            channels=self.channels,
            subtype=subtype,
            endian="LITTLE",
        )


AudioSource = str | Path | BinaryIO
"""A file's path (regular files, and also pipes such as /dev/stdin or `<(…)`), or an open
binary file (e.g. standard input)."""

FORMATS = "WAV, FLAC, Ogg Vorbis or Opus, MP3, AIFF or another format libsndfile reads"
"""What `load_audio` reads without `raw`, as its errors and the README's `transcribe` say it."""


def source_name(source: AudioSource) -> str:
    """How an error message calls `source`: its path, "standard input", an open file's name, or
    "the audio stream" for one without a name (an in-memory buffer)."""
    if isinstance(source, str | Path):
        return str(source)
    name = getattr(source, "name", None)
    if name == "<stdin>" or name == 0:  # sys.stdin.buffer, or a file object on descriptor 0
        return "standard input"
    return name if isinstance(name, str) else "the audio stream"


def _expected(raw: RawFormat | None) -> str:
    """What a source was expected to hold, for error messages."""
    return "headerless PCM" if raw else f"audio in a supported format: {FORMATS}"


def empty_audio(name: str, raw: RawFormat | None = None) -> AudioError:
    """The error for a source called `name` that holds no bytes at all."""
    return AudioError(f"{name} is empty: expected {_expected(raw)}")


def _is_empty(stream: BinaryIO) -> bool:
    """Whether a seekable stream has no bytes left (it is left where it was)."""
    start = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(start)
    return end <= start


def _read(source: AudioSource, raw: RawFormat | None, name: str) -> tuple[np.ndarray, int]:
    """Every channel of an audio file or stream: ((n, channels) float32, its rate). The one
    place the decoder's errors become AudioErrors: each names the source as `name` and says
    what was expected, with libsndfile's reason but not its repr of the file object."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"{name}: expected an audio file, but no such file exists")
        if path.is_dir():
            raise AudioError(f"{name}: expected an audio file, got a directory")
        if not path.is_file():  # a pipe or device: no seeking, so read it whole first
            source = io.BytesIO(path.read_bytes())
        elif path.stat().st_size == 0:
            raise empty_audio(name, raw)
    elif not source.seekable():
        source = io.BytesIO(source.read())
    if not isinstance(source, str | Path) and _is_empty(source):
        raise empty_audio(name, raw)
    try:
        data, rate = sf.read(
            source, dtype="float32", always_2d=True, **(raw.read_options() if raw else {})
        )
    except (sf.SoundFileError, RuntimeError, TypeError) as e:
        reason = e.error_string if isinstance(e, sf.LibsndfileError) else str(e)
        raise AudioError(
            f"{name} could not be decoded ({reason.rstrip('.')}): expected {_expected(raw)}"
        ) from e
    return data, int(rate)


def load_audio(
    source: AudioSource,
    sample_rate: int = SAMPLE_RATE,
    *,
    raw: RawFormat | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Read audio as mono float32 (n,) samples in [-1, 1] at `sample_rate` Hz: any format
    libsndfile reads (wav with PCM, float, μ-law or A-law; flac, ogg, mp3), or headerless PCM
    described by `raw`.

    Any channel count is averaged to mono; a different rate is resampled with soxr (and, from
    a lower rate, rounded to the 16-bit grid: `quantize16`). Raises AudioError when the file is
    missing, empty, undecodable, without samples, shorter than one 25 ms fbank window at
    `sample_rate`, or holds non-finite samples; its message calls the source `name` (default:
    `source_name(source)`, e.g. the path or "standard input").
    """
    _check_rate("sample_rate", sample_rate)
    name = source_name(source) if name is None else name
    data, file_rate = _read(source, raw, name)
    if data.shape[0] == 0:
        raise AudioError(f"{name}: expected audio samples, got a file with zero samples")
    samples = check_samples(to_mono(data), where=name)
    if file_rate != sample_rate:
        logger.debug("resampling %s from %d Hz to %d Hz", name, file_rate, sample_rate)
        samples = resample(samples, file_rate, sample_rate)
        if file_rate < sample_rate:
            samples = quantize16(samples)
    min_samples = round(sample_rate * FRAME_LENGTH_S)
    if samples.shape[0] < min_samples:
        duration_ms = 1000.0 * samples.shape[0] / sample_rate
        raise AudioError(
            f"{name}: expected at least {min_samples} samples at {sample_rate} Hz "
            f"({1000 * FRAME_LENGTH_S:.0f} ms, one fbank window), got {samples.shape[0]} "
            f"samples ({duration_ms:.1f} ms)"
        )
    return samples
