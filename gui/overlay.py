"""The caption overlay: roll-up captions in a frameless, translucent, always-on-top window.

Captions (an optional speaker label, committed words, tentative words) are wrapped with the
font's metrics for the window's current width; the newest line is drawn at the bottom and
older lines scroll off the top, so the newest words are always on screen. Tentative words are
dimmed and italic; a translation, when one runs, is drawn under the captions. The window is
draggable, resizable and optionally click-through."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from PyQt6.QtCore import QPoint, QPointF, QRect, QRectF, Qt
from PyQt6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
)
from PyQt6.QtWidgets import QSizeGrip, QWidget

OVERLAY_FLAGS = (
    Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool
)
MARGIN_X, MARGIN_Y = 14, 8  # px between the background's edge and the text
TRANSLATION_ROWS = 2  # a translation shows at most its last two lines
DEFAULT_WIDTH = 900
LABEL_COLOURS = ("#8fd3ff", "#b5f08c", "#ffb3d9", "#ffd27f")  # speakers, in order of appearance


class Style(Enum):
    """How a word is drawn."""

    LABEL = "label"  # the speaker's name ("You:")
    COMMITTED = "committed"  # stable text
    TENTATIVE = "tentative"  # may still change: dimmed and italic
    TRANSLATION = "translation"  # the translation model's line


@dataclass(frozen=True)
class Caption:
    """One caption: a final, or the open segment (committed and tentative text) of a source."""

    committed: str
    tentative: str = ""
    label: str = ""

    def words(self) -> list[tuple[str, Style]]:
        """The caption's words in order, each with its style."""
        out = [(f"{self.label}:", Style.LABEL)] if self.label else []
        out += [(word, Style.COMMITTED) for word in self.committed.split()]
        return out + [(word, Style.TENTATIVE) for word in self.tentative.split()]


@dataclass(frozen=True)
class Placed:
    """A word on a laid-out line: its text, its style and its x offset (px) in the line."""

    text: str
    style: Style
    x: float


Line = tuple[Placed, ...]


def line_text(line: Line) -> str:
    """A laid-out line as plain text."""
    return " ".join(placed.text for placed in line)


class Typeface:
    """The overlay's fonts at one point size: a font and its metrics per style."""

    def __init__(self, point_size: int) -> None:
        self.point_size = point_size
        self.fonts = {style: QFont() for style in Style}
        for style, font in self.fonts.items():
            size = max(8, round(point_size * 0.8)) if style is Style.TRANSLATION else point_size
            font.setPointSize(size)
            font.setItalic(style is Style.TENTATIVE)
            font.setBold(style is Style.LABEL)
        self.metrics = {style: QFontMetricsF(font) for style, font in self.fonts.items()}
        caption_styles = (Style.LABEL, Style.COMMITTED, Style.TENTATIVE)
        self.line_spacing = max(self.metrics[s].lineSpacing() for s in caption_styles)
        self.ascent = max(self.metrics[s].ascent() for s in caption_styles)
        self.translation_spacing = self.metrics[Style.TRANSLATION].lineSpacing()

    def advance(self, style: Style, text: str) -> float:
        """How far (px) `text` in `style` moves the pen."""
        return self.metrics[style].horizontalAdvance(text)

    def space(self, style: Style) -> float:
        """The gap (px) before a word in `style`."""
        return self.metrics[style].horizontalAdvance(" ")


def _pieces(text: str, style: Style, typeface: Typeface, width: float) -> Iterator[str]:
    """`text`, cut into pieces that each fit `width` (a word wider than the window)."""
    if typeface.advance(style, text) <= width:
        yield text
        return
    piece = ""
    for char in text:
        if piece and typeface.advance(style, piece + char) > width:
            yield piece
            piece = ""
        piece += char
    if piece:
        yield piece


def wrap(words: Sequence[tuple[str, Style]], typeface: Typeface, width: float) -> list[Line]:
    """Greedy word wrap measured with the fonts' metrics: no line is wider than `width`."""
    lines: list[list[Placed]] = []
    x = 0.0  # the current line's width so far
    for text, style in words:
        for piece in _pieces(text, style, typeface, width):
            advance = typeface.advance(style, piece)
            start = x + typeface.space(style)
            if lines and start + advance <= width:
                lines[-1].append(Placed(piece, style, start))
                x = start + advance
            else:
                lines.append([Placed(piece, style, 0.0)])
                x = advance
    return [tuple(line) for line in lines]


@dataclass(frozen=True)
class RollUp:
    """What the overlay draws: the newest caption lines (last = bottom) and the translation's."""

    captions: list[Line]
    translation: list[Line]


class CaptionOverlay(QWidget):
    """Roll-up captions; `show_captions` sets them, the window lays them out and paints."""

    def __init__(self, lines: int = 2, font_size: int = 26, opacity: float = 0.85) -> None:
        super().__init__(None, OVERLAY_FLAGS)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setWindowTitle("s2t-stream captions")
        self.max_lines = lines
        self.captions: list[Caption] = []
        self.translation: str | None = None  # None: no translation model runs
        self.label_colours: dict[str, QColor] = {}
        self.typeface = Typeface(font_size)
        self.background = QColor(0, 0, 0)
        self.drag_from: QPoint | None = None
        self.grip = QSizeGrip(self)
        self.grip.resize(16, 16)
        self.set_opacity(opacity)
        self.resize(DEFAULT_WIDTH, self.fitting_height())
        self._update_minimum()

    # --- settings -------------------------------------------------------------------------------

    def set_font_size(self, size: int) -> None:
        """Captions in `size` points; the window's height follows to keep `max_lines` rows."""
        self.typeface = Typeface(size)
        self._update_minimum()
        self.resize(self.width(), self.fitting_height())
        self.update()

    def set_max_lines(self, lines: int) -> None:
        """Show up to `lines` caption rows; the window's height follows."""
        self.max_lines = lines
        self.resize(self.width(), self.fitting_height())
        self.update()

    def set_opacity(self, opacity: float) -> None:
        """The background's opacity, 0.1–1 (the text stays opaque)."""
        self.background.setAlphaF(min(max(opacity, 0.1), 1.0))
        self.update()

    def set_click_through(self, on: bool) -> None:
        """Clicks pass to the windows below (the overlay cannot be dragged meanwhile)."""
        visible = self.isVisible()
        self.setWindowFlag(Qt.WindowType.WindowTransparentForInput, on)
        if visible:  # changing a window flag hides the window
            self.show()

    def place_default(self, screen: QRect, avoid: QRect) -> None:
        """Bottom centre of `screen`; above `avoid` (the main window) if that is in the way,
        else at the top of the screen."""
        width = min(DEFAULT_WIDTH, round(screen.width() * 0.8))
        height = self.fitting_height()
        x = screen.x() + (screen.width() - width) // 2
        gap = max(8, screen.height() // 20)
        y = screen.bottom() - gap - height
        if QRect(x, y, width, height).intersects(avoid):
            above = avoid.top() - gap - height
            y = above if above >= screen.top() else screen.top() + gap
        self.setGeometry(x, y, width, height)

    # --- content and layout ---------------------------------------------------------------------

    def show_captions(self, captions: Sequence[Caption], translation: str | None = None) -> None:
        """The newest captions, oldest first; `translation` (if any) goes under them."""
        grow = (translation is None) != (self.translation is None)
        self.captions = list(captions)
        self.translation = translation
        for caption in self.captions:
            if caption.label and caption.label not in self.label_colours:
                colour = LABEL_COLOURS[len(self.label_colours) % len(LABEL_COLOURS)]
                self.label_colours[caption.label] = QColor(colour)
        if grow:  # a translation appeared or went: make room for it, or give the room back
            self._update_minimum()
            self.resize(self.width(), self.fitting_height())
        self.update()

    def text_width(self) -> float:
        """The width (px) captions are wrapped to."""
        return max(1.0, self.width() - 2 * MARGIN_X)

    def text_height(self) -> float:
        """The height (px) caption and translation rows have."""
        return max(0.0, self.height() - 2 * MARGIN_Y)

    def fitting_height(self) -> int:
        """The height that shows `max_lines` caption rows and one translation row."""
        translation = self.typeface.translation_spacing if self.translation is not None else 0
        return math.ceil(2 * MARGIN_Y + self.max_lines * self.typeface.line_spacing + translation)

    def roll_up(self) -> RollUp:
        """Lay out the captions for the current size: every caption wrapped to the width, then
        the last rows that fit (at least one, at most `max_lines`)."""
        width = self.text_width()
        translation: list[Line] = []
        if self.translation:
            words = [(w, Style.TRANSLATION) for w in self.translation.split()]
            translation = wrap(words, self.typeface, width)[-TRANSLATION_ROWS:]
        free = self.text_height() - len(translation) * self.typeface.translation_spacing
        rows = max(1, min(self.max_lines, math.floor(free / self.typeface.line_spacing)))
        lines = [line for c in self.captions for line in wrap(c.words(), self.typeface, width)]
        return RollUp(lines[-rows:], translation)

    def visible_lines(self) -> list[str]:
        """The text of every line drawn, top to bottom (captions, then the translation)."""
        shown = self.roll_up()
        return [line_text(line) for line in [*shown.captions, *shown.translation]]

    def _update_minimum(self) -> None:
        """Never so small that the newest row (and the translation's) is cut."""
        translation = self.typeface.translation_spacing if self.translation is not None else 0
        height = 2 * MARGIN_Y + self.typeface.line_spacing + translation
        self.setMinimumSize(
            round(self.typeface.advance(Style.COMMITTED, "M" * 8)), math.ceil(height)
        )

    # --- painting -------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent | None) -> None:
        """The rounded background, then the rows from the bottom edge up."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.background)
        painter.drawRoundedRect(QRectF(self.rect()), 8, 8)
        shown = self.roll_up()
        bottom = float(self.height() - MARGIN_Y)  # lines stack upwards from the bottom edge
        bottom -= len(shown.translation) * self.typeface.translation_spacing
        top = bottom - len(shown.captions) * self.typeface.line_spacing
        for row, line in enumerate(shown.captions):
            self._draw_line(painter, line, top + row * self.typeface.line_spacing)
        for row, line in enumerate(shown.translation):
            self._draw_line(painter, line, bottom + row * self.typeface.translation_spacing)
        painter.end()

    def _draw_line(self, painter: QPainter, line: Line, top: float) -> None:
        """One laid-out row, each word in its style's font and colour."""
        for placed in line:
            painter.setFont(self.typeface.fonts[placed.style])
            painter.setPen(self._colour(placed))
            ascent = self.typeface.metrics[placed.style].ascent()
            if placed.style is not Style.TRANSLATION:
                ascent = self.typeface.ascent  # one baseline for the row's mixed fonts
            painter.drawText(QPointF(MARGIN_X + placed.x, top + ascent), placed.text)

    def _colour(self, placed: Placed) -> QColor:
        """A word's colour: the speaker's for a label, dimmed for tentative words."""
        if placed.style is Style.LABEL:
            return self.label_colours.get(placed.text.rstrip(":"), QColor(LABEL_COLOURS[0]))
        if placed.style is Style.TENTATIVE:
            return QColor(255, 255, 255, 150)  # dimmed: may still change
        if placed.style is Style.TRANSLATION:
            return QColor("#ffd75e")
        return QColor(255, 255, 255)

    # --- moving and resizing --------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        self.grip.move(self.width() - self.grip.width(), self.height() - self.grip.height())
        super().resizeEvent(event)

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        """Start dragging the overlay."""
        if event is not None and event.button() == Qt.MouseButton.LeftButton:
            self.drag_from = event.globalPosition().toPoint() - self.frameGeometry().topLeft()

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and self.drag_from is not None:
            self.move(event.globalPosition().toPoint() - self.drag_from)

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        self.drag_from = None
