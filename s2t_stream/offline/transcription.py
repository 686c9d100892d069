"""What offline transcription returns: a recording's segments with their times and words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s2t_stream.streaming.events import Word


@dataclass(frozen=True)
class TimedText:
    """One segment of a transcription: its span (seconds of the recording), text, tokens (start
    token and forced language tag excluded) and words with their times; with a cascade
    (`transcribe --mt`), `translation`: its text machine-translated (in the JSON only then)."""

    start_s: float
    end_s: float
    text: str
    tokens: tuple[int, ...]
    words: tuple[Word, ...]
    translation: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "text": self.text,
            "words": [w.to_json() for w in self.words],
        }
        if self.translation is not None:
            data["translation"] = self.translation
        return data


@dataclass(frozen=True)
class Transcription:
    """One recording's result: its segments in time order and their text joined."""

    segments: tuple[TimedText, ...]
    duration_s: float
    path: str | None = None

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text)

    @property
    def tokens(self) -> tuple[int, ...]:
        return tuple(t for s in self.segments for t in s.tokens)

    @property
    def translation(self) -> str | None:
        """The segments' translations joined (None when the segments were not translated)."""
        if not any(s.translation is not None for s in self.segments):
            return None
        return " ".join(s.translation for s in self.segments if s.translation)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "text": self.text,
            "duration_s": round(self.duration_s, 3),
            "segments": [s.to_json() for s in self.segments],
        }
        if self.translation is not None:
            data["translation"] = self.translation
        return data
