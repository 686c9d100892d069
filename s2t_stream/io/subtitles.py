"""Finals → subtitle files: SRT, WebVTT, plain text with timestamps, and JSON events. Finals of
several labelled inputs ("You", "Others") are interleaved by time, each cue or line marked with
its speaker (SRT and text: `You: …`; WebVTT: a `<v You>` voice span; JSON: a `source` field)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from s2t_stream.streaming.events import Final, Word


class Timed(Protocol):
    """What subtitles need of a final (streaming) or a segment (offline `TimedText`)."""

    @property
    def text(self) -> str: ...

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...

    @property
    def words(self) -> tuple[Word, ...]: ...


MIN_CUE_S = 0.5  # shorter cues flash by unread

T = TypeVar("T", bound=Timed)


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]
    speaker: str | None = None


def speaker(final: Timed) -> str | None:
    """The label of the input a final came from (a streaming `Final.source`); None when it is
    unlabelled (offline segments have no such attribute)."""
    return getattr(final, "source", None)


def in_time_order(finals: Sequence[T]) -> list[T]:
    """Finals by start time (stable): several inputs' finals interleaved as they were spoken."""
    return sorted(finals, key=lambda final: final.start_s)


def timestamp(seconds: float, separator: str = ",") -> str:
    """SRT `HH:MM:SS,mmm` (WebVTT: separator '.')."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _wrap(words: Sequence[str], width: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def cues(
    finals: Sequence[Timed], *, width: int = 42, lines: int = 2, prefix: bool = True
) -> list[Cue]:
    """Each final's words in cues of ≤ `lines` × `width` characters, in time order. A labelled
    final's cues carry its `speaker`; with `prefix` their text starts with `You: `."""
    out: list[Cue] = []
    for final in in_time_order(finals):
        label = speaker(final)
        head = [f"{label}:"] if label and prefix else []
        words = list(final.words) or [Word(final.text, final.start_s, final.end_s)]
        group: list[Word] = []
        for word in words:
            if group and len(_wrap([*head, *(w.word for w in [*group, word])], width)) > lines:
                out.append(_cue(group, width, head, label))
                group = []
            group.append(word)
        if group and any(w.word for w in group):
            out.append(_cue(group, width, head, label))
    for i in range(len(out) - 1):  # stretch short cues, never over the next one
        cue, following = out[i], out[i + 1]
        end = min(max(cue.end_s, cue.start_s + MIN_CUE_S), following.start_s)
        out[i] = replace(cue, end_s=max(end, cue.end_s))
    if out:
        last = out[-1]
        out[-1] = replace(last, end_s=max(last.end_s, last.start_s + MIN_CUE_S))
    return out


def _cue(words: Sequence[Word], width: int, head: list[str], label: str | None) -> Cue:
    text = _wrap([*head, *(w.word for w in words)], width)
    return Cue(words[0].start_s, words[-1].end_s, tuple(text), label)


def to_srt(finals: Sequence[Timed]) -> str:
    """SubRip cues; a labelled final's cues start with its speaker (`You: …`)."""
    blocks = [
        f"{n}\n{timestamp(c.start_s)} --> {timestamp(c.end_s)}\n" + "\n".join(c.lines) + "\n"
        for n, c in enumerate(cues(finals), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(finals: Sequence[Timed]) -> str:
    """WebVTT cues; a labelled final's cues are voice spans (`<v You>…`)."""
    blocks = [
        f"{timestamp(c.start_s, '.')} --> {timestamp(c.end_s, '.')}\n"
        + (f"<v {c.speaker}>" if c.speaker else "")
        + "\n".join(c.lines)
        + "\n"
        for c in cues(finals, prefix=False)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_text(finals: Sequence[Timed]) -> str:
    """`[HH:MM:SS] text` per final (`[HH:MM:SS] You: text` when labelled), in time order."""
    return "".join(
        f"[{timestamp(f.start_s)[:8]}] {_said_by(f)}{f.text}\n"
        for f in in_time_order(finals)
        if f.text
    )


def to_json(finals: Sequence[Final]) -> str:
    """The finals as a JSON array of final events (`Final.to_json`, with `source` when
    labelled), in time order."""
    events = [final.to_json() for final in in_time_order(finals)]
    return json.dumps(events, ensure_ascii=False, indent=1) + "\n"


def _said_by(final: Timed) -> str:
    label = speaker(final)
    return f"{label}: " if label else ""
