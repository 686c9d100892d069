"""A remote backend: the app's audio goes to an `s2t-stream serve` over the native protocol and
its events come back, through the same `open` / `accept` / `step` / `events` calls the worker
makes on a local engine (blocking websocket client: it runs in the worker thread)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from s2t_stream.client import pcm16
from s2t_stream.errors import S2TError
from s2t_stream.events import Event, event_from_json


class RemoteStream:
    def __init__(self, url: str, sample_rate: int, tgt_lang: str | None) -> None:
        try:
            self.websocket: ClientConnection = connect(url, max_size=None, open_timeout=10)
        except (OSError, TimeoutError) as error:
            raise S2TError(f"cannot reach the server {url}: {error}") from None
        start: dict[str, Any] = {"type": "start", "sample_rate": sample_rate}
        if tgt_lang:
            start.update(task="translate", tgt_lang=tgt_lang)
        self.websocket.send(json.dumps(start))
        self._check(json.loads(self.websocket.recv(timeout=30)), "ready")
        self.pending: list[Event] = []
        self.finished = False

    @staticmethod
    def _check(message: dict[str, Any], expected: str) -> None:
        if message.get("type") == "error":
            raise S2TError(f"server error {message['code']}: {message['message']}")
        if message.get("type") != expected:
            raise S2TError(f"expected a '{expected}' message from the server, got {message}")

    def accept(self, samples: np.ndarray) -> None:
        if len(samples):
            self.websocket.send(pcm16(samples))
        self._drain(timeout=0)

    def finish(self) -> None:
        self.websocket.send(json.dumps({"type": "end"}))
        self.finished = True
        self._drain(timeout=30, until_end=True)

    def events(self) -> list[Event]:
        out, self.pending = self.pending, []
        return out

    def _drain(self, timeout: float, until_end: bool = False) -> None:
        while True:
            try:
                message = json.loads(self.websocket.recv(timeout=timeout))
            except (TimeoutError, ConnectionClosed):
                return
            kind = message.get("type")
            if kind in ("partial", "final"):
                self.pending.append(event_from_json(message))
            elif kind == "error":
                self._check(message, "partial")
            elif kind == "end" and until_end:
                self.websocket.close()
                return


class RemoteBackend:
    """Looks like an `Engine` to the worker; the model runs on the server."""

    sample_rate = 16000  # what we send; the server resamples to its model

    def __init__(self, url: str, tgt_lang: str | None = None) -> None:
        self.url = url
        self.tgt_lang = tgt_lang

    def open(self, sample_rate: int) -> RemoteStream:
        return RemoteStream(self.url, sample_rate, self.tgt_lang)

    def step(self, streams: Sequence[RemoteStream]) -> int:
        return 0  # the server steps
