"""One session class per protocol: a client's input waiting for the model, its stream, and how the
model's events go back (native: every event, then `end`; Vosk: one reply per client message)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol, TypeAlias

import numpy as np

from s2t_stream.errors import OptionsError, ProtocolError, TranslationError
from s2t_stream.io.protocol import (
    POLICY,
    Control,
    PcmCarry,
    Start,
    VoskConfig,
    VoskReplies,
    decode_audio,
    draining_message,
    end_message,
    is_vosk_eof,
    parse_text,
    parse_vosk_text,
    ready_message,
)
from s2t_stream.server.models import Models, model_name
from s2t_stream.server.options import Limits
from s2t_stream.server.outbox import Message, Outbox
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Partial
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.translation.languages import asked, check_target, describe_offer
from s2t_stream.translation.translator import (
    MtEngine,
    MtOptions,
    Translator,
    available_languages,
    open_translator,
    translate_finals,
)

Input: TypeAlias = np.ndarray | Control  # what waits in a session's inbox: audio or a control

_ids = itertools.count(1)
log = logging.getLogger("s2t_stream.server")


class Engines:
    """The engine for each target language (on the model that produces it: `models.py`),
    created when a session first asks for it, and with
    `mt` (`serve --mt apertium`) a translator of finals for each target language the engine has
    installed, started with the server and shared by the sessions that ask for it (the cascade;
    a translator is thread-safe). Event loop only: worker threads use the engine and translator
    a session holds and never come here.

    What a session may ask for follows `translation.languages.check_target`, as on the command
    line. Construction raises OptionsError when `mt` is given a speech-translation model (the
    cascade translates English) or `options.tgt_lang` (the sessions' default) is a language no
    loaded model produces, and TranslationError when `mt` has no language."""

    def __init__(self, models: Models, options: StreamOptions, mt: MtEngine | None = None) -> None:
        self.models = models
        self.options = options
        self.by_language: dict[str | None, Engine] = {}
        self.mt = mt
        self.translators: dict[str, Translator] = {}
        main = models.main
        if mt is not None:
            check_target(f"--model {model_name(main)}", main.languages, None, mt=mt)
            for language in available_languages(mt):
                self.translators[language] = open_translator(MtOptions(language, mt))
        # the default engine now, unless sessions must name their language (a translation model
        # with no default): a bad default is said at start, not to each session
        if options.tgt_lang is not None or not main.languages:
            try:
                self.by_language[None] = self._engine(None, "--tgt-lang")
            except BaseException:
                self.close()  # the translators' pipelines
                raise

    def languages(self) -> dict[str, dict[str, str | None]]:
        """`GET /v1/languages`: each target language a session may ask for, with what
        translates into it: `model`, the loaded model that produces it end to end (asked with
        `tgt_lang` alone), and `mt`, the cascade's engine (asked with `mt` too); either null."""
        offer: dict[str, dict[str, str | None]] = {}
        for language in self.models.languages():
            offer[language] = {"model": model_name(self.models.for_language(language)), "mt": None}
        for language in self.translators:
            offer.setdefault(language, {"model": None, "mt": None})["mt"] = self.mt
        return offer

    def on_offer(self) -> str:
        """What this server translates into, as `languages()` lists it, for a refusal; when
        nothing, how to make it translate."""
        offered = self.languages()
        listed = describe_offer(
            [
                ([code for code, ways in offered.items() if ways["model"]], "end to end"),
                ([code for code, ways in offered.items() if ways["mt"]], f"with mt {self.mt!r}"),
            ]
        )
        if listed:
            return f"this server translates into {listed}"
        return (
            f"this server translates into nothing: its model {model_name(self.models.main)} "
            "transcribes, and no speech-translation model or machine translation is loaded "
            "(serve --translation-model DIR or --mt apertium adds one)"
        )

    def translator(self, start: Start) -> Translator | None:
        """The translator a session's `start` asks for (`mt` and `tgt_lang`), or None when it
        asks for none. Raises ProtocolError (`bad_field`) for an engine or a language this
        server does not translate with."""
        if start.mt is None:
            return None
        if self.mt is None or start.mt != self.mt:
            offered = f"only {self.mt!r}" if self.mt else "none (serve --mt apertium enables it)"
            raise ProtocolError("bad_field", f"mt {start.mt!r}: this server's is {offered}")
        translator = self.translators.get(start.tgt_lang or "")
        if translator is None:
            raise ProtocolError(
                "bad_field",
                f"mt {start.mt!r} translates into {', '.join(self.translators)} on this server, "
                f"not tgt_lang {start.tgt_lang!r}",
            )
        return translator

    def close(self) -> None:
        """Stop the translators (at the server's end)."""
        for translator in self.translators.values():
            translator.close()

    def get(self, tgt_lang: str | None) -> Engine:
        """The engine for `tgt_lang` (None: the sessions' default, `options.tgt_lang`), on the
        model that produces it (`Models.for_language`). Raises ProtocolError (`bad_field`) for
        a language no loaded model produces (the message lists those on offer, as
        `GET /v1/languages` does) and for none on a speech-translation model without a
        default."""
        if tgt_lang not in self.by_language:
            try:
                self.by_language[tgt_lang] = self._engine(tgt_lang, "tgt_lang")
            except ValueError as error:  # OptionsError included
                raise ProtocolError("bad_field", str(error)) from None
        return self.by_language[tgt_lang]

    def _engine(self, tgt_lang: str | None, field: str) -> Engine:
        """A new engine for `tgt_lang` (None: the default). Raises OptionsError, naming
        `field`, for a language it cannot have (`check_target`)."""
        language = self.options.tgt_lang if tgt_lang is None else tgt_lang
        if language is not None and language not in self.models.languages():
            raise OptionsError(f"{asked(field, language)}: {self.on_offer()}")
        bundle = self.models.for_language(language)
        check_target(f"model {model_name(bundle)!r}", bundle.languages, language, field=field)
        return Engine(
            bundle, self.models.weights_for(bundle, replace(self.options, tgt_lang=language))
        )


class Sender(Protocol):
    """A connection's sending side, as its writer task uses it."""

    async def send(self, message: str) -> None: ...


@dataclass(eq=False)
class Peer:
    """A connection from handshake to close: its websocket, the id of its session (named in the
    log before the session exists), the messages its one writer task sends, in order, and
    `progress`, set whenever the writer sends one (a session waiting for room wakes on it)."""

    websocket: Sender
    id: str = field(default_factory=lambda: f"s{next(_ids)}")
    outbox: Outbox = field(default_factory=Outbox)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    session: Session | None = None  # once formed

    async def write(self) -> None:
        """The writer task: send the outbox's messages until it is closed and empty."""
        while (message := await self.outbox.get()) is not None:
            await self.websocket.send(json.dumps(message, ensure_ascii=False))
            self.progress.set()


class Session(ABC):
    """What every protocol's session has: its peer's websocket, id and outbox; the engine and
    stream it feeds; the input waiting for the model (`inbox`) and its length in seconds
    (`buffered_s`); `finished`, set once every reply is queued or the session failed (`error`).

    Lifecycle: the connection that made a session owns it and calls `release()` however it
    ends (finished, failed, client gone, drain), which gives back everything it held: its
    buffered-audio count, its back-pressure wait and its input (nothing is fed after it).

    Event-loop methods: `receive`, `queue_audio`, `close_input`, `room`, `consumed`, `post`,
    `fail`, `release`. Worker-thread methods (one worker at a time): `feed`, `messages`."""

    protocol: ClassVar[str]

    def __init__(self, peer: Peer, engine: Engine, sample_rate: int, limits: Limits) -> None:
        self.websocket = peer.websocket
        self.id = peer.id
        self.outbox = peer.outbox
        self.engine = engine
        self.sample_rate = sample_rate
        self.stream = engine.open(sample_rate)
        self.limits = limits
        self.inbox: deque[Input] = deque()  # appended by the loop, popped by a worker
        self.buffered_s = 0.0
        self.progress = peer.progress  # set by the model (`consumed`) and by the writer
        self.finished = asyncio.Event()
        self.error: ProtocolError | None = None
        self.input_closed = False  # an `end` is queued
        self.released = False

    # --- event loop -----------------------------------------------------------------------------

    @abstractmethod
    def receive(self, message: str | bytes) -> bool:
        """Take one client message (parse it, queue its input). True: the client's input ended,
        read no more. Raises ProtocolError for a message the protocol does not allow."""

    def queue_audio(self, audio: np.ndarray) -> None:
        if self.input_closed:  # after `end` (the client's or the drain's) it has nowhere to go:
            return  # a stream takes no audio after its end
        self.inbox.append(audio)
        self.buffered_s += len(audio) / self.sample_rate

    def queue_control(self, control: Control) -> None:
        if not self.input_closed:
            self.inbox.append(control)

    def close_input(self) -> None:
        """Queue the end of the input (once)."""
        if not self.input_closed:
            self.inbox.append(Control("end"))
            self.input_closed = True

    def drain(self) -> None:
        """The server is going away: end the input (the stream's last finals follow)."""
        self.close_input()

    def backlog(self) -> str | None:
        """Why the reader must wait before taking another message, or None: "audio" (more
        than `max_buffered_s` waits for the model), "messages" (more than
        `max_queued_messages` wait for it, whatever their length: a flood of empty frames
        counts) or "replies" (as many replies wait for the client to read them)."""
        limits = self.limits
        if self.buffered_s > limits.max_buffered_s:
            return "audio"
        if len(self.inbox) >= limits.max_queued_messages:
            return "messages"
        if self._unsent_replies() >= limits.max_queued_messages:
            return "replies"
        return None

    def _unsent_replies(self) -> int:
        """Replies that count against reading on (none unless a protocol answers every
        message: a client that sends without reading must not be stalled by its own events)."""
        return 0

    async def room(self) -> None:
        """Back-pressure: wait while `backlog()` says so. The model and the writer wake it; a
        client that lets replies pile up for `idle_timeout_s` is not reading: ProtocolError
        `not_reading`. Returns at once after `release()`."""
        while (reason := self.backlog()) and not self.released:
            self.progress.clear()
            if reason != "replies":
                await self.progress.wait()
                continue
            try:
                await asyncio.wait_for(self.progress.wait(), self.limits.idle_timeout_s)
            except TimeoutError:
                raise ProtocolError(
                    "not_reading",
                    f"{len(self.outbox)} replies unread for {self.limits.idle_timeout_s:.0f} s",
                    POLICY,
                ) from None

    def consumed(self, seconds: float) -> None:
        """The model took `seconds` of this session's audio."""
        self.buffered_s = max(0.0, self.buffered_s - seconds)
        self.progress.set()

    def post(self, messages: list[Message], done: bool) -> None:
        """Queue messages for the client; `done`: that was the last of them."""
        if self.finished.is_set():  # failed: nothing after the error
            return
        for message in messages:
            self.outbox.put(message)
        if done:
            self.finished.set()

    def fail(self, error: ProtocolError) -> None:
        """The session cannot go on (`error` is sent by its connection, which closes it)."""
        if not self.finished.is_set():
            self.error = error
            self.finished.set()
            self.release()

    def release(self) -> None:
        """Give back what the session holds: no more input is queued or fed (a worker drops the
        inbox), its buffered audio no longer counts and its reader stops waiting. Idempotent."""
        self.released = True
        self.input_closed = True
        self.buffered_s = 0.0
        self.progress.set()

    # --- worker thread --------------------------------------------------------------------------

    def _take(self) -> list[Input]:
        """The input to feed this round (every queued item unless a protocol says otherwise)."""
        return [self.inbox.popleft() for _ in range(len(self.inbox))]

    def feed(self) -> tuple[list[Input], float]:
        """Move this round's input into the stream. Returns it and its audio seconds."""
        items = self._take()
        seconds = 0.0
        for item in items:
            if isinstance(item, Control):
                if item.kind == "finalize":
                    self.stream.finalize()
                else:
                    self.stream.end_input()
            else:
                self.stream.accept(item)
                seconds += len(item) / self.sample_rate
        return items, seconds

    @abstractmethod
    def messages(
        self, events: list[Event], items: Sequence[Input], *, last_phase: bool, done: bool
    ) -> list[Message]:
        """What goes back to the client after one phase of a step that made `events` from the
        fed `items`; `done`: the stream is complete (only ever in the last phase)."""


def native_start(message: str | bytes) -> Start | None:
    """Before a native session exists: the client's `start`, or None for a keep-alive. Raises
    ProtocolError for anything else."""
    if isinstance(message, bytes):
        raise ProtocolError("not_started", "send the 'start' message before audio")
    parsed = parse_text(message)
    if isinstance(parsed, Start):
        return parsed
    if parsed.kind == "keepalive":
        return None
    raise ProtocolError("not_started", f"send the 'start' message before '{parsed.kind}'")


class NativeSession(Session):
    """The native protocol (docs/protocol.md), from the client's `start` on: every event goes
    back as it is made (partials if asked for), then `end`."""

    protocol = "native"

    def __init__(
        self,
        peer: Peer,
        engine: Engine,
        start: Start,
        limits: Limits,
        translator: Translator | None = None,
    ) -> None:
        super().__init__(peer, engine, start.sample_rate, limits)
        self.start = start
        self.translator = translator  # the cascade's, when the client asked for `mt`
        self.outbox.coalesce = True  # a partial not yet sent gives way to its segment's newer one

    def drain(self) -> None:
        """Tell the client first (`draining`: finals after it may be cut short, a resuming
        client sends their audio again elsewhere), then end the input."""
        if not self.input_closed and not self.finished.is_set():
            self.outbox.put(draining_message())
        super().drain()

    def ready(self) -> Message:
        """The reply to `start`."""
        return ready_message(
            self.id, self.engine.bundle.source, self.start, self.engine.sample_rate
        )

    def receive(self, message: str | bytes) -> bool:
        if isinstance(message, bytes):
            if message:  # an empty frame carries nothing to queue
                self.queue_audio(decode_audio(message, self.start))
            return False
        parsed = parse_text(message)
        if isinstance(parsed, Start):
            raise ProtocolError("already_started", "'start' may be sent only once")
        if parsed.kind == "keepalive":
            return False
        if parsed.kind == "end":
            self.close_input()
            return True
        self.queue_control(parsed)
        return False

    def messages(
        self, events: list[Event], items: Sequence[Input], *, last_phase: bool, done: bool
    ) -> list[Message]:
        partials = self.start.partials
        events = self._translated(events)
        out = [e.to_json() for e in events if partials or not isinstance(e, Partial)]
        if done:
            out.append(end_message(self.stream.audio_s))
        return out

    def _translated(self, events: list[Event]) -> list[Event]:
        """With `mt`: the finals with their translations, in line (1–5 ms a final with
        Apertium, README "Translation"). A translation that fails is logged and its final goes
        out without one: the captions matter more than their translation."""
        if self.translator is None:
            return events
        try:
            return translate_finals(events, self.translator)
        except (TranslationError, ValueError) as error:  # ValueError: a text past its limit
            log.warning("translation failed: %s", error, extra={"session": self.id})
            return events


class VoskSession(Session):
    """vosk-server's protocol, from the connection on at 16 kHz (a `config` before any audio
    reopens the stream at its rate): exactly one reply per client message."""

    protocol = "vosk"

    def __init__(self, peer: Peer, engine: Engine, limits: Limits) -> None:
        super().__init__(peer, engine, 16000, limits)
        self.format = Start(sample_rate=16000)
        self.replies = VoskReplies()  # worker only
        self.carry = PcmCarry()  # an odd byte waits for the next frame
        self.audio_received = False

    def receive(self, message: str | bytes) -> bool:
        if isinstance(message, bytes) and not is_vosk_eof(message):
            self.audio_received = True
            self.queue_audio(decode_audio(self.carry.take(message), self.format))
            return False
        parsed = parse_vosk_text(message)
        if isinstance(parsed, VoskConfig):
            self.configure(parsed.sample_rate)
            return False
        self.close_input()
        return True

    def configure(self, sample_rate: int) -> None:
        """Take audio at `sample_rate` from now on: a new stream (no worker has seen the old
        one, since it was never fed)."""
        if self.audio_received:
            raise ProtocolError("already_started", "config must come before any audio")
        self.format = Start(sample_rate=sample_rate)
        self.sample_rate = sample_rate
        self.stream = self.engine.open(sample_rate)

    def _unsent_replies(self) -> int:
        return len(self.outbox)

    def _take(self) -> list[Input]:
        """One message at a time, so that each gets its own reply."""
        return [self.inbox.popleft()] if self.inbox else []

    def messages(
        self, events: list[Event], items: Sequence[Input], *, last_phase: bool, done: bool
    ) -> list[Message]:
        self.replies.add(events)
        if not last_phase:
            return []
        if any(isinstance(item, Control) for item in items):
            return [self.replies.last()]
        return [self.replies.reply()] if items else []
