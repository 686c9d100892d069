"""Screenshots of the desktop app for the README, taken on a real X server while it captions:
the main window with a two-source transcript ("You" and "Others", from bundled samples) and
live tentative text, and the caption overlay as it looks on screen (over a window, translucent
when a compositor runs).

    xvfb-run -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshots.py

(`xcompmgr`, if installed, is started for the translucency; the bundled demo model captions.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication, QWidget

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gui.app import MainWindow  # noqa: E402
from gui.sources import InputChoice  # noqa: E402
from gui.worker import FileSource, Source  # noqa: E402
from s2t_stream.defaults import BUNDLED_MODEL  # noqa: E402
from s2t_stream.model.audio import load_audio  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SAMPLES = ROOT / "assets" / "samples"
# (label, seconds of silence before, sample) — the two people of a call, taking turns
TURNS = [
    ("You", 0.4, "sample1-espeak-en-gb-x-rp-f4.wav"),
    ("Others", 0.6, "sample3-espeak-en-gb-scotland-m1.wav"),
    ("You", 0.5, "sample2-espeak-en-us-f5.wav"),
    ("Others", 0.5, "sample4-espeak-en-029-m1.wav"),
]


def conversation(rate: int = 16000) -> dict[str, np.ndarray]:
    """Each speaker's track: their turns where they fall, silence while the other speaks."""
    tracks: dict[str, list[np.ndarray]] = {"You": [], "Others": []}
    for label, pause_s, name in TURNS:
        turn = np.concatenate(
            [np.zeros(round(pause_s * rate), np.float32), load_audio(SAMPLES / name)]
        )
        for other, track in tracks.items():
            track.append(turn if other == label else np.zeros_like(turn))
    return {label: np.concatenate(track) for label, track in tracks.items()}


def wait(app: QApplication, seconds: float) -> None:
    """Let Qt run for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)


def live_tentative(window: MainWindow) -> bool:
    """Three finals in, and the last speaker's open segment with committed and tentative
    words (both kinds show)."""
    segments = window.transcript.open_segments()
    return len(window.transcript.finals) >= 3 and any(p.committed and p.tentative for p in segments)


def backdrop() -> QWidget:
    """A window under the overlay (a video, say), to show the overlay's translucency."""
    video = QWidget()
    video.setWindowTitle("a video")
    video.setStyleSheet(
        "background: qlineargradient(x1: 0, y1: 0, x2: 1, y2: 1, stop: 0 #40698f, "
        "stop: 0.5 #8aa5b8, stop: 1 #d6b77a);"
    )
    video.setGeometry(160, 560, 960, 240)
    video.show()
    return video


def main() -> int:
    """Caption the call live, take both pictures mid-sentence, stop."""
    app = QApplication(sys.argv)
    compositor = None
    if shutil.which("xcompmgr"):
        compositor = subprocess.Popen(["xcompmgr"], stderr=subprocess.DEVNULL)
    tracks = conversation()

    def sources(choice: InputChoice, rate: int) -> dict[str, Source]:
        return {
            label: FileSource(track, rate, name=f"{label.lower()}.wav")
            for label, track in tracks.items()
        }

    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, source_factory=sources, list_inputs=lambda: [])
    window.model.setText(os.path.relpath(BUNDLED_MODEL))  # as typed by a user in the repository
    window.source.choose(next(c for c in window.source.choices if c.kind == "both"))
    window.resize(900, 440)
    window.show()
    cover = backdrop()
    window.overlay_controls.lines.setValue(3)
    window.show_overlay()
    window.overlay.setGeometry(220, 620, 840, window.overlay.fitting_height())
    window.overlay.raise_()
    window.start()
    deadline = time.monotonic() + 60
    while not live_tentative(window) and time.monotonic() < deadline:
        wait(app, 0.02)
    wait(app, 0.1)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "main-window.png"))
    screen = app.primaryScreen()
    assert screen is not None
    area = window.overlay.frameGeometry().adjusted(-60, -40, 60, 40)  # with what is around it
    screen.grabWindow(0, area.x(), area.y(), area.width(), area.height()).save(
        str(OUT / "overlay.png")
    )
    print(f"wrote {OUT / 'main-window.png'} and {OUT / 'overlay.png'}")
    print("overlay:", window.overlay.visible_lines())
    window.stop_and_wait()
    window.transcript.saved = True
    window.close()
    cover.close()
    if compositor is not None:
        compositor.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
