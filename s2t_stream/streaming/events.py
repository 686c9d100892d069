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
    """A closed segment: its text, its span (`start_s`, `end_s`: its first word's start, its
    last word's end) and its words' times; `segment_end_s`, where the segment itself ended (its
    endpoint: no later segment starts before it; None where unknown); with a cascade
    (s2t_stream.translation), `translation`: its text in the target language."""

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
    segment_end_s: float | None = None

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
        if self.segment_end_s is not None:
            data["segment_end_s"] = _r(self.segment_end_s)
        if self.translation is not None:
            data["translation"] = self.translation
        return _labelled(data, self.source)


Event = Partial | Final


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _labelled(data: dict[str, Any], source: str | None) -> dict[str, Any]:
    """`data` with `"source"` when the event has one (unlabelled events' JSON is unchanged)."""
    return data if source is None else {**data, "source": source}


E = TypeVar("E", Partial, Final)


def shifted(event: Event, offset_s: float, segments: int = 0) -> Event:
    """`event` with its stream times moved `offset_s` later and its segment id `segments`
    higher (a later run or session of the same transcript, which counts from 0 again)."""
    if not offset_s and not segments:
        return event
    if isinstance(event, Partial):
        return replace(event, segment=event.segment + segments, audio_s=event.audio_s + offset_s)
    words = tuple(
        replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s) for w in event.words
    )
    return replace(
        event,
        segment=event.segment + segments,
        start_s=event.start_s + offset_s,
        end_s=event.end_s + offset_s,
        audio_s=event.audio_s + offset_s,
        words=words,
        segment_end_s=None if event.segment_end_s is None else event.segment_end_s + offset_s,
    )


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
                _optional_float(w.get("conf")),
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
            segment_end_s=_optional_float(data.get("segment_end_s")),
        )
    raise ValueError(f"expected an event with type 'partial' or 'final', got type {kind!r}")
