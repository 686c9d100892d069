"""Segmentation: a voice-activity detector (WebRTC's, behind an energy gate) labels 30 ms
frames; endpoint rules turn the labels into segment starts and ends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from s2t_stream.model.audio import to_pcm16

VAD_FRAME_S = 0.03  # WebRTC VAD frame: 10, 20 or 30 ms


@dataclass(frozen=True)
class EndpointOptions:
    vad_mode: int = 2  # WebRTC aggressiveness 0 (least) … 3 (most)
    energy_floor_dbfs: float = -55.0  # frames quieter than this are never speech
    min_speech_s: float = 0.09
    pre_roll_s: float = 0.3
    end_silence_s: float = 0.35

    def __post_init__(self) -> None:
        if self.vad_mode not in (0, 1, 2, 3):
            raise ValueError(f"EndpointOptions.vad_mode must be 0…3, got {self.vad_mode}")
        for name in ("min_speech_s", "pre_roll_s", "end_silence_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"EndpointOptions.{name} must be ≥ 0, got {getattr(self, name)}")


class VoiceActivity:
    """Speech / non-speech per 30 ms frame for mono float samples at 8, 16, 32 or 48 kHz."""

    def __init__(self, sample_rate: int, options: EndpointOptions) -> None:
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"the VAD needs 8, 16, 32 or 48 kHz audio, got {sample_rate} Hz")
        self.vad = webrtcvad.Vad(options.vad_mode)
        self.sample_rate = sample_rate
        self.frame = round(sample_rate * VAD_FRAME_S)
        self.floor = 10 ** (options.energy_floor_dbfs / 20)
        self.pending = np.zeros(0, dtype=np.float32)

    def accept(self, samples: np.ndarray) -> list[bool]:
        """Labels of the frames completed by these samples (the remainder waits)."""
        data = np.concatenate([self.pending, samples]) if len(self.pending) else samples
        count = len(data) // self.frame
        self.pending = data[count * self.frame :].copy()
        labels = []
        for i in range(count):
            frame = data[i * self.frame : (i + 1) * self.frame]
            loud = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) >= self.floor
            labels.append(loud and self.vad.is_speech(to_pcm16(frame), self.sample_rate))
        return labels


@dataclass(frozen=True)
class Boundary:
    """A segment starts (`start`) or ends (`end`) at `time_s`."""

    kind: str
    time_s: float


class Endpointer:
    """Frame labels in, segment boundaries out. Rules (times in seconds of stream audio):

    - a segment starts at the first of `min_speech_s` of speech frames, minus `pre_roll_s`;
    - it ends once `end_silence_s` of non-speech follow its last speech frame (the stream then
      decodes it a last time and emits a `final`);
    - a segment longer than `StreamOptions.max_segment_s` is cut by the stream at a committed
      word boundary (`restart`), and the stream may close one early (`interrupt`)."""

    def __init__(self, options: EndpointOptions) -> None:
        self.options = options
        self.frames = 0  # labels seen
        self.in_segment = False
        self.floor_s = 0.0  # a new segment cannot start before the last one ended
        self.speech_run = 0  # consecutive speech frames (outside a segment)
        self.last_speech_s = 0.0  # end of the last speech frame (inside a segment)

    @property
    def time_s(self) -> float:
        return self.frames * VAD_FRAME_S

    def accept(self, labels: list[bool]) -> list[Boundary]:
        found: list[Boundary] = []
        needed = max(1, round(self.options.min_speech_s / VAD_FRAME_S))
        for speech in labels:
            self.frames += 1
            now = self.time_s
            if not self.in_segment:
                self.speech_run = self.speech_run + 1 if speech else 0
                if self.speech_run >= needed:
                    onset = now - self.speech_run * VAD_FRAME_S
                    start = max(self.floor_s, onset - self.options.pre_roll_s)
                    found.append(Boundary("start", start))
                    self.in_segment, self.last_speech_s = True, now
            elif speech:
                self.last_speech_s = now
            elif now - self.last_speech_s >= self.options.end_silence_s:
                found.append(Boundary("end", now))
                self.in_segment, self.floor_s, self.speech_run = False, now, 0
        return found

    def interrupt(self, time_s: float) -> None:
        """The open segment was closed from outside at `time_s`: wait for new speech."""
        self.in_segment, self.floor_s, self.speech_run = False, time_s, 0

    def restart(self, time_s: float) -> None:
        """The engine cut the open segment at `time_s`; a new one continues from there."""
        self.floor_s = time_s
