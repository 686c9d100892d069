"""Stand-ins for the engine, its streams and a websocket, so that the server's sessions and
scheduler can be tested without a model or sockets. A fake stream makes a `Partial` per audio
chunk and a `Final` per closed segment; a fake step emits finals (and, unless `finals_only`,
the partials *before* them, so a scheduler that skipped the finals-first phase would be seen)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from s2t_stream.server.outbox import Outbox
from s2t_stream.server.sessions import Peer, Sender
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Final, Partial, Word


class FakeStream:
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.samples_in = 0
        self.input_ended = False
        self.calls: list[tuple[str, int]] = []  # ("accept", samples), ("finalize", 0), …
        self.due_partials: list[Partial] = []
        self.due_finals: list[Final] = []
        self.outbox: list[Event] = []
        self.threads: set[str] = set()  # the threads that drove this stream
        self.broken = False  # a batched step with this stream in it raises

    @property
    def audio_s(self) -> float:
        return self.samples_in / self.sample_rate

    @property
    def complete(self) -> bool:
        return self.input_ended and not self.due_finals

    def accept(self, samples: np.ndarray) -> None:
        self.threads.add(threading.current_thread().name)
        self.samples_in += len(samples)
        self.calls.append(("accept", len(samples)))
        self.due_partials.append(Partial(0, "", f"heard {self.samples_in}", self.audio_s, 0.0))

    def finalize(self) -> None:
        self.calls.append(("finalize", 0))
        number = len([c for c in self.calls if c[0] == "finalize"])
        words = (Word(f"w{number}", 0.0, 0.1),)
        self.due_finals.append(Final(number, f"final {number}", 0.0, 0.1, self.audio_s, 0.5, words))

    def end_input(self) -> None:
        self.calls.append(("end", 0))
        self.input_ended = True
        self.finalize()

    def events(self) -> list[Event]:
        out, self.outbox = self.outbox, []
        return out


class FakeEngine:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sample_rate = 16000
        self.bundle = SimpleNamespace(source="fake-model")
        self.steps: list[tuple[bool, list[FakeStream]]] = []

    def open(self, sample_rate: int | None = None) -> FakeStream:
        return FakeStream(sample_rate or self.sample_rate)

    def step(self, streams: Sequence[FakeStream], *, finals_only: bool = False) -> int:
        if self.fail or any(stream.broken for stream in streams):
            raise RuntimeError("the model broke")
        self.steps.append((finals_only, list(streams)))
        count = 0
        for stream in streams:
            due: list[Event] = [*stream.due_finals]
            if not finals_only:  # partials first: only a finals-first phase sends finals first
                due = [*stream.due_partials, *due]
            stream.outbox += due
            count += len(due)
            stream.due_finals = []
            if not finals_only:
                stream.due_partials = []
        return count


def engine(fail: bool = False) -> Engine:
    """A fake engine, typed as the real one for the sessions' constructors."""
    return cast(Engine, FakeEngine(fail))


def peer() -> Peer:
    return Peer(cast(Sender, SimpleNamespace()))


class ImmediateLoop:
    """`call_soon_threadsafe` that runs the callback at once and records its arguments."""

    def __init__(self) -> None:
        self.posts: list[tuple[list[dict[str, Any]], bool]] = []

    def call_soon_threadsafe(self, callback: Callable[..., None], *args: Any) -> None:
        messages, done = args
        self.posts.append((list(messages), done))
        callback(*args)


def loop() -> asyncio.AbstractEventLoop:
    return cast(asyncio.AbstractEventLoop, ImmediateLoop())


def drain(outbox: Outbox) -> list[Any]:
    """What an outbox holds, taken out."""
    out = list(outbox.queue)
    outbox.queue.clear()
    return out
