"""s2t-stream's websocket server: many live streams on one model.

    python server.py --port 2700          (or: s2t-stream serve --port 2700)

Transport only: the protocols live in `s2t_stream.io.protocol`, the streaming in
`s2t_stream.streaming`. Connections read messages on the event loop; one scheduler task hands the
sessions that have new input to a worker thread, which feeds their streams and runs one batched
`Engine.step` for all of them; the resulting messages go back through a writer task per
session. Paths: `/v1/stream` (native protocol, docs/protocol.md), `/` (Vosk protocol),
`GET /healthz`, `GET /metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Origin

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import (
    GOING_AWAY,
    INTERNAL,
    NORMAL,
    TOO_BIG,
    Control,
    Start,
    VoskConfig,
    VoskReplies,
    decode_audio,
    end_message,
    parse_text,
    parse_vosk_text,
    ready_message,
)
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.server.options import NATIVE_PATH, Limits
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Final, Partial
from s2t_stream.streaming.stream import Stream, StreamOptions

log = logging.getLogger("s2t_stream.server")

VOSK_PATHS = ("/", "")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Gauge("s2t_sessions_active", "open streaming sessions", registry=r)
        self.opened = Counter("s2t_sessions", "sessions opened", ["protocol"], registry=r)
        self.audio = Counter("s2t_audio_seconds", "audio seconds processed", registry=r)
        self.compute = Counter("s2t_compute_seconds", "wall seconds of model steps", registry=r)
        self.rtf = Gauge("s2t_real_time_factor", "compute ÷ audio over the last step", registry=r)
        self.batch = Histogram(
            "s2t_batch_streams",
            "streams per model step",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.finalisation = Histogram(
            "s2t_finalisation_latency_seconds",
            "end of a segment's last word → its final",
            buckets=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
            registry=r,
        )
        self.errors = Counter("s2t_errors", "errors sent to clients", ["code"], registry=r)

    def text(self) -> bytes:
        return generate_latest(self.registry)


_ids = itertools.count(1)


@dataclass(eq=False)
class Session:
    """One connection: its protocol state, its input queue and its stream."""

    kind: str  # "native" or "vosk"
    websocket: ServerConnection
    id: str = field(default_factory=lambda: f"s{next(_ids)}")
    start: Start | None = None
    stream: Stream | None = None
    inbox: deque[Any] = field(default_factory=deque)  # audio arrays and controls
    buffered_s: float = 0.0
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    outbox: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    replies: VoskReplies = field(default_factory=VoskReplies)
    opened_at: float = field(default_factory=time.monotonic)


class StreamingServer:
    def __init__(
        self, bundle: Bundle, options: StreamOptions, limits: Limits, workers: int = 1
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers}")
        self.workers = workers
        self.bundle = bundle
        self.options = options
        self.limits = limits
        self.engines: dict[str | None, Engine] = {None: Engine(bundle, options)}
        self.sessions: set[Session] = set()
        self.metrics = Metrics()
        self.wake = asyncio.Event()
        self.draining = False
        self.loop: asyncio.AbstractEventLoop | None = None  # set when serving

    # --- HTTP side ------------------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?")[0]
        if path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            response = connection.respond(HTTPStatus.OK, self.metrics.text().decode())
            response.headers["Content-Type"] = "text/plain; version=0.0.4"
            return response
        if path not in (NATIVE_PATH, *VOSK_PATHS):
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such path: {path}\n")
        if self.limits.token and not self._authorised(request):
            self.metrics.errors.labels("unauthorized").inc()
            return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token\n")
        if self.draining or len(self.sessions) >= self.limits.max_sessions:
            self.metrics.errors.labels("too_many_sessions").inc()
            return connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "server full or shutting down, retry later\n"
            )
        return None

    def _authorised(self, request: Request) -> bool:
        assert self.limits.token is not None
        header = request.headers.get("Authorization", "")
        query = dict(p.split("=", 1) for p in request.path.partition("?")[2].split("&") if "=" in p)
        given = header.removeprefix("Bearer ").strip() if header else query.get("token", "")
        return hmac.compare_digest(given.encode(), self.limits.token.encode())

    # --- connections ----------------------------------------------------------------------------

    async def handle(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        path = websocket.request.path.split("?")[0]
        session = Session("native" if path == NATIVE_PATH else "vosk", websocket)
        if session.kind == "vosk":  # Vosk clients may skip the config message: 16 kHz
            self._open_stream(session, Start(sample_rate=16000))
        self.sessions.add(session)
        self.metrics.sessions.set(len(self.sessions))
        self.metrics.opened.labels(session.kind).inc()
        log.info("session opened", extra={"session": session.id, "protocol": session.kind})
        writer = asyncio.create_task(self._write(session))
        reason = "client closed"
        try:
            await self._read(session)
            await session.finished.wait()
            reason = "finished"
        except ProtocolError as error:
            reason = error.code
            self.metrics.errors.labels(error.code).inc()
            await session.outbox.put(error.to_json())
            await session.outbox.put(None)
            await writer
            await websocket.close(error.close_code, error.message[:120])
        except ConnectionClosed:
            reason = "disconnected"
        finally:
            await session.outbox.put(None)
            with contextlib.suppress(ConnectionClosed):
                await writer
            self.sessions.discard(session)
            self.metrics.sessions.set(len(self.sessions))
            log.info("session closed", extra={"session": session.id, "reason": reason})

    async def _read(self, session: Session) -> None:
        limits = self.limits
        while True:
            if time.monotonic() - session.opened_at > limits.max_session_s:
                raise ProtocolError(
                    "session_too_long", f"sessions last at most {limits.max_session_s:.0f} s"
                )
            try:
                message = await asyncio.wait_for(
                    session.websocket.recv(), timeout=limits.idle_timeout_s
                )
            except TimeoutError:
                raise ProtocolError(
                    "idle_timeout", f"no message for {limits.idle_timeout_s:.0f} s", NORMAL
                ) from None
            if len(message) > limits.max_message_bytes:
                raise ProtocolError(
                    "too_large",
                    f"messages are limited to {limits.max_message_bytes} bytes, got {len(message)}",
                    TOO_BIG,
                )
            ended = (
                self._native(session, message)
                if session.kind == "native"
                else self._vosk(session, message)
            )
            self.wake.set()
            if ended:
                return
            if session.buffered_s > limits.max_buffered_s:  # back-pressure: stop reading
                session.drained.clear()
                await session.drained.wait()

    def _native(self, session: Session, message: str | bytes) -> bool:
        if isinstance(message, bytes):
            if session.start is None:
                raise ProtocolError("not_started", "send the 'start' message before audio")
            self._queue_audio(session, decode_audio(message, session.start))
            return False
        parsed = parse_text(message)
        if isinstance(parsed, Start):
            if session.start is not None:
                raise ProtocolError("already_started", "'start' may be sent only once")
            self._open_stream(session, parsed)
            session.outbox.put_nowait(
                ready_message(
                    session.id, self.bundle.source, parsed, self.bundle.features.sample_rate
                )
            )
            return False
        if parsed.kind == "keepalive":
            return False
        if session.start is None:
            raise ProtocolError("not_started", f"send the 'start' message before '{parsed.kind}'")
        session.inbox.append(parsed)
        return parsed.kind == "end"

    def _vosk(self, session: Session, message: str | bytes) -> bool:
        assert session.start is not None
        if isinstance(message, bytes):
            self._queue_audio(session, decode_audio(message, session.start))
            return False
        parsed = parse_vosk_text(message)
        if isinstance(parsed, VoskConfig):
            if session.stream is not None and session.stream.samples_in:
                raise ProtocolError("already_started", "config must come before any audio")
            self._open_stream(session, Start(sample_rate=parsed.sample_rate))
            return False
        session.inbox.append(Control("end"))
        return True

    def _open_stream(self, session: Session, start: Start) -> None:
        try:
            engine = self._engine(start.tgt_lang)
        except ValueError as error:
            raise ProtocolError("bad_field", str(error)) from None
        session.start = start
        session.stream = engine.open(start.sample_rate)

    def _engine(self, tgt_lang: str | None) -> Engine:
        if tgt_lang not in self.engines:
            self.engines[tgt_lang] = Engine(self.bundle, replace(self.options, tgt_lang=tgt_lang))
        return self.engines[tgt_lang]

    def _queue_audio(self, session: Session, audio: np.ndarray) -> None:
        assert session.start is not None
        session.inbox.append(audio)
        session.buffered_s += len(audio) / session.start.sample_rate

    async def _write(self, session: Session) -> None:
        while (message := await session.outbox.get()) is not None:
            await session.websocket.send(json.dumps(message, ensure_ascii=False))

    # --- the scheduler --------------------------------------------------------------------------

    async def schedule(self) -> None:
        """Forever: take the sessions with new input and process them off the loop, split over
        `workers` threads (each batches its share into one model step; the model's matrix
        work runs in parallel, outside the GIL)."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            ready = [s for s in self.sessions if s.inbox and s.stream is not None]
            if not ready:
                continue
            shares = [ready[i :: self.workers] for i in range(min(self.workers, len(ready)))]
            outcomes = await asyncio.gather(
                *(asyncio.to_thread(self._process, share) for share in shares),
                return_exceptions=True,
            )
            for share, outcome in zip(shares, outcomes, strict=True):
                if isinstance(outcome, BaseException):  # a bug must not pass silently
                    log.error("model step failed", exc_info=outcome)
                    for session in share:
                        session.inbox.clear()
                        await session.outbox.put(
                            ProtocolError("internal", "internal error", INTERNAL).to_json()
                        )
                        session.finished.set()
                    continue
                for session, consumed in outcome.items():
                    session.buffered_s -= consumed
                    if session.buffered_s <= self.limits.max_buffered_s:
                        session.drained.set()
            if any(s.inbox for s in self.sessions):
                self.wake.set()

    def _process(self, sessions: Sequence[Session]) -> dict[Session, float]:
        """Worker thread: feed each session's input (Vosk: one message, to answer it alone),
        step all their streams together — finals first, sent at once, then the partial
        updates — and return the audio seconds consumed per session."""
        taken = {s: self._feed(s) for s in sessions}
        started = time.perf_counter()
        for finals_only in (True, False):
            groups: dict[int, tuple[Engine, list[Stream]]] = {}
            for session in sessions:
                assert session.stream is not None and session.start is not None
                engine = self._engine(session.start.tgt_lang)
                groups.setdefault(id(engine), (engine, []))[1].append(session.stream)
            for engine, streams in groups.values():
                if engine.step(streams, finals_only=finals_only):
                    self.metrics.batch.observe(len(streams))
            for session in sessions:
                self._deliver_events(session, taken[session][0], last_phase=not finals_only)
        elapsed = time.perf_counter() - started
        audio = sum(seconds for _, seconds in taken.values())
        self.metrics.compute.inc(elapsed)
        self.metrics.audio.inc(audio)
        if audio:
            self.metrics.rtf.set(elapsed / audio)
        return {session: seconds for session, (_, seconds) in taken.items()}

    def _feed(self, session: Session) -> tuple[list[Any], float]:
        """Worker thread: move a session's queued input into its stream."""
        assert session.stream is not None and session.start is not None
        count = 1 if session.kind == "vosk" else len(session.inbox)
        items = [session.inbox.popleft() for _ in range(min(count, len(session.inbox)))]
        seconds = 0.0
        for item in items:
            if isinstance(item, np.ndarray):
                session.stream.accept(item)
                seconds += len(item) / session.start.sample_rate
            elif item.kind == "finalize":
                session.stream.finalize()
            else:
                session.stream.end_input()
        return items, seconds

    def _deliver_events(self, session: Session, items: list[Any], *, last_phase: bool) -> None:
        """Worker thread: hand a session's new events, as messages, to the event loop."""
        assert session.stream is not None
        events = session.stream.events()
        for event in events:
            if isinstance(event, Final):
                self.metrics.finalisation.observe(max(0.0, event.wall_s - event.end_s))
        done = last_phase and session.stream.complete
        if session.kind == "native":
            messages = self._native_messages(session, events, done)
        else:
            session.replies.add(events)
            messages = self._vosk_messages(session, items) if last_phase else []
        if messages or done:
            assert self.loop is not None
            self.loop.call_soon_threadsafe(self._post, session, messages, done)

    @staticmethod
    def _post(session: Session, messages: list[dict[str, Any]], done: bool) -> None:
        for message in messages:
            session.outbox.put_nowait(message)
        if done:
            session.finished.set()

    def _native_messages(
        self, session: Session, events: list[Event], done: bool
    ) -> list[dict[str, Any]]:
        assert session.start is not None and session.stream is not None
        partials = session.start.partials
        out = [e.to_json() for e in events if partials or not isinstance(e, Partial)]
        if done:
            out.append(end_message(session.stream.audio_s))
        return out

    def _vosk_messages(self, session: Session, items: list[Any]) -> list[dict[str, Any]]:
        if any(isinstance(i, Control) for i in items):
            return [session.replies.last()]
        return [session.replies.reply()] if items else []

    # --- lifetime -------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Stop taking sessions; finish every open one (its finals are sent), then close."""
        self.draining = True
        log.info("draining", extra={"sessions": len(self.sessions)})
        for session in list(self.sessions):
            if session.stream is not None and not session.stream.input_ended:
                session.inbox.append(Control("end"))
        self.wake.set()
        waits = [s.finished.wait() for s in self.sessions if s.stream is not None]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), self.limits.drain_timeout_s)
        for session in list(self.sessions):
            with contextlib.suppress(ConnectionClosed):
                await session.outbox.put(None)
                await session.websocket.close(GOING_AWAY, "server shutting down")

    @contextlib.asynccontextmanager
    async def running(self, host: str, port: int) -> Any:
        """Serve until the block exits (then drain). Yields the bound port."""
        self.loop = asyncio.get_running_loop()
        scheduler = asyncio.create_task(self.schedule())
        async with serve(
            self.handle,
            host,
            port,
            process_request=self.process_request,
            max_size=self.limits.max_message_bytes + 1024,
            origins=[Origin(o) for o in self.limits.origins] if self.limits.origins else None,
            ping_interval=20,
            compression=None,  # deflating PCM costs CPU on both ends and saves little
        ) as server:
            bound = next(iter(server.sockets)).getsockname()[1]
            log.info("listening", extra={"host": host, "port": bound})
            try:
                yield bound
            finally:
                await self.drain()
                scheduler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, with the record's extra fields."""

    RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in self.RESERVED})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


async def serve_forever(server: StreamingServer, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then drain."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server.running(host, port) as bound:
        print(f"s2t-stream: serving on ws://{host}:{bound}{NATIVE_PATH} (Vosk: /)", flush=True)
        await stop.wait()
