"""The desktop app offscreen (pytest-qt): a fake audio source replays a bundled sample through
the real engine and bundled model; transcript, overlay, saving, settings and errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PyQt6", reason="the desktop app needs PyQt6 (pip install 's2t-stream[gui]')")
pytest.importorskip("pytestqt", reason="GUI tests need pytest-qt")

from PyQt6.QtCore import QSettings, Qt

from gui.app import MainWindow
from gui.overlay import CaptionOverlay
from gui.worker import FileSource
from s2t_stream.model.audio import load_audio
from tests.helpers import BUNDLED_MODEL, SAMPLES, running

pytestmark = pytest.mark.qt
SAMPLE = SAMPLES / "sample1-espeak-en-gb-x-rp-f4.wav"


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def window_with(settings: QSettings, qtbot, audio: np.ndarray) -> MainWindow:  # type: ignore[no-untyped-def]
    window = MainWindow(
        settings, source_factory=lambda device, rate: FileSource(audio, rate, speed=4.0)
    )
    window.confirm_discard = lambda: True  # type: ignore[method-assign]
    qtbot.addWidget(window)
    window.model.setText(str(BUNDLED_MODEL))
    return window


@pytest.mark.model
def test_words_appear_in_the_transcript_and_the_overlay(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    audio = np.concatenate(
        [np.zeros(8000, np.float32), load_audio(SAMPLE), np.zeros(16000, np.float32)]
    )
    window = window_with(settings, qtbot, audio)
    window.start()
    qtbot.waitUntil(lambda: bool(window.transcript.finals), timeout=60000)
    window.request_stop.emit()
    qtbot.waitUntil(lambda: not window.running, timeout=10000)
    final = window.transcript.finals[0].text
    assert final.split()[0] == "they"  # the model's reading of this sample starts so
    assert final in window.view.toPlainText()
    assert final in window.overlay.label.text()
    window.close()


def test_saving_srt_and_vtt(settings: QSettings, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from s2t_stream.streaming.events import Final, Word

    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    window.on_event(
        0,
        Final(
            0, "hello world", 1.0, 1.9, 2.0, 2.1, (Word("hello", 1.0, 1.4), Word("world", 1.4, 1.9))
        ),
    )
    assert not window.transcript.saved
    window.save(tmp_path / "out.srt")
    assert (tmp_path / "out.srt").read_text() == "1\n00:00:01,000 --> 00:00:01,900\nhello world\n"
    window.save(tmp_path / "out.vtt")
    assert (tmp_path / "out.vtt").read_text().startswith("WEBVTT\n\n00:00:01.000 --> 00:00:01.900")
    assert window.transcript.saved
    window.save(tmp_path / "out.doc")
    assert "save as .txt, .srt or .vtt" in window.statusBar().currentMessage()
    window.close()


def test_overlay_window_flags(qapp) -> None:  # type: ignore[no-untyped-def]
    overlay = CaptionOverlay(lines=2)
    flags = overlay.windowFlags()
    for flag in (
        Qt.WindowType.FramelessWindowHint,
        Qt.WindowType.WindowStaysOnTopHint,
        Qt.WindowType.Tool,
    ):
        assert flags & flag
    assert overlay.testAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
    overlay.set_click_through(True)
    assert overlay.windowFlags() & Qt.WindowType.WindowTransparentForInput
    overlay.set_click_through(False)
    assert not overlay.windowFlags() & Qt.WindowType.WindowTransparentForInput
    overlay.show_lines(["one", "two", "three"])
    assert overlay.label.text() == "two\nthree"
    overlay.close()


def test_settings_survive_a_restart(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    window.source.setCurrentText("USB mic")
    window.tgt_lang.setText("fr")
    window.overlay_font.setValue(40)
    window.overlay_lines.setValue(3)
    window.overlay_opacity.setValue(60)
    window.overlay.move(123, 45)
    window.overlay.resize(700, 120)
    window.close()
    again = MainWindow(settings)
    qtbot.addWidget(again)
    assert again.source.currentText() == "USB mic"
    assert again.tgt_lang.text() == "fr"
    assert again.overlay_font.value() == 40
    assert again.overlay_lines.value() == 3 and again.overlay.max_lines == 3
    assert again.overlay_opacity.value() == 60
    assert settings.value("overlay/geometry") is not None
    assert (again.overlay.width(), again.overlay.height()) == (700, 120)
    assert "rgba(0, 0, 0, 153)" in again.overlay.label.styleSheet()  # 60 % of 255
    assert again.model.text() == str(BUNDLED_MODEL)
    again.close()


def test_a_model_that_fails_to_load_shows_a_message(
    settings: QSettings, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window = window_with(settings, qtbot, np.zeros(0, np.float32))
    window.model.setText(str(tmp_path / "no-such-model"))
    window.start()
    qtbot.waitUntil(lambda: not window.running, timeout=10000)
    assert "no-such-model" in window.statusBar().currentMessage()
    window.close()


@pytest.mark.model
@pytest.mark.network
def test_a_remote_server_as_the_backend(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    from s2t_stream.model.checkpoint import load_bundle

    audio = np.concatenate(
        [np.zeros(8000, np.float32), load_audio(SAMPLE), np.zeros(16000, np.float32)]
    )
    with running(load_bundle(BUNDLED_MODEL)) as server:
        window = window_with(settings, qtbot, audio)
        window.model.setText(server.url())
        window.start()
        qtbot.waitUntil(lambda: bool(window.transcript.finals), timeout=60000)
        window.request_stop.emit()
        qtbot.waitUntil(lambda: not window.running, timeout=30000)
        assert window.transcript.finals[0].text.split()[0] == "they"
        window.close()
    window = window_with(settings, qtbot, audio)
    window.model.setText("ws://127.0.0.1:9/v1/stream")
    window.start()
    qtbot.waitUntil(lambda: not window.running, timeout=20000)
    assert "cannot connect to ws://127.0.0.1:9" in window.statusBar().currentMessage()
    window.close()


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
    monkeypatch.setattr("gui.app.StreamOptions", partial(StreamOptions, loop_guard=False))
    sentences = ["the quick brown fox jumps over the lazy dog", "she sells sea shells"] * 10
    tokenizer = train_sentencepiece(sentences, tmp_path / "spm", 36, lang_codes=["de", "fr"])
    _, model = reference_pair(
        {**TINY, "vocab_size": tokenizer.vocab_size}, eos_bias=0.75, tie_word_embeddings=False
    )
    bundle = Bundle(model, tokenizer, GenerationConfig(), FeatureOptions(), "tiny")
    save_bundle(replace(bundle), tmp_path / "translator")
    audio = np.concatenate(
        [np.zeros(8000, np.float32), load_audio(SAMPLE), np.zeros(16000, np.float32)]
    )
    window = window_with(settings, qtbot, audio)
    window.translation_model.setText(str(tmp_path / "translator"))
    window.translation_lang.setText("fr")
    window.start()
    qtbot.waitUntil(lambda: bool(window.transcript.finals), timeout=60000)
    window.request_stop.emit()
    qtbot.waitUntil(lambda: not window.running, timeout=30000)
    assert window.translations.finals  # the second model produced its own finals
    assert window.overlay.translation.isVisibleTo(window.overlay)
    assert window.overlay.translation.text() == window.translations.finals[-1].text
    assert window.transcript.finals[0].text.split()[0] == "they"  # captions unaffected
    window.close()


@pytest.mark.model
def test_closing_while_listening_keeps_the_last_final_and_asks(settings: QSettings, qtbot) -> None:  # type: ignore[no-untyped-def]
    speech = load_audio(SAMPLE)  # no trailing silence: only stopping makes its final
    window = window_with(settings, qtbot, np.concatenate([np.zeros(8000, np.float32), speech]))
    window.show()  # a never-shown window closes without a close event
    asked: list[int] = []
    window.confirm_discard = lambda: asked.append(len(window.transcript.finals)) or False  # type: ignore[method-assign]
    window.start()
    qtbot.waitUntil(lambda: bool(window.transcript.committed), timeout=60000)
    assert not window.transcript.finals
    assert not window.close()  # refused: the user chose not to discard
    assert asked == [1] and window.transcript.finals  # the stop produced the final first
    window.confirm_discard = lambda: True  # type: ignore[method-assign]
    assert window.close()
