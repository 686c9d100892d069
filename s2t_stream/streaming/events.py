"""What a stream tells its consumer: typed, JSON-serialisable partial and final events. Times
`*_s` are seconds of stream audio, except `wall_s` (clock seconds since the stream opened).
`source` labels the input an event came from when several are captioned together (e.g. "You"
and "Others"); it is absent from the JSON of unlabelled events, and so is a final's `translation`
(its text machine-translated, s2t_stream.translation) when there is none."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar


def _r(seconds: float) -> float:
    return round(seconds, 3)


@dataclass(frozen=True)
class Word:
    """One word of a final, with times estimated from the decoder's cross-attention and `conf`,
    its confidence in [0, 1] (`streaming.words.word_confidence`; None where not computed, and
    then absent from the JSON)."""

    word: str
    start_s: float
    end_s: float
    conf: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "word": self.word,
            "start_s": _r(self.start_s),
            "end_s": _r(self.end_s),
        }
        if self.conf is not None:
            data["conf"] = _r(self.conf)
        return data


@dataclass(frozen=True)
class Partial:
    """The open segment's current state: `committed` text (stable: it only ever grows) and
    `tentative` text (the rest of the current hypothesis, which may still change); `audio_s` is
    the audio consumed when it was made."""

    segment: int
    committed: str
    tentative: str
    audio_s: float
    wall_s: float
    type: Literal["partial"] = "partial"
    source: str | None = None

    @property
    def text(self) -> str:
        return " ".join(t for t in (self.committed, self.tentative) if t)

    def to_json(self) -> dict[str, Any]:
        data = {
            "type": self.type,
            "segment": self.segment,
            "committed": self.committed,
            "tentative": self.tentative,
            "audio_s": _r(self.audio_s),
            "wall_s": _r(self.wall_s),
        }
        return _labelled(data, self.source)


@dataclass(frozen=True)
class Final:
    """A closed segment: its text, its span (`start_s`, `end_s`) and its words' times; with a
    cascade (s2t_stream.translation), `translation`: its text in the target language."""

    segment: int
    text: str
    start_s: float
    end_s: float
    audio_s: float
    wall_s: float
    words: tuple[Word, ...]
    type: Literal["final"] = "final"
    source: str | None = None
    translation: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "segment": self.segment,
            "text": self.text,
            "start_s": _r(self.start_s),
            "end_s": _r(self.end_s),
            "audio_s": _r(self.audio_s),
            "wall_s": _r(self.wall_s),
            "words": [w.to_json() for w in self.words],
        }
        if self.translation is not None:
            data["translation"] = self.translation
        return _labelled(data, self.source)


Event = Partial | Final


def _labelled(data: dict[str, Any], source: str | None) -> dict[str, Any]:
    """`data` with `"source"` when the event has one (unlabelled events' JSON is unchanged)."""
    return data if source is None else {**data, "source": source}


E = TypeVar("E", Partial, Final)


def labelled(event: E, source: str) -> E:
    """`event` as coming from the input labelled `source`."""
    return replace(event, source=source)


def event_from_json(data: dict[str, Any]) -> Event:
    """The inverse of `to_json` (clients and tests read events back)."""
    kind = data.get("type")
    source = None if data.get("source") is None else str(data["source"])
    if kind == "partial":
        return Partial(
            int(data["segment"]),
            str(data["committed"]),
            str(data["tentative"]),
            float(data["audio_s"]),
            float(data["wall_s"]),
            source=source,
        )
    if kind == "final":
        words = tuple(
            Word(
                str(w["word"]),
                float(w["start_s"]),
                float(w["end_s"]),
                None if w.get("conf") is None else float(w["conf"]),
            )
            for w in data["words"]
        )
        return Final(
            int(data["segment"]),
            str(data["text"]),
            float(data["start_s"]),
            float(data["end_s"]),
            float(data["audio_s"]),
            float(data["wall_s"]),
            words,
            source=source,
            translation=None if data.get("translation") is None else str(data["translation"]),
        )
    raise ValueError(f"expected an event with type 'partial' or 'final', got type {kind!r}")
