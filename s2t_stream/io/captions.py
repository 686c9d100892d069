"""Terminal captions, sans I/O: events in, text to write out."""

from __future__ import annotations

import json

from s2t_stream.streaming.events import Event, Final

DIM, RESET, CLEAR_LINE = "\x1b[2m", "\x1b[0m", "\r\x1b[K"


class Captions:
    """On a terminal (`live`) the open segment is one line redrawn in place — committed text
    plain, tentative text dimmed — and each final replaces it and ends the line. Elsewhere (a
    pipe, a file) only finals are written, one per line. `jsonl`: every event as a JSON line."""

    def __init__(self, *, live: bool, jsonl: bool = False) -> None:
        self.live = live
        self.jsonl = jsonl

    def render(self, event: Event) -> str:
        if self.jsonl:
            return json_line(event)
        if isinstance(event, Final):
            return (CLEAR_LINE if self.live else "") + event.text + "\n"
        if not self.live:
            return ""
        tentative = f"{DIM}{event.tentative}{RESET}" if event.tentative else ""
        return CLEAR_LINE + " ".join(t for t in (event.committed, tentative) if t)


def json_line(event: Event) -> str:
    return json.dumps(event.to_json(), ensure_ascii=False) + "\n"
