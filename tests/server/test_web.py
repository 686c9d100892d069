"""The live-captions page (server/web.py and server/web/): what the HTTP side serves, checked on
hand-made requests and over loopback, then the page itself in a real headless Chromium whose
fake microphone replays a bundled sample: its captions must be the model's transcript, a refused
translation must be shown, and a server restart must be survived with the transcript kept."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import soundfile as sf
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from s2t_stream.io.protocol import SAMPLE_RATES
from s2t_stream.io.subtitles import to_srt, to_text, to_vtt
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.search import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.server import web
from s2t_stream.server.options import Limits
from s2t_stream.streaming.events import Final, Word
from tests.helpers import needs_apertium, running, unclaimed_port

# --- what is served -----------------------------------------------------------------------------


def test_the_page_and_its_files_are_served_with_their_types() -> None:
    index = web.page("/")
    assert index is not None and index.status == HTTPStatus.OK
    assert index.content_type == "text/html; charset=utf-8"
    assert b'aria-live="polite"' in index.body
    assert b'href="web/style.css"' in index.body and b'src="web/app.js"' in index.body
    types = {
        "/web/index.html": "text/html; charset=utf-8",
        "/web/app.js": "text/javascript; charset=utf-8",
        "/web/capture-worklet.js": "text/javascript; charset=utf-8",
        "/web/style.css": "text/css; charset=utf-8",
    }
    for path, content_type in types.items():
        answer = web.page(path)
        assert answer is not None and answer.status == HTTPStatus.OK, path
        assert answer.content_type == content_type and answer.body, path
    assert b"registerProcessor" in cast(web.Page, web.page("/web/capture-worklet.js")).body
    assert b'"web/capture-worklet.js"' in cast(web.Page, web.page("/web/app.js")).body


@pytest.mark.parametrize(
    "path",
    [
        "/web/nope.js",
        "/web/",
        "/web/../web.py",
        "/web/..%2Fweb.py",
        "/web/../../__init__.py",
        "/web//etc/passwd",
        "/web/./app.js",
        "/web/web/app.js",
        "/web/APP.JS",
        "/web/app.js/",
    ],
)
def test_other_names_under_web_are_404_and_never_leave_the_folder(path: str) -> None:
    answer = web.page(path)
    assert answer is not None and answer.status == HTTPStatus.NOT_FOUND, path
    assert answer.body == b"no such file\n"


def test_without_its_files_the_page_is_404_not_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(web.resources, "files", lambda package: tmp_path)  # no web/ in it
    web.files.cache_clear()
    try:
        answer = web.page("/")
        assert answer is not None and answer.status == HTTPStatus.NOT_FOUND
        assert "the captions page's files are missing" in caplog.text
    finally:
        web.files.cache_clear()


def test_other_paths_are_not_the_pages() -> None:
    for path in ("/v1/stream", "/healthz", "/index.html", "/webapp.js"):
        assert web.page(path) is None, path


@pytest.mark.network
@pytest.mark.model
def test_over_http_the_page_is_served_and_both_protocols_still_answer(bundle: Bundle) -> None:
    with running(bundle, limits=Limits(token="s3cret")) as server:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/?autostart=1") as response:  # no token needed
            assert response.status == 200
            assert response.headers.get_all("Content-Type") == ["text/html; charset=utf-8"]
            assert "connect-src 'self' ws: wss:" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert b"<title>" in response.read()
        with urllib.request.urlopen(f"{base}/web/app.js") as response:
            assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert b"/v1/stream" in response.read()
        assert server.http("/web/secret.txt")[0] == 404
        assert server.http("/web/../gate.py")[0] == 404
        for path in ("/", "/v1/stream"):  # the websockets still need the token
            with pytest.raises(InvalidStatus) as refused:
                connect(server.url(path))
            assert refused.value.response.status_code == 401, path
        with connect(server.url("/?token=s3cret")) as ws:  # Vosk at /
            ws.send(json.dumps({"config": {"sample_rate": 16000}}))
            ws.send(b"\0\0" * 1600)
            assert "partial" in json.loads(ws.recv())
        with connect(server.url("/v1/stream?token=s3cret")) as ws:  # native
            ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
            assert json.loads(ws.recv())["type"] == "ready"


# --- the page in a real browser -----------------------------------------------------------------

BROWSER_WAIT_S = 60.0  # for each thing the page should show (a loaded 2-core machine is slow)


def chromium_driver(wav: Path, microphone: bool = True, rate: int | None = None) -> Any:
    """Headless Chromium (through chromedriver) whose fake microphone loops `wav`, allowed to
    start audio without a click, and to record unless not `microphone`; with `rate`, the page's
    AudioContexts run at `rate` Hz (the browser's own choice otherwise: 44100 Hz here). Skips
    the test, saying what is missing, where Selenium, chromium or chromedriver is absent."""
    if importlib.util.find_spec("selenium") is None:
        pytest.skip("Selenium is not installed: pip install -e '.[dev]'")
    programs = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    absent = [name for name, path in programs.items() if path is None]
    if absent:
        pytest.skip(
            f"{' and '.join(absent)} not installed: apt-get install chromium chromium-driver "
            "(scripts/setup.sh --dev installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = cast(str, programs["chromium"])
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for the sandbox
        "--disable-dev-shm-usage",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=900,700",
    ):
        options.add_argument(argument)
    if microphone:
        options.add_argument("--use-fake-ui-for-media-stream")  # grant the permission prompt
    else:  # the user said no (as a click on "Block" does)
        options.add_experimental_option(
            "prefs", {"profile.default_content_setting_values.media_stream_mic": 2}
        )
    driver = webdriver.Chrome(options=options, service=Service(programs["chromedriver"]))
    if rate is not None:
        script = (
            "const Base = window.AudioContext; window.AudioContext = class extends Base {"
            f" constructor(options) {{ super({{...options, sampleRate: {rate}}}); }} }};"
        )
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": script})
    return driver


@contextmanager
def browser(wav: Path, microphone: bool = True, rate: int | None = None) -> Iterator[Any]:
    driver = chromium_driver(wav, microphone, rate)
    try:
        yield driver
    finally:
        driver.quit()


def page_state(driver: Any) -> dict[str, Any]:
    """What the page shows and holds: status, error, captions text and its finals."""
    return cast(
        dict[str, Any],
        driver.execute_script(
            "const $ = (id) => document.getElementById(id);"
            "return {status: $('status').textContent, error: $('error').hidden ? '' :"
            " $('error').textContent, toggle: $('toggle').textContent,"
            " captions: $('captions').innerText, listening: s2tCaptions.page.listening,"
            " finals: s2tCaptions.page.finals};"
        ),
    )


def wait_for(
    driver: Any,
    done: Callable[[dict[str, Any]], bool],
    what: str,
    timeout_s: float = BROWSER_WAIT_S,
) -> dict[str, Any]:
    """Poll the page until `done(state)`; fail with the page's last state after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = page_state(driver)
        if done(state):
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"the page did not show {what} within {timeout_s:.0f} s: {state}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory, waves: list[np.ndarray]) -> Path:
    """The first bundled sample followed by 1.5 s of silence, so that each of the fake
    microphone's loops ends a segment (16 kHz mono 16-bit WAV)."""
    path = tmp_path_factory.mktemp("web") / "sample-then-silence.wav"
    sf.write(path, np.concatenate([waves[0], np.zeros(24000, np.float32)]), 16000, "PCM_16")
    return path


@pytest.fixture(scope="module")
def transcript(bundle: Bundle, waves: list[np.ndarray]) -> str:
    """What the model says offline (greedy, as streaming decodes) for the first sample."""
    transcriber = Transcriber(bundle, TranscribeOptions(DecodingOptions(num_beams=1)))
    return transcriber.transcribe([waves[0]])[0].text


def texts(state: dict[str, Any]) -> list[str]:
    return [final["text"] for final in state["finals"]]


def word(text: str, start_s: float) -> dict[str, Any]:
    return {"word": text, "start_s": start_s, "end_s": start_s + 0.1}


def long_final(start_s: float) -> dict[str, Any]:
    """A final of 30 words of 6-9 letters, 0.3 s apart from `start_s` (several cues)."""
    words = [word("word" + "s" * (2 + i % 4), start_s + 0.3 * i) for i in range(30)]
    text = " ".join(w["word"] for w in words)
    return {"text": text, "start_s": start_s, "end_s": words[-1]["end_s"], "words": words}


def as_final(shown: dict[str, Any]) -> Final:
    """A final as the page holds it (times on its timeline), as a `Final`."""
    words = tuple(Word(w["word"], w["start_s"], w["end_s"]) for w in shown["words"])
    return Final(0, shown["text"], shown["start_s"], shown["end_s"], 0.0, 0.0, words)


@pytest.mark.network
@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("rate", [None, 48000])
def test_the_page_captions_the_microphone(
    bundle: Bundle, spoken: Path, transcript: str, rate: int | None
) -> None:
    # a server with a token: the page is served without it, its websocket gets it from ?token=
    with (
        running(bundle, limits=Limits(token="s3cret")) as server,
        browser(spoken, rate=rate) as driver,
    ):
        driver.get(f"http://127.0.0.1:{server.port}/?autostart=1&token=s3cret")
        state = wait_for(driver, lambda s: transcript in texts(s), repr(transcript))
        used = int(state["status"].split("—")[1].split()[0])
        assert state["status"].startswith("Listening") and used in SAMPLE_RATES, state["status"]
        assert rate is None or used == rate
        assert transcript in state["captions"] and state["error"] == ""
        starts = [final["start_s"] for final in state["finals"]]
        assert starts == sorted(starts) and all(f["end_s"] > f["start_s"] for f in state["finals"])
        exports = driver.execute_script(
            "const {page, toSrt, toVtt, toText} = s2tCaptions;"
            "return [toSrt(page.finals), toVtt(page.finals), toText(page.finals)]"
        )
        finals = [as_final(final) for final in state["finals"]]  # the same, in Python
        assert exports == [to_srt(finals), to_vtt(finals), to_text(finals)]
        assert transcript.split()[0] in exports[0]
        made_up = [  # cues split at 2 × 42 characters, stretched short cues, hours, no words
            {"text": "a b", "start_s": 0.0, "end_s": 0.4, "words": []},
            {**long_final(3599.25), "text": "words " * 10},
            {"text": "x", "start_s": 3609.0, "end_s": 3609.1, "words": [word("x", 3609.0)]},
            {"text": "y", "start_s": 3609.2, "end_s": 3609.3, "words": [word("y", 3609.2)]},
        ]
        exports = driver.execute_script(
            "const {toSrt, toVtt, toText} = s2tCaptions; const f = arguments[0];"
            "return [toSrt(f), toVtt(f), toText(f)]",
            made_up,
        )
        finals = [as_final(final) for final in made_up]
        assert exports == [to_srt(finals), to_vtt(finals), to_text(finals)]
        assert exports[0].count("-->") == 7 and "01:00:09,000 --> 01:00:09,200" in exports[0]
        words = [{"word": w, "conf": c} for w, c in [("so", 0.9), ("sure", 0.5), ("not", 0.25)]]
        unsure = driver.execute_script(  # a word below 0.5 confidence is marked, with its value
            "s2tCaptions.addFinal({text: 'so sure not', start_s: 9, end_s: 9.9,"
            " words: arguments[0]});"
            "const marked = document.querySelectorAll('#finals li:last-child .unsure');"
            "return [...marked].map((e) => [e.textContent, e.title]);",
            words,
        )
        assert unsure == [["not", "confidence 0.25"]]
        driver.find_element("id", "toggle").click()  # Stop: the last final, then the session ends
        wait_for(driver, lambda s: s["status"] == "Stopped." and not s["listening"], "Stopped.")


@pytest.mark.network
@pytest.mark.model
@pytest.mark.slow
def test_a_refused_microphone_or_an_unusable_rate_is_shown(bundle: Bundle, spoken: Path) -> None:
    with running(bundle) as server:
        with browser(spoken, microphone=False) as driver:
            driver.get(f"http://127.0.0.1:{server.port}/?autostart=1")
            state = wait_for(driver, lambda s: s["error"] != "", "an error")
            assert "Microphone access was refused" in state["error"], state
            assert state["toggle"] == "Start" and not state["listening"]
        with browser(spoken, rate=96000) as driver:
            driver.get(f"http://127.0.0.1:{server.port}/?autostart=1")
            state = wait_for(driver, lambda s: s["error"] != "", "an error")
            assert "runs at 96000 Hz, which the server does not accept" in state["error"], state
            assert state["toggle"] == "Start" and not state["listening"]


@pytest.mark.network
@pytest.mark.model
@pytest.mark.slow
def test_a_language_the_server_does_not_offer_is_said_and_captions_go_on(
    bundle: Bundle, spoken: Path, transcript: str
) -> None:
    with running(bundle) as server, browser(spoken) as driver:  # no --mt, no translation model
        driver.get(f"http://127.0.0.1:{server.port}/?autostart=1&lang=es")
        state = wait_for(driver, lambda s: transcript in texts(s), repr(transcript))
        assert "does not translate into es: captions only" in state["error"], state
        assert state["status"].startswith("Listening") and "translating" not in state["status"]
        assert all(final["translation"] is None for final in state["finals"])
        offered = driver.execute_script("return [...document.getElementById('lang').options]"
                                        ".map((o) => o.value)")  # fmt: skip
        assert offered == [""]


@pytest.mark.network
@pytest.mark.model
@pytest.mark.slow
@pytest.mark.st_model
def test_the_translation_model_puts_spanish_under_the_captions(
    bundle: Bundle, spoken: Path, transcript: str, waves: list[np.ndarray]
) -> None:
    from s2t_stream.defaults import BUNDLED_ST_MODEL
    from s2t_stream.model.checkpoint import load_bundle

    translator = load_bundle(BUNDLED_ST_MODEL)
    offline = Transcriber(translator, TranscribeOptions(tgt_lang="es"))
    expected = offline.transcribe([waves[0]])[0].text  # what `transcribe --tgt-lang es` says
    with running(bundle, translation=translator) as server, browser(spoken) as driver:
        driver.get(f"http://127.0.0.1:{server.port}/?autostart=1&lang=es")
        state = wait_for(
            driver,
            lambda s: any(f["text"] == transcript and f["translation"] for f in s["finals"]),
            "a caption with its translation",
        )
        final = next(f for f in state["finals"] if f["text"] == transcript and f["translation"])
        # streaming commits words as they come, so they need not be all of offline's: the same
        # model's Spanish, words in common, under the English caption it overlaps
        assert set(final["translation"].split()) & set(expected.split()), (final, expected)
        assert final["translation"] != transcript and final["lang"] == "es"
        assert final["translation"] in state["captions"]
        assert "translating into es (s2t-demo-st)" in state["status"], state["status"]


def at_bottom(driver: Any) -> bool:
    return cast(
        bool,
        driver.execute_script(
            "const r = document.getElementById('captions');"
            "return r.scrollHeight - r.scrollTop - r.clientHeight < 2;"
        ),
    )


@pytest.mark.network
@pytest.mark.model
@pytest.mark.slow
def test_translations_are_placed_the_captions_followed_and_each_session_backs_off_alone(
    bundle: Bundle, spoken: Path
) -> None:
    with running(bundle) as server, browser(spoken) as driver:
        driver.get(f"http://127.0.0.1:{server.port}/")  # not started: the page's parts, driven
        wait_for(driver, lambda s: s["toggle"] == "Start", "the page")
        for i in range(30):  # more than the window holds: scrolled to the bottom, following
            driver.execute_script("s2tCaptions.addFinal(arguments[0])", long_final(10.0 * i))
        assert at_bottom(driver)
        # a translation's live words and a translation under the last caption (both longer than
        # the margin that counts as "at the bottom") are followed too, as the next caption is
        long = " ".join(["palabras"] * 40)
        driver.execute_script("s2tCaptions.showTranslationPartial(arguments[0], '')", long)
        assert at_bottom(driver)
        driver.execute_script(
            "s2tCaptions.placeTranslation({text: arguments[0], start_s: 290, end_s: 298,"
            " words: [], lang: 'es'})",
            long,
        )
        assert at_bottom(driver)
        driver.execute_script("s2tCaptions.addFinal(arguments[0])", long_final(300.0))
        assert at_bottom(driver)
        # a translation of a stretch no caption covers (the captions' session was down) is held
        # while its caption may come, then gets a row of its own in time order, under no caption
        driver.execute_script(
            "s2tCaptions.placeTranslation({text: 'sin subtítulo', start_s: 315, end_s: 317,"
            " words: [], lang: 'es'})"
        )
        assert page_state(driver)["finals"][-1].get("translation") is None  # held
        driver.execute_script(
            "s2tCaptions.addFinal({text: 'later', start_s: 330, end_s: 331, words: []})"
        )
        state = page_state(driver)
        assert [(f["text"], f.get("translation")) for f in state["finals"][-3:]] == [
            (long_final(300.0)["text"], None),
            ("", "sin subtítulo"),
            ("later", None),
        ]
        rows = driver.execute_script(
            "return [...document.querySelectorAll('#finals li')].slice(-3).map((e) => e.innerText)"
        )
        assert "sin subtítulo" in rows[1] and "sin subtítulo" not in rows[0] + rows[2], rows
        assert "[00:05:15] \n    sin subtítulo\n" in driver.execute_script(
            "return s2tCaptions.toText(s2tCaptions.page.finals)"
        )
        # each session's backoff is its own: the first retry of either waits 1 s
        errors = driver.execute_script(
            "const {reconnect} = s2tCaptions; const e = () => document.getElementById('error');"
            "reconnect('Gone.', 'session'); const first = e().textContent;"
            "reconnect('Gone.', 'translation'); return [first, e().textContent];"
        )
        assert all("Reconnecting in 1 s" in error for error in errors), errors


@pytest.mark.network
@pytest.mark.model
@pytest.mark.slow
def test_a_refused_translation_is_said_until_the_next_start(
    bundle: Bundle, spoken: Path, transcript: str
) -> None:
    with running(bundle) as server, browser(spoken) as driver:  # no translation model
        driver.get(f"http://127.0.0.1:{server.port}/")
        asked = "return performance.getEntriesByType('resource').map((e) => e.name).join(' ')"
        deadline = time.monotonic() + BROWSER_WAIT_S
        while "/v1/languages" not in driver.execute_script(asked):  # (its answer replaces ours)
            assert time.monotonic() < deadline, "the page did not ask for its languages"
            time.sleep(0.2)
        time.sleep(0.5)
        driver.execute_script(  # as if the server had offered Spanish from a model, then lost it
            "const select = document.getElementById('lang'); select.add(new Option('es', 'es'));"
            "select.value = 'es'; s2tCaptions.page.languages = {es: {model: 'gone', mt: null}};"
            "document.getElementById('toggle').click();"
        )
        refused = "Captions continue without translation"
        state = wait_for(
            driver,
            lambda s: transcript in texts(s) and refused in s["error"],
            "captions and the refusal",
        )
        assert "translating" not in state["status"], state
        driver.execute_script("s2tCaptions.page.session.socket.close()")  # the captions reconnect
        wait_for(driver, lambda s: "Reconnecting" in s["status"], "the reconnection")
        state = wait_for(driver, lambda s: s["status"].startswith("Listening"), "listening again")
        assert refused in state["error"], state  # the captions' `ready` did not clear it
        driver.find_element("id", "toggle").click()
        wait_for(driver, lambda s: not s["listening"], "stopped")
        driver.execute_script("s2tCaptions.page.languages = {}")  # Spanish no longer offered
        driver.find_element("id", "toggle").click()
        state = wait_for(driver, lambda s: s["status"].startswith("Listening"), "listening anew")
        assert refused not in state["error"], state


@pytest.mark.network
@pytest.mark.model
@pytest.mark.slow
@needs_apertium
def test_translations_are_shown_under_their_finals(
    bundle: Bundle, spoken: Path, transcript: str
) -> None:
    with running(bundle, mt="apertium") as server, browser(spoken) as driver:
        driver.get(f"http://127.0.0.1:{server.port}/?autostart=1&lang=ca")
        state = wait_for(driver, lambda s: transcript in texts(s), repr(transcript))
        final = next(f for f in state["finals"] if f["text"] == transcript)
        assert final["translation"] and final["translation"] != transcript
        assert final["translation"] in state["captions"]
        assert "translating into ca" in state["status"]


@contextmanager
def serving(bundle: Bundle, port: int) -> Iterator[None]:
    """A server on `port` (so that a restarted one is found at the same address); a failure to
    start (such as the port taken) is raised here, not left in the server's thread."""
    from s2t_stream.server.app import StreamingServer
    from s2t_stream.streaming.stream import StreamOptions

    loop = asyncio.new_event_loop()
    up, stop = threading.Event(), asyncio.Event()
    failed: list[Exception] = []

    async def main() -> None:
        try:
            async with StreamingServer(bundle, StreamOptions(), Limits()).running(
                "127.0.0.1", port
            ):
                up.set()
                await stop.wait()
        except Exception as error:  # raised in the test's thread below
            failed.append(error)
            up.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert up.wait(30), "server did not start"
    try:
        if failed:
            raise failed[0]
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()


@pytest.mark.network
@pytest.mark.model
@pytest.mark.slow
def test_the_page_reconnects_and_keeps_the_transcript(
    bundle: Bundle, spoken: Path, transcript: str
) -> None:
    port = unclaimed_port()
    with browser(spoken) as driver:
        with serving(bundle, port):
            driver.get(f"http://127.0.0.1:{port}/?autostart=1")
            before = wait_for(driver, lambda s: transcript in texts(s), repr(transcript))
        # the server drained (its last finals came first): the page says so and retries
        gone = wait_for(driver, lambda s: "Reconnecting" in s["error"], "the reconnection notice")
        last_s = gone["finals"][-1]["end_s"]
        with serving(bundle, port):
            after = wait_for(
                driver,
                lambda s: any(
                    f["text"] == transcript and f["start_s"] > last_s for f in s["finals"]
                ),
                "a final of the new session",
            )
    assert after["finals"][: len(before["finals"])] == before["finals"]  # the transcript is kept
    assert after["error"] == "" and after["listening"]
    starts = [final["start_s"] for final in after["finals"]]
    assert starts == sorted(starts)  # the new session's times follow the old ones
