"""The caption overlay's roll-up layout (offscreen): whatever the width, font and line count, the
newest caption's last word is on the last drawn line, every drawn line fits the width, the rows
fit the height, and the drawn lines are the tail of the captions' text."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("PyQt6", reason="the desktop app needs PyQt6 (pip install 's2t-stream[gui]')")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")

from PyQt6.QtCore import QRect, Qt

from gui.overlay import MARGIN_Y, Caption, CaptionOverlay, Style, line_text

pytestmark = pytest.mark.qt

OLDER = Caption("they play together perfectly", label="You")
LONG = Caption(
    "agents are instructed that it is not their responsibility to investigate or evaluate",
    "a present danger supercalifragilisticexpialidociously",
    label="Others",
)


def all_words(captions: list[Caption]) -> list[str]:
    return [word for caption in captions for word, _ in caption.words()]


@pytest.mark.parametrize("width", [240, 480, 900, 1400])
@pytest.mark.parametrize(("font_size", "lines"), [(14, 1), (26, 2), (36, 3), (60, 2)])
def test_the_newest_words_are_always_on_the_last_line(
    qapp, width: int, font_size: int, lines: int
) -> None:  # type: ignore[no-untyped-def]
    overlay = CaptionOverlay(lines=lines, font_size=font_size)
    overlay.resize(width, overlay.fitting_height())
    assert overlay.width() == max(width, overlay.minimumWidth())
    overlay.show_captions([OLDER, LONG])
    shown = overlay.roll_up()
    drawn = [line_text(line) for line in shown.captions]
    assert drawn[-1].endswith("supercalifragilisticexpialidociously"[-3:])  # newest word's end
    assert len(drawn) == lines  # the height fits exactly `lines` rows
    assert len(drawn) * overlay.typeface.line_spacing <= overlay.text_height()
    for line in shown.captions:  # nothing runs past the right edge
        last = line[-1]
        assert last.x + overlay.typeface.advance(last.style, last.text) <= overlay.text_width()
    # the drawn lines are the tail of the text, in order (older lines scrolled off the top)
    drawn_words = " ".join(drawn).split()
    words = "".join(all_words([OLDER, LONG])).replace(" ", "")
    assert words.endswith("".join(drawn_words))
    overlay.close()


@pytest.mark.parametrize("font_size", [26, 36])
def test_a_window_made_too_small_still_shows_the_newest_line(qapp, font_size: int) -> None:  # type: ignore[no-untyped-def]
    overlay = CaptionOverlay(lines=3, font_size=font_size)
    overlay.resize(500, 10)  # smaller than allowed: clamped to one row
    overlay.show_captions([LONG])
    assert overlay.height() >= MARGIN_Y * 2 + overlay.typeface.line_spacing
    drawn = overlay.visible_lines()
    assert len(drawn) == 1 and drawn[0].endswith("ously")
    assert "".join(all_words([LONG])).endswith(drawn[0].replace(" ", ""))
    overlay.close()


def test_font_and_line_changes_resize_the_window_to_fit(qapp) -> None:  # type: ignore[no-untyped-def]
    overlay = CaptionOverlay(lines=2, font_size=26)
    overlay.set_font_size(36)
    overlay.set_max_lines(3)
    needed = 2 * MARGIN_Y + 3 * overlay.typeface.line_spacing
    assert overlay.height() == math.ceil(needed)
    overlay.show_captions([OLDER, LONG])
    assert len(overlay.visible_lines()) == 3
    overlay.close()


def test_tentative_words_are_dimmed_and_italic_labels_bold(qapp) -> None:  # type: ignore[no-untyped-def]
    overlay = CaptionOverlay(lines=2, font_size=20)
    overlay.show_captions([Caption("it is", "par for", label="You")])
    (line,) = overlay.roll_up().captions
    styles = {placed.text: placed.style for placed in line}
    assert styles == {
        "You:": Style.LABEL,
        "it": Style.COMMITTED,
        "is": Style.COMMITTED,
        "par": Style.TENTATIVE,
        "for": Style.TENTATIVE,
    }
    fonts = overlay.typeface.fonts
    assert fonts[Style.TENTATIVE].italic() and not fonts[Style.COMMITTED].italic()
    assert fonts[Style.LABEL].bold()
    tentative = overlay._colour(line[-1])
    assert tentative.alpha() < 255  # dimmed
    overlay.close()


def test_the_translation_goes_under_its_caption(qapp) -> None:  # type: ignore[no-untyped-def]
    overlay = CaptionOverlay(lines=2, font_size=26)
    plain = overlay.height()
    overlay.show_captions([OLDER], "ils jouent parfaitement ensemble")
    assert overlay.height() > plain  # room was made for it
    assert overlay.visible_lines() == [
        "You: they play together perfectly",
        "ils jouent parfaitement ensemble",
    ]
    overlay.show_captions([OLDER], None)
    assert overlay.height() == plain
    overlay.close()


def test_default_place_is_bottom_centre_clear_of_the_main_window(qapp) -> None:  # type: ignore[no-untyped-def]
    overlay = CaptionOverlay()
    screen = QRect(0, 0, 1280, 800)
    overlay.place_default(screen, avoid=QRect(0, 0, 900, 500))
    geometry = overlay.geometry()
    assert abs(geometry.center().x() - screen.center().x()) <= 1
    assert geometry.bottom() > 700 and not geometry.intersects(QRect(0, 0, 900, 500))
    overlay.place_default(screen, avoid=QRect(100, 300, 1000, 500))  # covers the bottom
    assert not overlay.geometry().intersects(QRect(100, 300, 1000, 500))
    overlay.close()


def test_window_flags_click_through_and_opacity(qapp) -> None:  # type: ignore[no-untyped-def]
    overlay = CaptionOverlay(lines=2, opacity=0.6)
    flags = overlay.windowFlags()
    for flag in (
        Qt.WindowType.FramelessWindowHint,
        Qt.WindowType.WindowStaysOnTopHint,
        Qt.WindowType.Tool,
    ):
        assert flags & flag
    assert overlay.testAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
    assert overlay.background.alpha() == 153  # 60 % of 255
    overlay.set_click_through(True)
    assert overlay.windowFlags() & Qt.WindowType.WindowTransparentForInput
    assert not overlay.isVisible()  # a hidden overlay stays hidden
    overlay.show()
    overlay.set_click_through(False)
    assert not overlay.windowFlags() & Qt.WindowType.WindowTransparentForInput
    assert overlay.isVisible()  # a shown one stays shown
    overlay.close()
