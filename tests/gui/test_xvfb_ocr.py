"""The picture a user sees: `s2t-stream gui --source <bundled sample> --start --overlay` on a real
X server (Xvfb), the caption overlay's screen area captured, and the final's words read back from
it with OCR (tesseract). Skipped, with the reason, where Xvfb, tesseract or xwininfo is absent
(`scripts/setup.sh --dev` installs them)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from s2t_stream.model.checkpoint import Bundle
from s2t_stream.streaming.drive import StreamDriver
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Final
from s2t_stream.streaming.stream import StreamOptions
from tests.helpers import SAMPLES

pytest.importorskip("PyQt6", reason="the desktop app needs PyQt6 (pip install 's2t-stream[gui]')")

pytestmark = [
    pytest.mark.model,
    pytest.mark.slow,
    pytest.mark.audio("Xvfb", "tesseract", "xwininfo"),
]
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = SAMPLES / "sample4-espeak-en-029-m1.wav"  # 7 s: its final wraps over the overlay's rows
OVERLAY_TITLE = "s2t-stream captions"
GRAB = """
import sys
from PyQt6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
x, y, w, h = map(int, sys.argv[1:5])
app.primaryScreen().grabWindow(0, x, y, w, h).save(sys.argv[5])
"""


@pytest.fixture
def x_display() -> Iterator[str]:
    """A fresh Xvfb on a free display number (Xvfb picks it and writes it to a pipe)."""
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=[write],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def expected_final(bundle: Bundle, tgt_lang: str | None = None) -> Final:
    """The sample's final as the app makes it (translated into `tgt_lang` by a translation
    model): the same engine, fed 50 ms at a time."""
    from s2t_stream.model.audio import load_audio

    driver = StreamDriver(Engine(bundle, StreamOptions(tgt_lang=tgt_lang)))
    audio = np.concatenate([load_audio(SAMPLE), np.zeros(16000, np.float32)])
    events = [e for i in range(0, len(audio), 800) for e in driver.push(audio[i : i + 800])]
    finals = [e for e in events + driver.end() if isinstance(e, Final) and e.text]
    assert len(finals) == 1
    return finals[0]


def overlay_geometry(display: str) -> tuple[int, int, int, int] | None:
    """The overlay window's x, y, width, height on the screen (None: not mapped yet)."""
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"],
        capture_output=True,
        text=True,
        env={**os.environ, "DISPLAY": display},
        timeout=10,
    ).stdout
    for line in tree.splitlines():
        if f'"{OVERLAY_TITLE}"' in line:
            match = re.search(r"(\d+)x(\d+)[+-]\d+[+-]\d+\s+\+(-?\d+)\+(-?\d+)", line)
            if match:
                w, h, x, y = map(int, match.groups())
                return x, y, w, h
    return None


def read_overlay(display: str, png: Path) -> str:
    """Capture the overlay's area of the screen (what a user sees there) and OCR it."""
    geometry = overlay_geometry(display)
    if geometry is None:
        return ""
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    subprocess.run(
        [sys.executable, "-c", GRAB, *map(str, geometry), str(png)], env=env, check=True, timeout=30
    )
    done = subprocess.run(
        ["tesseract", str(png), "-", "--psm", "6"], capture_output=True, text=True, timeout=30
    )
    return done.stdout


def words(text: str) -> list[str]:
    return re.findall(r"[a-záéíóúüñç']+", text.lower())


def watch_overlay(
    display: str, tmp_path: Path, settings: str, done: Callable[[list[str]], bool]
) -> list[str]:
    """`s2t-stream gui --source SAMPLE --start --overlay` with `settings` (the app's settings
    file, INI) on `display`; the overlay OCR'd every 1.5 s until `done(words read)` or 90 s;
    the last words read. Fails if the app exits with an error."""
    config = tmp_path / "config"  # fresh settings: default placement, and `settings`
    (config / "s2t-stream").mkdir(parents=True)
    (config / "s2t-stream" / "s2t-stream.conf").write_text(settings)
    env = {
        **os.environ,
        "DISPLAY": display,
        "QT_QPA_PLATFORM": "xcb",
        "XDG_CONFIG_HOME": str(config),
    }
    command = ["-m", "s2t_stream", "gui", "--source", str(SAMPLE), "--start", "--overlay"]
    app = subprocess.Popen(
        [sys.executable, *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and app.poll() is None:
            time.sleep(1.5)
            seen = words(read_overlay(display, tmp_path / "overlay.png"))
            if done(seen):
                break
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        output = app.communicate(timeout=10)[0].decode(errors="replace")
    assert app.returncode in (-signal.SIGTERM, 0), output
    return seen


def test_the_overlay_shows_the_final_on_a_real_x_server(
    x_display: str, bundle: Bundle, tmp_path: Path
) -> None:
    final = words(expected_final(bundle).text)
    seen = watch_overlay(x_display, tmp_path, "", lambda seen: bool(seen) and seen[-1] == final[-1])
    # the newest word is on the screen, last; what is shown is the end of the final
    assert seen and seen[-1] == final[-1], f"OCR read {seen}; the final is {final}"
    assert len(seen) >= 4
    misread = [w for w in seen if w not in final]
    assert len(misread) <= len(seen) // 5, f"OCR read {seen}; the final is {final}"


@pytest.mark.st_model
def test_the_overlay_shows_the_spanish_line_under_the_caption(
    x_display: str, bundle: Bundle, tmp_path: Path
) -> None:
    """The app set to translate into Spanish (no second model named: the bundled
    speech-translation model runs beside the captions): the overlay shows the caption's last
    words and, under them, the Spanish line's."""
    from s2t_stream.defaults import BUNDLED_ST_MODEL
    from s2t_stream.model.checkpoint import load_bundle

    caption = words(expected_final(bundle).text)
    spanish = words(expected_final(load_bundle(BUNDLED_ST_MODEL), "es").text)
    assert spanish and set(spanish) - set(caption), "the model's Spanish shares every word"

    def both_ends(seen: list[str]) -> bool:  # the caption's last word above the Spanish line's
        return caption[-1] in seen and bool(seen) and seen[-1] == spanish[-1]

    seen = watch_overlay(x_display, tmp_path, "[General]\ntranslation_lang=es\n", both_ends)
    assert both_ends(seen), f"OCR read {seen}; caption {caption}; Spanish {spanish}"
    assert seen.index(caption[-1]) < len(seen) - 1  # the caption above the translation
    read_spanish = [w for w in seen[seen.index(caption[-1]) + 1 :] if w in spanish]
    assert len(read_spanish) >= 2, f"OCR read {seen}; the Spanish is {spanish}"
