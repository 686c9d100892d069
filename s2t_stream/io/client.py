"""The native-protocol client (docs/protocol.md), blocking: one session with a running
`s2t-stream serve`, driven like a local engine."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from s2t_stream.errors import ProtocolError, S2TError
from s2t_stream.io.protocol import (
    End,
    Ready,
    ServerError,
    Start,
    control_message,
    parse_server_message,
    start_message,
)
from s2t_stream.model.audio import to_pcm16
from s2t_stream.streaming.events import Event


class NativeClient:
    """A session: connects, sends `start`, waits for `ready` (raises S2TError if the server is
    unreachable or refuses). Audio goes as 16-bit PCM at `sample_rate` (the server resamples).

    It has the `Captioner` verbs — `push` audio and get the events that arrived meanwhile,
    `end` and get the rest — so the CLI's `client` command and the desktop app's remote backend
    drive it exactly as they drive a local `StreamDriver`. Messages are built and parsed by the
    protocol's client half; this class only moves them (websockets' sync client, whose own
    thread answers the server's pings while the caller is busy)."""

    def __init__(
        self,
        url: str,
        sample_rate: int,
        *,
        token: str | None = None,
        tgt_lang: str | None = None,
        mt: str | None = None,
        partials: bool = True,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            self.websocket: ClientConnection = connect(
                url, additional_headers=headers, max_size=None, open_timeout=timeout_s
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            raise S2TError(f"cannot connect to {url}: {error}") from None
        start = Start(  # with `mt`, the server's model transcribes and `mt` translates finals
            sample_rate=sample_rate,
            task="translate" if tgt_lang and not mt else "transcribe",
            tgt_lang=tgt_lang,
            partials=partials,
            mt=mt,
        )
        self.websocket.send(start_message(start))
        self.ended: End | None = None
        first = self._receive(timeout_s)
        if not isinstance(first, Ready):
            self.websocket.close()
            raise S2TError(f"{url}: expected a 'ready' message, got {first!r}")
        self.ready = first

    def push(self, samples: np.ndarray) -> list[Event]:
        """Send mono float samples in [-1, 1]; return the events that arrived so far."""
        if len(samples):
            self._send(to_pcm16(samples))
        return self._events(timeout_s=0.0)

    def finalize(self) -> list[Event]:
        """Ask for the current segment's final now; return the events that arrived so far."""
        self._send(control_message("finalize"))
        return self._events(timeout_s=0.0)

    def end(self) -> list[Event]:
        """End of audio: every remaining event, up to the server's `end`; then close."""
        self._send(control_message("end"))
        events = self._events(timeout_s=self.timeout_s, until_end=True)
        self.close()
        return events

    def close(self) -> None:
        self.websocket.close()

    def __enter__(self) -> NativeClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, message: str | bytes) -> None:
        try:
            self.websocket.send(message)
        except ConnectionClosed as closed:
            raise S2TError(f"{self.url}: the server closed the session ({closed})") from None

    def _receive(self, timeout_s: float) -> Any:
        """The next server message (None if none came within `timeout_s`)."""
        try:
            raw = self.websocket.recv(timeout=timeout_s)
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            if self.ended is not None:
                return None
            raise S2TError(f"{self.url}: the server closed the session ({closed})") from None
        try:
            message = parse_server_message(raw)
        except ProtocolError as error:
            raise S2TError(f"{self.url}: {error}") from None
        if isinstance(message, ServerError):
            raise S2TError(f"server error {message.code}: {message.message}")
        return message

    def _events(self, timeout_s: float, until_end: bool = False) -> list[Event]:
        """Events waiting now (`timeout_s` 0) or, `until_end`, up to the `end` message."""
        events: list[Event] = []
        while self.ended is None:
            message = self._receive(timeout_s)
            if message is None:
                if until_end:
                    raise S2TError(f"{self.url}: no 'end' within {timeout_s:g} s")
                break
            if isinstance(message, End):
                self.ended = message
            elif not isinstance(message, Ready):
                events.append(message)
        return events
