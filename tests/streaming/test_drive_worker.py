"""The desktop app's engine worker (gui/worker.py) driving sources: loading → listening →
stopped statuses, a warning while audio is dropped or captions lag (and its end), two labelled
sources through one engine, and `FileSource` paced by the clock like a microphone."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6", reason="the worker needs PyQt6 (pip install 's2t-stream[gui]')")
pytest.importorskip("pytestqt", reason="worker tests need pytest-qt")

from gui.backends import LocalBackend
from gui.worker import Backend, CaptionWorker, FileSource, Source, WorkerStatus
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.streaming.drive import Captioner, Labelled, LabelledCaptioner
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Final

pytestmark = pytest.mark.qt
RATE = 16000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Echo:
    """A `Captioner` that answers each push with a final as long as the audio it got."""

    def __init__(self) -> None:
        self.taken = 0

    def push(self, samples: np.ndarray) -> list[Event]:
        start, self.taken = self.taken, self.taken + len(samples)
        if not len(samples):
            return []
        return [Final(0, f"{len(samples)}", start / RATE, self.taken / RATE, 0, 0, ())]

    def end(self) -> list[Event]:
        return []


class EchoBackend:
    sample_rate = RATE

    def open(self, sample_rate: int) -> Captioner:
        return Echo()

    def open_labelled(self, sample_rate: int, labels: Sequence[str]) -> LabelledCaptioner:
        return Labelled({label: Echo() for label in labels})


def run(worker: CaptionWorker) -> tuple[list[WorkerStatus], list[Event], list[str]]:
    """Collect what the worker signals."""
    statuses: list[WorkerStatus] = []
    events: list[Event] = []
    errors: list[str] = []
    worker.status.connect(statuses.append)
    worker.caption.connect(lambda channel, event: events.append(event))
    worker.failed.connect(errors.append)
    return statuses, events, errors


def test_file_source_is_paced_by_the_clock_and_drops_like_a_microphone() -> None:
    clock = Clock()
    audio = np.arange(5 * RATE, dtype=np.float32)
    source = FileSource(audio, RATE, clock=clock, buffer_s=2.0)
    clock.now += 0.5
    assert source.backlog_s() == pytest.approx(0.5)
    np.testing.assert_array_equal(source.read(), audio[: RATE // 2])
    clock.now += 3.0  # the reader was away 3 s; the buffer holds 2 s
    assert source.backlog_s() == pytest.approx(2.0)
    np.testing.assert_array_equal(source.read(), audio[int(1.5 * RATE) : int(3.5 * RATE)])
    assert source.dropped_s() == pytest.approx(1.0)
    clock.now += 2.0  # past the end: the rest, then silence
    tail = source.read()
    assert len(tail) == 2 * RATE and not tail[RATE + RATE // 2 :].any()


def test_statuses_from_loading_to_a_drop_warning_and_back(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    sources: dict[str, Source] = {}

    def make_source(rate: int) -> Mapping[str, Source]:
        sources["You"] = FileSource(np.ones(60 * rate, np.float32), rate, clock=clock)
        sources["Others"] = FileSource(np.ones(60 * rate, np.float32), rate, clock=clock)
        return sources

    worker = CaptionWorker(
        lambda: [EchoBackend()], make_source, interval_ms=3_600_000, model_name="demo", clock=clock
    )
    statuses, events, errors = run(worker)
    worker.start()
    assert [s.phase for s in statuses] == ["loading", "listening"]
    assert statuses[0].message == "loading model demo…"
    assert statuses[1].message == "listening: You (recording), Others (recording)"
    clock.now += 0.05
    worker.tick()
    assert {e.source for e in events} == {"You", "Others"} and len(statuses) == 2
    clock.now += 12.0  # a stall of 12 s: each source's 10 s buffer overflowed by 2 s
    worker.tick()
    warning = statuses[-1]
    assert warning.warning and warning.health is not None
    assert warning.message.startswith("⚠ dropping audio (4.0 s lost so far) — listening: You")
    clock.now += 6.0  # caught up for longer than a drop stays shown
    worker.tick()
    assert not statuses[-1].warning and statuses[-1].message.startswith("listening: ")
    worker.stop()
    assert statuses[-1].phase == "stopped"
    assert statuses[-1].message == "stopped (4.0 s of audio were dropped)"
    assert errors == []  # a drop is a warning in the status, not an error


class SlowEcho(Echo):
    """An engine that takes `seconds` of `clock` per push (a loaded machine)."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def push(self, samples: np.ndarray) -> list[Event]:
        self.clock.now += self.seconds
        return super().push(samples)


def test_captions_lagging_behind_real_time_are_warned_about(qtbot) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    slow = SlowEcho(clock, 4.0)

    class SlowBackend(EchoBackend):
        def open(self, sample_rate: int) -> Captioner:
            return slow

    worker = CaptionWorker(
        lambda: [SlowBackend()],
        lambda rate: FileSource(np.ones(60 * rate, np.float32), rate, clock=clock),
        interval_ms=3_600_000,
        clock=clock,
    )
    statuses, _, _ = run(worker)
    worker.start()
    worker.tick()  # the push took 4 s: 4 s of audio wait
    assert statuses[-1].message == "⚠ captions 4.0 s behind real time — listening: recording"
    slow.seconds = 0.0
    worker.tick()  # caught up
    assert statuses[-1].message == "listening: recording"
    worker.stop()


def test_a_failing_source_stops_with_the_reason(qtbot) -> None:  # type: ignore[no-untyped-def]
    def make_source(rate: int) -> Source:
        raise RuntimeError("--input 'x' matches no input")

    worker = CaptionWorker(lambda: [EchoBackend()], make_source)
    statuses, _, errors = run(worker)
    stopped: list[bool] = []
    worker.stopped.connect(lambda: stopped.append(True))
    worker.start()
    assert errors == ["--input 'x' matches no input"] and stopped == [True]
    assert [s.phase for s in statuses] == ["loading", "stopped"]


@pytest.mark.model
def test_two_labelled_sources_share_one_engine(
    qtbot, bundle: Bundle, waves: list[np.ndarray]
) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    second = np.zeros(RATE, np.float32)
    you = np.concatenate([waves[0], *[second] * 6])
    others = np.concatenate([*[second] * 3, waves[1], *[second] * 2])
    engines: list[Backend] = [LocalBackend(Engine(bundle))]

    def make_source(rate: int) -> Mapping[str, Source]:
        return {
            "You": FileSource(you, rate, clock=clock),
            "Others": FileSource(others, rate, clock=clock),
        }

    worker = CaptionWorker(lambda: engines, make_source, interval_ms=3_600_000, clock=clock)
    _, events, _ = run(worker)
    worker.start()
    for _ in range(round(len(you) / RATE / 0.1)):
        clock.now += 0.1
        worker.tick()
    worker.stop()
    finals = [e for e in events if isinstance(e, Final) and e.text]
    assert [f.source for f in finals] == ["You", "Others"]
    assert finals[0].text.split()[0] == "they" and finals[0].end_s < finals[1].start_s
