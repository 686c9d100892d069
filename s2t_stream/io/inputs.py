"""What every audio input shares: the `Capture` protocol the readers use, `InputSource` (an
input to choose from), the bounded `RingBuffer` between an audio thread and its reader, and
`lead_in` (inputs opened together share one clock)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np


class Capture(Protocol):
    """An open input: new mono float32 audio at `rate` on each `read`, and how much audio was
    lost (the reader fell behind) or is waiting to be read."""

    name: str
    rate: int

    def read(self) -> np.ndarray:
        """Audio captured since the last call; raises DeviceLost once the input is gone."""
        ...

    def close(self) -> np.ndarray:
        """Stop capturing; the last samples."""
        ...

    def dropped_s(self) -> float:
        """Seconds of audio lost so far because the reader fell behind."""
        ...

    def backlog_s(self) -> float:
        """Seconds of audio captured but not yet read."""
        ...


@dataclass(frozen=True)
class InputSource:
    """An input to choose from: `name` is what `open_source` and `mic --input` take."""

    name: str
    description: str
    monitor: bool  # desktop audio (what a sink plays), not a microphone
    default: bool  # the system's default input
    backend: Literal["pulse", "portaudio"]
    index: int | None = None  # PortAudio's device index

    @property
    def kind(self) -> str:
        return "desktop audio" if self.monitor else "microphone"


class RingBuffer:
    """Blocks of (frames, channels) float32 from the audio thread, at most `capacity` frames;
    a full buffer drops its oldest frames and counts them. Thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.blocks: deque[np.ndarray] = deque()
        self.frames = 0
        self.dropped = 0
        self.first: tuple[float, int] | None = None  # when the first block came, its frames
        self.lock = threading.Lock()

    def push(self, block: np.ndarray) -> None:
        with self.lock:
            if self.first is None:
                self.first = (time.monotonic(), len(block))
            self.blocks.append(block)
            self.frames += len(block)
            while self.frames > self.capacity:
                excess = self.frames - self.capacity
                oldest = self.blocks[0]
                if len(oldest) <= excess:
                    self.blocks.popleft()
                    cut = len(oldest)
                else:
                    self.blocks[0] = oldest[excess:]
                    cut = excess
                self.frames -= cut
                self.dropped += cut

    def pop_all(self) -> np.ndarray | None:
        with self.lock:
            if not self.blocks:
                return None
            data = np.concatenate(self.blocks)
            self.blocks.clear()
            self.frames = 0
            return data


def lead_in(buffer: RingBuffer, opened_at: float, rate: int, out_rate: int) -> np.ndarray:
    """Silence (at `out_rate`) for the time between opening an input and its first audio
    (`rate` frames/s), so that inputs opened together share one clock: a PulseAudio source or
    a PortAudio stream can take a second or two to start, each its own."""
    assert buffer.first is not None, "lead_in before the first audio"
    arrived_at, frames = buffer.first
    lead_s = arrived_at - opened_at - frames / rate
    return np.zeros(max(0, round(lead_s * out_rate)), dtype=np.float32)
