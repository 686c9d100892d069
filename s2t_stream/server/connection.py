"""One websocket connection, handshake to close: its messages read under the limits, its session
formed when the protocol allows, and on a broken rule a coded error, then the close."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import NORMAL, TOO_BIG
from s2t_stream.server.gate import protocol_of
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.options import Limits
from s2t_stream.server.scheduler import Scheduler
from s2t_stream.server.sessions import (
    Engines,
    NativeSession,
    Peer,
    Session,
    VoskSession,
    native_start,
)

log = logging.getLogger("s2t_stream.server")


class Incoming:
    """A connection's client messages, one at a time, under the session-length, idle and
    message-size limits (each broken one raises its ProtocolError)."""

    def __init__(self, websocket: ServerConnection, limits: Limits) -> None:
        self.websocket = websocket
        self.limits = limits
        self.opened_at = time.monotonic()

    async def next(self) -> str | bytes:
        limits = self.limits
        if time.monotonic() - self.opened_at > limits.max_session_s:
            raise ProtocolError(
                "session_too_long", f"sessions last at most {limits.max_session_s:.0f} s"
            )
        try:
            message = await asyncio.wait_for(self.websocket.recv(), timeout=limits.idle_timeout_s)
        except TimeoutError:
            raise ProtocolError(
                "idle_timeout", f"no message for {limits.idle_timeout_s:.0f} s", NORMAL
            ) from None
        if len(message) > limits.max_message_bytes:
            raise ProtocolError(
                "too_large",
                f"messages are limited to {limits.max_message_bytes} bytes, got {len(message)}",
                TOO_BIG,
            )
        return message


class Connections:
    """Every open connection (counted by the gate, closed by the drain), and `handle`, which
    serves one on the event loop."""

    def __init__(
        self, limits: Limits, metrics: Metrics, engines: Engines, scheduler: Scheduler
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self.engines = engines
        self.scheduler = scheduler
        self.open: set[Peer] = set()

    async def handle(self, websocket: ServerConnection) -> None:
        """The websocket handler: converse, then close with the error if a rule was broken."""
        assert websocket.request is not None  # set by the handshake, before any handler runs
        protocol = protocol_of(websocket.request.path)
        peer = Peer(websocket)
        self.open.add(peer)
        self.metrics.sessions.set(len(self.open))
        self.metrics.opened.labels(protocol).inc()
        log.info("session opened", extra={"session": peer.id, "protocol": protocol})
        writer = asyncio.create_task(peer.write())
        reason = "client closed"
        try:
            await self._converse(peer, protocol)
            reason = "finished"
        except ProtocolError as error:
            reason = error.code
            self.metrics.errors.labels(error.code).inc()
            await peer.outbox.put(error.to_json())
            await peer.outbox.put(None)
            await writer
            await websocket.close(error.close_code, error.message[:120])
        except ConnectionClosed:
            reason = "disconnected"
        finally:
            await peer.outbox.put(None)
            with contextlib.suppress(ConnectionClosed):
                await writer
            self.open.discard(peer)
            self.metrics.sessions.set(len(self.open))
            log.info("session closed", extra={"session": peer.id, "reason": reason})

    async def _converse(self, peer: Peer, protocol: str) -> None:
        """Form the session, read the client's input into it, wait for the last reply."""
        incoming = Incoming(peer.websocket, self.limits)
        if protocol == NativeSession.protocol:
            session: Session = await self._native(peer, incoming)
        else:  # Vosk clients may skip the config message: 16 kHz
            session = VoskSession(peer, self.engines.get(None), self.limits.max_buffered_s)
        self.scheduler.add(session)
        try:
            await self._read(session, incoming)
            await session.finished.wait()
        finally:
            self.scheduler.discard(session)

    async def _native(self, peer: Peer, incoming: Incoming) -> NativeSession:
        """Read up to the client's `start` (keep-alives may come first); answer `ready`."""
        while (start := native_start(await incoming.next())) is None:
            pass
        engine = self.engines.get(start.tgt_lang)
        session = NativeSession(peer, engine, start, self.limits.max_buffered_s)
        session.post([session.ready()], done=False)
        return session

    async def _read(self, session: Session, incoming: Incoming) -> None:
        """Hand each client message to the session and wake the scheduler, until the input
        ends; while the session holds too much unprocessed audio, stop reading."""
        while True:
            ended = session.receive(await incoming.next())
            self.scheduler.wake()
            if ended:
                return
            await session.room()

    async def close_all(self, code: int, reason: str) -> None:
        """Stop every connection's writer and close it, one after the other."""
        for peer in list(self.open):
            with contextlib.suppress(ConnectionClosed):
                await peer.outbox.put(None)
                await peer.websocket.close(code, reason)
