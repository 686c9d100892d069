"""The one loop from audio chunks to events — accept → step → drain — for the CLI, the latency
harness, the desktop app and the server: `push` audio, `finalize` a segment, `end` the input.
Several labelled inputs (a microphone and desktop audio) go through one engine together
(`SourcesDriver`), and `HealthMonitor` says when a live input is dropping audio or lagging."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from s2t_stream.streaming.events import Event, Final, Partial, labelled
from s2t_stream.streaming.stream import Stream
from s2t_stream.streaming.words import FBANK_FRAME_S

if TYPE_CHECKING:  # torch-free at import: the command line's parser uses the defaults here
    from s2t_stream.streaming.engine import Engine

DEFAULT_LABELS = ("You", "Others")  # a microphone, desktop audio
LAG_WARNING_S = 3.0  # captions this far behind real time are warned about
DROP_SHOWN_S = 5.0  # a drop stays reported this long after the last lost audio


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


# --- several labelled inputs ----------------------------------------------------------------------


class LabelledCaptioner(Protocol):
    """Labelled inputs in, labelled events out: a `SourcesDriver` on a local engine, or
    `Labelled` plain captioners (e.g. one server session per input)."""

    def push(self, audio: Mapping[str, np.ndarray]) -> list[Event]: ...

    def end(self) -> list[Event]: ...


class SourcesDriver:
    """One stream per label on one engine, stepped together: each push is one batched model
    round for all of them. Streams open together, so their times share one origin, and their
    finals come out in the order they were spoken (`TimeOrder`)."""

    def __init__(
        self, engine: Engine, labels: Sequence[str], sample_rate: int | None = None
    ) -> None:
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"SourcesDriver needs distinct labels, got {list(labels)}")
        self.engine = engine
        self.streams = {label: engine.open(sample_rate) for label in labels}
        self.order = TimeOrder()
        self.updates = 0

    def push(self, audio: Mapping[str, np.ndarray]) -> list[Event]:
        """Take each label's new mono samples (a label left out: none this time); run what is
        due on all streams in one round. Events are labelled (`merge`), finals in spoken order
        (`TimeOrder`)."""
        unknown = set(audio) - set(self.streams)
        if unknown:
            raise ValueError(f"no input labelled {sorted(unknown)}; labels: {list(self.streams)}")
        for label, samples in audio.items():
            self.streams[label].accept(samples)
        return self._advance()

    def end(self) -> list[Event]:
        """End of every input: the last finals."""
        for stream in self.streams.values():
            stream.end_input()
        return self._advance()

    def _advance(self) -> list[Event]:
        self.updates, events = advance(self.engine, list(self.streams.values()))
        merged = merge(dict(zip(self.streams, events, strict=True)))
        shown_since = min(map(shown_since_s, self.streams.values()), default=math.inf)
        return self.order.release(merged, shown_since)


def shown_since_s(stream: Stream) -> float:
    """Where the earliest segment of `stream` that has shown words (a partial) but no final yet
    begins, in stream seconds (inf: none)."""
    pending = [stream.open, *stream.closing]
    starts = [s.start for s in pending if s is not None and s.shown != ("", "")]
    return min(starts, default=math.inf) * FBANK_FRAME_S


class TimeOrder:
    """Finals of several inputs in the order they were spoken, as a transcript reads: a final
    waits while another input's segment that began before it is still on screen (its words
    shown, its final not yet made); meanwhile the later partials of the waiting final's input
    wait too, the newest kept, so each input's events stay in their own order."""

    def __init__(self) -> None:
        self.finals: list[Final] = []
        self.partials: dict[str | None, Partial] = {}

    def release(self, events: Sequence[Event], shown_since: float) -> list[Event]:
        """Take one round's events; give back those that may be shown now."""
        self.finals = sorted(
            [*self.finals, *(e for e in events if isinstance(e, Final))], key=lambda f: f.start_s
        )
        for event in events:
            if isinstance(event, Partial):
                self.partials[event.source] = event
        ready = [f for f in self.finals if f.start_s <= shown_since]
        self.finals = self.finals[len(ready) :]
        waiting = {f.source for f in self.finals}
        partials = [p for source, p in self.partials.items() if source not in waiting]
        self.partials = {s: p for s, p in self.partials.items() if s in waiting}
        return [*ready, *partials]


class Unlabelled:
    """A single input's plain `Captioner` driven as a `LabelledCaptioner` over the label ""
    (its events stay unlabelled), so one loop serves one input and several."""

    def __init__(self, captioner: Captioner) -> None:
        self.captioner = captioner

    def push(self, audio: Mapping[str, np.ndarray]) -> list[Event]:
        return self.captioner.push(audio[""])

    def end(self) -> list[Event]:
        return self.captioner.end()


class Labelled:
    """One plain `Captioner` per label (e.g. a server session each), labelling their events;
    each round's finals in time order (`merge`), without `TimeOrder`'s waiting (the segments
    are the server's)."""

    def __init__(self, captioners: Mapping[str, Captioner]) -> None:
        self.captioners = dict(captioners)

    def push(self, audio: Mapping[str, np.ndarray]) -> list[Event]:
        return merge({label: self.captioners[label].push(a) for label, a in audio.items()})

    def end(self) -> list[Event]:
        return merge({label: c.end() for label, c in self.captioners.items()})


def merge(events: Mapping[str, Sequence[Event]]) -> list[Event]:
    """One round's events of several inputs, each labelled with its input: the finals of all
    inputs in time order (`start_s`), then each input's partials made after its last final
    (earlier ones belong to segments that final closed)."""
    finals: list[Final] = []
    partials: list[Event] = []
    for label, round_events in events.items():
        last_final = max(
            (i for i, e in enumerate(round_events) if isinstance(e, Final)), default=-1
        )
        for i, event in enumerate(round_events):
            if isinstance(event, Final):
                finals.append(labelled(event, label))
            elif i > last_final:
                partials.append(labelled(event, label))
    finals.sort(key=lambda final: final.start_s)
    return [*finals, *partials]


# --- live input health ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InputHealth:
    """How a live input keeps up: `lag_s` of audio waits to be transcribed (captions run that
    far behind), `dropped_s` were lost so far, `dropping` within the last `DROP_SHOWN_S`."""

    lag_s: float
    dropped_s: float
    dropping: bool
    lagging: bool

    @property
    def warning(self) -> str | None:
        """What to show the user, or None when all is well."""
        parts = []
        if self.dropping:
            parts.append(f"dropping audio ({self.dropped_s:.1f} s lost so far)")
        if self.lagging:
            parts.append(f"captions {self.lag_s:.1f} s behind real time")
        return "; ".join(parts) or None


class HealthMonitor:
    """Turns a live input's lag and drop total, as they are observed, into `InputHealth`:
    lagging above `lag_warning_s`; dropping from each new loss until `drop_shown_s` later."""

    def __init__(
        self,
        *,
        lag_warning_s: float = LAG_WARNING_S,
        drop_shown_s: float = DROP_SHOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lag_warning_s = lag_warning_s
        self.drop_shown_s = drop_shown_s
        self.clock = clock
        self.dropped_s = 0.0
        self.last_drop: float | None = None

    def update(self, lag_s: float, dropped_s: float) -> InputHealth:
        """The health now, given the audio waiting (`lag_s`) and lost so far (`dropped_s`)."""
        now = self.clock()
        if dropped_s > self.dropped_s:
            self.dropped_s, self.last_drop = dropped_s, now
        dropping = self.last_drop is not None and now - self.last_drop < self.drop_shown_s
        return InputHealth(lag_s, dropped_s, dropping, lag_s > self.lag_warning_s)
