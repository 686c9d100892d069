"""The main window's display widgets: the transcript view (finals appended as they come, the
open segments redrawn at its end, a hint while empty), the status line (info, warning, error)
and the input level meter."""

from __future__ import annotations

from typing import Literal

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QFont, QFontMetrics, QResizeEvent, QTextCharFormat, QTextCursor
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QTextEdit, QWidget

from gui.transcript import Transcript, source_of
from s2t_stream.io.subtitles import timestamp
from s2t_stream.streaming.events import Final, Partial
from s2t_stream.streaming.words import LOW_CONFIDENCE

LABEL_COLOURS = ("#1565c0", "#2e7d32", "#ad1457", "#8d6e00")  # speakers, in order of appearance
Level = Literal["info", "warning", "error"]
STATUS_STYLES: dict[Level, str] = {
    "info": "",
    "warning": "background: #fff3cd; color: #5c4300; border-radius: 3px; padding: 0 6px;",
    "error": "color: #b00020;",
}


def char_format(
    colour: str | None = None, *, bold: bool = False, italic: bool = False, dotted: bool = False
) -> QTextCharFormat:
    """A text format: colour, weight, slant and a dotted underline."""
    fmt = QTextCharFormat()
    if colour is not None:
        fmt.setForeground(QColor(colour))
    fmt.setFontWeight(QFont.Weight.Bold if bold else QFont.Weight.Normal)
    fmt.setFontItalic(italic)
    if dotted:
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.DotLine)
    return fmt


class TranscriptView(QTextEdit):
    """Finals as `[time] label: text` lines (words below LOW_CONFIDENCE underlined with dots,
    their confidence in a tooltip), then each source's open segment — committed text bold,
    tentative text grey and italic. New finals are appended (a long transcript is not
    redrawn at every update); the view follows the newest line unless scrolled up."""

    def __init__(self, hint: str) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.hint = QLabel(hint, self.viewport())  # the empty state (a placeholder would not wrap)
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.hint.setStyleSheet("color: #808080; padding: 8px;")
        self.shown: list[Final] = []  # the finals in the document, in order
        self.open_from = 0  # where the open segments start in the document
        self.colours: dict[str, str] = {}
        self.formats = {
            "time": char_format("#777777"),
            "text": char_format(),
            "committed": char_format(bold=True),
            "tentative": char_format("#8a8a8a", italic=True),
            "doubtful": char_format("#9a5b00", dotted=True),
        }

    def show_transcript(self, transcript: Transcript) -> None:
        """Bring the view up to date with `transcript`."""
        bar = self.verticalScrollBar()
        following = bar is None or bar.value() >= bar.maximum() - 4
        cursor = QTextCursor(self.document())
        finals = transcript.finals
        if len(finals) >= len(self.shown) and all(
            a is b for a, b in zip(finals, self.shown, strict=False)
        ):
            cursor.setPosition(self.open_from)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
            new = finals[len(self.shown) :]
        else:  # a final landed before others (two sources) or the transcript was cleared
            self.document().clear()  # type: ignore[union-attr]
            new = finals
            cursor = QTextCursor(self.document())
        for final in new:
            self._final(cursor, final)
        self.shown = list(finals)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        self.open_from = cursor.position()
        for partial in transcript.open_segments():
            self._open(cursor, partial)
        self.hint.setVisible(self.document().isEmpty())  # type: ignore[union-attr]
        if following and bar is not None:
            bar.setValue(bar.maximum())

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        super().resizeEvent(event)
        viewport = self.viewport()
        if viewport is not None:
            self.hint.setGeometry(viewport.rect())

    def _new_line(self, cursor: QTextCursor) -> None:
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if cursor.position() > 0:
            cursor.insertBlock()

    def _label(self, cursor: QTextCursor, source: str | None) -> None:
        if source:
            colour = self.colours.setdefault(
                source, LABEL_COLOURS[len(self.colours) % len(LABEL_COLOURS)]
            )
            cursor.insertText(f"{source}: ", char_format(colour, bold=True))

    def _final(self, cursor: QTextCursor, final: Final) -> None:
        self._new_line(cursor)
        cursor.insertText(f"[{timestamp(final.start_s)[:8]}] ", self.formats["time"])
        self._label(cursor, source_of(final))
        words = final.words
        if " ".join(w.word for w in words) != final.text:  # e.g. no word times: the text as is
            cursor.insertText(final.text, self.formats["text"])
            return
        for n, word in enumerate(words):
            cursor.insertText(" " if n else "", self.formats["text"])
            if word.conf is None or word.conf >= LOW_CONFIDENCE:
                cursor.insertText(word.word, self.formats["text"])
            else:
                doubtful = QTextCharFormat(self.formats["doubtful"])
                doubtful.setToolTip(f"confidence {word.conf:.2f}")
                cursor.insertText(word.word, doubtful)

    def _open(self, cursor: QTextCursor, partial: Partial) -> None:
        self._new_line(cursor)
        self._label(cursor, source_of(partial))
        cursor.insertText(partial.committed, self.formats["committed"])
        if partial.tentative:
            gap = " " if partial.committed else ""
            cursor.insertText(gap + partial.tentative, self.formats["tentative"])

    def clear_transcript(self) -> None:
        """Empty the view (the hint shows again)."""
        self.document().clear()  # type: ignore[union-attr]
        self.shown, self.open_from = [], 0
        self.hint.show()


class StatusLine(QLabel):
    """One line of status in the status bar; never widens the window (long text is cut, and
    shown whole in the tooltip)."""

    def __init__(self) -> None:
        super().__init__()
        self.level: Level = "info"
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def show_status(self, text: str, level: Level = "info") -> None:
        """Show `text` in the colours of its level."""
        self.level = level
        self.setText(text)
        self.setToolTip(text)
        self.setStyleSheet(STATUS_STYLES[level])


class LevelMeter(QWidget):
    """The input level: a bar from -60 to 0 dBFS and its value as text beside it."""

    FLOOR_DB = -60

    def __init__(self) -> None:
        super().__init__()
        self.bar = QProgressBar()
        self.bar.setRange(self.FLOOR_DB, 0)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(12)
        self.text = QLabel()
        self.text.setFixedWidth(QFontMetrics(self.text.font()).horizontalAdvance("-60 dB") + 8)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Level"))
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.text)
        self.set_level(self.FLOOR_DB)
        self.setToolTip("the input's loudness (dBFS)")

    def set_level(self, db: float) -> None:
        """Show the input's level in dBFS (clamped to -60…0)."""
        value = round(min(0.0, max(float(self.FLOOR_DB), db)))
        self.bar.setValue(value)
        self.text.setText(f"{value} dB" if value > self.FLOOR_DB else "– dB")
