"""The desktop app offscreen (pytest-qt): fake audio sources replay bundled samples through the
real engine and bundled model; transcript, overlay, two labelled sources, saving, settings,
live status and errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6", reason="the desktop app needs PyQt6 (pip install 's2t-stream[gui]')")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")

from PyQt6.QtCore import QSettings

from gui.app import MainWindow
from gui.sources import InputChoice
from gui.worker import FileSource
from s2t_stream.io.capture import InputSource
from s2t_stream.model.audio import load_audio
from s2t_stream.streaming.events import Final, Word
from tests.helpers import BUNDLED_MODEL, SAMPLES, needs_apertium, running

pytestmark = pytest.mark.qt
SAMPLE = SAMPLES / "sample1-espeak-en-gb-x-rp-f4.wav"
OTHER = SAMPLES / "sample3-espeak-en-gb-scotland-m1.wav"


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(16000 * seconds), np.float32)


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def window_with(settings: QSettings, qtbot, audio: np.ndarray) -> MainWindow:  # type: ignore[no-untyped-def]
    window = MainWindow(
        settings,
        source_factory=lambda choice, rate: FileSource(audio, rate, speed=4.0),
        list_inputs=lambda: [],
    )
    window.confirm_discard = lambda: True  # type: ignore[method-assign]
    qtbot.addWidget(window)
    window.model.setText(str(BUNDLED_MODEL))
    return window


def stop(window: MainWindow, qtbot) -> None:  # type: ignore[no-untyped-def]
    window.request_stop.emit()
    qtbot.waitUntil(lambda: not window.running, timeout=30000)


def a_final(text: str, start_s: float, source: str | None = None) -> Final:
    words = tuple(
        Word(w, start_s + i * 0.3, start_s + i * 0.3 + 0.25) for i, w in enumerate(text.split())
    )
    return Final(0, text, start_s, words[-1].end_s, 9.0, 9.0, words, source=source)


@pytest.mark.model
def test_words_appear_in_the_transcript_and_the_overlay(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = window_with(
        settings, qtbot, np.concatenate([silence(0.5), load_audio(SAMPLE), silence(1)])
    )
    window.start()
    qtbot.waitUntil(lambda: bool(window.transcript.finals), timeout=60000)
    stop(window, qtbot)
    final = window.transcript.finals[0].text
    assert final.split()[0] == "they"  # the model's reading of this sample starts so
    assert final in window.view.toPlainText()
    assert window.overlay.visible_lines()[-1].endswith(final.split()[-1])
    window.close()


def test_doubtful_words_are_underlined_with_their_confidence(qtbot) -> None:  # type: ignore[no-untyped-def]
    from PyQt6.QtGui import QTextCharFormat, QTextCursor

    from gui.transcript import Transcript
    from gui.views import TranscriptView

    view = TranscriptView("nothing yet")
    qtbot.addWidget(view)
    words = (Word("the", 0.0, 0.2, 0.9), Word("cap", 0.2, 0.5, 0.2), Word("sat", 0.5, 0.8, 0.8))
    transcript = Transcript()
    transcript.add(Final(0, "the cap sat", 0.0, 0.8, 1.0, 1.0, words))
    view.show_transcript(transcript)
    text = view.toPlainText()

    def format_of(word: str) -> QTextCharFormat:
        cursor = QTextCursor(view.document())
        cursor.setPosition(text.index(word) + 1)  # the format of the character before it
        return cursor.charFormat()

    dotted = QTextCharFormat.UnderlineStyle.DotLine
    assert format_of("cap").underlineStyle() == dotted
    assert format_of("cap").toolTip() == "confidence 0.20"
    assert format_of("the").underlineStyle() != dotted and not format_of("the").toolTip()
    assert format_of("sat").underlineStyle() != dotted


@pytest.mark.model
def test_two_sources_are_interleaved_with_labels_in_window_overlay_and_exports(
    settings: QSettings, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    mine = np.concatenate([silence(0.3), load_audio(SAMPLE), silence(4)])
    theirs = np.concatenate([silence(2.8), load_audio(OTHER), silence(2)])
    window = window_with(settings, qtbot, mine)
    window.source_factory = lambda choice, rate: {  # type: ignore[assignment]
        choice.labels[0]: FileSource(mine, rate, speed=4.0),
        choice.labels[1]: FileSource(theirs, rate, speed=4.0),
    }
    window.source.choose(next(c for c in window.source.choices if c.kind == "both"))
    window.start()
    qtbot.waitUntil(lambda: len(window.transcript.finals) >= 2, timeout=60000)
    stop(window, qtbot)
    finals = window.transcript.finals
    assert [f.source for f in finals] == ["You", "Others"]
    assert finals[0].start_s < finals[1].start_s  # in time order
    shown = window.view.toPlainText().splitlines()
    assert [line.split("] ")[1].split(":")[0] for line in shown] == ["You", "Others"]
    overlay = window.overlay.visible_lines()
    assert any(line.startswith("Others: ") for line in overlay)
    assert overlay[-1].endswith(finals[1].text.split()[-1])  # the newest words, at the bottom
    window.save(tmp_path / "t.srt")
    srt = (tmp_path / "t.srt").read_text()
    assert srt.index(f"You: {finals[0].text.split()[0]}") < srt.index("Others: ")
    window.save(tmp_path / "t.json")
    events = json.loads((tmp_path / "t.json").read_text())
    assert [e["source"] for e in events] == ["You", "Others"]
    window.close()


@pytest.mark.model
def test_timestamps_keep_counting_across_stop_and_start(
    settings: QSettings, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = window_with(
        settings, qtbot, np.concatenate([silence(0.5), load_audio(SAMPLE), silence(1)])
    )
    for run in (1, 2):
        window.start()
        qtbot.waitUntil(lambda run=run: len(window.transcript.finals) == run, timeout=60000)
        stop(window, qtbot)
    first, second = window.transcript.finals
    assert second.start_s >= first.end_s + 0.5  # not back at the start of the run
    window.save(tmp_path / "t.srt")
    times = [line for line in (tmp_path / "t.srt").read_text().splitlines() if "-->" in line]
    assert times == sorted(times) and len(times) == 2
    lines = window.view.toPlainText().splitlines()
    assert lines == sorted(lines)  # [HH:MM:SS] prefixes in order
    window.close()


class SlowBackend:
    """Loads in 0.3 s and takes 0.25 s per push: audio backs up and is dropped."""

    sample_rate = 16000

    def __init__(self) -> None:
        time.sleep(0.3)

    def open(self, sample_rate: int) -> SlowBackend:
        return self

    def push(self, samples: np.ndarray) -> list[Final]:
        time.sleep(0.25)
        return []

    def end(self) -> list[Final]:
        return []


def test_status_shows_loading_then_listening_then_dropping(
    settings: QSettings, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("gui.app.backend", lambda model, tgt_lang: SlowBackend())
    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    window.source_factory = lambda choice, rate: FileSource(  # type: ignore[assignment]
        silence(30), rate, buffer_s=0.1, name="a busy microphone"
    )
    shown: list[tuple[str, str]] = []
    show = window.status.show_status
    window.status.show_status = lambda text, level="info": (  # type: ignore[method-assign]
        shown.append((text, level)),
        show(text, level),
    )
    window.start()
    qtbot.waitUntil(lambda: any(level == "warning" for _, level in shown), timeout=10000)
    assert window.status.level == "warning"
    stop(window, qtbot)
    texts = [text for text, _ in shown]
    loading = texts.index(f"loading model {BUNDLED_MODEL.name}…")
    listening = texts.index("listening: a busy microphone")
    dropping = next(i for i, (text, level) in enumerate(shown) if level == "warning")
    assert loading < listening < dropping
    assert "dropping audio" in texts[dropping] and "s lost" in texts[dropping]
    assert "dropped" in window.status.text()  # the total stays readable after Stop
    window.close()


def test_clear_asks_when_the_transcript_is_not_saved(
    settings: QSettings, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    asked: list[str] = []
    answer = False
    window.confirm = lambda title, question: asked.append(question) or answer  # type: ignore[method-assign]
    window.on_event(0, a_final("hello world", 1.0))
    window.clear()  # the user says no
    assert len(asked) == 1 and "not saved" in asked[0]
    assert window.transcript.finals and "hello world" in window.view.toPlainText()
    answer = True
    window.clear()
    assert len(asked) == 2 and not window.transcript.finals
    assert window.view.toPlainText() == "" and window.view.hint.isVisibleTo(window)
    window.on_event(0, a_final("saved text", 2.0))
    window.save(tmp_path / "t.txt")
    window.clear()  # saved: no question
    assert len(asked) == 2 and not window.transcript.finals
    window.close()


def test_saving_srt_vtt_and_json(settings: QSettings, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    window.on_event(0, a_final("hello world", 1.0))
    assert not window.transcript.saved
    window.save(tmp_path / "out.srt")
    assert (tmp_path / "out.srt").read_text() == "1\n00:00:01,000 --> 00:00:01,550\nhello world\n"
    window.save(tmp_path / "out.vtt")
    assert (tmp_path / "out.vtt").read_text().startswith("WEBVTT\n\n00:00:01.000 --> 00:00:01.550")
    window.save(tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text())[0]["text"] == "hello world"
    assert window.transcript.saved
    window.save(tmp_path / "out.doc")
    assert "save as .txt, .srt, .vtt or .json" in window.status.text()
    assert window.status.level == "error"
    window.close()


def test_shortcuts_show_in_menus_and_tooltips(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    menus = [a.menu() for a in window.menuBar().actions()]
    in_menus = {
        a.text().replace("&", ""): a.shortcut().toString() for m in menus for a in m.actions()
    }
    assert in_menus["Start"] == "Ctrl+R"
    assert in_menus["Show overlay"] == "Ctrl+O"
    assert in_menus["Save transcript…"] == "Ctrl+S"
    assert in_menus["Caption a file…"] == "Ctrl+Shift+O"
    assert all(in_menus.values())  # every command has one
    assert "(Ctrl+R)" in window.start_button.toolTip()
    assert "Ctrl+R" in window.view.hint.text()  # the empty state says how to start
    window.close()


def fits(widget) -> bool:  # type: ignore[no-untyped-def]
    """Whether a widget shows all of its text."""
    from PyQt6.QtWidgets import QComboBox, QPushButton, QSpinBox

    if isinstance(widget, QPushButton):  # a button's hint is a minimum width, not its text's
        return widget.width() >= widget.fontMetrics().horizontalAdvance(widget.text()) + 8
    if isinstance(widget, QSpinBox):
        return widget.width() >= widget.minimumSizeHint().width()
    if isinstance(widget, QComboBox):  # its text, and the arrow
        return widget.width() >= widget.fontMetrics().horizontalAdvance(widget.currentText()) + 30
    return widget.width() >= widget.sizeHint().width()


def test_labels_fit_at_640_px_and_status_text_moves_nothing(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    from PyQt6.QtWidgets import QCheckBox, QComboBox, QLabel, QPushButton, QSpinBox

    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    window.source.choose(next(c for c in window.source.choices if c.kind == "both"))
    window.resize(640, 480)
    window.show()
    qtbot.waitExposed(window)
    assert window.width() == 640
    cut = [
        f"{type(w).__name__} {w.text() if hasattr(w, 'text') else ''!r}: {w.width()} px"
        for kind in (QLabel, QCheckBox, QPushButton, QSpinBox, QComboBox)
        for w in window.findChildren(kind)
        if w.isVisible() and w not in (window.status, window.view.hint) and not fits(w)
    ]
    assert cut == []
    view = window.view.geometry()
    window.on_error("a long message " * 20)  # an error wider than the window
    window.status.show_status("⚠ dropping audio (18.3 s lost so far) — listening: x", "warning")
    window.on_event(0, a_final("hello world", 1.0))
    qtbot.wait(50)
    assert window.width() == 640 and window.view.geometry() == view
    window.close()


def test_the_input_picker_lists_sources_by_description(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    inputs = [
        InputSource("alsa_input.usb-mic", "USB Microphone", False, True, "pulse"),
        InputSource("vsink.monitor", "Monitor of Null Output", True, False, "pulse"),
        InputSource("vsink.monitor", "Monitor of Null Output", True, False, "pulse"),
    ]
    chosen: list[InputChoice] = []

    def record(choice: InputChoice, rate: int) -> FileSource:
        chosen.append(choice)
        return FileSource(silence(1), rate)

    window = MainWindow(settings, source_factory=record, list_inputs=lambda: inputs)
    qtbot.addWidget(window)
    combo = window.source.combo
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items == [
        "Default microphone",
        "Desktop audio",
        "Microphone + desktop audio (You / Others)",
        "USB Microphone (microphone)",
        "Monitor of Null Output (desktop audio)",
    ]
    combo.setCurrentIndex(4)
    assert combo.toolTip() == "vsink.monitor"
    assert not window.source.labels.isVisibleTo(window)
    combo.setCurrentIndex(2)
    assert window.source.labels.isVisibleTo(window)
    window.source.labels.setText("Me, Them")
    assert combo.itemText(2) == "Microphone + desktop audio (Me / Them)"
    window.start()
    qtbot.waitUntil(lambda: bool(chosen), timeout=10000)
    assert chosen[0].kind == "both" and chosen[0].labels == ("Me", "Them")
    window.transcript.saved = True
    window.close()


def test_settings_survive_a_restart(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    usb = InputSource("alsa_input.usb-mic", "USB Microphone", False, False, "pulse")
    window = MainWindow(settings, list_inputs=lambda: [usb])
    qtbot.addWidget(window)
    window.model.setText(str(BUNDLED_MODEL))
    window.source.combo.setCurrentIndex(3)
    window.tgt_lang.setText("fr")
    controls = window.overlay_controls
    controls.font_size.setValue(40)
    controls.lines.setValue(3)
    controls.opacity.setValue(60)
    controls.click_through.setChecked(True)
    window.show_overlay()
    window.overlay.setGeometry(50, 45, 700, 200)  # on the 800×600 offscreen screen
    window.close()
    again = MainWindow(settings, list_inputs=lambda: [])  # the USB microphone is unplugged
    qtbot.addWidget(again)
    assert again.source.current().key == "device:alsa_input.usb-mic"
    assert again.source.combo.currentText() == "alsa_input.usb-mic (not found now)"
    assert again.tgt_lang.text() == "fr"
    controls = again.overlay_controls
    assert controls.font_size.value() == 40 and again.overlay.typeface.point_size == 40
    assert controls.lines.value() == 3 and again.overlay.max_lines == 3
    assert controls.opacity.value() == 60 and again.overlay.background.alpha() == 153
    assert controls.click_through.isChecked()
    assert again.overlay.geometry().getRect() == (50, 45, 700, 200)
    assert again.model.text() == str(BUNDLED_MODEL)
    again.use_file(SAMPLE)  # a replayed recording is not what the next start should use
    again.close()
    third = MainWindow(settings, list_inputs=lambda: [usb])
    qtbot.addWidget(third)
    assert third.source.current().key == "device:alsa_input.usb-mic"
    third.close()


def test_a_model_that_fails_to_load_shows_a_message(
    settings: QSettings, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    window.model.setText(str(tmp_path / "no-such-model"))
    window.start()
    qtbot.waitUntil(lambda: not window.running, timeout=10000)
    assert "no-such-model" in window.status.text() and window.status.level == "error"
    window.close()


@pytest.mark.model
@pytest.mark.slow
def test_caption_a_file_replays_it_and_stops_by_itself(
    settings: QSettings, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    window = MainWindow(settings, list_inputs=lambda: [])  # the real sources: a file replay
    window.confirm_discard = lambda: True  # type: ignore[method-assign]
    qtbot.addWidget(window)
    window.model.setText(str(BUNDLED_MODEL))
    monkeypatch.setattr(
        "gui.app.QFileDialog.getOpenFileName", lambda *args, **kwargs: (str(SAMPLE), "")
    )
    window.actions_by_name["file"].trigger()  # File ▸ Caption a file…
    assert window.running and window.source.current().name == str(SAMPLE)
    qtbot.waitUntil(lambda: not window.running, timeout=60000)  # its end stops it
    assert window.transcript.finals[0].text.split()[0] == "they"
    assert window.status.text() == "stopped"
    window.close()


def sample_with_pauses() -> np.ndarray:
    """The first bundled sample between 0.5 s and 1 s of silence."""
    return np.concatenate([silence(0.5), load_audio(SAMPLE), silence(1)])


def first_word_from(url: str, settings: QSettings, qtbot) -> str:  # type: ignore[no-untyped-def]
    """The first word of the first final a window gets from the server at `url` for
    `sample_with_pauses()`."""
    window = window_with(settings, qtbot, sample_with_pauses())
    window.model.setText(url)
    window.start()
    qtbot.waitUntil(lambda: bool(window.transcript.finals), timeout=60000)
    stop(window, qtbot)
    word: str = window.transcript.finals[0].text.split()[0]
    window.close()
    return word


@pytest.mark.model
@pytest.mark.network
def test_a_remote_server_as_the_backend(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    from s2t_stream.model.checkpoint import load_bundle

    with running(load_bundle(BUNDLED_MODEL)) as server:
        assert first_word_from(server.url(), settings, qtbot) == "they"
    window = window_with(settings, qtbot, sample_with_pauses())
    window.model.setText("ws://127.0.0.1:9/v1/stream")
    window.start()
    qtbot.waitUntil(lambda: not window.running, timeout=20000)
    assert "cannot connect to ws://127.0.0.1:9" in window.status.text()
    window.close()


@pytest.mark.model
@pytest.mark.network
def test_a_remote_server_that_wants_a_token_gets_the_environments(  # type: ignore[no-untyped-def]
    settings: QSettings, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$S2T_STREAM_TOKEN reaches the server, as for `client`; a wrong one in the URL is said to
    be refused, and the status line never shows it."""
    from s2t_stream.model.checkpoint import load_bundle
    from s2t_stream.server.options import Limits

    with running(load_bundle(BUNDLED_MODEL), Limits(token="s3cret")) as server:
        monkeypatch.delenv("S2T_STREAM_TOKEN", raising=False)
        window = window_with(settings, qtbot, sample_with_pauses())
        window.model.setText(f"{server.url()}?token=wrong")
        window.start()
        qtbot.waitUntil(lambda: not window.running, timeout=20000)
        assert "wants a token" in window.status.text()
        assert "refused the one given" in window.status.text()
        assert "wrong" not in window.status.text()
        window.close()
        monkeypatch.setenv("S2T_STREAM_TOKEN", "s3cret")
        assert first_word_from(server.url(), settings, qtbot) == "they"


@pytest.mark.model
def test_a_second_model_translates_under_the_caption(
    settings: QSettings, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace
    from functools import partial

    from s2t_stream.model.checkpoint import Bundle, save_bundle
    from s2t_stream.model.config import GenerationConfig
    from s2t_stream.model.features import FeatureOptions
    from s2t_stream.model.tokenizer import train_sentencepiece
    from s2t_stream.streaming.stream import StreamOptions
    from tests.helpers import TINY, reference_pair

    # a tiny random multilingual model stands in for a real translation checkpoint; random
    # weights repeat themselves, which the loop guard would silence
    monkeypatch.setattr("gui.backends.StreamOptions", partial(StreamOptions, loop_guard=False))
    sentences = ["the quick brown fox jumps over the lazy dog", "she sells sea shells"] * 10
    tokenizer = train_sentencepiece(sentences, tmp_path / "spm", 36, lang_codes=["de", "fr"])
    _, model = reference_pair(
        {**TINY, "vocab_size": tokenizer.vocab_size}, eos_bias=0.75, tie_word_embeddings=False
    )
    bundle = Bundle(model, tokenizer, GenerationConfig(), FeatureOptions(), "tiny")
    save_bundle(replace(bundle), tmp_path / "translator")
    window = window_with(
        settings, qtbot, np.concatenate([silence(0.5), load_audio(SAMPLE), silence(1)])
    )
    window.translation_model.setText(str(tmp_path / "translator"))
    window.translation_lang.setText("fr")
    window.start()
    qtbot.waitUntil(lambda: bool(window.transcript.finals), timeout=60000)
    stop(window, qtbot)
    assert window.translations.finals  # the second model produced its own finals
    assert window.overlay.translation == window.translations.finals[-1].text
    assert window.overlay.roll_up().translation  # drawn under the captions
    assert window.transcript.finals[0].text.split()[0] == "they"  # captions unaffected
    window.close()


@pytest.mark.model
def test_closing_while_listening_keeps_the_last_final_and_asks(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    speech = load_audio(SAMPLE)  # no trailing silence: only stopping makes its final
    window = window_with(settings, qtbot, np.concatenate([silence(0.5), speech]))
    window.source_factory = lambda choice, rate: FileSource(  # type: ignore[assignment]
        np.concatenate([silence(0.5), speech]), rate, speed=4.0
    )
    window.show()  # a never-shown window closes without a close event
    asked: list[int] = []
    window.confirm_discard = lambda: asked.append(len(window.transcript.finals)) or False  # type: ignore[method-assign]
    window.start()
    qtbot.waitUntil(lambda: bool(window.transcript.open_segments()), timeout=60000)
    assert not window.transcript.finals
    assert not window.close()  # refused: the user chose not to discard
    assert asked == [1] and window.transcript.finals  # the stop produced the final first
    window.confirm_discard = lambda: True  # type: ignore[method-assign]
    assert window.close()


def test_lagging_captions_are_a_warning_with_how_far_behind(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    from gui.views import STATUS_STYLES
    from gui.worker import WorkerStatus
    from s2t_stream.streaming.drive import InputHealth

    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    window.on_status(WorkerStatus("listening", "You (mic), Others (vsink.monitor)"))
    assert window.status.level == "info"
    late = InputHealth(lag_s=6.2, dropped_s=0.0, dropping=False, lagging=True)
    window.on_status(WorkerStatus("listening", "You (mic), Others (vsink.monitor)", late))
    assert window.status.level == "warning"
    assert "6.2 s behind real time" in window.status.text()
    assert window.status.styleSheet() == STATUS_STYLES["warning"]  # in warning colours
    lost = InputHealth(lag_s=0.0, dropped_s=2.5, dropping=False, lagging=False)
    window.on_status(WorkerStatus("stopped", health=lost))  # the total stays in view after Stop
    assert (
        window.status.level == "warning" and "2.5 s of audio were dropped" in window.status.text()
    )
    window.close()


@needs_apertium
@pytest.mark.model
def test_a_target_language_for_an_asr_model_translates_with_apertium(
    settings: QSettings, qtbot
) -> None:  # type: ignore[no-untyped-def]
    window = window_with(
        settings, qtbot, np.concatenate([silence(0.5), load_audio(SAMPLE), silence(1)])
    )
    window.tgt_lang.setText("es")  # the bundled model transcribes: the cascade translates
    window.start()
    qtbot.waitUntil(lambda: bool(window.transcript.finals), timeout=60000)
    stop(window, qtbot)
    final = window.transcript.finals[-1]
    assert final.translation and final.translation != final.text
    assert window.translations.finals[-1].text == final.translation
    assert window.overlay.translation == final.translation  # under the caption
    assert window.overlay.roll_up().translation
    assert window.translation_view.isVisibleTo(window)
    assert window.translation_view.text() == final.translation
    window.close()


@pytest.mark.model
@pytest.mark.st_model
def test_a_language_alone_translates_with_the_bundled_translation_model(
    settings: QSettings, qtbot
) -> None:  # type: ignore[no-untyped-def]
    from s2t_stream.defaults import BUNDLED_ST_MODEL
    from s2t_stream.model.checkpoint import load_bundle
    from s2t_stream.offline.options import TranscribeOptions
    from s2t_stream.offline.transcriber import Transcriber

    speech = load_audio(SAMPLE)
    window = window_with(settings, qtbot, np.concatenate([silence(0.5), speech, silence(1)]))
    window.translation_lang.setText("es")  # no second model named: the bundled one
    window.start()
    qtbot.waitUntil(lambda: bool(window.translations.finals), timeout=60000)
    stop(window, qtbot)
    assert window.worker_config is not None
    assert window.worker_config.second_model() == str(BUNDLED_ST_MODEL)
    offline = Transcriber(load_bundle(BUNDLED_ST_MODEL), TranscribeOptions(tgt_lang="es"))
    expected = offline.transcribe([speech])[0].text  # what `transcribe --tgt-lang es` says
    line = window.translations.finals[-1].text
    # streaming commits words as they come (AlignAtt), so its words need not be all of
    # offline's (this first model is weak); it is the same model's Spanish: words in common
    assert set(line.split()) & set(expected.split())
    assert line != window.transcript.finals[0].text
    assert window.overlay.translation == line  # drawn under the caption
    assert window.transcript.finals[0].text.split()[0] == "they"  # the caption stays English
    window.close()
