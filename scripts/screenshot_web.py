"""A screenshot of the live-captions page for the README, taken in headless Chromium while it
captions: a server with the bundled demo model (and Apertium's English → Spanish cascade, when
installed; with `--translate-with model`, the bundled speech-translation model beside it
instead) on a free port, the page at `/?autostart=1&lang=es`, and a fake microphone replaying
the bundled samples with pauses between them, so that finals pile up under live tentative text.

    .venv/bin/python scripts/screenshot_web.py [--out docs/screenshots/web-page.png]
    .venv/bin/python scripts/screenshot_web.py --translate-with model \
        --out docs/screenshots/web-page-st.png

Needs chromium and chromium-driver (Debian packages) and Selenium (the 'dev' extra).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2t_stream.defaults import BUNDLED_MODEL, BUNDLED_ST_MODEL  # noqa: E402
from s2t_stream.model.audio import load_audio  # noqa: E402
from s2t_stream.model.checkpoint import Bundle, load_bundle  # noqa: E402
from s2t_stream.server.app import StreamingServer  # noqa: E402
from s2t_stream.server.options import Limits  # noqa: E402
from s2t_stream.streaming.stream import StreamOptions  # noqa: E402
from s2t_stream.translation.apertium import available_languages  # noqa: E402

SAMPLES = ROOT / "assets" / "samples"
ORDER = ["sample1", "sample3", "sample2", "sample5", "sample4"]  # the order they are spoken in
PAUSE_S = 1.2  # between samples: each one ends a segment
WAIT_S = 120.0


def speech(path: Path, rate: int = 16000) -> None:
    """The samples in ORDER with PAUSE_S of silence before each (the page connects while the
    fake microphone already plays) and after the last, as a 16 kHz 16-bit WAV file."""
    pieces = [np.zeros(round(PAUSE_S * rate), np.float32)]
    for prefix in ORDER:
        (wav,) = SAMPLES.glob(f"{prefix}-*.wav")
        pieces += [load_audio(wav), np.zeros(round(PAUSE_S * rate), np.float32)]
    sf.write(path, np.concatenate(pieces), rate, "PCM_16")


@contextmanager
def serving(bundle: Bundle, mt: bool, translation: Bundle | None) -> Iterator[int]:
    """A server on a free loopback port, on its own event loop in a thread (`mt`: with the
    Apertium cascade; `translation`: a speech-translation model beside); yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    loop = asyncio.new_event_loop()
    up, stop = threading.Event(), asyncio.Event()

    async def main() -> None:
        mt_engine = "apertium" if mt else None
        server = StreamingServer(bundle, StreamOptions(), Limits(), 1, mt_engine, translation)
        async with server.running("127.0.0.1", port):
            up.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not up.wait(60):
        raise RuntimeError("the server did not start within 60 s")
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)


def chromium(wav: Path, width: int, height: int) -> Any:
    """Headless Chromium whose fake microphone loops `wav`."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    # the page's own size (a headless window's size would include the absent browser frame)
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    return driver


def ready_to_shoot(driver: Any, finals: int, unsure: bool) -> bool:
    """`finals` finals shown, the open segment with two committed words and tentative ones, and
    (if `unsure`) a word marked as uncertain."""
    return bool(
        driver.execute_script(
            "const $ = (id) => document.getElementById(id).textContent.trim();"
            "return s2tCaptions.page.finals.length >= arguments[0]"
            " && $('committed').split(' ').length >= 2 && $('tentative') !== ''"
            " && (!arguments[1] || document.querySelector('.unsure') !== null)",
            finals,
            unsure,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "web-page.png")
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--finals", type=int, default=3, help="finals on the page before the shot")
    parser.add_argument(
        "--translate-with",
        choices=("apertium", "model"),
        default="apertium",
        help="Spanish from Apertium's cascade (when installed) or the bundled ST model",
    )
    args = parser.parse_args()
    by_model = args.translate_with == "model"
    mt = not by_model and "es" in available_languages()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        speech(wav)
        bundle = load_bundle(BUNDLED_MODEL)
        translation = load_bundle(BUNDLED_ST_MODEL) if by_model else None
        with serving(bundle, mt, translation) as port:
            driver = chromium(wav, args.width, args.height)
            try:
                language = "&lang=es" if mt or by_model else ""
                driver.get(f"http://127.0.0.1:{port}/?autostart=1{language}")
                began = time.monotonic()
                deadline = began + WAIT_S
                # a word of low confidence, if one comes in the first half of the wait
                while not ready_to_shoot(
                    driver, args.finals, time.monotonic() < began + WAIT_S / 2
                ):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"no {args.finals} finals and live text in {WAIT_S} s")
                    time.sleep(0.05)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.out))
            finally:
                driver.quit()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
