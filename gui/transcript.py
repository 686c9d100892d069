"""The transcript the window shows and saves (no Qt): finals with their times, plus the open
segment's committed and tentative text."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from s2t_stream.io.subtitles import timestamp, to_srt, to_text, to_vtt
from s2t_stream.streaming.events import Event, Final

WRITERS = {".txt": to_text, ".srt": to_srt, ".vtt": to_vtt}


@dataclass
class Transcript:
    finals: list[Final] = field(default_factory=list)
    committed: str = ""
    tentative: str = ""
    saved: bool = True  # nothing unsaved

    def add(self, event: Event) -> None:
        if isinstance(event, Final):
            if event.text:
                self.finals.append(event)
                self.saved = False
            self.committed = self.tentative = ""
        else:
            self.committed, self.tentative = event.committed, event.tentative

    def clear(self) -> None:
        self.finals.clear()
        self.committed = self.tentative = ""
        self.saved = True

    def lines(self) -> list[str]:
        """History lines: `[HH:MM:SS] text` per final."""
        return [f"[{timestamp(f.start_s)[:8]}] {f.text}" for f in self.finals]

    def recent(self, count: int) -> list[str]:
        """The last `count` caption lines, the open segment's text last."""
        texts = [f.text for f in self.finals]
        open_text = " ".join(t for t in (self.committed, self.tentative) if t)
        if open_text:
            texts.append(open_text)
        return texts[-count:]

    def save(self, path: Path) -> None:
        writer = WRITERS.get(path.suffix.lower())
        if writer is None:
            raise ValueError(f"save as .txt, .srt or .vtt, not {path.suffix or 'no extension'}")
        path.write_text(writer(self.finals), encoding="utf-8")
        self.saved = True
