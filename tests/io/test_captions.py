"""Terminal captions as a terminal emulator (pyte) shows them: a wrapped open line redrawn at
any width leaves nothing stale, two labelled inputs, the live warning line, and plain finals
when stdout is not a terminal."""

from __future__ import annotations

import json

import pyte
import pytest

from s2t_stream.io.captions import DIM, Captions, json_line
from s2t_stream.streaming.events import Final, Partial, Word

SPOKEN = (
    "the birch canoe slid on the smooth planks glue the sheet to the dark blue background "
    "it is easy to tell the depth of a well these days a chicken leg is a rare dish"
)
LONG = SPOKEN.split(" ")


class Terminal:
    """A pyte screen fed what `Captions` writes, as a tty would pass it (newline → CR LF)."""

    def __init__(self, columns: int, lines: int = 24) -> None:
        self.screen = pyte.Screen(columns, lines)
        self.screen.set_mode(pyte.modes.LNM)  # the tty's onlcr: "\n" returns the carriage too
        self.stream = pyte.Stream(self.screen)
        self.captions = Captions(live=True, width=lambda: columns, height=lambda: lines)

    def show(self, *events: Partial | Final) -> None:
        for event in events:
            self.stream.feed(self.captions.render(event))

    def warn(self, warning: str | None) -> None:
        self.stream.feed(self.captions.status(warning))

    def text(self) -> str:
        """The screen's rows joined: wrapped lines read as one string again."""
        return "".join(row.rstrip().ljust(self.screen.columns) for row in self.screen.display)


def growing(words: list[str], segment: int = 0, source: str | None = None) -> list[Partial]:
    """Partials of an open segment as it grows word by word (the last two tentative)."""
    partials = []
    for n in range(1, len(words) + 1):
        committed, tentative = " ".join(words[: n - 2]), " ".join(words[max(0, n - 2) : n])
        partials.append(Partial(segment, committed, tentative, n, n, source=source))
    return partials


def final(words: list[str], segment: int = 0, source: str | None = None) -> Final:
    return Final(segment, " ".join(words), 0.0, 1.0, 1.0, 1.0, (), source=source)


@pytest.mark.parametrize("columns", [40, 23, 80])
def test_a_long_open_line_redrawn_at_any_width_shows_once(columns: int) -> None:
    terminal = Terminal(columns)
    terminal.show(*growing(LONG))
    assert terminal.text().split() == LONG  # every word once: no stale rows above
    terminal.show(final(LONG), *growing(LONG[:12], segment=1))
    assert terminal.text().split() == LONG + LONG[:12]
    terminal.show(final(LONG[:12], segment=1))
    assert terminal.text().split() == LONG + LONG[:12]
    assert terminal.screen.cursor.x == 0  # after a final the next line starts clean


def test_a_line_exactly_as_wide_as_the_terminal() -> None:
    terminal = Terminal(10)
    terminal.show(Partial(0, "abcdefghij", "", 1, 1), Partial(0, "abcdefghij", "k", 1, 1))
    terminal.show(Partial(0, "abc", "", 1, 1))
    assert [row.rstrip() for row in terminal.screen.display[:3]] == ["abc", "", ""]


def test_an_open_line_taller_than_the_terminal_keeps_its_newest_words() -> None:
    terminal = Terminal(20, lines=4)
    terminal.show(*growing(LONG))
    shown = terminal.text().split()
    assert shown[0] == "…" and shown[1:] == LONG[-len(shown) + 1 :]
    assert len(shown) < len(LONG)


def test_two_labelled_inputs_each_keep_an_open_line_and_finals_carry_labels() -> None:
    terminal = Terminal(40)
    you, others = LONG[:9], LONG[9:20]
    for a, b in zip(growing(you, source="You"), growing(others, source="Others"), strict=False):
        terminal.show(a, b)
    terminal.show(*growing(others, source="Others")[len(you) :])
    text = terminal.text()
    assert text.split() == ["You:", *you, "Others:", *others]
    terminal.show(final(you, source="You"))
    assert terminal.text().split() == ["You:", *you, "Others:", *others]
    terminal.show(final(others, source="Others"))
    assert terminal.text().split() == ["You:", *you, "Others:", *others]


def test_the_warning_line_comes_and_goes_above_the_open_line() -> None:
    terminal = Terminal(40)
    terminal.show(*growing(LONG[:10]))
    terminal.warn("captions 6.2 s behind real time")
    warning = ["⚠", "captions", "6.2", "s", "behind", "real", "time"]
    assert terminal.text().split() == [*warning, *LONG[:10]]
    terminal.warn("captions 7.0 s behind real time")
    assert terminal.text().count("behind") == 1 and "7.0 s" in terminal.text()
    terminal.warn(None)
    assert terminal.text().split() == LONG[:10]


def test_tentative_text_is_dimmed() -> None:
    out = Captions(live=True, width=lambda: 80).render(Partial(0, "hello", "wor", 1.0, 1.1))
    assert "hello" in out and DIM + "wor" in out and not out.endswith("\n")


def test_a_pipe_gets_finals_only_and_no_escapes() -> None:
    piped = Captions(live=False)
    assert piped.render(Partial(0, "a", "b", 1.0, 1.0)) == ""
    assert piped.status("captions 6.0 s behind real time") == ""
    assert piped.render(final(["hello", "world"])) == "hello world\n"
    assert piped.render(final(["hi"], source="You")) == "You: hi\n"


def test_jsonl_writes_every_event_with_its_source() -> None:
    captions = Captions(live=True, jsonl=True)
    event = Final(0, "hello", 0.0, 0.5, 0.6, 0.7, (Word("hello", 0.0, 0.5),), source="Others")
    assert json.loads(captions.render(event))["source"] == "Others"
    assert json.loads(json_line(Partial(0, "a", "", 1.0, 1.0))).get("source") is None


def test_a_finals_translation_goes_on_the_line_under_it() -> None:
    translated = Final(0, "the cat is black", 0, 1, 1, 1, (), translation="El gato es negro")
    piped = Captions(live=False)
    assert piped.render(translated) == "the cat is black\n→ El gato es negro\n"
    terminal = Terminal(40)
    terminal.show(*growing(["the", "cat"]), translated)
    rows = [row.rstrip() for row in terminal.screen.display]
    assert rows[:3] == ["the cat is black", "→ El gato es negro", ""]
    assert json.loads(json_line(translated))["translation"] == "El gato es negro"
