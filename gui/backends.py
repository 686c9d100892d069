"""Where the app's captions come from: the model in this process (`LocalBackend`) or a running
`s2t-stream serve` (`RemoteBackend`, over the native protocol). Both open a `Captioner` per
Start — push audio, get events; end, get the last ones — or, for several labelled sources, a
`LabelledCaptioner`, so the worker drives them alike. A target language chosen for a local ASR
model (one without language tags) is reached by the cascade: its finals are translated with
Apertium (s2t_stream.translation)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from s2t_stream.defaults import TOKEN_ENV
from s2t_stream.io.client import NativeClient, redact_token
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
from s2t_stream.translation.languages import check_target
from s2t_stream.translation.translator import (
    MtOptions,
    Translating,
    Translator,
    open_translator,
)


class LocalBackend:
    """A loaded model; each Start opens a new stream on it (one per source, batched together).
    With a `translator` (the cascade), the streams' finals carry their translations."""

    def __init__(self, engine: Engine, translator: Translator | None = None) -> None:
        self.engine = engine
        self.translator = translator
        self.sample_rate = engine.sample_rate  # what a source should record at

    def open(self, sample_rate: int) -> Captioner:
        driver = StreamDriver(self.engine, sample_rate)
        return driver if self.translator is None else Translating(driver, self.translator)

    def open_labelled(self, sample_rate: int, labels: Sequence[str]) -> LabelledCaptioner:
        driver = SourcesDriver(self.engine, labels, sample_rate)
        return driver if self.translator is None else Translating(driver, self.translator)


class RemoteBackend:
    """A server's URL (`ws://…/v1/stream`); each Start opens a new session per source (blocking
    client: it runs in the worker thread; the server batches the sessions). A server that wants
    a token gets $S2T_STREAM_TOKEN (as `client` does), or the URL's own `?token=`."""

    sample_rate = 16000  # what we send; the server resamples to its model
    reconnects = 5  # a lost session (dropped, drained) resumes in a new one: io/resume.py

    def __init__(self, url: str, tgt_lang: str | None = None) -> None:
        self.url = url
        self.tgt_lang = tgt_lang
        self.token = os.environ.get(TOKEN_ENV) or None

    def open(self, sample_rate: int) -> Captioner:
        return self._session(sample_rate)

    def open_labelled(self, sample_rate: int, labels: Sequence[str]) -> LabelledCaptioner:
        sessions: dict[str, NativeClient] = {}
        try:
            for label in labels:
                sessions[label] = self._session(sample_rate)
        except Exception:  # a session that failed to open: close those already open
            for session in sessions.values():
                session.close()
            raise
        return Labelled(sessions)

    def _session(self, sample_rate: int) -> NativeClient:
        return NativeClient(
            self.url,
            sample_rate,
            token=self.token,
            tgt_lang=self.tgt_lang,
            reconnects=self.reconnects,
        )


def backend(model: str, tgt_lang: str | None) -> LocalBackend | RemoteBackend:
    """A `ws://` or `wss://` URL: a running `s2t-stream serve`; anything else: a local model —
    with `tgt_lang`, a translation model's language, or for an ASR model (no language tags)
    Apertium's (the cascade; TranslationError says what to install when the pair is missing).
    A translation model needs `tgt_lang` (OptionsError otherwise, as on the command line)."""
    if model.startswith(("ws://", "wss://")):
        return RemoteBackend(model, tgt_lang)
    bundle = load_bundle(model)
    if tgt_lang is not None and not bundle.languages:
        translator = open_translator(MtOptions(tgt_lang))
        return LocalBackend(Engine(bundle, StreamOptions()), translator)
    check_target(model_name(model), bundle.languages, tgt_lang, field="Language")
    return LocalBackend(Engine(bundle, StreamOptions(tgt_lang=tgt_lang)))


def model_name(model: str) -> str:
    """How the status line names a model: a server's URL, else the directory's name."""
    if model.startswith(("ws://", "wss://")):
        return redact_token(model)
    return Path(model).name or model
