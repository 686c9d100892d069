"""Finals → subtitle files: SRT, WebVTT, and plain text with timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from s2t_stream.streaming.events import Word


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


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]


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


def cues(finals: Sequence[Timed], *, width: int = 42, lines: int = 2) -> list[Cue]:
    """Each final's words in cues of ≤ `lines` × `width` characters, in time order."""
    out: list[Cue] = []
    for final in finals:
        words = list(final.words) or [Word(final.text, final.start_s, final.end_s)]
        group: list[Word] = []
        for word in words:
            if group and len(_wrap([w.word for w in [*group, word]], width)) > lines:
                out.append(_cue(group, width))
                group = []
            group.append(word)
        if group and any(w.word for w in group):
            out.append(_cue(group, width))
    for i in range(len(out) - 1):  # stretch short cues, never over the next one
        cue, following = out[i], out[i + 1]
        end = min(max(cue.end_s, cue.start_s + MIN_CUE_S), following.start_s)
        out[i] = Cue(cue.start_s, max(end, cue.end_s), cue.lines)
    if out:
        last = out[-1]
        out[-1] = Cue(last.start_s, max(last.end_s, last.start_s + MIN_CUE_S), last.lines)
    return out


def _cue(words: Sequence[Word], width: int) -> Cue:
    return Cue(words[0].start_s, words[-1].end_s, tuple(_wrap([w.word for w in words], width)))


def to_srt(finals: Sequence[Timed]) -> str:
    blocks = [
        f"{n}\n{timestamp(c.start_s)} --> {timestamp(c.end_s)}\n" + "\n".join(c.lines) + "\n"
        for n, c in enumerate(cues(finals), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(finals: Sequence[Timed]) -> str:
    blocks = [
        f"{timestamp(c.start_s, '.')} --> {timestamp(c.end_s, '.')}\n" + "\n".join(c.lines) + "\n"
        for c in cues(finals)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_text(finals: Sequence[Timed]) -> str:
    return "".join(f"[{timestamp(f.start_s)[:8]}] {f.text}\n" for f in finals if f.text)
