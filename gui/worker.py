"""The engine's thread: reads audio from one source or several labelled ones, steps the engine,
and reports events, the input level, live status (loading, listening, dropping or lagging) and
errors as Qt signals. The audio callbacks (in capture.py) never wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal, pyqtSlot

from s2t_stream.errors import DeviceLost
from s2t_stream.io.capture import Capture
from s2t_stream.model.audio import load_audio
from s2t_stream.streaming.drive import (
    Captioner,
    HealthMonitor,
    InputHealth,
    LabelledCaptioner,
    Unlabelled,
)
from s2t_stream.streaming.events import Event

Source = Capture  # a microphone, desktop audio, or a recording replayed live (`FileSource`)
STATUS_EVERY_S = 0.5  # a changing warning (its numbers) is re-sent at most this often


class Backend(Protocol):
    """A `LocalBackend` or a `RemoteBackend` (gui/backends.py)."""

    @property
    def sample_rate(self) -> int: ...

    def open(self, sample_rate: int) -> Captioner: ...

    def open_labelled(self, sample_rate: int, labels: Sequence[str]) -> LabelledCaptioner: ...


@dataclass(frozen=True)
class WorkerStatus:
    """What the worker is doing, for the status bar: `detail` is the model's name while
    `loading` and the sources while `listening`; `health` is the live input's (the totals
    once `stopped`)."""

    phase: Literal["loading", "listening", "stopped"]
    detail: str = ""
    health: InputHealth | None = None

    @property
    def warning(self) -> bool:
        """Audio is being dropped or captions lag: show it in warning colours."""
        return self.phase == "listening" and self.health is not None and bool(self.health.warning)

    @property
    def message(self) -> str:
        if self.phase == "loading":
            return f"loading model {self.detail}…"
        if self.phase == "listening":
            listening = f"listening: {self.detail}"
            warning = self.health.warning if self.health is not None else None
            return f"⚠ {warning} — {listening}" if warning else listening
        dropped = self.health.dropped_s if self.health is not None else 0.0
        return f"stopped ({dropped:.1f} s of audio were dropped)" if dropped else "stopped"


class CaptionWorker(QObject):
    caption = pyqtSignal(int, object)  # channel (0: captions, 1: translation), event
    level = pyqtSignal(float)  # dBFS of the loudest source's latest audio
    status = pyqtSignal(object)  # WorkerStatus
    failed = pyqtSignal(str)
    stopped = pyqtSignal()

    def __init__(
        self,
        make_engines: Callable[[], list[Backend]],
        make_source: Callable[[int], Source | Mapping[str, Source]],
        interval_ms: int = 50,
        model_name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.make_engines = make_engines
        self.make_source = make_source
        self.interval_ms = interval_ms
        self.model_name = model_name
        self.clock = clock
        self.engines: list[Backend] = []  # one per channel, fed the same audio
        self.sources: dict[str, Source] = {}  # by label ("" for a single unlabelled source)
        self.captioners: list[LabelledCaptioner] = []
        self.timer: QTimer | None = None
        self.monitor = HealthMonitor(clock=clock)
        self.shown: tuple[str | None, float] = (None, 0.0)  # the warning sent, and when

    @pyqtSlot()
    def start(self) -> None:
        """Load the models (first time) and open the source(s); errors become `failed`."""
        try:
            if not self.engines:
                self.status.emit(WorkerStatus("loading", self.model_name))
                self.engines = self.make_engines()
            self._open(self.make_source(self.engines[0].sample_rate))
        except Exception as error:  # shown in the window, never a crash
            self._close_sources()
            self.failed.emit(str(error))
            self.status.emit(WorkerStatus("stopped"))
            self.stopped.emit()
            return
        self.monitor = HealthMonitor(clock=self.clock)
        self.shown = (None, self.clock())
        self.status.emit(WorkerStatus("listening", self._describe(), self._health()))
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(self.interval_ms)

    def _open(self, opened: Source | Mapping[str, Source]) -> None:
        """Captioners on every engine: labelled ones for a mapping of sources (one batched
        round for all of them per tick), else one plain stream each."""
        self.sources = dict(opened) if isinstance(opened, Mapping) else {"": opened}
        rates = {source.rate for source in self.sources.values()}
        if len(rates) != 1:
            raise ValueError(f"the sources record at different rates: {sorted(rates)}")
        rate = rates.pop()
        if isinstance(opened, Mapping):
            self.captioners = [e.open_labelled(rate, list(self.sources)) for e in self.engines]
        else:
            self.captioners = [Unlabelled(e.open(rate)) for e in self.engines]

    def _describe(self) -> str:
        return ", ".join(
            f"{label} ({source.name})" if label else source.name
            for label, source in self.sources.items()
        )

    def tick(self) -> None:
        """One round: read every source, push the audio through the engines, report health."""
        try:
            audio = {label: source.read() for label, source in self.sources.items()}
        except DeviceLost as lost:
            self.failed.emit(f"{lost}; the transcript so far is kept")
            self.stop()
            return
        levels = [_dbfs(samples) for samples in audio.values() if len(samples)]
        if levels:
            self.level.emit(max(levels))
        self._emit([captioner.push(audio) for captioner in self.captioners])
        self._report(self._health())

    def _health(self) -> InputHealth:
        """After a push: the audio waiting meanwhile is how far the captions lag."""
        sources = self.sources.values()
        lag_s = max((source.backlog_s() for source in sources), default=0.0)
        return self.monitor.update(lag_s, sum(source.dropped_s() for source in sources))

    def _report(self, health: InputHealth) -> None:
        """A `listening` status when the warning comes or goes, and (at most every
        `STATUS_EVERY_S`) when its numbers change."""
        warning, (shown, shown_at) = health.warning, self.shown
        now = self.clock()
        if warning == shown:
            return
        if warning is not None and shown is not None and now - shown_at < STATUS_EVERY_S:
            return
        self.shown = (warning, now)
        self.status.emit(WorkerStatus("listening", self._describe(), health))

    def _emit(self, channels: list[list[Event]]) -> None:
        for channel, events in enumerate(channels):
            for event in events:
                self.caption.emit(channel, event)

    @pyqtSlot()
    def stop(self) -> None:
        """Stop the sources and emit the last finals."""
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        health = None
        if self.sources and self.captioners:
            tails = {label: source.close() for label, source in self.sources.items()}
            self._emit([c.push(tails) + c.end() for c in self.captioners])
            health = self._health()  # the status says how much was dropped
        self.sources, self.captioners = {}, []
        self.status.emit(WorkerStatus("stopped", health=health))
        self.stopped.emit()

    def _close_sources(self) -> None:
        for source in self.sources.values():
            source.close()
        self.sources, self.captioners = {}, []


def _dbfs(samples: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * float(np.log10(max(rms, 1e-6)))


class FileSource:
    """A recording played as if live: what `speed` × real time has made due since the last
    read (then silence), by `clock`. Like a microphone, audio more than `buffer_s` behind is
    dropped and counted, so a slow engine shows as lag, then loss (demos, screenshots, tests,
    and `gui --source FILE`)."""

    def __init__(
        self,
        audio: np.ndarray,
        rate: int,
        speed: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        buffer_s: float = 10.0,
        name: str = "recording",
    ) -> None:
        self.audio, self.rate, self.speed, self.name = audio, rate, speed, name
        self.clock = clock
        self.buffer = round(buffer_s * rate)
        self.started = clock()
        self.position = 0  # samples handed out or dropped
        self.dropped = 0

    @classmethod
    def from_path(cls, path: Path, rate: int, speed: float = 1.0) -> FileSource:
        """A recording (any format `load_audio` reads) at `rate`."""
        return cls(load_audio(path, rate), rate, speed, name=path.name)

    def _due(self) -> int:
        return round((self.clock() - self.started) * self.speed * self.rate)

    def read(self) -> np.ndarray:
        due = self._due()
        late = due - self.position - self.buffer
        if late > 0:  # the reader fell behind the buffer: the oldest audio is lost
            self.dropped += late
            self.position += late
        chunk = self.audio[self.position : due]
        silence = np.zeros(max(0, due - self.position - len(chunk)), dtype=np.float32)
        self.position = max(self.position, due)
        return np.concatenate([chunk.astype(np.float32, copy=False), silence])

    def close(self) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)

    def dropped_s(self) -> float:
        return self.dropped / self.rate

    def backlog_s(self) -> float:
        return min(max(0, self._due() - self.position), self.buffer) / self.rate
