"""The scheduler: runs the model for every session that has new input, in rounds, on worker
threads, and hands the resulting messages back to the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import INTERNAL
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.sessions import Input, Session
from s2t_stream.streaming.drive import advance
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Final

log = logging.getLogger("s2t_stream.server")


class Scheduler:
    """Runs the sessions' streams on `workers` threads, in rounds.

    A round: `wake()` (called whenever a session queues input) starts one; the sessions with
    queued input are split over the workers, round-robin. Each worker feeds its sessions' queued
    input into their streams (all of it; a Vosk session one message, so that each message gets
    its own reply), then steps them together, one batched model call per engine, in two phases:
    first only the updates that close segments (`finals_only`), whose messages go to the event
    loop at once, then everything else that is due (the partials, and the replies of a protocol
    that answers once per message). A round ends when every worker is done; if input arrived
    meanwhile, the next round starts at once. A worker that raises fails its sessions with an
    `internal` error; the other workers' sessions go on.

    Back-pressure: a session's reader stops reading from its client while more than
    `max_buffered_s` of its audio waits (`Session.room`); after each round the scheduler
    subtracts what the model took (`Session.consumed`), which lets the reader go on.

    Threads (the server's side of the engine's thread-safety contract):
    - The event loop alone creates engines (`Engines`) and sessions, with their streams, and
      alone touches the session set, `buffered_s`, the outbox and the asyncio events; it only
      appends to a session's `inbox`.
    - A worker touches only its share of the sessions, for one round: it pops their `inbox`
      (a deque: appends and pops are atomic), drives their streams (each stream is in one share,
      and rounds do not overlap, so one thread at a time drives it), updates a Vosk session's
      replies, and calls `Engine.step`, concurrently with the other workers on disjoint streams;
      it reads the engines and never creates one. Messages go back through
      `loop.call_soon_threadsafe`; the metrics are thread-safe."""

    def __init__(self, workers: int, metrics: Metrics) -> None:
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers}")
        self.workers = workers
        self.metrics = metrics
        self.sessions: set[Session] = set()
        self._wake = asyncio.Event()

    def add(self, session: Session) -> None:
        self.sessions.add(session)

    def discard(self, session: Session) -> None:
        self.sessions.discard(session)

    def wake(self) -> None:
        """New input is queued: run a round (now, or after the current one)."""
        self._wake.set()

    async def run(self) -> None:
        """Forever: wait for input, run a round."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.round(loop)
            if any(session.inbox for session in self.sessions):
                self._wake.set()

    async def round(self, loop: asyncio.AbstractEventLoop) -> None:
        """One round over the sessions that have input (see the class)."""
        ready = [session for session in self.sessions if session.inbox]
        if not ready:
            return
        shares = [ready[i :: self.workers] for i in range(min(self.workers, len(ready)))]
        outcomes = await asyncio.gather(
            *(asyncio.to_thread(self.work, share, loop) for share in shares),
            return_exceptions=True,
        )
        for share, outcome in zip(shares, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # a bug must not pass silently
                log.error("model step failed", exc_info=outcome)
                for session in share:
                    session.fail(ProtocolError("internal", "internal error", INTERNAL))
                continue
            for session, seconds in outcome.items():
                session.consumed(seconds)

    # --- worker threads -------------------------------------------------------------------------

    def work(
        self, share: Sequence[Session], loop: asyncio.AbstractEventLoop
    ) -> dict[Session, float]:
        """Worker thread: feed, then step the share finals first, then the rest; each phase's
        messages go to the loop as soon as it ends. Returns the audio seconds fed per session."""
        fed = {session: session.feed() for session in share}
        started = time.perf_counter()
        for finals_only in (True, False):
            events = self._step(share, finals_only)
            for session in share:
                items = fed[session][0]
                self._deliver(session, events[session], items, not finals_only, loop)
        audio_s = sum(seconds for _, seconds in fed.values())
        self.metrics.worked(time.perf_counter() - started, audio_s)
        return {session: seconds for session, (_, seconds) in fed.items()}

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
