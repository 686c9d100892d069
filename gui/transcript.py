"""The transcript the window shows and saves (no Qt): events in (from one or more labelled
sources), finals out in time order with times that keep counting across Stop/Start, plus each
source's open segment (committed and tentative text)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from s2t_stream.io.subtitles import timestamp, to_json, to_srt, to_text, to_vtt
from s2t_stream.streaming.events import Event, Final, Partial, shifted

WRITERS: dict[str, Callable[[Sequence[Final]], str]] = {
    ".txt": to_text,
    ".srt": to_srt,
    ".vtt": to_vtt,
    ".json": to_json,
}


def source_of(event: Event) -> str | None:
    """The event's source label (None: a single, unlabelled input)."""
    return event.source


@dataclass
class Transcript:
    """Finals ordered by start time (two sources interleave), each source's open segment, and
    whether anything is unsaved. Every Start opens new streams whose times begin at 0 again;
    `start_run` shifts the new run's times past everything before it, so times never go back."""

    finals: list[Final] = field(default_factory=list)
    open: dict[str | None, Partial] = field(default_factory=dict)  # by source label
    saved: bool = True  # nothing unsaved
    offset_s: float = 0.0  # added to the current run's stream times
    run_s: float = 0.0  # how long the current run has gone on (stream seconds)

    def add(self, event: Event) -> None:
        """Take one event of the current run."""
        event = shifted(event, self.offset_s)
        self.run_s = max(self.run_s, event.audio_s - self.offset_s)
        source = source_of(event)
        if isinstance(event, Final):
            self.open.pop(source, None)
            if event.text:
                starts = [f.start_s for f in self.finals]
                self.finals.insert(bisect.bisect_right(starts, event.start_s), event)
                self.saved = False
        elif event.text:
            self.open[source] = event
        else:
            self.open.pop(source, None)

    def start_run(self) -> None:
        """A new Start: its times begin after the previous run and after every final."""
        end = max((f.end_s for f in self.finals), default=0.0)
        self.offset_s = max(self.offset_s + self.run_s, end)
        self.run_s = 0.0
        self.open.clear()

    def extend_run(self, seconds: float) -> None:
        """The current run lasted at least `seconds` (its wall-clock time: silence makes no
        events, yet it takes time)."""
        self.run_s = max(self.run_s, seconds)

    def clear(self) -> None:
        """Forget the text (times keep counting)."""
        self.finals.clear()
        self.open.clear()
        self.saved = True

    @property
    def unsaved(self) -> bool:
        """Finals that have not been saved since they came."""
        return bool(self.finals) and not self.saved

    def lines(self) -> list[str]:
        """History lines, `[HH:MM:SS] label: text` per final."""
        return [line_of(final) for final in self.finals]

    def open_segments(self) -> list[Partial]:
        """Each source's open segment, in the order the sources first spoke."""
        return list(self.open.values())

    def recent(self, count: int) -> list[str]:
        """The last `count` texts: finals, then the open segments."""
        texts = [f.text for f in self.finals[-count:]]
        return (texts + [p.text for p in self.open_segments()])[-count:]

    def save(self, path: Path) -> None:
        """Write the finals as .txt, .srt, .vtt or .json (chosen by the suffix)."""
        writer = WRITERS.get(path.suffix.lower())
        if writer is None:
            raise ValueError(
                f"save as .txt, .srt, .vtt or .json, not {path.suffix or 'no extension'}"
            )
        path.write_text(writer(self.finals), encoding="utf-8")
        self.saved = True


def line_of(final: Final) -> str:
    """`[HH:MM:SS] label: text` (no label for an unlabelled source)."""
    source = source_of(final)
    label = f"{source}: " if source else ""
    return f"[{timestamp(final.start_s)[:8]}] {label}{final.text}"
