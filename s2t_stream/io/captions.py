"""Terminal captions, sans I/O: events (and a live warning) in, text to write to stdout out."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from wcwidth import wcswidth

from s2t_stream.streaming.events import Event, Final, Partial

DIM, RESET, CLEAR_LINE = "\x1b[2m", "\x1b[0m", "\r\x1b[K"
WARN = "\x1b[33;1m"  # bold yellow
TRANSLATED = "\x1b[36m"  # cyan: a final's translation, on the line under it
ARROW = "→ "  # starts a final's translation line
CLEAR_BELOW = "\x1b[J"  # erase from the cursor to the end of the screen
ELLIPSIS = "… "  # starts a line cut to its newest words


def columns() -> int:
    """The terminal's width (80 when it cannot be told)."""
    return shutil.get_terminal_size().columns


def rows() -> int:
    """The terminal's height (24 when it cannot be told)."""
    return shutil.get_terminal_size().lines


def cells(text: str) -> int:
    """Terminal columns `text` takes (wide characters take two)."""
    width = wcswidth(text)
    return len(text) if width < 0 else width


@dataclass(frozen=True)
class Run:
    """Text drawn in one style (`style` an SGR sequence, "" for plain)."""

    text: str
    style: str = ""


class Captions:
    """On a terminal (`live`) finals scroll up as plain lines and, below them, each input's open
    segment (committed text plain, tentative text dimmed) and any warning (`status`) form a
    block that every update redraws in place: the block's rows — however many its lines wrapped
    to at the terminal's width — are erased before it is drawn again, so nothing stale is left.
    A block taller than the terminal keeps its newest text. Elsewhere (a pipe, a file) only
    finals are written, one per line. `jsonl`: every event as a JSON line. Finals and open lines
    of labelled events (several inputs) start with their label: `You: …`. A final with a
    translation (the cascade, `--mt`) is followed by a line `→ translation` (in colour, live)."""

    def __init__(
        self,
        *,
        live: bool,
        jsonl: bool = False,
        width: Callable[[], int] = columns,
        height: Callable[[], int] = rows,
    ) -> None:
        self.live = live
        self.jsonl = jsonl
        self.width = width
        self.height = height
        self.open: dict[str | None, Partial] = {}  # each input's open segment
        self.warning: str | None = None
        self.drawn_rows = 0  # rows the block takes on screen now (0: nothing drawn)

    def render(self, event: Event) -> str:
        """What to write for `event`."""
        if self.jsonl:
            return json_line(event)
        if not self.live:
            return _lines(event, "") if isinstance(event, Final) else ""
        if isinstance(event, Final):
            self.open.pop(event.source, None)
            return self._erase() + _lines(event, TRANSLATED) + self._draw()
        self.open[event.source] = event
        return self._erase() + self._draw()

    def status(self, warning: str | None) -> str:
        """Show `warning` (None: no warning) above the open lines; live captions only (a pipe
        or JSON lines get warnings on stderr from the caller)."""
        if not self.live or self.jsonl or warning == self.warning:
            return ""
        self.warning = warning
        return self._erase() + self._draw()

    def _erase(self) -> str:
        """Back to the block's first row, and clear from there down."""
        if not self.drawn_rows:
            return ""
        up = self.drawn_rows - 1
        self.drawn_rows = 0
        return "\r" + (f"\x1b[{up}A" if up else "") + CLEAR_BELOW

    def _draw(self) -> str:
        """The block, each line cut to its newest text where the block would not fit; the
        cursor is left at its end."""
        lines = [[Run(f"⚠ {self.warning}", WARN)]] if self.warning else []
        lines += [_open_runs(partial) for partial in self.open.values() if partial.text]
        if not lines:
            return ""
        width = max(1, self.width())
        budget = max(1, self.height() - 1)  # rows the cursor can move back up over
        drawn: list[list[Run]] = []
        for index in reversed(range(len(lines))):  # the bottom (newest) line first
            line = _tail(lines[index], max(1, budget - index) * width)  # a row for each above
            budget -= _rows(line, width)
            drawn.insert(0, line)
        self.drawn_rows = sum(_rows(line, width) for line in drawn)
        return "\r\n".join(_styled(line) for line in drawn)


def _lines(final: Final, style: str) -> str:
    """A final's line, and its translation's under it (in `style`) when it has one."""
    line = f"{final.source}: {final.text}" if final.source else final.text
    if final.translation is None:
        return line + "\n"
    return line + "\n" + _styled([Run(ARROW + final.translation, style)]) + "\n"


def _open_runs(partial: Partial) -> list[Run]:
    label = [Run(f"{partial.source}: ")] if partial.source else []
    committed = [Run(partial.committed)] if partial.committed else []
    gap = [Run(" ")] if partial.committed and partial.tentative else []
    tentative = [Run(partial.tentative, DIM)] if partial.tentative else []
    return [*label, *committed, *gap, *tentative]


def _rows(line: list[Run], width: int) -> int:
    """Rows a line takes once the terminal wraps it (at least one)."""
    return max(1, math.ceil(sum(cells(run.text) for run in line) / width))


def _tail(line: list[Run], limit: int) -> list[Run]:
    """The line's last `limit` columns from a word's start, an ellipsis first when it was cut."""
    if sum(cells(run.text) for run in line) <= limit:
        return line
    kept: list[Run] = []
    room = limit - cells(ELLIPSIS)
    for run in reversed(line):
        text = run.text
        while text and cells(text) > room:
            text = text[1:]
        if len(text) < len(run.text):  # cut: start at the next whole word, if there is one
            cut = run.text[len(run.text) - len(text) - 1]
            if not cut.isspace() and " " in text:
                text = text[text.index(" ") :]
        if len(text) < len(run.text):
            text = text.lstrip()
        if text:
            kept.insert(0, Run(text, run.style))
            room -= cells(text)
        if len(text) < len(run.text):
            break
    return [Run(ELLIPSIS), *kept]


def _styled(line: list[Run]) -> str:
    return "".join(f"{run.style}{run.text}{RESET}" if run.style else run.text for run in line)


def json_line(event: Event) -> str:
    return json.dumps(event.to_json(), ensure_ascii=False) + "\n"
