"""Readiness and the drain as a load balancer sees them, on the in-process server with real
clients: `/readyz` turns 503 (with `Retry-After`) the moment the drain begins while `/healthz`
stays 200, new sessions are refused (HTTP 503 at the handshake; `shutting_down` with close 1013
for a connection let in before the drain, native and Vosk), and the metrics say so."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from email.message import Message

import numpy as np
import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame
from websockets.http11 import Request
from websockets.protocol import State
from websockets.sync.client import connect
from websockets.uri import parse_uri

from s2t_stream.model.audio import to_pcm16
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.server.gate import RETRY_AFTER_S, Answer
from s2t_stream.server.options import Limits
from tests.helpers import Running, running
from tests.server.test_server import expect_error, start

pytestmark = [pytest.mark.network, pytest.mark.model]


def get(server: Running, path: str) -> tuple[int, Message, str]:
    """GET `path`: its status, headers and body (an HTTP error is an answer too)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def metric(server: Running, name: str) -> float:
    """A metric's value, from the server's own /metrics page."""
    for line in get(server, "/metrics")[2].splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


class MuteClient:
    """A native client on a raw socket (websockets' sans-I/O protocol) that starts a session,
    sends audio and then never reads again nor answers the closing handshake: the drain waits
    for it up to its limits (the close timeout, 5 s), which keeps the server draining for as
    long as the test looks at it."""

    def __init__(self, url: str, audio: np.ndarray) -> None:
        uri = parse_uri(url)
        self.protocol = ClientProtocol(uri)
        self.socket = socket.create_connection((uri.host, uri.port), timeout=10)
        try:
            self.protocol.send_request(self.protocol.connect())
            self._flush()
            while self.protocol.state is not State.OPEN:
                self._events()
            self.protocol.send_text(json.dumps({"type": "start", "sample_rate": 16000}).encode())
            self.protocol.send_binary(to_pcm16(audio))
            self._flush()
            while not any(isinstance(e, Frame) and b'"ready"' in e.data for e in self._events()):
                pass  # the session is formed once `ready` is back
        except BaseException:
            self.socket.close()
            raise

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.socket.sendall(data)

    def _events(self) -> list[object]:
        data = self.socket.recv(65536)
        assert data, "the server closed the connection"
        self.protocol.receive_data(data)
        return list(self.protocol.events_received())

    def close(self) -> None:
        self.socket.close()


def test_readyz_turns_503_at_once_on_drain_while_healthz_stays_200(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    with running(bundle, Limits(max_sessions=8)) as server:
        assert get(server, "/readyz")[::2] == (200, "ready\n")
        assert metric(server, "s2t_sessions_capacity") == 8
        assert metric(server, "s2t_draining") == 0
        early = connect(server.url())  # let in before the drain, no `start` yet
        mute = MuteClient(server.url(), waves[0])
        assert metric(server, "s2t_sessions_active") == 2
        try:
            assert server.stop is not None
            server.loop.call_soon_threadsafe(server.stop.set)  # what SIGTERM does
            began = time.monotonic()
            while (answer := get(server, "/readyz"))[0] == 200:
                assert time.monotonic() - began < 2, "/readyz still 200 after the drain began"
                time.sleep(0.01)
            status, headers, body = answer
            assert (status, body) == (503, "draining: the server is shutting down; retry later\n")
            assert headers["Retry-After"] == str(RETRY_AFTER_S)
            # the mute client holds the drain open: everything below happens while it drains
            assert get(server, "/healthz")[::2] == (200, "ok\n")
            assert metric(server, "s2t_draining") == 1
            for path in ("/v1/stream", "/"):  # native and Vosk: refused at the handshake
                with pytest.raises(InvalidStatus) as refused:
                    connect(server.url(path))
                response = refused.value.response
                assert response.status_code == 503
                assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
            early.send(json.dumps({"type": "start", "sample_rate": 16000}))
            expect_error(early, "shutting_down", 1013)
            assert get(server, "/readyz")[0] == 503  # still draining: the mute client holds it
        finally:
            mute.close()
            early.close()


@pytest.mark.parametrize("path", ["/v1/stream", "/"])
def test_a_connection_let_in_as_the_drain_begins_is_refused_its_session(
    bundle: Bundle, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The drain begins between the gate's check of a handshake and its handler's start: the
    # handler refuses the session with the documented error and 1013 (try again later).
    with running(bundle) as server:
        app = server.server
        check = app.gate.answer

        def let_in_then_drain(request: Request) -> Answer | None:
            verdict = check(request)
            app.stop_taking_sessions()
            return verdict

        monkeypatch.setattr(app.gate, "answer", let_in_then_drain)
        with connect(server.url(path)) as ws:
            if path != "/":  # native: the refusal answers `start`; Vosk forms it at once
                ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
            expect_error(ws, "shutting_down", 1013)
        assert get(server, "/readyz")[0] == 503
        assert get(server, "/healthz")[0] == 200


def test_readyz_is_503_while_full_and_200_again_when_a_session_ends(bundle: Bundle) -> None:
    with running(bundle, Limits(max_sessions=1)) as server:
        with connect(server.url()) as ws:
            start(ws)
            status, headers, body = get(server, "/readyz")
            assert (status, body) == (
                503,
                "full: the limit of 1 sessions is reached; retry later\n",
            )
            assert headers["Retry-After"] == str(RETRY_AFTER_S)
            assert get(server, "/healthz")[0] == 200
        began = time.monotonic()
        while get(server, "/readyz")[0] != 200:
            assert time.monotonic() - began < 10, "/readyz stayed 503 after the session ended"
            time.sleep(0.05)
