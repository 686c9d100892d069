"""One websocket connection, handshake to close: its messages read under the limits, its session
formed when the protocol allows and released however it ends, and on a broken rule a coded
error, then the close. `Link` adapts an ASGI websocket (Starlette's) to what the connection needs:
messages in, text out, the close, and the transport's hooks (server/transport.py) when it runs
on uvicorn with `StreamProtocol`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import GOING_AWAY, NORMAL, TOO_BIG, TRY_AGAIN_LATER
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.options import CLOSE_TIMEOUT_S, Limits
from s2t_stream.server.scheduler import Scheduler
from s2t_stream.server.sessions import (
    Engines,
    NativeSession,
    Peer,
    Session,
    VoskSession,
    native_start,
)
from s2t_stream.server.transport import HOOKS, NOT_UTF8_KEY, Hooks, too_large

log = logging.getLogger("s2t_stream.server")


class Closed(Exception):
    """The client's side of the connection ended: ASGI's close `code` and `reason`; `by_server`
    when the transport closed it on a broken rule (`code` 1009: too large). The transport's
    reasons: "half_closed" (the client shut its sending side), "not_reading" (dropped)."""

    def __init__(self, code: int | None, reason: str = "", by_server: bool = False) -> None:
        super().__init__(f"connection closed ({code} {reason})".strip())
        self.code = code
        self.reason = reason
        self.by_server = by_server


class Link:
    """An accepted ASGI websocket as a connection uses it. `recv` raises Closed once the client's
    side has ended; `send` raises Closed once the connection is gone or closing."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        extension = websocket.scope.get("extensions", {}).get(HOOKS, {})
        self.hooks: Hooks | None = extension.get("hooks")
        self.lost = self.hooks.lost if self.hooks is not None else asyncio.Event()
        self.closed: Closed | None = None  # the client's side ended (as recv saw it)
        self.close_sent = False

    @property
    def transport_closing(self) -> bool:
        """Whether the transport closes the connection itself (a broken rule, a half-close)."""
        return self.hooks is not None and self.hooks.closing

    async def recv(self) -> str | bytes:
        """The client's next message (text or binary)."""
        if self.closed is not None:
            raise self.closed
        message = await self.websocket.receive()
        if message.get(NOT_UTF8_KEY) and self.hooks is not None:  # refused in its turn
            self.hooks.refuse_text()
            message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            code, reason = message.get("code"), message.get("reason") or ""
            self.closed = Closed(code, reason, bool(message.get("by_server")))
            raise self.closed
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def send(self, message: str) -> None:
        """Send one text message (waits while the transport's buffer is full)."""
        if self.close_sent or self.lost.is_set() or self.transport_closing:
            raise Closed(None, "closed")
        try:
            await self.websocket.send_text(message)
        except (WebSocketDisconnect, OSError) as error:
            raise Closed(1006, "lost") from error
        except RuntimeError as error:  # the ASGI server's: the transport has begun to close
            raise Closed(None, "closed") from error

    async def close(self, code: int, reason: str) -> None:
        """Close with `code`, and wait until the connection is gone: at most CLOSE_TIMEOUT_S in
        all (then it is dropped). Does nothing more once closing."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_TIMEOUT_S
        if not self.close_sent and not self.lost.is_set() and not self.transport_closing:
            self.close_sent = True  # the close waits while the buffer is full: bounded
            # RuntimeError: the ASGI server's, when its transport began to close meanwhile
            with contextlib.suppress(WebSocketDisconnect, OSError, TimeoutError, RuntimeError):
                await asyncio.wait_for(self.websocket.close(code, reason), CLOSE_TIMEOUT_S)
        if self.hooks is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.lost.wait(), max(0.0, deadline - loop.time()))
        if not self.lost.is_set():
            self.hooks.abort()

    async def wait_closed(self) -> None:
        """Wait until the connection is gone (for ever without the transport's hooks)."""
        await self.lost.wait()


class Receiver(Protocol):
    async def recv(self) -> str | bytes: ...


class Incoming:
    """A connection's client messages, one at a time, under the session-length, idle and
    message-size limits (each broken one raises its ProtocolError); Closed when the client's
    side has ended (after a half-close: once the messages sent before it are read)."""

    def __init__(self, websocket: Receiver, limits: Limits) -> None:
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
        size = len(message.encode()) if isinstance(message, str) else len(message)
        if size > limits.max_message_bytes:
            raise too_large(size, limits.max_message_bytes)
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
        self.draining = False

    async def handle(self, link: Link, protocol: str) -> None:
        """Serve an accepted websocket speaking `protocol` ("native" or "vosk"): converse, then
        close, with the error if a rule was broken (or the session failed). Whatever happens,
        the session is released and the connection is gone within the flush and close
        timeouts."""
        peer = Peer(link)
        self.open.add(peer)
        self.metrics.sessions.set(len(self.open))
        self.metrics.opened.labels(protocol).inc()
        log.info("session opened", extra={"session": peer.id, "protocol": protocol})
        writer = asyncio.create_task(peer.write())
        code, reason = NORMAL, "finished"
        try:
            await self._converse(peer, link, protocol)
            if self.draining:
                code = GOING_AWAY
        except ProtocolError as error:
            code, reason = error.close_code, error.code
            self.metrics.errors.labels(error.code).inc()
            peer.outbox.put(error.to_json())
        except Closed as closed:
            reason = self._closed(closed)
        finally:
            peer.outbox.close()
            await self._flush(writer)
            await link.close(code, reason[:120])
            self.open.discard(peer)
            self.metrics.sessions.set(len(self.open))
            log.info("session closed", extra={"session": peer.id, "reason": reason})

    def _closed(self, closed: Closed) -> str:
        """Why a connection ended when its client's side did (counted when a rule was broken:
        a message over the transport's limit, a client that does not read)."""
        if closed.by_server and closed.code == TOO_BIG:
            reason = "too_large"
        elif closed.reason == "not_reading":
            reason = "not_reading"
        else:
            return "disconnected"
        self.metrics.errors.labels(reason).inc()
        return reason

    async def _flush(self, writer: asyncio.Task[None]) -> None:
        """Let the writer send what is queued, for at most `idle_timeout_s` (a client that
        does not read by then is not reading)."""
        with contextlib.suppress(Closed, TimeoutError):
            await asyncio.wait_for(asyncio.shield(writer), self.limits.idle_timeout_s)
        writer.cancel()
        with contextlib.suppress(Closed, asyncio.CancelledError):
            await writer

    async def _converse(self, peer: Peer, link: Link, protocol: str) -> None:
        """Form the session, read the client's input into it until its last reply is queued;
        raise the session's error if it failed. The session is released however this ends."""
        incoming = Incoming(link, self.limits)
        if protocol == NativeSession.protocol:
            session: Session = await self._native(peer, incoming)
        else:  # Vosk clients may skip the config message: 16 kHz
            self._refuse_when_draining()
            session = VoskSession(peer, self.engines.get(None), self.limits)
        peer.session = session
        self.scheduler.add(session)
        try:
            await self._until_finished(session, incoming, link)
        finally:
            self.scheduler.discard(session)
            session.release()
        if session.error is not None:
            raise session.error

    async def _until_finished(self, session: Session, incoming: Incoming, link: Link) -> None:
        """Read the client into the session until the session is finished (its last reply
        queued, or failed). A broken rule or a lost connection raises out of here."""
        reading = asyncio.create_task(self._read(session, incoming))
        finished = asyncio.create_task(session.finished.wait())
        closed = asyncio.create_task(link.wait_closed())
        pending = {reading, finished, closed}
        try:
            while not finished.done():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if reading in done:
                    reading.result()  # raises what broke the reading
                if closed in done and not finished.done():
                    raise link.closed or Closed(1006, "lost")
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

    async def close_all(self, code: int, reason: str) -> None:
        """Close every connection at once, for at most CLOSE_TIMEOUT_S; drop the rest."""
        peers = list(self.open)
        for peer in peers:
            peer.outbox.close()
        await asyncio.gather(*(link_of(peer).close(code, reason) for peer in peers))


def link_of(peer: Peer) -> Link:
    """A peer's websocket (a Link: the connections made it)."""
    assert isinstance(peer.websocket, Link)
    return peer.websocket
