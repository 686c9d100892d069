"""The engine's thread: reads audio from a source, steps the engine, and reports events, the
input level and errors as Qt signals. The audio callback (in capture.py) never waits for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal, pyqtSlot

from s2t_stream.errors import DeviceLost
from s2t_stream.streaming.drive import Captioner
from s2t_stream.streaming.events import Event


class Source(Protocol):
    """Where audio comes from: a microphone, desktop audio, or (in tests) a file."""

    rate: int

    def read(self) -> np.ndarray: ...

    def close(self) -> np.ndarray: ...

    def dropped_s(self) -> float: ...


class Backend(Protocol):
    """A `LocalBackend` or a `RemoteBackend` (gui/backends.py)."""

    @property
    def sample_rate(self) -> int: ...

    def open(self, sample_rate: int) -> Captioner: ...


class CaptionWorker(QObject):
    caption = pyqtSignal(int, object)  # channel (0: captions, 1: translation), event
    level = pyqtSignal(float)  # dBFS of the latest audio
    failed = pyqtSignal(str)
    stopped = pyqtSignal()

    def __init__(
        self,
        make_engines: Callable[[], list[Backend]],
        make_source: Callable[[int], Source],
        interval_ms: int = 50,
    ) -> None:
        super().__init__()
        self.make_engines = make_engines
        self.make_source = make_source
        self.interval_ms = interval_ms
        self.engines: list[Backend] = []  # one per channel, fed the same audio
        self.source: Source | None = None
        self.captioners: list[Captioner] = []
        self.timer: QTimer | None = None

    @pyqtSlot()
    def start(self) -> None:
        """Load the models (first time) and open the source; errors become `failed`."""
        try:
            if not self.engines:
                self.engines = self.make_engines()
            self.source = self.make_source(self.engines[0].sample_rate)
            rate = self.source.rate
            self.captioners = [engine.open(rate) for engine in self.engines]
        except Exception as error:  # shown in the window, never a crash
            self.failed.emit(str(error))
            self.stopped.emit()
            return
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.timer.start(self.interval_ms)

    def _tick(self) -> None:
        assert self.source is not None
        try:
            audio = self.source.read()
        except DeviceLost as lost:
            self.failed.emit(f"{lost}; the transcript so far is kept")
            self.stop()
            return
        if len(audio):
            rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
            self.level.emit(20 * np.log10(max(rms, 1e-6)))
        self._emit([captioner.push(audio) for captioner in self.captioners])

    def _emit(self, channels: list[list[Event]]) -> None:
        for channel, events in enumerate(channels):
            for event in events:
                self.caption.emit(channel, event)

    @pyqtSlot()
    def stop(self) -> None:
        """Stop the source and emit the last final."""
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        if self.source is not None and self.captioners:
            tail = self.source.close()
            self._emit([c.push(tail) + c.end() for c in self.captioners])
            if self.source.dropped_s():
                self.failed.emit(f"{self.source.dropped_s():.2f} s of audio were dropped")
        self.source, self.captioners = None, []
        self.stopped.emit()


class FileSource:
    """A recording played as if live, `speed` times faster than real time, then silence
    (for demos, screenshots and tests)."""

    def __init__(self, audio: np.ndarray, rate: int, speed: float = 1.0, tick_s: float = 0.05):
        self.audio, self.rate, self.position = audio, rate, 0
        self.step = round(rate * tick_s * speed)

    def read(self) -> np.ndarray:
        chunk = self.audio[self.position : self.position + self.step]
        self.position += self.step
        return chunk if len(chunk) else np.zeros(self.step, dtype=np.float32)

    def close(self) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)

    def dropped_s(self) -> float:
        return 0.0
