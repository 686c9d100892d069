"""The websocket transport under the ASGI app: uvicorn's websocket protocol (on websockets'
sans-I/O core) with the rules a streaming server needs of its connections, and `Hooks`, what the
app may ask of a connection beyond ASGI (`scope["extensions"][HOOKS]`).

uvicorn's own protocol (`ws="websockets-sansio"`) answers each broken rule in a way that would
cost other clients or lose data here; `StreamProtocol` changes five things:

- A message over the size limit gets its `too_large` error before the 1009 close, as every
  other broken rule is answered (websockets refuses the frame from its header, unread, and
  would close with the code alone).
- A client's half-close (TCP FIN after its last message, as `shutdown(SHUT_WR)` or `nc -N` do)
  keeps the connection open for writing: the app reads the messages that came before it, then a
  `websocket.disconnect` marked `half_closed`; after the client's `end` the remaining finals
  still go out. The server's close then ends the connection after them, without a close frame
  (the client cannot answer the closing handshake).
- A client that makes the server owe it more than MAX_UNSENT_BYTES without reading (a ping
  flood: every ping gets a pong) is dropped; the app hears `websocket.disconnect` marked
  `not_reading`.
- A text message that is not UTF-8 closes with 1007 without an error in the log (one client's
  garbage is not a server fault), in its turn: once the app has read the messages before it
  (`Hooks.refuse_text()`), so that an earlier message's refusal is never cut short by it;
  the client's messages after it are dropped.
- A connection the server has closed is dropped after CLOSE_TIMEOUT_S if the client has not
  answered (`transport.close()` would wait for ever on a client that does not read)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode
from websockets.protocol import State
from websockets.server import ServerProtocol

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import TOO_BIG
from s2t_stream.server.options import CLOSE_TIMEOUT_S, MAX_UNSENT_BYTES

log = logging.getLogger("s2t_stream.server")

HOOKS = "s2t_stream.transport"  # the scope extension that holds a connection's `Hooks`
SIZE_SLACK = 1024  # the transport's own limit is this much above the app's: the app answers first
INVALID_UTF8 = 1007
NOT_UTF8_KEY = "s2t_stream.not_utf8"  # in a receive event: the text message was not UTF-8


def too_large(size: int | None, limit: int) -> ProtocolError:
    """The error for a message of `size` bytes (None: unknown, refused from its header) over
    `limit`."""
    got = f", got {size}" if size is not None else ""
    return ProtocolError("too_large", f"messages are limited to {limit} bytes{got}", TOO_BIG)


class SizedProtocol(ServerProtocol):
    """websockets' server protocol, answering a message over its size limit with the
    `too_large` error message before the 1009 close."""

    def fail(self, code: int, reason: str = "") -> None:
        if code == CloseCode.MESSAGE_TOO_BIG and self.state is State.OPEN:
            limit = (self.max_message_size or 0) - SIZE_SLACK
            self.send_text(json.dumps(too_large(None, limit).to_json()).encode())
        super().fail(code, reason)


@dataclass
class Hooks:
    """What the app may ask of its connection's transport: `lost` is set once the connection is
    gone (whatever the app is doing), `closing` once nothing more can be sent, `abort()` drops
    it at once."""

    protocol: StreamProtocol
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def closing(self) -> bool:
        """Whether the connection closes: nothing more can be sent."""
        return self.protocol.close_sent or self.protocol.transport.is_closing()

    def abort(self) -> None:
        self.protocol.transport.abort()

    def refuse_text(self) -> None:
        """Close with 1007: the app has reached a text message that was not UTF-8 (a receive
        event with NOT_UTF8_KEY); the app then hears `websocket.disconnect`."""
        self.protocol.refuse_text()


class StreamProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websocket protocol with the server's transport rules (see the module).
    Pass the class as uvicorn's `ws`; configure `ws_max_size` = the app's limit + SIZE_SLACK."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.__class__ = SizedProtocol  # a subclass without state of its own
        self.close_timeout = CLOSE_TIMEOUT_S
        self.hooks = Hooks(self)
        self.half_closed = False
        self.failed = False  # on the client's data: see handle_parser_exception
        self.refusing = False  # a text message was not UTF-8: later messages are dropped

    async def run_asgi(self) -> None:
        extensions = self.scope.get("extensions") or {}
        self.scope["extensions"] = {**extensions, HOOKS: {"hooks": self.hooks}}
        await super().run_asgi()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.hooks.lost.set()

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio's contract
        """The client half-closed: keep the transport open for writing while the websocket is
        open (None, the default, lets asyncio close it)."""
        if not self.handshake_complete or self.close_sent or self.conn.state is not State.OPEN:
            return None
        if not self.half_closed:
            self.half_closed = True
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006,
                                   "reason": "half_closed"})  # fmt: skip
        return True

    def handle_ping(self) -> None:
        super().handle_ping()
        if self.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            log.warning("client not reading: dropped")
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006,
                                   "reason": "not_reading"})  # fmt: skip
            self.close_sent = True
            self.transport.abort()

    def send_receive_event_to_app(self) -> None:
        if self.refusing:
            self.frames = []
            return
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.refusing = True
                marker: Any = {"type": "websocket.receive", NOT_UTF8_KEY: True}  # an extra key
                self.queue.put_nowait(marker)
                return
        super().send_receive_event_to_app()

    def refuse_text(self) -> None:
        if not self.close_sent and not self.failed:
            self.conn.send_close(INVALID_UTF8, "text messages must be UTF-8")
            self.handle_parser_exception()

    def handle_parser_exception(self) -> None:
        """The connection failed on the client's data (too large, not UTF-8, not websocket):
        the app hears `websocket.disconnect` with the code sent and `by_server`; the close
        frame goes out, then the end of the server's data, and what the client still sends is
        read and dropped until it closes (a socket closed with unread data resets the
        connection, and the client could lose the close and the error before it), for at most
        the close timeout."""
        assert self.conn.close_sent is not None
        close = self.conn.close_sent
        event: Any = {"type": "websocket.disconnect", "code": close.code, "reason": close.reason}
        event["by_server"] = True  # an extra key: the transport's
        self.queue.put_nowait(event)
        self.failed = self.close_sent = True
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    def data_received(self, data: bytes) -> None:
        if not self.failed:  # after a failure the client's data is dropped until it closes
            super().data_received(data)

    async def send(self, message: ASGISendEvent) -> None:
        if message["type"] == "websocket.close" and self.half_closed and not self.close_sent:
            self.end_after_data()
            return
        await super().send(message)
        if message["type"] == "websocket.close" and self.close_timer is not None:
            self.close_timer.cancel()  # uvicorn's would `close()`: that waits on a non-reader
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    def end_after_data(self) -> None:
        """The server's close after the client's half-close: the connection ends once the data
        is sent, with no close frame (the client cannot answer one, and a client that fails to
        echo it may drop the messages received with it)."""
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
        self.transport.close()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)
