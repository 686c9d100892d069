"""The native-protocol client (docs/protocol.md), blocking: one stream with a running
`s2t-stream serve`, driven like a local engine, carried across sessions when one is lost."""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from s2t_stream.errors import ProtocolError, S2TError, Unauthorized
from s2t_stream.io.protocol import (
    Draining,
    End,
    Ready,
    ServerError,
    Start,
    control_message,
    parse_server_message,
    start_message,
)
from s2t_stream.io.resume import Resumption
from s2t_stream.model.audio import to_pcm16
from s2t_stream.streaming.events import Event

log = logging.getLogger(__name__)
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)  # waits before reconnection attempts (the last repeats)
RESEND_S = 0.5  # the kept audio goes to a new session in messages of this length


class SessionLost(Exception):
    """The session ended before the stream did (connection dropped, server drained)."""


def redact_token(url: str) -> str:
    """`url` with the value of a `token` query parameter replaced by "***" (for messages).

    >>> redact_token("ws://host:8000/ws?token=s3cret&lang=en")
    'ws://host:8000/ws?token=%2A%2A%2A&lang=en'
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name == "token" for name, _ in query):
        return url
    hidden = [(name, "***" if name == "token" else value) for name, value in query]
    return urlunsplit(parts._replace(query=urlencode(hidden)))


class NativeClient:
    """A stream over the native protocol: connects, sends `start`, waits for `ready` (raises
    S2TError if the server is unreachable or refuses; Unauthorized when it wants a token and
    was given none or another: `token`, or `?token=` in `url`). Audio goes as 16-bit PCM at
    `sample_rate` (the server resamples).

    It has the `Captioner` verbs — `push` audio and get the events that arrived meanwhile,
    `end` and get the rest — so the CLI's `client` command and the desktop app's remote backend
    drive it exactly as they drive a local `StreamDriver`. Messages are built and parsed by the
    protocol's client half; this class only moves them (websockets' sync client, whose own
    thread answers the server's pings while the caller is busy).

    With `reconnects` > 0, a session lost before the stream's end (the connection drops, or the
    server drains: `draining`) is replaced by a new one, up to that many times in a row with
    backoff (BACKOFF_S), and the new session first hears the audio sent since the last final
    (`io.resume`): no word is lost or repeated, and times and segment ids run on."""

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
        reconnects: int = 0,
    ) -> None:
        self.url = url
        self.shown_url = redact_token(url)  # what messages print: never the token
        self.timeout_s = timeout_s
        self.reconnects = reconnects
        self.headers = {"Authorization": f"Bearer {token}"} if token else None
        self.start = Start(  # with `mt`, the server's model transcribes and `mt` translates finals
            sample_rate=sample_rate,
            task="translate" if tgt_lang and not mt else "transcribe",
            tgt_lang=tgt_lang,
            partials=partials,
            mt=mt,
        )
        self.resumption = Resumption(sample_rate)
        self.ending = False  # our `end` is sent
        self.ended: End | None = None
        self.withholding = False  # after `draining`: this session's events may be cut short
        self.ready = self._open()

    def push(self, samples: np.ndarray) -> list[Event]:
        """Send mono float samples in [-1, 1]; return the events that arrived so far."""
        if len(samples):
            self.resumption.sent(samples)
            self._send(to_pcm16(samples))
        return self._events(timeout_s=0.0)

    def finalize(self) -> list[Event]:
        """Ask for the current segment's final now; return the events that arrived so far."""
        self._send(control_message("finalize"))
        return self._events(timeout_s=0.0)

    def end(self) -> list[Event]:
        """End of audio: every remaining event, up to the server's `end`; then close."""
        self.ending = True
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

    # --- one session ----------------------------------------------------------------------------

    def _open(self) -> Ready:
        """Connect and start a session; its `ready`."""
        try:
            self.websocket: ClientConnection = connect(
                self.url,
                additional_headers=self.headers,
                max_size=None,
                open_timeout=self.timeout_s,
            )
        except InvalidStatus as refused:
            status = refused.response.status_code
            if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                offered = self.headers or "token" in parse_qs(urlsplit(self.url).query)
                given = "refused the one given" if offered else "none was given"
                raise Unauthorized(
                    f"cannot connect to {self.shown_url}: the server wants a token "
                    f"(HTTP {status}), and {given}"
                ) from None
            raise S2TError(f"cannot connect to {self.shown_url}: {refused}") from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ValueError) as error:
            reason = str(error).replace(self.url, self.shown_url)  # InvalidURI quotes it
            raise S2TError(f"cannot connect to {self.shown_url}: {reason}") from None
        self.withholding = False
        try:
            self.websocket.send(start_message(self.start))
            first = self._receive(self.timeout_s)
        except SessionLost as lost:
            raise S2TError(f"{self.shown_url}: the server closed the session ({lost})") from None
        if not isinstance(first, Ready):
            self.websocket.close()
            raise S2TError(f"{self.shown_url}: expected a 'ready' message, got {first!r}")
        return first

    def _send(self, message: str | bytes) -> None:
        try:
            self.websocket.send(message)
        except ConnectionClosed as closed:
            self._resume(SessionLost(str(closed)))

    def _receive(self, timeout_s: float) -> Any:
        """The next server message (None if none came within `timeout_s`). Raises SessionLost
        when the connection closes before the stream's `end`."""
        try:
            raw = self.websocket.recv(timeout=timeout_s)
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            if self.ended is not None:
                return None
            raise SessionLost(str(closed)) from None
        try:
            message = parse_server_message(raw)
        except ProtocolError as error:
            raise S2TError(f"{self.shown_url}: {error}") from None
        if isinstance(message, ServerError):
            raise S2TError(f"server error {message.code}: {message.message}")
        return message

    def _events(self, timeout_s: float, until_end: bool = False) -> list[Event]:
        """Events waiting now (`timeout_s` 0) or, `until_end`, up to the `end` message, in
        the whole stream's times; a lost session is resumed on the way (`reconnects`)."""
        events: list[Event] = []
        while self.ended is None:
            try:
                message = self._receive(timeout_s)
            except SessionLost as lost:
                self._resume(lost)
                continue
            if message is None:
                if until_end:
                    raise S2TError(f"{self.shown_url}: no 'end' within {timeout_s:g} s")
                break
            if isinstance(message, Draining):
                self.withholding = self.reconnects > 0  # a new session will say it again
            elif isinstance(message, End):
                if self.reconnects <= 0 or (self.ending and not self.withholding):
                    self.ended = message
                else:  # the server ended the session before the stream: drained
                    self._resume(SessionLost("the server drained the session"))
            elif not isinstance(message, Ready) and not self.withholding:
                events.append(self.resumption.place(message))
        return events

    # --- the next session -----------------------------------------------------------------------

    def _resume(self, lost: SessionLost) -> None:
        """Replace a lost session: a new one hears the audio since the last final (and `end`,
        if it was sent). Raises S2TError when no reconnection is allowed or all failed."""
        if self.reconnects <= 0:
            raise S2TError(f"{self.shown_url}: the server closed the session ({lost})")
        self.websocket.close()
        failure: S2TError | None = None
        for attempt in range(self.reconnects):
            time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            try:
                self.ready = self._open()
                audio = self.resumption.restart()
                step = round(RESEND_S * self.start.sample_rate)
                for first in range(0, len(audio), step):
                    self.websocket.send(to_pcm16(audio[first : first + step]))
                if self.ending:
                    self.websocket.send(control_message("end"))
            except (S2TError, ConnectionClosed) as error:
                failure = S2TError(str(error))
                continue
            log.info(
                "resumed in session %s at %.2f s (%s)",
                self.ready.session,
                self.resumption.offset_s,
                lost,
            )
            return
        raise S2TError(
            f"{self.shown_url}: the session was lost ({lost}) and {self.reconnects} "
            f"reconnection(s) failed; the last: {failure}"
        )
