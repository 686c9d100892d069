"""Feature stage: mono float32 samples in -> (T, 80) Kaldi log-mel fbank + utterance CMVN out."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import kaldi_native_fbank as knf
import numpy as np

from s2t_stream.errors import AudioError
from s2t_stream.model.audio import PCM16_SCALE, check_samples

logger = logging.getLogger(__name__)


STD_FLOOR = 1e-5
"""`guarded_cmvn` std floor. It equals sqrt of fairseq UtteranceCMVN's variance floor (1e-10), so
production matches the transform the checkpoints were trained with on degenerate input, while
any real speech bin (std ~ 1..5 in log-mel units) is far above it and stays equal to HF."""


@dataclasses.dataclass(frozen=True)
class FeatureOptions:
    """Front-end settings; defaults are HF `Speech2TextFeatureExtractor`'s."""

    sample_rate: int = 16000
    num_mel_bins: int = 80
    normalize_means: bool = True
    normalize_vars: bool = True

    def __post_init__(self) -> None:
        for name in ("sample_rate", "num_mel_bins"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"FeatureOptions.{name} must be a positive int, got {value!r}")
        for name in ("normalize_means", "normalize_vars"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"FeatureOptions.{name} must be a bool, got {value!r}")

    @classmethod
    def from_preprocessor_config(cls, config: Mapping[str, Any]) -> FeatureOptions:
        """Options from a HF `preprocessor_config.json` mapping (missing keys: HF defaults)."""
        num_mel_bins = config.get("num_mel_bins", 80)
        feature_size = config.get("feature_size", num_mel_bins)
        if feature_size != num_mel_bins:
            raise ValueError(
                f"preprocessor config: feature_size ({feature_size!r}) must equal "
                f"num_mel_bins ({num_mel_bins!r})"
            )
        dither = config.get("dither", 0.0)
        if dither:
            logger.warning("preprocessor config has dither=%r; features use no dither", dither)
        cepstral = bool(config.get("do_ceptral_normalize", True))
        return cls(
            sample_rate=config.get("sampling_rate", 16000),
            num_mel_bins=num_mel_bins,
            normalize_means=cepstral and bool(config.get("normalize_means", True)),
            normalize_vars=cepstral and bool(config.get("normalize_vars", True)),
        )

    def to_preprocessor_config(self) -> dict[str, Any]:
        """The HF `preprocessor_config.json` content for these options."""
        return {
            "feature_extractor_type": "Speech2TextFeatureExtractor",
            "feature_size": self.num_mel_bins,
            "num_mel_bins": self.num_mel_bins,
            "sampling_rate": self.sample_rate,
            "padding_value": 0.0,
            "padding_side": "right",
            "do_ceptral_normalize": self.normalize_means or self.normalize_vars,
            "normalize_means": self.normalize_means,
            "normalize_vars": self.normalize_vars,
            "return_attention_mask": True,
            "processor_class": "Speech2TextProcessor",
        }


DEFAULT_OPTIONS = FeatureOptions()
"""HF defaults: 16 kHz, 80 bins, means and variances normalised."""


def _knf_options(options: FeatureOptions) -> knf.FbankOptions:
    """knf settings equal to torchaudio's kaldi.fbank / HF's numpy path (spec 4.4)."""
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0  # knf defaults to random dither 3e-5
    opts.frame_opts.snip_edges = True
    opts.frame_opts.samp_freq = float(options.sample_rate)
    opts.mel_opts.num_bins = options.num_mel_bins  # knf defaults to 23
    return opts


def _check_mono(samples: np.ndarray, where: str) -> np.ndarray:
    array = check_samples(samples, where=where)
    if array.ndim != 1:
        raise AudioError(f"{where}: expected mono samples of shape (n,), got {array.shape}")
    return array


class OnlineFbank:
    """Streaming fbank: feed chunks of any size, get each new (n, num_mel_bins) frame once.

    With snip_edges a frame is emitted as soon as its 25 ms window is complete, so the
    concatenated output is bit-identical to `fbank()` of the whole signal. Frames are popped
    from the knf extractor once returned, so memory stays bounded on an endless stream.
    """

    def __init__(self, options: FeatureOptions = DEFAULT_OPTIONS) -> None:
        self.options = options
        self._fbank = knf.OnlineFbank(_knf_options(self.options))
        self._num_returned = 0
        self._num_popped = 0
        self._finished = False

    @property
    def num_frames(self) -> int:
        """Frames returned so far (equals the frames ready: all are returned on arrival)."""
        return self._num_returned

    @property
    def buffered_frames(self) -> int:
        """Frames still held inside the knf extractor (0 between calls: all are popped)."""
        return self._fbank.num_frames_ready - self._num_popped

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Add (n,) float samples in [-1, 1] (n may be 0); return the new (k, bins) frames."""
        if self._finished:
            raise RuntimeError("OnlineFbank.accept() called after finish()")
        array = _check_mono(samples, "OnlineFbank.accept")
        if array.shape[0] > 0:
            # Kaldi's fbank takes int16-range samples
            self._fbank.accept_waveform(self.options.sample_rate, array * PCM16_SCALE)
        return self._take_ready()

    def finish(self) -> np.ndarray:
        """End of input: return the remaining (k, bins) frames (none with snip_edges)."""
        if self._finished:
            raise RuntimeError("OnlineFbank.finish() called twice")
        self._finished = True
        self._fbank.input_finished()
        return self._take_ready()

    def _take_ready(self) -> np.ndarray:
        """Copy out the frames not yet returned, then pop them from knf."""
        ready = self._fbank.num_frames_ready
        count = ready - self._num_returned
        if count == 0:
            return np.zeros((0, self.options.num_mel_bins), dtype=np.float32)
        # get_frame returns a view into knf's buffer that pop() frees: np.stack copies first.
        frames = np.stack([self._fbank.get_frame(i) for i in range(self._num_returned, ready)])
        self._fbank.pop(count)
        self._num_popped += count
        self._num_returned = ready
        return frames


def fbank(samples: np.ndarray, options: FeatureOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """Kaldi log-mel fbank of (N,) samples in [-1, 1] -> (T, num_mel_bins) float32.

    T = 1 + (N - 400) // 160 at 16 kHz (0 when N < 400: shape (0, num_mel_bins)).
    """
    extractor = OnlineFbank(options)
    frames = extractor.accept(samples)
    tail = extractor.finish()
    if tail.shape[0] == 0:
        return frames
    return np.concatenate([frames, tail])


def _cmvn(features: np.ndarray, options: FeatureOptions, std_floor: float | None) -> np.ndarray:
    """HF utterance CMVN on float32 (T, bins); `std_floor=None` divides by the raw std."""
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected features of shape (T, bins), got {x.shape}")
    if x.shape[0] == 0:
        return x.copy()
    if options.normalize_means:
        x = np.subtract(x, x.mean(axis=0))
    if options.normalize_vars:
        std = x.std(axis=0)  # population (ddof=0), of the centred values: two-pass like HF
        if std_floor is not None:
            std = np.maximum(std, np.float32(std_floor))
        # Without a floor a zero std (1 frame, silence) gives NaN/inf like HF; that is the
        # documented contract of utterance_cmvn, so numpy's warning would only be noise.
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.divide(x, std)
    return x.astype(np.float32, copy=False)


def utterance_cmvn(features: np.ndarray, options: FeatureOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """Exact HF `Speech2TextFeatureExtractor.utterance_cmvn` over all frames: (T, bins) float32.

    float32 mean, then population std of the centred values, and NO epsilon: a single frame or
    digital silence gives NaN/inf, reproduced for parity. Use `guarded_cmvn` in production.
    """
    return _cmvn(features, options, None)


def guarded_cmvn(features: np.ndarray, options: FeatureOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """Production utterance CMVN: (T, bins) float32, never NaN/inf.

    Diverges from HF only where HF breaks: the std is floored at STD_FLOOR (1e-5, fairseq's
    variance floor 1e-10), so one frame or a constant bin gives ~0 instead of NaN/inf (float32
    mean round-off can leave |x| ~ 0.1 on digital silence); zero frames give (0, bins).
    Wherever every bin's std >= 1e-5 it equals `utterance_cmvn` bit for bit.
    """
    return _cmvn(features, options, STD_FLOOR)


EMPTY_BAND_DEPTH = 8.0
"""How far (natural log of energy: 8 ≈ 35 dB) the loud frames of a top bin must lie below the
speech band's for the bin to count as empty. Measured on the loud frames (95th percentile) of
70 clips of the corpus's test, noisy and telephone sets, real LJ Speech and FSDD: the mean of
wideband speech's bins above 3.8 kHz lies 3 below to 2 above that of its 0.3-2.8 kHz bins; the
same audio at 8 kHz 13-16 below (16-bit rounding noise), the FSDD recordings (8 kHz originals
stored at 16 kHz) 12-14 below."""
SPEECH_BINS = slice(10, 50)
"""The mel bins of 0.3-2.8 kHz (of 80 at 16 kHz): every speech channel carries them."""


def empty_band_start(raw: np.ndarray) -> int | None:
    """The first bin of the empty band at the top of (T, bins) raw log-mel frames, or None.

    A bin is empty when its loud frames (95th percentile over time) lie EMPTY_BAND_DEPTH below
    the mean of the speech band's (SPEECH_BINS); the empty band is the run of empty bins that
    reaches the top bin. Audio from a lower rate (8 kHz telephone audio, upsampled) has one:
    nothing but rounding noise above its Nyquist frequency."""
    if len(raw) == 0 or raw.shape[1] < SPEECH_BINS.stop:
        return None
    loud = np.percentile(raw, 95, axis=0)
    empty = loud < loud[SPEECH_BINS].mean() - EMPTY_BAND_DEPTH
    if not empty[-1]:
        return None
    return int(np.flatnonzero(~empty)[-1]) + 1  # a speech bin is never empty: one is found


def mask_empty_band(features: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """(T, bins) normalised `features` with the bins of the empty band of their `raw` log-mel
    frames (`empty_band_start`) set to 0 — the mean after CMVN, what SpecAugment's frequency
    masks write in training — instead of the rounding noise that CMVN scales up to unit
    variance, which the model never heard there. Li et al. (2012, "Improving wideband speech
    recognition using mixed-bandwidth training data") zero the missing band of narrowband
    audio the same way. Measured: bench/bench_telephone.py."""
    start = empty_band_start(raw)
    if start is None:
        return features
    masked = features.copy()
    masked[:, start:] = 0.0
    return masked


def extract_features(
    samples: np.ndarray,
    options: FeatureOptions = DEFAULT_OPTIONS,
    *,
    guard: bool = True,
    band_mask: bool = False,
) -> np.ndarray:
    """(N,) samples in [-1, 1] -> (T, num_mel_bins) float32 model input: fbank + utterance CMVN.

    `guard=False` gives HF's exact CMVN (NaN/inf on degenerate input), for parity tests.
    `band_mask`: the empty band of audio from a lower rate is zeroed (`mask_empty_band`).
    """
    opts = options
    feats = fbank(samples, opts)
    normalised = guarded_cmvn(feats, opts) if guard else utterance_cmvn(feats, opts)
    return mask_empty_band(normalised, feats) if band_mask else normalised
