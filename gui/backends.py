"""Where the app's captions come from: the model in this process (`LocalBackend`) or a running
`s2t-stream serve` (`RemoteBackend`, over the native protocol). Both open a `Captioner` per
Start — push audio, get events; end, get the last ones — so the worker drives them alike."""

from __future__ import annotations

from s2t_stream.io.client import NativeClient
from s2t_stream.streaming.drive import Captioner, StreamDriver
from s2t_stream.streaming.engine import Engine


class LocalBackend:
    """A loaded model; each Start opens a new stream on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sample_rate = engine.sample_rate  # what a source should record at

    def open(self, sample_rate: int) -> Captioner:
        return StreamDriver(self.engine, sample_rate)


class RemoteBackend:
    """A server's URL (`ws://…/v1/stream`); each Start opens a new session (blocking client:
    it runs in the worker thread)."""

    sample_rate = 16000  # what we send; the server resamples to its model

    def __init__(self, url: str, tgt_lang: str | None = None) -> None:
        self.url = url
        self.tgt_lang = tgt_lang

    def open(self, sample_rate: int) -> Captioner:
        return NativeClient(self.url, sample_rate, tgt_lang=self.tgt_lang)
