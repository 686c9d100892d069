"""Where the app's captions come from: the model in this process (`LocalBackend`) or a running
`s2t-stream serve` (`RemoteBackend`, over the native protocol). Both open a `Captioner` per
Start — push audio, get events; end, get the last ones — or, for several labelled sources, a
`LabelledCaptioner`, so the worker drives them alike."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from s2t_stream.io.client import NativeClient
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.streaming.drive import (
    Captioner,
    Labelled,
    LabelledCaptioner,
    SourcesDriver,
    StreamDriver,
)
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.stream import StreamOptions


class LocalBackend:
    """A loaded model; each Start opens a new stream on it (one per source, batched together)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sample_rate = engine.sample_rate  # what a source should record at

    def open(self, sample_rate: int) -> Captioner:
        return StreamDriver(self.engine, sample_rate)

    def open_labelled(self, sample_rate: int, labels: Sequence[str]) -> LabelledCaptioner:
        return SourcesDriver(self.engine, labels, sample_rate)


class RemoteBackend:
    """A server's URL (`ws://…/v1/stream`); each Start opens a new session per source (blocking
    client: it runs in the worker thread; the server batches the sessions)."""

    sample_rate = 16000  # what we send; the server resamples to its model

    def __init__(self, url: str, tgt_lang: str | None = None) -> None:
        self.url = url
        self.tgt_lang = tgt_lang

    def open(self, sample_rate: int) -> Captioner:
        return NativeClient(self.url, sample_rate, tgt_lang=self.tgt_lang)

    def open_labelled(self, sample_rate: int, labels: Sequence[str]) -> LabelledCaptioner:
        sessions: dict[str, NativeClient] = {}
        try:
            for label in labels:
                sessions[label] = NativeClient(self.url, sample_rate, tgt_lang=self.tgt_lang)
        except Exception:  # a session that failed to open: close those already open
            for session in sessions.values():
                session.close()
            raise
        return Labelled(sessions)


def backend(model: str, tgt_lang: str | None) -> LocalBackend | RemoteBackend:
    """A `ws://` or `wss://` URL: a running `s2t-stream serve`; anything else: a local model."""
    if model.startswith(("ws://", "wss://")):
        return RemoteBackend(model, tgt_lang)
    return LocalBackend(Engine(load_bundle(model), StreamOptions(tgt_lang=tgt_lang)))


def model_name(model: str) -> str:
    """How the status line names a model: a server's URL, else the directory's name."""
    if model.startswith(("ws://", "wss://")):
        return model
    return Path(model).name or model
