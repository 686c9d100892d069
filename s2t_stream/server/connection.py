"""One websocket connection, handshake to close: its messages read under the limits, its session
formed when the protocol allows and released however it ends, and on a broken rule a coded
error, then the close."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State
from websockets.server import ServerProtocol

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import GOING_AWAY, NORMAL, TOO_BIG, TRY_AGAIN_LATER
from s2t_stream.server.gate import protocol_of
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.options import CLOSE_TIMEOUT_S, MAX_UNSENT_BYTES, Limits
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


class SizedProtocol(ServerProtocol):
    """websockets' server protocol, answering a message over its size limit as every other
    broken rule is answered: the `too_large` error message before the 1009 close (websockets
    closes with the code alone, having refused the frame from its header, unread)."""

    def fail(self, code: int, reason: str = "") -> None:
        if code == CloseCode.MESSAGE_TOO_BIG and self.state is State.OPEN:
            limit = self.max_message_size or 0
            self.send_text(json.dumps(too_large(None, limit - SIZE_SLACK).to_json()).encode())
        super().fail(code, reason)


class Connection(ServerConnection):
    """The server's websocket connection (websockets' own, with two changes):

    - Messages over the size limit get their `too_large` error (`SizedProtocol`).
    - It still sends after a client half-closes (TCP FIN after its last message, as
      `shutdown(SHUT_WR)` or `nc -N` do): the end of the client's data is held back and `eof`
      set, so that the reader takes the messages that came before it and then decides — after
      the client's `end` the stream's remaining finals and `end` still go out; without one
      the client is gone. `release_eof()` then closes as websockets would have at once (RFC
      6455 §7.1.1 expects a closing handshake before the TCP close)."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        protocol.__class__ = SizedProtocol  # a subclass without state of its own
        super().__init__(protocol, *args, **kwargs)
        self.eof = asyncio.Event()  # the client half-closed; held back until `release_eof`
        self.eof_released = False

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's contract
        if self.protocol.state is State.OPEN:
            self.eof.set()
            return True  # keep the transport open for writing
        return super().eof_received()

    def release_eof(self) -> None:
        if self.eof.is_set() and not self.eof_released:
            self.eof_released = True
            super().eof_received()
            self.transport.close()  # what asyncio does when eof_received() returns falsy


class Incoming:
    """A connection's client messages, one at a time, under the session-length, idle and
    message-size limits (each broken one raises its ProtocolError). After the client's
    half-close (`eof`), the messages it sent before it, then ConnectionClosed."""

    def __init__(
        self, websocket: ServerConnection, limits: Limits, eof: asyncio.Event | None = None
    ) -> None:
        self.websocket = websocket
        self.limits = limits
        self.eof = eof
        self.opened_at = time.monotonic()

    async def next(self) -> str | bytes:
        limits = self.limits
        if time.monotonic() - self.opened_at > limits.max_session_s:
            raise ProtocolError(
                "session_too_long", f"sessions last at most {limits.max_session_s:.0f} s"
            )
        try:
            message = await asyncio.wait_for(self._receive(), timeout=limits.idle_timeout_s)
        except TimeoutError:
            raise ProtocolError(
                "idle_timeout", f"no message for {limits.idle_timeout_s:.0f} s", NORMAL
            ) from None
        size = len(message.encode()) if isinstance(message, str) else len(message)
        if size > limits.max_message_bytes:
            raise too_large(size, limits.max_message_bytes)
        return message

    async def _receive(self) -> str | bytes:
        if self.eof is None:
            return await self.websocket.recv()
        receiving = asyncio.ensure_future(self.websocket.recv())
        ended = asyncio.ensure_future(self.eof.wait())
        try:
            await asyncio.wait({receiving, ended}, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():  # every message before the EOF was queued before it:
                await asyncio.wait({receiving}, timeout=EOF_GRACE_S)  # one left comes at once
            if receiving.done():
                return receiving.result()
            raise ConnectionClosed(None, None)
        finally:
            receiving.cancel()  # websockets' recv() may be cancelled without losing data
            ended.cancel()


EOF_GRACE_S = 0.05  # after a half-close, how long a message already queued may take to come
SIZE_SLACK = 1024  # websockets' own limit is this much above ours: ours answers first


def too_large(size: int | None, limit: int) -> ProtocolError:
    got = f", got {size}" if size is not None else ""
    return ProtocolError("too_large", f"messages are limited to {limit} bytes{got}", TOO_BIG)


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
        self.draining = False

    async def handle(self, websocket: ServerConnection) -> None:
        """The websocket handler: converse, then close, with the error if a rule was broken
        (or the session failed). Whatever happens, the session is released and the connection
        is gone within the flush and close timeouts."""
        assert websocket.request is not None  # set by the handshake, before any handler runs
        protocol = protocol_of(websocket.request.path)
        peer = Peer(websocket)
        self.open.add(peer)
        self.metrics.sessions.set(len(self.open))
        self.metrics.opened.labels(protocol).inc()
        log.info("session opened", extra={"session": peer.id, "protocol": protocol})
        writer = asyncio.create_task(peer.write())
        code, reason = NORMAL, "finished"
        try:
            await self._converse(peer, protocol)
            if self.draining:
                code = GOING_AWAY
        except ProtocolError as error:
            code, reason = error.close_code, error.code
            self.metrics.errors.labels(error.code).inc()
            peer.outbox.put(error.to_json())
        except ConnectionClosed as closed:
            reason = "disconnected"
            if closed.sent is not None and closed.sent.code == TOO_BIG:  # SizedProtocol's
                reason = "too_large"
                self.metrics.errors.labels(reason).inc()
        finally:
            peer.outbox.close()
            await self._flush(peer, writer)
            await self._close(peer, code, reason)
            self.open.discard(peer)
            self.metrics.sessions.set(len(self.open))
            log.info("session closed", extra={"session": peer.id, "reason": reason})

    async def _flush(self, peer: Peer, writer: asyncio.Task[None]) -> None:
        """Let the writer send what is queued, for at most `idle_timeout_s` (a client that
        does not read by then is not reading)."""
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await asyncio.wait_for(asyncio.shield(writer), self.limits.idle_timeout_s)
        writer.cancel()
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            await writer

    async def _close(self, peer: Peer, code: int, reason: str) -> None:
        """Close the connection, for at most CLOSE_TIMEOUT_S (then drop it)."""
        websocket = peer.websocket
        if isinstance(websocket, Connection) and websocket.eof.is_set():
            websocket.release_eof()  # the client has shut its side: no closing handshake
            return
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await asyncio.wait_for(websocket.close(code, reason[:120]), CLOSE_TIMEOUT_S)
        if websocket.state is not State.CLOSED:
            websocket.transport.abort()

    async def _converse(self, peer: Peer, protocol: str) -> None:
        """Form the session, read the client's input into it until its last reply is queued;
        raise the session's error if it failed. The session is released however this ends."""
        eof = peer.websocket.eof if isinstance(peer.websocket, Connection) else None
        incoming = Incoming(peer.websocket, self.limits, eof)
        if protocol == NativeSession.protocol:
            session: Session = await self._native(peer, incoming)
        else:  # Vosk clients may skip the config message: 16 kHz
            self._refuse_when_draining()
            session = VoskSession(peer, self.engines.get(None), self.limits)
        peer.session = session
        self.scheduler.add(session)
        try:
            await self._until_finished(session, incoming)
        finally:
            self.scheduler.discard(session)
            session.release()
        if session.error is not None:
            raise session.error

    async def _until_finished(self, session: Session, incoming: Incoming) -> None:
        """Read the client into the session until the session is finished (its last reply
        queued, or failed). A broken rule or a lost connection raises out of here."""
        reading = asyncio.create_task(self._read(session, incoming))
        finished = asyncio.create_task(session.finished.wait())
        closed = asyncio.create_task(session.websocket.wait_closed())
        pending = {reading, finished, closed}
        try:
            while not finished.done():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if reading in done:
                    reading.result()  # raises what broke the reading
                if closed in done and not finished.done():
                    raise session.websocket.protocol.close_exc  # closed: with its codes
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)  # settled and retrieved

    async def _native(self, peer: Peer, incoming: Incoming) -> NativeSession:
        """Read up to the client's `start` (keep-alives may come first); answer `ready`."""
        while (start := native_start(await incoming.next())) is None:
            pass
        self._refuse_when_draining()
        translator = self.engines.translator(start)  # with `mt`, the model only transcribes
        engine = self.engines.get(None if translator is not None else start.tgt_lang)
        session = NativeSession(peer, engine, start, self.limits, translator)
        session.post([session.ready()], done=False)
        return session

    def _refuse_when_draining(self) -> None:
        """No new session once the drain has begun (a connection let in just before it)."""
        if self.draining:
            raise ProtocolError(
                "shutting_down", "the server is shutting down; retry later", TRY_AGAIN_LATER
            )

    async def _read(self, session: Session, incoming: Incoming) -> None:
        """Hand each client message to the session and wake the scheduler, until the input
        ends; while the session's backlog is full, stop reading (back-pressure)."""
        while not session.finished.is_set():
            ended = session.receive(await incoming.next())
            self.scheduler.wake()
            if ended:
                return
            await session.room()

    async def watch(self, period_s: float = 1.0) -> None:
        """Forever: drop connections that owe a client more than MAX_UNSENT_BYTES (a client
        that sends without reading, e.g. a ping flood whose pongs would pile up here)."""
        while True:
            await asyncio.sleep(period_s)
            for peer in list(self.open):
                transport = peer.websocket.transport
                if transport is not None and transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
                    log.warning("client not reading: dropped", extra={"session": peer.id})
                    self.metrics.errors.labels("not_reading").inc()
                    transport.abort()

    async def close_all(self, code: int, reason: str) -> None:
        """Close every connection at once, for at most CLOSE_TIMEOUT_S; drop the rest."""
        peers = list(self.open)
        for peer in peers:
            peer.outbox.close()
        await asyncio.gather(*(self._close(peer, code, reason) for peer in peers))
