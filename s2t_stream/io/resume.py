"""Lossless reconnection, sans I/O: what a client must keep to carry one stream across sessions
(a replica drained, a connection dropped) without losing or repeating a word.

A final closes a segment: the words in it are settled, and no later segment starts before the
segment's end (`segment_end_s`, its endpoint; a final without one: its last word's `end_s`). So
the client keeps the audio it sent after that point; a new session
gets that audio again first, and its events are moved onto the whole stream's clock and segment
numbering. Finals a session sends after `draining` (docs/protocol.md) may end an utterance
early: the client drops them, so the next session hears those words whole."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from s2t_stream.streaming.events import Event, Final, shifted


@dataclass
class Resumption:
    """The audio sent since the last final (`pending()`, from stream time `kept_from_s`) and
    where the current session sits in the whole stream: its audio begins at `offset_s` and its
    segment 0 is the stream's `segment_base`. Times in seconds of stream audio."""

    sample_rate: int
    kept: list[np.ndarray] = field(default_factory=list)
    kept_from_s: float = 0.0
    offset_s: float = 0.0
    segment_base: int = 0
    next_segment: int = 0  # one past the last final's id, in the whole stream's numbering

    def sent(self, samples: np.ndarray) -> None:
        """`samples` (n,) went to the current session."""
        self.kept.append(np.array(samples, dtype=np.float32))

    def place(self, event: Event) -> Event:
        """A session's event in the whole stream's times and segment ids; a final settles the
        audio before its end, which is no longer kept."""
        placed = shifted(event, self.offset_s, self.segment_base)
        if isinstance(placed, Final):
            self._settle(placed)
        return placed

    def pending(self) -> np.ndarray:
        """The audio a new session must hear first (everything after the last final)."""
        return np.concatenate(self.kept) if self.kept else np.zeros(0, np.float32)

    def restart(self) -> np.ndarray:
        """A new session begins: its times start at `kept_from_s`, its segments after the last
        final. Returns the audio to send it first."""
        self.offset_s = self.kept_from_s
        self.segment_base = self.next_segment
        return self.pending()

    def _settle(self, final: Final) -> None:
        self.next_segment = max(self.next_segment, final.segment + 1)
        settled_s = final.end_s if final.segment_end_s is None else final.segment_end_s
        cut = round((settled_s - self.kept_from_s) * self.sample_rate)
        if cut <= 0:
            return
        audio = self.pending()
        cut = min(cut, len(audio))
        self.kept = [audio[cut:]] if cut < len(audio) else []
        self.kept_from_s += cut / self.sample_rate
