"""The caption overlay: a frameless, translucent, always-on-top window with the last lines,
draggable, resizable, optionally click-through."""

from __future__ import annotations

from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtGui import QFont, QMouseEvent
from PyQt6.QtWidgets import QLabel, QSizeGrip, QVBoxLayout, QWidget

OVERLAY_FLAGS = (
    Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool
)


class CaptionOverlay(QWidget):
    def __init__(self, lines: int = 2, font_size: int = 26, opacity: float = 0.85) -> None:
        super().__init__(None, OVERLAY_FLAGS)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setWindowTitle("s2t-stream captions")
        self.max_lines = lines
        self.label = QLabel("", self)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
        self.translation = QLabel("", self)  # under the caption, when a translation runs
        self.translation.setWordWrap(True)
        self.translation.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.label)
        layout.addWidget(self.translation)
        layout.addWidget(QSizeGrip(self), 0, Qt.AlignmentFlag.AlignRight)
        self.drag_from: QPoint | None = None
        self.set_font_size(font_size)
        self.set_opacity(opacity)
        self.resize(900, 140)

    def set_font_size(self, size: int) -> None:
        font = QFont()
        font.setPointSize(size)
        self.label.setFont(font)
        small = QFont()
        small.setPointSize(max(8, round(size * 0.8)))
        self.translation.setFont(small)

    def set_opacity(self, opacity: float) -> None:
        alpha = round(255 * min(max(opacity, 0.1), 1.0))
        background = f"background-color: rgba(0, 0, 0, {alpha}); padding: 6px;"
        self.label.setStyleSheet(f"color: white; {background}")
        self.translation.setStyleSheet(f"color: #ffd75e; {background}")

    def set_click_through(self, on: bool) -> None:
        """Clicks pass to the windows below (the overlay cannot be dragged meanwhile)."""
        self.setWindowFlag(Qt.WindowType.WindowTransparentForInput, on)
        self.show()

    def show_lines(self, lines: list[str], translation: str | None = None) -> None:
        """The last caption lines; `translation` (if any) on a line of its own under them."""
        self.label.setText("\n".join(lines[-self.max_lines :]))
        self.translation.setVisible(translation is not None)
        self.translation.setText(translation or "")

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and event.button() == Qt.MouseButton.LeftButton:
            self.drag_from = event.globalPosition().toPoint() - self.frameGeometry().topLeft()

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and self.drag_from is not None:
            self.move(event.globalPosition().toPoint() - self.drag_from)

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        self.drag_from = None
