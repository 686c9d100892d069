"""The main window (`s2t-stream gui`): input and model pickers, start/stop, level meter, live
transcript, copy / clear / save (TXT, SRT, WebVTT), and the caption overlay."""

from __future__ import annotations

import html
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QEventLoop, QSettings, QThread, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from gui.backends import LocalBackend, RemoteBackend
from gui.overlay import CaptionOverlay
from gui.transcript import Transcript
from gui.worker import Backend, CaptionWorker, Source
from s2t_stream.defaults import default_model
from s2t_stream.errors import CaptureError
from s2t_stream.io.capture import Microphone, choose_device, list_devices, loopback
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event
from s2t_stream.streaming.stream import StreamOptions

DESKTOP_AUDIO = "Desktop audio (what this computer plays)"
DEFAULT_INPUT = "Default microphone"


class MicrophoneSource:
    """`Microphone` as the worker's `Source`."""

    def __init__(self, device: str, rate: int) -> None:
        if device == DESKTOP_AUDIO:
            loopback()
            device = ""
        chosen = choose_device(None if device in ("", DEFAULT_INPUT) else device, list_devices())
        self.microphone = Microphone(chosen, rate)
        self.rate = rate

    def read(self) -> np.ndarray:
        return self.microphone.read()

    def close(self) -> np.ndarray:
        return self.microphone.close()

    def dropped_s(self) -> float:
        return self.microphone.stats.dropped_s


SourceFactory = Callable[[str, int], Source]


def backend(model: str, tgt_lang: str | None) -> Backend:
    """A `ws://` or `wss://` URL: a running `s2t-stream serve`; anything else: a local model."""
    if model.startswith(("ws://", "wss://")):
        return RemoteBackend(model, tgt_lang)
    return LocalBackend(Engine(load_bundle(model), StreamOptions(tgt_lang=tgt_lang)))


def row(*widgets: QWidget) -> QHBoxLayout:
    layout = QHBoxLayout()
    for widget in widgets:
        layout.addWidget(widget)
    return layout


def spin_box(low: int, high: int, value: int, prefix: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setPrefix(prefix)
    return box


class MainWindow(QMainWindow):
    request_start = pyqtSignal()
    request_stop = pyqtSignal()

    def __init__(
        self, settings: QSettings, source_factory: SourceFactory = MicrophoneSource
    ) -> None:
        super().__init__()
        self.settings = settings
        self.source_factory = source_factory
        self.transcript = Transcript()
        self.translations = Transcript()  # from the optional second (translation) model
        self.running = False
        self.setWindowTitle("s2t-stream")
        self._build()
        self.overlay = CaptionOverlay(
            lines=self.overlay_lines.value(),
            font_size=self.overlay_font.value(),
            opacity=self.overlay_opacity.value() / 100,
        )
        geometry = settings.value("overlay/geometry")
        if geometry is not None:
            self.overlay.restoreGeometry(geometry)
        self.engine_thread = QThread(self)
        self.worker: CaptionWorker | None = None
        self.engine_thread.start()

    # --- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        """The window: input, model and language pickers with Start on top, the translation
        model's row, the level meter, the transcript, then the transcript and overlay controls."""
        self._build_pickers()
        self._build_overlay_controls()
        self.translation_view = QLabel("")
        self.translation_view.setStyleSheet("color: #8a6d00;")
        self.translation_view.hide()
        self.meter = QProgressBar()
        self.meter.setRange(-60, 0)
        self.meter.setValue(-60)
        self.meter.setFormat("%v dB")
        self.view = QTextEdit()
        self.view.setReadOnly(True)
        layout = QVBoxLayout()
        layout.addLayout(row(QLabel("Input"), self.source, QLabel("Model"), self.model,
                             self.browse, self.tgt_lang, self.start_button))  # fmt: skip
        layout.addLayout(
            row(QLabel("Translate with"), self.translation_model, self.translation_lang)
        )
        layout.addWidget(self.meter)
        layout.addWidget(self.view)
        layout.addWidget(self.translation_view)
        buttons = [self._button(label, slot) for label, slot in (
            ("Copy", self.copy), ("Clear", self.clear), ("Save…", self.save_dialog),
            ("Overlay", self.toggle_overlay),
        )]  # fmt: skip
        layout.addLayout(row(*buttons, self.overlay_font, self.overlay_lines,
                             self.overlay_opacity, self.click_through))  # fmt: skip
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)
        for text, keys, slot in (
            ("Start/stop", "Ctrl+R", self.toggle),
            ("Overlay", "Ctrl+O", self.toggle_overlay),
            ("Save", "Ctrl+S", self.save_dialog),
        ):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(keys))
            action.triggered.connect(slot)
            self.addAction(action)
        self.resize(900, 500)

    def _build_pickers(self) -> None:
        s = self.settings
        self.source = QComboBox()
        self.source.setEditable(True)
        self.source.addItems([DEFAULT_INPUT, DESKTOP_AUDIO, *self._device_names()])
        self.source.setCurrentText(str(s.value("source", DEFAULT_INPUT)))
        self.model = QLineEdit(str(s.value("model", default_model())))
        self.model.setToolTip("a model directory, or ws://host:port/v1/stream of a running server")
        self.browse = self._button("…", self.choose_model)
        self.browse.setToolTip("choose a model directory")
        self.browse.setMaximumWidth(32)
        self.tgt_lang = QLineEdit(str(s.value("tgt_lang", "")))
        self.tgt_lang.setPlaceholderText("target language (translation models)")
        self.translation_model = QLineEdit(str(s.value("translation_model", "")))
        self.translation_model.setPlaceholderText("translation model (optional, runs alongside)")
        self.translation_lang = QLineEdit(str(s.value("translation_lang", "")))
        self.translation_lang.setPlaceholderText("its target language")
        self.start_button = self._button("Start", self.toggle)

    def _build_overlay_controls(self) -> None:
        s = self.settings
        self.overlay_font = spin_box(10, 96, int(s.value("overlay/font_size", 26)), "overlay font ")
        self.overlay_font.valueChanged.connect(lambda v: self.overlay.set_font_size(v))
        self.overlay_lines = spin_box(1, 10, int(s.value("overlay/lines", 2)), "lines ")
        self.overlay_lines.valueChanged.connect(self._set_overlay_lines)
        self.overlay_opacity = spin_box(10, 100, int(s.value("overlay/opacity", 85)), "opacity ")
        self.overlay_opacity.setSuffix(" %")
        self.overlay_opacity.valueChanged.connect(lambda v: self.overlay.set_opacity(v / 100))
        self.click_through = QCheckBox("click-through")
        self.click_through.toggled.connect(lambda on: self.overlay.set_click_through(on))

    def _button(self, label: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(label)
        button.clicked.connect(slot)
        return button

    @staticmethod
    def _device_names() -> list[str]:
        try:
            return [d.name for d in list_devices()]
        except CaptureError:  # no PortAudio: the error shows when capture starts
            return []

    # --- running --------------------------------------------------------------------------------

    def toggle(self) -> None:
        if self.running:
            self.request_stop.emit()
        else:
            self.start()

    def start(self) -> None:
        self._remember()
        model, tgt_lang = self.model.text().strip(), self.tgt_lang.text().strip() or None
        translator = self.translation_model.text().strip()
        translator_lang = self.translation_lang.text().strip() or None
        config = (model, tgt_lang, translator, translator_lang)
        device = self.source.currentText()
        if self.worker is None or getattr(self.worker, "config", None) != config:

            def engines() -> list[Backend]:
                first = backend(model, tgt_lang)
                return [first, backend(translator, translator_lang)] if translator else [first]

            worker = CaptionWorker(engines, lambda rate: self.source_factory(device, rate))
            worker.config = config  # type: ignore[attr-defined]
            worker.moveToThread(self.engine_thread)
            worker.caption.connect(self.on_event)
            worker.level.connect(lambda db: self.meter.setValue(round(max(-60.0, db))))
            worker.failed.connect(self.on_error)
            worker.stopped.connect(self.on_stopped)
            self.request_start.connect(worker.start)
            self.request_stop.connect(worker.stop)
            if self.worker is not None:
                self.request_start.disconnect(self.worker.start)
                self.request_stop.disconnect(self.worker.stop)
            self.worker = worker
        else:
            self.worker.make_source = lambda rate: self.source_factory(device, rate)
        self.running = True
        self.start_button.setText("Stop")
        self.statusBar().showMessage(f"listening: {device}")  # type: ignore[union-attr]
        self.request_start.emit()

    def choose_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model directory", self.model.text())
        if folder:
            self.model.setText(folder)

    def on_event(self, channel: int, event: Event) -> None:
        (self.transcript if channel == 0 else self.translations).add(event)
        self.refresh()

    def on_error(self, message: str) -> None:
        self.statusBar().showMessage(message)  # type: ignore[union-attr]

    def on_stopped(self) -> None:
        self.running = False
        self.start_button.setText("Start")
        self.meter.setValue(-60)
        bar = self.statusBar()
        if bar is not None and bar.currentMessage().startswith("listening"):
            bar.showMessage("stopped")

    def refresh(self) -> None:
        parts = [html.escape(line) for line in self.transcript.lines()]
        committed, tentative = self.transcript.committed, self.transcript.tentative
        if committed or tentative:
            parts.append(
                f"<b>{html.escape(committed)}</b> "
                f"<span style='color: gray'>{html.escape(tentative)}</span>"
            )
        self.view.setHtml("<br>".join(parts))
        bar = self.view.verticalScrollBar()
        if bar is not None:
            bar.setValue(bar.maximum())
        translated = None
        if self.translation_model.text().strip():
            translated = (self.translations.recent(1) or [""])[-1]
            self.translation_view.setText(translated)
        self.translation_view.setVisible(translated is not None)
        self.overlay.show_lines(self.transcript.recent(self.overlay.max_lines), translated)

    # --- transcript actions ---------------------------------------------------------------------

    def copy(self) -> None:
        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText("\n".join(f.text for f in self.transcript.finals))

    def clear(self) -> None:
        self.transcript.clear()
        self.translations.clear()
        self.refresh()

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save transcript", "transcript.srt", "Subtitles (*.srt *.vtt);;Text (*.txt)"
        )
        if path:
            self.save(Path(path))

    def save(self, path: Path) -> None:
        try:
            self.transcript.save(path)
        except (OSError, ValueError) as error:
            self.on_error(f"could not save: {error}")
            return
        self.statusBar().showMessage(f"saved {path}")  # type: ignore[union-attr]

    def _set_overlay_lines(self, lines: int) -> None:
        self.overlay.max_lines = lines
        self.refresh()

    def toggle_overlay(self) -> None:
        self.overlay.setVisible(not self.overlay.isVisible())

    # --- settings and closing -------------------------------------------------------------------

    def _remember(self) -> None:
        s = self.settings
        s.setValue("source", self.source.currentText())
        s.setValue("model", self.model.text())
        s.setValue("tgt_lang", self.tgt_lang.text())
        s.setValue("translation_model", self.translation_model.text())
        s.setValue("translation_lang", self.translation_lang.text())
        s.setValue("overlay/font_size", self.overlay_font.value())
        s.setValue("overlay/lines", self.overlay_lines.value())
        s.setValue("overlay/opacity", self.overlay_opacity.value())
        s.setValue("overlay/geometry", self.overlay.saveGeometry())
        s.sync()

    def confirm_discard(self) -> bool:
        answer = QMessageBox.question(
            self, "Unsaved transcript", "Quit without saving the transcript?"
        )
        return answer == QMessageBox.StandardButton.Yes

    def stop_and_wait(self, timeout_s: float = 10.0) -> None:
        """Stop capturing and wait for the worker's last final (it lands in the transcript)."""
        if not self.running:
            return
        loop = QEventLoop()
        QTimer.singleShot(round(timeout_s * 1000), loop.quit)
        if self.worker is not None:  # connected first: the stop may be quick
            self.worker.stopped.connect(loop.quit)
        self.request_stop.emit()
        loop.exec()
        if self.worker is not None:
            self.worker.stopped.disconnect(loop.quit)

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.stop_and_wait()  # finals are kept
        if self.transcript.finals and not self.transcript.saved and not self.confirm_discard():
            if event is not None:
                event.ignore()
            return
        self._remember()
        self.overlay.close()
        self.engine_thread.quit()
        self.engine_thread.wait(5000)
        if event is not None:
            event.accept()


def main(argv: Sequence[str] | None = None) -> int:
    app = QApplication(list(argv) if argv is not None else sys.argv)
    app.setOrganizationName("s2t-stream")
    app.setApplicationName("s2t-stream")
    window = MainWindow(QSettings())
    window.show()
    return app.exec()
