"""The scheduler on fake engines: how queued input reaches the streams, the finals-first phase,
batching per engine, back-pressure release, a failing worker, and rounds that keep going while
input remains."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import cast

import numpy as np
import pytest

from s2t_stream.io.protocol import Start
from s2t_stream.model.audio import to_pcm16
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.options import Limits
from s2t_stream.server.scheduler import Scheduler
from s2t_stream.server.sessions import NativeSession, Session, VoskSession
from s2t_stream.streaming.engine import Engine
from tests.server.fakes import FakeEngine, FakeStream, ImmediateLoop, drain, engine, loop, peer

TENTH = to_pcm16(np.zeros(1600, np.float32))  # 0.1 s at 16 kHz
END = '{"type": "end"}'


def native(messages: tuple[str | bytes, ...] = (), fake: FakeEngine | None = None) -> NativeSession:
    session = NativeSession(
        peer(), cast(Engine, fake) if fake else engine(), Start(), limits=Limits(max_buffered_s=1.0)
    )
    for message in messages:
        session.receive(message)
    return session


def stream(session: Session) -> FakeStream:
    assert isinstance(session.stream, FakeStream)
    return session.stream


def test_a_worker_feeds_all_queued_input_then_steps_finals_first() -> None:
    fake = FakeEngine()
    session = native((TENTH, '{"type": "finalize"}', TENTH, END), fake)
    posted = loop()
    seconds = Scheduler(1, Metrics()).work([session], posted)
    assert seconds.consumed == {session: pytest.approx(0.2)} and not seconds.failed
    assert not session.inbox
    assert [call[0] for call in stream(session).calls] == [
        "accept",
        "finalize",
        "accept",
        "end",
        "finalize",
    ]
    assert [finals_only for finals_only, _ in fake.steps] == [True, False]
    assert isinstance(posted, ImmediateLoop)
    # One post per phase: the finals (sent at once), then the partials and the end.
    assert [[m["type"] for m in messages] for messages, _ in posted.posts] == [
        ["final", "final"],
        ["partial", "partial", "end"],
    ]
    assert [done for _, done in posted.posts] == [False, True]
    assert session.finished.is_set()
    # unsent, the second partial of segment 0 replaced the first
    assert [m["type"] for m in drain(session.outbox)] == ["final", "final", "partial", "end"]


def test_sessions_on_one_engine_share_each_step_and_other_engines_step_apart() -> None:
    first, second = FakeEngine(), FakeEngine()
    a, b, c = native((TENTH,), first), native((TENTH,), first), native((TENTH,), second)
    metrics = Metrics()
    Scheduler(1, metrics).work([a, b, c], loop())
    assert [(phase, len(streams)) for phase, streams in first.steps] == [(True, 2), (False, 2)]
    assert [(phase, len(streams)) for phase, streams in second.steps] == [(True, 1), (False, 1)]
    assert first.steps[0][1] == [stream(a), stream(b)]
    # A batch is counted when a step ran updates: both engines' partial phase here.
    assert metrics.registry.get_sample_value("s2t_batch_streams_count") == 2
    assert metrics.registry.get_sample_value("s2t_batch_streams_sum") == 3  # 2 + 1 streams


def test_a_round_releases_back_pressure_and_runs_on_worker_threads() -> None:
    async def scenario() -> NativeSession:
        session = native((TENTH,) * 15)  # 1.5 s waiting, over the 1.0 s limit
        scheduler = Scheduler(2, Metrics())
        scheduler.add(session)
        await scheduler.round(asyncio.get_running_loop())
        await asyncio.sleep(0)  # the posts the worker made
        return session

    session = asyncio.run(scenario())
    assert session.buffered_s == pytest.approx(0.0, abs=1e-9)
    assert session.progress.is_set() and session.backlog() is None
    assert threading.current_thread().name not in stream(session).threads
    # 15 partials of one segment, none sent yet: the client gets the newest one only
    assert drain(session.outbox) == [
        {"type": "partial", "segment": 0, "committed": "", "tentative": "heard 24000",
         "audio_s": 1.5, "wall_s": 0.0},
    ]  # fmt: skip


def test_a_session_whose_step_raises_fails_alone_and_its_batch_goes_on() -> None:
    """One session's fault fails the batched call it is in; the scheduler steps the sessions of
    that batch one by one, so only the faulty one fails (issue 21: one client broke 4 of 6
    other sessions on its worker)."""
    fake = FakeEngine()

    async def scenario() -> list[NativeSession]:
        sessions = [native((TENTH, END), fake) for _ in range(3)]
        stream(sessions[1]).broken = True
        scheduler = Scheduler(1, Metrics())  # one worker: all three in one batch
        for session in sessions:
            scheduler.add(session)
        await scheduler.round(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return sessions

    first, broken, last = asyncio.run(scenario())
    assert broken.finished.is_set() and broken.error is not None
    assert (broken.error.code, broken.error.close_code) == ("internal", 1011)
    assert drain(broken.outbox) == []  # the connection sends the error, then closes
    assert broken.input_closed and broken.buffered_s == 0.0  # released
    for healthy in (first, last):
        assert healthy.finished.is_set() and healthy.error is None
        assert [m["type"] for m in drain(healthy.outbox)] == ["final", "partial", "end"]
    # the batch of three raised; stepped alone the healthy two succeeded, and the next phase
    # batched them again without the failed one
    healthy_ids = {id(stream(first)), id(stream(last))}
    assert [phase for phase, _ in fake.steps] == [True, True, False]
    assert [len(streams) for _, streams in fake.steps] == [1, 1, 2]
    assert {id(s) for _, streams in fake.steps for s in streams} == healthy_ids


def test_a_worker_that_raises_outside_a_session_fails_its_share_only() -> None:
    async def scenario() -> tuple[NativeSession, NativeSession]:
        broken = native((TENTH,), FakeEngine(fail=True))
        healthy = native((TENTH, END))
        scheduler = Scheduler(2, Metrics())
        for session in (broken, healthy):
            scheduler.add(session)
        await scheduler.round(asyncio.get_running_loop())
        await asyncio.sleep(0)
        assert scheduler.ready() == []  # a failed session is fed no more
        return broken, healthy

    broken, healthy = asyncio.run(scenario())
    assert broken.finished.is_set() and broken.error is not None
    assert broken.error.code == "internal"
    assert healthy.finished.is_set() and healthy.error is None
    assert [m["type"] for m in drain(healthy.outbox)] == ["final", "partial", "end"]


def test_vosk_gets_one_reply_per_message_over_rounds_from_a_single_wake() -> None:
    async def scenario() -> VoskSession:
        session = VoskSession(peer(), engine(), limits=Limits(max_buffered_s=1.0))
        for message in (TENTH, TENTH, TENTH, '{"eof" : 1}'):
            session.receive(message)
        scheduler = Scheduler(1, Metrics())
        scheduler.add(session)
        running = asyncio.create_task(scheduler.run())
        scheduler.wake()  # once: the scheduler goes on while input remains
        await asyncio.wait_for(session.finished.wait(), 5)
        running.cancel()
        return session

    session = asyncio.run(scenario())
    assert drain(session.outbox) == [
        {"partial": "heard 1600"},
        {"partial": "heard 3200"},
        {"partial": "heard 4800"},
        {"text": "final 1", "result": [{"conf": 1.0, "start": 0.0, "end": 0.1, "word": "w1"}]},
    ]


class HeldEngine(FakeEngine):
    """A fake engine whose steps wait until `release` is set (a long round)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def step(self, streams: Sequence[FakeStream], *, finals_only: bool = False) -> int:
        assert self.release.wait(10), "never released"
        return super().step(streams, finals_only=finals_only)


def test_lanes_do_not_wait_for_each_other() -> None:
    """Sessions join the emptier lane; a lane whose round is long does not hold up the other
    lane's rounds (they used to end together, leaving a core idle)."""
    held = HeldEngine()

    async def scenario() -> tuple[NativeSession, NativeSession]:
        slow, quick = native((TENTH, END), held), native((TENTH, END))
        scheduler = Scheduler(2, Metrics())
        scheduler.add(slow)
        scheduler.add(quick)
        assert [len(lane) for lane in scheduler.lanes] == [1, 1]
        running = asyncio.create_task(scheduler.run())
        scheduler.wake()
        await asyncio.wait_for(quick.finished.wait(), 5)  # while the slow round is held
        assert not slow.finished.is_set()
        held.release.set()
        await asyncio.wait_for(slow.finished.wait(), 5)
        running.cancel()
        return slow, quick

    slow, quick = asyncio.run(scenario())
    assert [m["type"] for m in drain(quick.outbox)] == ["final", "partial", "end"]
    assert [m["type"] for m in drain(slow.outbox)] == ["final", "partial", "end"]
