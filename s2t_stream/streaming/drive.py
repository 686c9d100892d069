"""The one loop from audio chunks to events — accept → step → drain — for the CLI, the latency
harness, the desktop app and the server: `push` audio, `finalize` a segment, `end` the input."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event
from s2t_stream.streaming.stream import Stream


def advance(
    engine: Engine, streams: Sequence[Stream], *, finals_only: bool = False
) -> tuple[int, list[list[Event]]]:
    """Step `streams` together (one batched model round) and drain each one's events.
    Returns the number of segment updates run and the events, one list per stream."""
    updates = engine.step(streams, finals_only=finals_only)
    return updates, [stream.events() for stream in streams]


class Captioner(Protocol):
    """Anything that turns pushed audio into events: a `StreamDriver` on a local engine, or a
    client of a remote server (`io.client.NativeClient`)."""

    def push(self, samples: np.ndarray) -> list[Event]: ...

    def end(self) -> list[Event]: ...


class StreamDriver:
    """One stream on a local engine, driven by one caller: each verb returns the events it
    produced. `updates` is the number of segment updates the last verb ran (0: nothing due)."""

    def __init__(self, engine: Engine, sample_rate: int | None = None) -> None:
        self.engine = engine
        self.stream = engine.open(sample_rate)
        self.updates = 0

    def push(self, samples: np.ndarray) -> list[Event]:
        """Take mono float samples at the stream's rate; run what is due."""
        self.stream.accept(samples)
        return self._advance()

    def finalize(self) -> list[Event]:
        """Close the current segment now and emit its final; audio may go on."""
        self.stream.finalize()
        return self._advance()

    def end(self) -> list[Event]:
        """End of input: the last finals."""
        self.stream.end_input()
        return self._advance()

    def _advance(self) -> list[Event]:
        self.updates, (events,) = advance(self.engine, [self.stream])
        return events


def drive(captioner: Captioner, chunks: Iterable[np.ndarray]) -> Iterator[list[Event]]:
    """Push every chunk (pacing, if any, is the iterator's), then end the input; yields the
    events of each push and, last, those of the end."""
    for chunk in chunks:
        yield captioner.push(chunk)
    yield captioner.end()
