"""The scheduler: runs the model for every session that has new input, in rounds, on worker
threads, and hands the resulting messages back to the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import INTERNAL
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.sessions import Input, Session
from s2t_stream.streaming.drive import advance
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Final

log = logging.getLogger("s2t_stream.server")


@dataclass
class Outcome:
    """A worker's round: audio seconds fed per session, and the sessions that raised."""

    consumed: dict[Session, float] = field(default_factory=dict)
    failed: dict[Session, BaseException] = field(default_factory=dict)


class Scheduler:
    """Runs the sessions' streams on `workers` threads, in rounds, one lane per worker.

    Each session joins, for its whole life, the lane that holds the fewest sessions. A lane runs
    rounds on its own thread, independently of the other lanes: `wake()` (called whenever a
    session queues input) starts one on every lane with input waiting. A round feeds the
    lane's sessions' queued input into their streams (all of it; a Vosk session one message, so
    that each message gets its own reply), then steps them together, one batched model call per
    engine, in two phases: first only the updates that close segments (`finals_only`), whose
    messages go to the event loop at once, then everything else that is due (the partials, and
    the replies of a protocol that answers once per message). If input arrived meanwhile, the
    lane's next round starts at once. (Lanes that waited for each other at the end of every
    round left one core idle while the other finished the longer share: 1.1-1.2 of 2 cores at
    40 streams.) A session whose input or step raises fails alone with an `internal` error (its
    rows leave the batch, the others are stepped again without it); every other session goes
    on.

    Back-pressure: a session's reader stops reading from its client while more than
    `max_buffered_s` of its audio waits (`Session.room`); after each round the scheduler
    subtracts what the model took (`Session.consumed`), which lets the reader go on.

    Threads (the server's side of the engine's thread-safety contract):
    - The event loop alone creates engines (`Engines`) and sessions, with their streams, and
      alone touches the session set, `buffered_s`, the outbox and the asyncio events; it only
      appends to a session's `inbox`.
    - A worker, the lane's own thread, touches only its lane's sessions, for one round: it pops
      their `inbox` (a deque: appends and pops are atomic), drives their streams (a session
      stays in one lane, and a lane's rounds do not overlap, so one thread at a time drives a
      stream), updates a Vosk session's replies, and calls `Engine.step`, concurrently with the
      other lanes on disjoint streams; it reads the engines and never creates one. Messages go
      back through `loop.call_soon_threadsafe`; the metrics are thread-safe."""

    def __init__(self, workers: int, metrics: Metrics) -> None:
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers}")
        self.workers = workers
        self.metrics = metrics
        self.lanes: list[set[Session]] = [set() for _ in range(workers)]
        self._wake = [asyncio.Event() for _ in range(workers)]
        # a thread of its own per lane: the native libraries' per-thread buffers exist once
        self._threads = [
            ThreadPoolExecutor(1, thread_name_prefix=f"lane-{lane}") for lane in range(workers)
        ]

    def close(self) -> None:
        """Let the lanes' threads end (after the round each may be running)."""
        for thread in self._threads:
            thread.shutdown(wait=False, cancel_futures=True)

    @property
    def sessions(self) -> set[Session]:
        """Every session, of every lane."""
        return set().union(*self.lanes)

    def add(self, session: Session) -> None:
        min(self.lanes, key=len).add(session)

    def discard(self, session: Session) -> None:
        for lane in self.lanes:
            lane.discard(session)

    def wake(self) -> None:
        """New input is queued: run a round on each lane (now, or after its current one)."""
        for event in self._wake:
            event.set()

    def ready(self, lane: int | None = None) -> list[Session]:
        """The sessions with input for the model, of one lane or of all (a failed one is fed
        no more)."""
        sessions = self.sessions if lane is None else self.lanes[lane]
        return [s for s in sessions if s.inbox and not s.finished.is_set()]

    async def run(self) -> None:
        """Forever: each lane waits for input and runs a round."""
        await asyncio.gather(*(self._run_lane(lane) for lane in range(self.workers)))

    async def _run_lane(self, lane: int) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake[lane]
        while True:
            await wake.wait()
            wake.clear()
            await self.lane_round(lane, loop)
            if self.ready(lane):
                wake.set()

    async def round(self, loop: asyncio.AbstractEventLoop) -> None:
        """One round on every lane at once (see the class)."""
        await asyncio.gather(*(self.lane_round(lane, loop) for lane in range(self.workers)))

    async def lane_round(self, lane: int, loop: asyncio.AbstractEventLoop) -> None:
        """One round over the lane's sessions that have input, on a worker thread."""
        ready = self.ready(lane)
        if not ready:
            return
        try:
            outcome = await loop.run_in_executor(self._threads[lane], self.work, ready, loop)
        except Exception as error:  # outside any one session: fail the lane's round
            outcome = Outcome(failed=dict.fromkeys(ready, error))
        for session, seconds in outcome.consumed.items():
            session.consumed(seconds)
        for session, failure in outcome.failed.items():  # a bug must not pass silently
            log.error("session failed", extra={"session": session.id}, exc_info=failure)
            session.fail(ProtocolError("internal", "internal error", INTERNAL))

    # --- worker threads -------------------------------------------------------------------------

    def work(self, share: Sequence[Session], loop: asyncio.AbstractEventLoop) -> Outcome:
        """Worker thread: feed, then step the share finals first, then the rest; each phase's
        messages go to the loop as soon as it ends. A session whose input or step raises is
        left out from there on (`Outcome.failed`); the others go on."""
        outcome = Outcome()
        fed: dict[Session, tuple[list[Input], float]] = {}
        for session in share:
            try:
                fed[session] = session.feed()
            except Exception as error:
                outcome.failed[session] = error
        started = time.perf_counter()
        for finals_only in (True, False):
            live = [session for session in fed if session not in outcome.failed]
            events = self._step_isolated(live, finals_only, outcome.failed)
            for session, made in events.items():
                self._deliver(session, made, fed[session][0], not finals_only, loop)
        audio_s = sum(seconds for _, seconds in fed.values())
        self.metrics.worked(time.perf_counter() - started, audio_s)
        outcome.consumed = {session: seconds for session, (_, seconds) in fed.items()}
        return outcome

    def _step_isolated(
        self,
        share: Sequence[Session],
        finals_only: bool,
        failed: dict[Session, BaseException],
    ) -> dict[Session, list[Event]]:
        """`_step` over the share; if it raises, each session is stepped alone, so that one
        session's fault (recorded in `failed`) costs the others nothing but a smaller batch.
        (A stream keeps every result it was handed before the fault, and what was due and not
        done stays due, so the retry finds it.)"""
        try:
            return self._step(share, finals_only)
        except Exception:
            events: dict[Session, list[Event]] = {}
            for session in share:
                try:
                    events.update(self._step([session], finals_only))
                except Exception as error:
                    failed[session] = error
            return events

    def _step(self, share: Sequence[Session], finals_only: bool) -> dict[Session, list[Event]]:
        """One batched step per engine over these sessions' streams; each one's new events."""
        groups: dict[Engine, list[Session]] = {}
        for session in share:
            groups.setdefault(session.engine, []).append(session)
        events: dict[Session, list[Event]] = {}
        for engine, sessions in groups.items():
            streams = [session.stream for session in sessions]
            updates, made = advance(engine, streams, finals_only=finals_only)
            if updates:
                self.metrics.batch.observe(len(streams))
            events.update(zip(sessions, made, strict=True))
        return events

    def _deliver(
        self,
        session: Session,
        events: list[Event],
        items: list[Input],
        last_phase: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """Turn one phase's events into the session's messages and post them to the loop."""
        for event in events:
            if isinstance(event, Final):
                self.metrics.finalisation.observe(max(0.0, event.wall_s - event.end_s))
        done = last_phase and session.stream.complete
        messages = session.messages(events, items, last_phase=last_phase, done=done)
        if messages or done:
            loop.call_soon_threadsafe(session.post, messages, done)
