"""Voice-activity detectors: mono samples in, a speech / non-speech label per frame out. Three
are selectable (`VadOptions.kind`); bench/bench_vad.py measures them in noise (docs/vad.md)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, Protocol

import numpy as np
import webrtcvad

from s2t_stream.errors import OptionsError
from s2t_stream.model.audio import to_pcm16

VadKind = Literal["webrtc", "floor", "silero"]
WEBRTC_RATES = (8000, 16000, 32000, 48000)


@dataclass(frozen=True)
class VadOptions:
    """Which detector and its settings:

    - `webrtc`: WebRTC's GMM detector (aggressiveness `webrtc_mode` 0–3) behind an energy gate
      (frames quieter than `energy_floor_dbfs` are never speech), 30 ms frames;
    - `floor`: `webrtc`, and a frame must also stand `floor_margin_db` above the noise floor,
      tracked as the quietest high-passed frame energy of the last `floor_window_s` (steady
      noise — fans, hum, traffic rumble — raises the floor instead of passing as speech);
    - `silero`: the Silero VAD network (the `silero-vad` package's model, on onnxruntime) at
      probability `silero_threshold`, 32 ms frames at 16 kHz (also 8 kHz).

    The default is chosen by bench/bench_vad.py (docs/vad.md): Silero misses the least speech
    and takes the least noise for speech in every kind of noise but babble, at ~0.7 % of a core
    per stream; `floor` holds steady low-frequency noise off at ~0.1 %, but misses speech in
    broadband noise; `webrtc` takes hum, tones and loud noise for speech."""

    kind: VadKind = "silero"
    webrtc_mode: int = 2
    energy_floor_dbfs: float = -55.0
    floor_margin_db: float = 9.0
    floor_window_s: float = 3.0
    silero_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("webrtc", "floor", "silero"):
            raise OptionsError(f"VAD must be webrtc, floor or silero, got {self.kind!r}")
        if self.webrtc_mode not in (0, 1, 2, 3):
            raise OptionsError(f"WebRTC VAD mode must be 0…3, got {self.webrtc_mode}")
        if self.floor_margin_db < 0 or self.floor_window_s <= 0:
            raise OptionsError("the floor gate needs a margin ≥ 0 dB and a window > 0 s")
        if not 0 < self.silero_threshold < 1:
            raise OptionsError(f"Silero threshold must be in (0, 1), got {self.silero_threshold}")


class VoiceActivity(Protocol):
    """A detector's state for one stream. `frame` samples make one label (`frame_s` seconds).
    `push` queues audio; `labels` labels every whole frame queued so far (the remainder waits),
    so the work can wait for a moment when many streams' frames can be labelled together
    (`label_together`)."""

    frame: int
    frame_s: float

    def push(self, samples: np.ndarray) -> None: ...

    def labels(self) -> list[bool]: ...

    def accept(self, samples: np.ndarray) -> list[bool]:
        """`push`, then `labels`."""
        ...


def make_vad(sample_rate: int, options: VadOptions) -> VoiceActivity:
    """A fresh detector of `options.kind` for mono audio at `sample_rate` Hz. Raises
    OptionsError for a rate the detector cannot take, or Silero without its package."""
    if options.kind == "silero":
        return SileroVad(sample_rate, options)
    if options.kind == "floor":
        return FloorGateVad(sample_rate, options)
    return WebRtcVad(sample_rate, options)


def label_together(detectors: Sequence[VoiceActivity]) -> None:
    """Label the queued frames of many streams' detectors at once where that is cheaper (Silero:
    one network call per frame position for all streams, ~4× less CPU per frame than one call
    per stream); the labels wait in each detector for its `labels()`."""
    silero = [d for d in detectors if isinstance(d, SileroVad)]
    if silero:
        SileroVad.run_together(silero)


def _rms(frame: np.ndarray) -> float:
    return float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))


class _Detector:
    """What every detector shares: whole frames cut from pushed audio, waiting to be labelled
    (`queued`), and labels waiting to be taken (`ready`). Subclasses label one frame."""

    frame_s: float
    frame: int

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self.remainder = np.zeros(0, dtype=np.float32)
        self.queued: list[np.ndarray] = []
        self.ready: list[bool] = []

    def push(self, samples: np.ndarray) -> None:
        data = np.concatenate([self.remainder, samples]) if len(self.remainder) else samples
        count = len(data) // self.frame
        self.remainder = data[count * self.frame :].copy()
        self.queued += [data[i * self.frame : (i + 1) * self.frame] for i in range(count)]

    def labels(self) -> list[bool]:
        ready = self.ready + [self.label(frame) for frame in self.queued]
        self.queued, self.ready = [], []
        return ready

    def accept(self, samples: np.ndarray) -> list[bool]:
        self.push(samples)
        return self.labels()

    def label(self, frame: np.ndarray) -> bool:
        raise NotImplementedError


class WebRtcVad(_Detector):
    """WebRTC's detector behind an energy gate, on 30 ms frames at 8, 16, 32 or 48 kHz."""

    frame_s = 0.03

    def __init__(self, sample_rate: int, options: VadOptions) -> None:
        if sample_rate not in WEBRTC_RATES:
            raise OptionsError(f"the VAD needs 8, 16, 32 or 48 kHz audio, got {sample_rate} Hz")
        super().__init__(round(sample_rate * self.frame_s))
        self.vad = webrtcvad.Vad(options.webrtc_mode)
        self.sample_rate = sample_rate
        self.floor = 10 ** (options.energy_floor_dbfs / 20)

    def label(self, frame: np.ndarray) -> bool:
        return _rms(frame) >= self.floor and self.vad.is_speech(to_pcm16(frame), self.sample_rate)


class FloorGateVad(WebRtcVad):
    """`WebRtcVad`, and above a tracked noise floor (see `VadOptions`). The energy is measured
    after a first-difference high-pass (+6 dB/octave), where speech is strong and rumble and
    hum are weak."""

    def __init__(self, sample_rate: int, options: VadOptions) -> None:
        super().__init__(sample_rate, options)
        self.margin = 10 ** (options.floor_margin_db / 20)
        self.recent: deque[float] = deque(
            maxlen=max(1, round(options.floor_window_s / self.frame_s))
        )
        self.last = 0.0  # the previous sample, for the high-pass across frames

    def label(self, frame: np.ndarray) -> bool:
        passed = np.diff(frame, prepend=np.float32(self.last))
        self.last = float(frame[-1])
        energy = _rms(passed)
        self.recent.append(energy)
        floor = min(self.recent)
        return energy >= floor * self.margin and super().label(frame)


_SILERO_SESSION: Any = None
_SILERO_LOCK = threading.Lock()


def _silero_session() -> Any:
    """The Silero VAD network (the ONNX file the `silero-vad` package ships) as one onnxruntime
    session for the whole process: `run` is thread-safe, and each stream keeps its own state."""
    global _SILERO_SESSION
    with _SILERO_LOCK:
        if _SILERO_SESSION is None:
            try:
                import onnxruntime
                from silero_vad import data
            except ImportError as error:
                raise OptionsError(
                    "the Silero VAD needs the 'silero-vad' and 'onnxruntime' packages "
                    f"({error.name} is missing): pip install silero-vad onnxruntime"
                ) from None
            options = onnxruntime.SessionOptions()
            options.inter_op_num_threads = options.intra_op_num_threads = 1
            # no arena: batches of every size (label_together) would grow it for good, and it
            # never shrinks; the model is tiny, plain allocations cost nothing measurable
            options.enable_cpu_mem_arena = False
            model = resources.files(data) / "silero_vad.onnx"
            _SILERO_SESSION = onnxruntime.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
        return _SILERO_SESSION


SILERO_LEAD_IN_S = 0.5
"""Silence the Silero network hears before a stream's first sample. From its zero state it
misses speech that starts at once: in 30 of the 300 real spoken digits of the FSDD test split
(trimmed recordings, the missed ones 0.2-0.4 s long) it found no speech; after this lead-in,
in 2."""


_LEAD_IN_STATES: dict[int, np.ndarray] = {}


def _silero_lead_in_state(session: Any, sample_rate: int) -> np.ndarray:
    """The network's recurrent state after `SILERO_LEAD_IN_S` of digital silence (computed once
    per sample rate: it is the same for every stream)."""
    if sample_rate not in _LEAD_IN_STATES:
        frame = round(sample_rate * SileroVad.frame_s) + sample_rate // 250
        state = np.zeros((2, 1, 128), dtype=np.float32)
        rate = np.array(sample_rate, dtype=np.int64)
        for _ in range(round(SILERO_LEAD_IN_S / SileroVad.frame_s)):
            inputs = {"input": np.zeros((1, frame), dtype=np.float32), "state": state, "sr": rate}
            _, state = session.run(None, inputs)
        _LEAD_IN_STATES[sample_rate] = np.asarray(state, dtype=np.float32)
    return _LEAD_IN_STATES[sample_rate].copy()


class SileroVad(_Detector):
    """The Silero VAD network (v5: 32 ms frames at 16 kHz, each seen with the previous frame's
    last 4 ms, and a recurrent state) on onnxruntime — 3–4× cheaper than its TorchScript form.
    The package's own wrapper holds a session per stream; here the session is shared, a stream
    holds only its state, and `run_together` labels many streams' frames in one call. A stream
    starts from the state `SILERO_LEAD_IN_S` of silence leaves, as if it had been listening."""

    frame_s = 0.032

    def __init__(self, sample_rate: int, options: VadOptions) -> None:
        if sample_rate not in (8000, 16000):
            raise OptionsError(f"the Silero VAD needs 8 or 16 kHz audio, got {sample_rate} Hz")
        super().__init__(round(sample_rate * self.frame_s))
        self.session = _silero_session()
        self.sample_rate = sample_rate
        self.threshold = options.silero_threshold
        self.state = _silero_lead_in_state(self.session, sample_rate)
        self.context = np.zeros(sample_rate // 250, dtype=np.float32)  # 4 ms

    def labels(self) -> list[bool]:
        SileroVad.run_together([self])
        return super().labels()

    @staticmethod
    def run_together(detectors: Sequence[SileroVad]) -> None:
        """Label the queued frames of `detectors` (one sample rate each), position by position:
        the k-th queued frame of every detector that has one goes into one network call."""
        for rate in {d.sample_rate for d in detectors}:
            group = [d for d in detectors if d.sample_rate == rate and d.queued]
            while group:
                windows = np.stack(
                    [np.concatenate([d.context, d.queued[0].astype(np.float32)]) for d in group]
                )
                states = np.concatenate([d.state for d in group], axis=1)
                inputs = {"input": windows, "state": states, "sr": np.array(rate, dtype=np.int64)}
                probabilities, states = group[0].session.run(None, inputs)
                for row, d in enumerate(group):
                    d.state = states[:, row : row + 1].copy()
                    d.context = windows[row, -len(d.context) :]
                    d.ready.append(float(probabilities[row, 0]) >= d.threshold)
                    d.queued.pop(0)
                group = [d for d in group if d.queued]

    def label(self, frame: np.ndarray) -> bool:  # every frame goes through `run_together`
        raise AssertionError("SileroVad labels in run_together")
