"""The main window's controls: its commands (menus with their shortcuts, buttons whose tooltips
show them), the input picker (every input by its description, the two-source choice with its
labels, a replayed recording) and the overlay's settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gui.sources import InputChoice, both, choice_from_key, file_choice, input_choices
from s2t_stream.io.capture import InputSource
from s2t_stream.streaming.drive import DEFAULT_LABELS


@dataclass(frozen=True)
class Command:
    """A menu entry (and maybe a button): its menu, text, shortcut and what it does."""

    menu: str
    text: str
    keys: str
    button: str = ""  # the button's text; "" for menu-only commands
    tip: str = ""  # the button's tooltip (the shortcut is added)


COMMANDS = {
    "file": Command("File", "Caption a &file…", "Ctrl+Shift+O"),
    "save": Command(
        "File", "&Save transcript…", "Ctrl+S", "Save…", "save as text, SRT or WebVTT, or JSON"
    ),
    "quit": Command("File", "&Quit", "Ctrl+Q"),
    "copy": Command("Edit", "&Copy transcript", "Ctrl+Shift+C", "Copy", "copy the transcript"),
    "clear": Command(
        "Edit", "C&lear transcript…", "Ctrl+L", "Clear", "clear it (asks when it is not saved)"
    ),
    "start": Command(
        "Captions", "&Start", "Ctrl+R", "Start", "start or stop captioning the chosen input"
    ),
    "overlay": Command(
        "Captions", "Show &overlay", "Ctrl+O", "Overlay", "show or hide the caption overlay"
    ),
}


def native(keys: str) -> str:
    """A shortcut as this platform writes it (Ctrl+R; ⌘R on a Mac)."""
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)


def add_menus(window: QMainWindow, slots: Mapping[str, Callable[[], object]]) -> dict[str, QAction]:
    """Every command of `slots` as an action in its menu, with its shortcut (menus show it)."""
    bar = window.menuBar()
    assert bar is not None
    menus: dict[str, QMenu] = {}
    actions: dict[str, QAction] = {}
    for name, slot in slots.items():
        command = COMMANDS[name]
        if command.menu not in menus:
            menus[command.menu] = bar.addMenu(f"&{command.menu}")  # type: ignore[assignment]
        action = QAction(command.text, window)
        action.setShortcut(QKeySequence(command.keys))
        action.triggered.connect(slot)
        menus[command.menu].addAction(action)
        actions[name] = action
    return actions


def command_button(action: QAction, command: Command) -> QPushButton:
    """A button that triggers `action`; its tooltip says what it does and its shortcut."""
    button = QPushButton(command.button)
    button.clicked.connect(action.trigger)
    button.setToolTip(f"{command.tip} ({native(command.keys)})")
    return button


def row(*items: QWidget | int) -> QHBoxLayout:
    """Widgets left to right; an int is a stretch of that factor."""
    layout = QHBoxLayout()
    for item in items:
        if isinstance(item, int):
            layout.addStretch(item)
        else:
            layout.addWidget(item)
    return layout


def spin_box(low: int, high: int, value: int, tip: str, suffix: str = "") -> QSpinBox:
    """A spin box from `low` to `high` at `value`, with a tooltip."""
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    return box


def parse_labels(text: str) -> tuple[str, str]:
    """`You, Others` → ("You", "Others"); anything else: the defaults."""
    names = [name.strip() for name in text.split(",")]
    if len(names) == 2 and all(names) and names[0] != names[1]:
        return names[0], names[1]
    return DEFAULT_LABELS


class InputPicker(QWidget):
    """A list of inputs by description (name in the tooltip) and, for microphone + desktop
    audio, the two streams' labels."""

    def __init__(self, sources: list[InputSource], key: str, labels: str) -> None:
        super().__init__()
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(12)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.labels = QLineEdit(labels)
        self.labels.setToolTip("the two streams' labels: microphone, desktop audio")
        self.labels.setMaximumWidth(120)
        two = both(parse_labels(labels))
        self.choices = [two if c.kind == "both" else c for c in input_choices(sources)]
        layout = row(self.combo, self.labels)
        layout.setContentsMargins(0, 0, 0, 0)
        self.setLayout(layout)
        self.choose(choice_from_key(key, self.choices))
        self.combo.currentIndexChanged.connect(self._chosen)
        self.labels.textChanged.connect(self._relabel)

    def current(self) -> InputChoice:
        """The chosen entry."""
        return self.choices[max(0, self.combo.currentIndex())]

    def choose(self, chosen: InputChoice) -> None:
        """Select `chosen` (added to the list if it is not there)."""
        if all(c.key != chosen.key for c in self.choices):
            self.choices.append(chosen)
        self.combo.blockSignals(True)
        self.combo.clear()
        for index, choice in enumerate(self.choices):
            self.combo.addItem(choice.text, choice.key)
            self.combo.setItemData(index, choice.tip, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(next(i for i, c in enumerate(self.choices) if c == chosen))
        self.combo.blockSignals(False)
        self._chosen()

    def use_file(self, path: Path) -> None:
        """Make a recording the input (replayed in real time)."""
        self.choose(file_choice(path.resolve()))

    def _chosen(self) -> None:
        choice = self.current()
        self.combo.setToolTip(choice.tip)
        self.labels.setVisible(choice.labelled)

    def _relabel(self) -> None:
        index = next(i for i, c in enumerate(self.choices) if c.kind == "both")
        self.choices[index] = both(parse_labels(self.labels.text()))
        self.combo.setItemText(index, self.choices[index].text)


class OverlayControls(QWidget):
    """The overlay's font size, caption lines, background opacity and click-through."""

    def __init__(self, font_size: int, lines: int, opacity: int, click_through: bool) -> None:
        super().__init__()
        self.font_size = spin_box(10, 96, font_size, "the overlay's font size", " pt")
        self.lines = spin_box(1, 10, lines, "caption lines in the overlay")
        self.opacity = spin_box(10, 100, opacity, "the overlay's background", " %")
        self.click_through = QCheckBox("Click-through")
        self.click_through.setToolTip("clicks on the overlay go to the windows below it")
        self.click_through.setChecked(click_through)
        layout = row(
            QLabel("Overlay: font"), self.font_size, QLabel("lines"), self.lines,
            QLabel("opacity"), self.opacity, self.click_through, 1,
        )  # fmt: skip
        layout.setContentsMargins(0, 0, 0, 0)
        self.setLayout(layout)
