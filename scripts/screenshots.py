"""Screenshots of the desktop app for the README: the main window and the caption overlay,
captioning two bundled samples through the bundled model.

    xvfb-run -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gui.app import MainWindow  # noqa: E402
from gui.worker import FileSource  # noqa: E402
from s2t_stream.defaults import BUNDLED_MODEL  # noqa: E402
from s2t_stream.model.audio import load_audio  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SAMPLES = ["sample1-espeak-en-gb-x-rp-f4.wav", "sample3-espeak-en-gb-scotland-m1.wav"]


def main() -> int:
    app = QApplication(sys.argv)
    gap = np.zeros(12000, dtype=np.float32)
    audio = np.concatenate(
        [x for name in SAMPLES for x in (gap, load_audio(ROOT / "assets" / "samples" / name))]
        + [gap, gap]
    )
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, source_factory=lambda device, rate: FileSource(audio, rate, 2.0))
    window.model.setText(str(BUNDLED_MODEL))
    window.show()
    window.overlay.move(window.x() + 40, window.y() + window.height() + 40)
    window.overlay.show()
    window.start()
    deadline = 60_000
    while len(window.transcript.finals) < len(SAMPLES) and deadline > 0:
        app.processEvents()
        QApplication.instance().thread().msleep(20)  # type: ignore[union-attr]
        deadline -= 20
    window.request_stop.emit()
    for _ in range(50):
        app.processEvents()
        QApplication.instance().thread().msleep(20)  # type: ignore[union-attr]
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "main-window.png"))
    screen = app.primaryScreen()
    assert screen is not None
    geometry = window.overlay.frameGeometry()
    screen.grabWindow(0, geometry.x(), geometry.y(), geometry.width(), geometry.height()).save(
        str(OUT / "overlay.png")
    )
    print(f"wrote {OUT / 'main-window.png'} and {OUT / 'overlay.png'}")
    window.transcript.saved = True
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
