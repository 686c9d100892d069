"""The main window (`s2t-stream gui`): input and model pickers, start/stop, live status, level
meter, live transcript, copy / clear / save (TXT, SRT, WebVTT, JSON), the caption overlay, and
the app's entry point."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QEventLoop, QSettings, QThread, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QApplication,
    QFileDialog,
    QGridLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.backends import backend, model_name
from gui.controls import (
    COMMANDS,
    InputPicker,
    OverlayControls,
    add_menus,
    command_button,
    native,
    row,
)
from gui.launch import LaunchOptions
from gui.overlay import Caption, CaptionOverlay
from gui.sources import InputChoice, SourceFactory, available_sources, duration_s, open_input
from gui.transcript import Transcript, source_of
from gui.views import LevelMeter, StatusLine, TranscriptView
from gui.worker import Backend, CaptionWorker, WorkerStatus
from s2t_stream.defaults import BUNDLED_ST_MODEL, bundled_translation_languages, default_model
from s2t_stream.errors import AudioError
from s2t_stream.io.capture import InputSource
from s2t_stream.streaming.drive import DEFAULT_LABELS
from s2t_stream.streaming.events import Event, Final
from s2t_stream.translation.translator import as_translation

REPLAY_TAIL_S = 1.5  # after a replayed file's end: silence, so its last segment closes
EMPTY_HINT = (
    "Nothing captioned yet. Choose an input above and press Start (Ctrl+R): finals appear "
    "here with their times, words still being decided in grey. To caption a recording: "
    "File ▸ Caption a file… (Ctrl+Shift+O). The caption overlay: Ctrl+O."
)


@dataclass(frozen=True)
class RunConfig:
    """What a worker is built for: a new one (new models) only when this changes."""

    model: str
    tgt_lang: str | None
    translator: str
    translator_lang: str | None

    def second_model(self) -> str:
        """The translation model run beside the first: the one named, else for a language the
        bundled speech-translation model has, that model ("": none)."""
        if self.translator or self.translator_lang is None:
            return self.translator
        if self.translator_lang in bundled_translation_languages():
            return str(BUNDLED_ST_MODEL)
        return ""


class MainWindow(QMainWindow):
    """The app's window: it owns the transcript, the overlay and the worker's thread."""

    request_start = pyqtSignal()
    request_stop = pyqtSignal()

    def __init__(
        self,
        settings: QSettings,
        source_factory: SourceFactory = open_input,
        list_inputs: Callable[[], list[InputSource]] = available_sources,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.source_factory = source_factory
        self.transcript = Transcript()
        self.translations = Transcript()  # from the optional second (translation) model
        self.running = False
        self.run_id = 0  # which Start the running one is (a replay's timer checks it)
        self.listening_since: float | None = None
        self.choice = InputChoice("default")
        self.setWindowTitle("s2t-stream")
        self._build(list_inputs())
        controls = self.overlay_controls
        self.overlay = CaptionOverlay(
            lines=controls.lines.value(),
            font_size=controls.font_size.value(),
            opacity=controls.opacity.value() / 100,
        )
        geometry = settings.value("overlay/geometry")
        self.overlay_placed = geometry is not None and self.overlay.restoreGeometry(geometry)
        self.overlay.set_click_through(controls.click_through.isChecked())
        self.engine_thread = QThread(self)
        self.worker: CaptionWorker | None = None
        self.worker_config: RunConfig | None = None
        self.engine_thread.start()

    # --- layout ---------------------------------------------------------------------------------

    def _build(self, sources: list[InputSource]) -> None:
        """Menus; the input, model and translation pickers with Start; the level meter; the
        transcript; the transcript and overlay controls; the status line (there from the start,
        so nothing moves when it first shows text)."""
        self._build_actions()
        self._build_pickers(sources)
        self._build_overlay_controls()
        self.translation_view = QLabel("")
        self.translation_view.setStyleSheet("color: #8a6d00;")
        self.translation_view.setWordWrap(True)
        self.translation_view.hide()
        self.meter = LevelMeter()
        self.view = TranscriptView(EMPTY_HINT)
        layout = QVBoxLayout()
        layout.addLayout(self._pickers_grid())
        layout.addWidget(self.meter)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.translation_view)
        buttons = [self._button(name) for name in ("copy", "clear", "save", "overlay")]
        layout.addLayout(row(*buttons, 1))
        layout.addWidget(self.overlay_controls)
        central = QWidget()
        central.setLayout(layout)
        self.setCentralWidget(central)
        self.status = StatusLine()
        self.statusBar().addWidget(self.status, 1)  # type: ignore[union-attr]
        self.status.show_status(f"Ready: press Start ({native(COMMANDS['start'].keys)})")
        self.resize(900, 560)

    def _build_actions(self) -> None:
        """Every command as an action with its shortcut, in the menus (which show the keys)."""
        slots: dict[str, Callable[[], object]] = {
            "file": self.caption_file_dialog,
            "save": self.save_dialog,
            "quit": self.close,
            "copy": self.copy,
            "clear": self.clear,
            "start": self.toggle,
            "overlay": self.toggle_overlay,
        }
        self.actions_by_name = add_menus(self, slots)
        self.actions_by_name["overlay"].setCheckable(True)

    def _button(self, name: str) -> QPushButton:
        """A button for the command `name`, its shortcut in the tooltip."""
        return command_button(self.actions_by_name[name], COMMANDS[name])

    def _build_pickers(self, sources: list[InputSource]) -> None:
        """The input picker, the model and language fields, and Start (from the settings)."""
        s = self.settings
        labels = str(s.value("labels", ", ".join(DEFAULT_LABELS)))
        self.source = InputPicker(sources, str(s.value("source", "default:")), labels)
        self.model = QLineEdit(str(s.value("model", default_model())))
        self.model.setToolTip("a model directory, or ws://host:port/v1/stream of a running server")
        self.browse = QPushButton("…")
        self.browse.clicked.connect(self.choose_model)
        self.browse.setToolTip("choose a model directory")
        self.browse.setMaximumWidth(32)
        self.tgt_lang = self._language(
            str(s.value("tgt_lang", "")),
            "e.g. es",
            "target language: a translation model's, or for an ASR model es or ca, translated "
            "with Apertium",
        )
        self.translation_model = QLineEdit(str(s.value("translation_model", "")))
        self.translation_model.setPlaceholderText("a second model, optional")
        self.translation_model.setToolTip(
            "a translation model run on the same audio (empty with a language: the bundled "
            "English-to-Spanish/Catalan model)"
        )
        self.translation_lang = self._language(
            str(s.value("translation_lang", "")),
            "e.g. fr",
            "the translation model's target language",
        )
        self.start_button = self._button("start")
        self.start_button.setMinimumWidth(self.start_button.sizeHint().width())  # Start, Stop

    @staticmethod
    def _language(value: str, example: str, tip: str) -> QLineEdit:
        """A narrow field for a language code."""
        field = QLineEdit(value)
        field.setPlaceholderText(example)
        field.setToolTip(tip)
        field.setMaximumWidth(70)
        return field

    def _pickers_grid(self) -> QGridLayout:
        """Input and Start; model and language; translation model and its language."""
        grid = QGridLayout()
        grid.addWidget(QLabel("Input"), 0, 0)
        grid.addLayout(row(self.source, self.start_button), 0, 1, 1, 3)
        grid.addWidget(QLabel("Model"), 1, 0)
        grid.addLayout(row(self.model, self.browse), 1, 1)
        grid.addWidget(QLabel("Language"), 1, 2)
        grid.addWidget(self.tgt_lang, 1, 3)
        grid.addWidget(QLabel("Translate with"), 2, 0)
        grid.addWidget(self.translation_model, 2, 1)
        grid.addWidget(QLabel("Language"), 2, 2)
        grid.addWidget(self.translation_lang, 2, 3)
        grid.setColumnStretch(1, 1)
        return grid

    def _build_overlay_controls(self) -> None:
        """The overlay's settings (from the settings), wired to the overlay."""
        s = self.settings
        self.overlay_controls = controls = OverlayControls(
            font_size=int(s.value("overlay/font_size", 26)),
            lines=int(s.value("overlay/lines", 2)),
            opacity=int(s.value("overlay/opacity", 85)),
            click_through=str(s.value("overlay/click_through", "false")) == "true",
        )
        controls.font_size.valueChanged.connect(lambda v: self.overlay.set_font_size(v))
        controls.lines.valueChanged.connect(self._set_overlay_lines)
        controls.opacity.valueChanged.connect(lambda v: self.overlay.set_opacity(v / 100))
        controls.click_through.toggled.connect(lambda on: self.overlay.set_click_through(on))

    # --- inputs ---------------------------------------------------------------------------------

    def use_file(self, path: Path) -> None:
        """Make a recording the input (replayed in real time)."""
        self.source.use_file(path)

    def caption_file_dialog(self) -> None:
        """File ▸ Caption a file…: pick a recording and caption it (replayed in real time)."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Caption a recording", "", "Audio (*.wav *.flac *.ogg *.mp3);;All files (*)"
        )
        if path:
            self.stop_and_wait()
            self.use_file(Path(path))
            self.start()

    # --- running --------------------------------------------------------------------------------

    def toggle(self) -> None:
        """Start, or stop (the worker then sends the last finals)."""
        if self.running:
            self.request_stop.emit()
        else:
            self.start()

    def start(self) -> None:
        """Start captioning the chosen input (models load on the first Start, in the worker)."""
        if self.running:
            return
        self._remember()
        self.choice = self.source.current()
        self._ensure_worker()
        assert self.worker is not None
        self.transcript.start_run()
        self.translations.start_run()
        self.running, self.listening_since = True, None
        self.run_id += 1
        self.start_button.setText("Stop")
        self.actions_by_name["start"].setText("&Stop")
        self.status.show_status(f"starting: {self.choice.text}…")
        self.request_start.emit()

    def _ensure_worker(self) -> None:
        """A worker for the current model settings (a new one, with new models, if they
        changed since the last Start)."""
        config = RunConfig(
            self.model.text().strip(),
            self.tgt_lang.text().strip() or None,
            self.translation_model.text().strip(),
            self.translation_lang.text().strip() or None,
        )
        if self.worker is not None and self.worker_config == config:
            return

        def engines() -> list[Backend]:
            first = backend(config.model, config.tgt_lang)
            if not config.second_model():
                return [first]
            return [first, backend(config.second_model(), config.translator_lang)]

        worker = CaptionWorker(
            engines,
            lambda rate: self.source_factory(self.choice, rate),  # the choice of each Start
            model_name=model_name(config.model),
        )
        worker.moveToThread(self.engine_thread)
        worker.caption.connect(self.on_event)
        worker.level.connect(self.meter.set_level)
        worker.status.connect(self.on_status)
        worker.failed.connect(self.on_error)
        worker.stopped.connect(self.on_stopped)
        if self.worker is not None:
            self.request_start.disconnect(self.worker.start)
            self.request_stop.disconnect(self.worker.stop)
            self.worker.deleteLater()
        self.request_start.connect(worker.start)
        self.request_stop.connect(worker.stop)
        self.worker, self.worker_config = worker, config

    def on_status(self, status: WorkerStatus) -> None:
        """The worker's live status: loading → listening (with warnings) → stopped."""
        if status.phase == "listening" and self.listening_since is None:
            self.listening_since = time.monotonic()
            if self.choice.kind == "file":
                self._schedule_replay_end()
        if status.phase == "stopped" and self.status.level == "error":
            return  # the error (why it stopped) stays readable
        lost = status.phase == "stopped" and status.health is not None and status.health.dropped_s
        self.status.show_status(status.message, "warning" if status.warning or lost else "info")

    def _schedule_replay_end(self) -> None:
        """Stop once a replayed recording has played (and a moment of silence after it)."""
        run = self.run_id
        try:
            seconds = duration_s(Path(self.choice.name)) + REPLAY_TAIL_S
        except AudioError as error:  # it was readable a moment ago, when the worker opened it
            self.on_error(f"{error}; press Stop to end the replay")
            return

        def done() -> None:
            if self.running and self.run_id == run:
                self.request_stop.emit()

        QTimer.singleShot(round(seconds * 1000), done)

    def on_event(self, channel: int, event: Event) -> None:
        """A caption (channel 0) or translation (channel 1) event from the worker. A caption's
        final translated by the cascade (an ASR model and a target language) gives the
        translation line too, unless a second model translates."""
        (self.transcript if channel == 0 else self.translations).add(event)
        if (
            channel == 0
            and isinstance(event, Final)
            and event.translation is not None
            and not self.translation_model.text().strip()
        ):
            self.translations.add(as_translation(event))
        self.refresh()

    def on_error(self, message: str) -> None:
        """An error from the worker or an action, shown in red until the next status."""
        self.status.show_status(message, "error")

    def on_stopped(self) -> None:
        """The worker stopped (asked to, or failed): ready to Start again."""
        if self.listening_since is not None:
            elapsed = time.monotonic() - self.listening_since
            self.transcript.extend_run(elapsed)
            self.translations.extend_run(elapsed)
        self.running = False
        self.start_button.setText("Start")
        self.actions_by_name["start"].setText("&Start")
        self.meter.set_level(LevelMeter.FLOOR_DB)
        if self.status.level == "info" and not self.status.text().startswith("stopped"):
            self.status.show_status("stopped")
        self.refresh()

    def choose_model(self) -> None:
        """Pick a model directory."""
        folder = QFileDialog.getExistingDirectory(self, "Model directory", self.model.text())
        if folder:
            self.model.setText(folder)

    def refresh(self) -> None:
        """Show the transcript in the window and the newest captions in the overlay."""
        self.view.show_transcript(self.transcript)
        translated = None
        if self.translation_model.text().strip() or self.translations.finals:
            translated = (self.translations.recent(1) or [""])[-1]
            self.translation_view.setText(translated)
        self.translation_view.setVisible(translated is not None)
        self.overlay.show_captions(self.overlay_captions(), translated)

    def overlay_captions(self) -> list[Caption]:
        """The last finals and every source's open segment, with labels."""
        count = self.overlay.max_lines
        captions = [
            Caption(f.text, "", source_of(f) or "") for f in self.transcript.finals[-count:]
        ]
        for partial in self.transcript.open_segments():
            captions.append(Caption(partial.committed, partial.tentative, source_of(partial) or ""))
        return captions

    # --- transcript actions ---------------------------------------------------------------------

    def copy(self) -> None:
        """The transcript's lines (`[time] label: text`) to the clipboard."""
        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText("\n".join(self.transcript.lines()))

    def clear(self) -> None:
        """Clear the transcript; unsaved text only if the user agrees."""
        if self.transcript.unsaved and not self.confirm(
            "Clear the transcript?", "The transcript is not saved. Clear it anyway?"
        ):
            return
        self.transcript.clear()
        self.translations.clear()
        self.view.clear_transcript()
        self.refresh()

    def save_dialog(self) -> None:
        """Ask where to save the transcript; the suffix picks the format."""
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save transcript",
            "transcript.srt",
            "Subtitles (*.srt *.vtt);;Text (*.txt);;JSON (*.json)",
        )
        if path:
            self.save(Path(path))

    def save(self, path: Path) -> None:
        """Save the transcript to `path` (.txt, .srt, .vtt or .json); errors show in the status."""
        try:
            self.transcript.save(path)
        except (OSError, ValueError) as error:
            self.on_error(f"could not save: {error}")
            return
        self.status.show_status(f"saved {path}")

    def _set_overlay_lines(self, lines: int) -> None:
        """The overlay's line count changed: resize it and redraw."""
        self.overlay.set_max_lines(lines)
        self.refresh()

    def toggle_overlay(self) -> None:
        """Show the overlay if hidden, else hide it."""
        self.show_overlay(not self.overlay.isVisible())

    def show_overlay(self, visible: bool = True) -> None:
        """Show the overlay; the first time, at the bottom centre of the screen, clear of this
        window."""
        if visible and not self.overlay_placed:
            screen = self.screen() or QApplication.primaryScreen()
            if screen is not None:
                self.overlay.place_default(screen.availableGeometry(), self.frameGeometry())
            self.overlay_placed = True
        self.overlay.setVisible(visible)
        self.actions_by_name["overlay"].setChecked(visible)

    # --- settings and closing -------------------------------------------------------------------

    def _remember(self) -> None:
        """Write the window's settings (QSettings)."""
        s = self.settings
        if self.source.current().kind != "file":  # a replayed recording is a one-off
            s.setValue("source", self.source.current().key)
        s.setValue("labels", self.source.labels.text())
        s.setValue("model", self.model.text())
        s.setValue("tgt_lang", self.tgt_lang.text())
        s.setValue("translation_model", self.translation_model.text())
        s.setValue("translation_lang", self.translation_lang.text())
        controls = self.overlay_controls
        s.setValue("overlay/font_size", controls.font_size.value())
        s.setValue("overlay/lines", controls.lines.value())
        s.setValue("overlay/opacity", controls.opacity.value())
        s.setValue(
            "overlay/click_through", "true" if controls.click_through.isChecked() else "false"
        )
        if self.overlay_placed:
            s.setValue("overlay/geometry", self.overlay.saveGeometry())
        s.sync()

    def confirm(self, title: str, question: str) -> bool:
        """Ask a yes/no question (tests replace this)."""
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def confirm_discard(self) -> bool:
        """Whether to quit with an unsaved transcript."""
        return self.confirm("Unsaved transcript", "Quit without saving the transcript?")

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
        """Stop (keeping the last finals), ask about unsaved text, remember the settings."""
        self.stop_and_wait()  # finals are kept
        if self.transcript.unsaved and not self.confirm_discard():
            if event is not None:
                event.ignore()
            return
        self._remember()
        self.overlay.close()
        self.engine_thread.quit()
        self.engine_thread.wait(5000)
        if event is not None:
            event.accept()


def main(argv: Sequence[str] | None = None, options: LaunchOptions | None = None) -> int:
    """Run the app until its window closes (the entry points call `check_display` first)."""
    options = options or LaunchOptions()
    app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName("s2t-stream")
    app.setApplicationName("s2t-stream")
    window = MainWindow(QSettings())
    if options.source is not None:
        window.use_file(options.source)
    window.show()
    if options.overlay:
        window.show_overlay()
    if options.start:
        QTimer.singleShot(0, window.start)
    return app.exec()
