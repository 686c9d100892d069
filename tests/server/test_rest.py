"""The OpenAI-compatible REST API on the in-process server, driven by the official `openai` client
(and httpx for what the client hides): transcriptions in every response format, segmented as
`s2t-stream transcribe` segments them (the command's own output is the expected value),
translations through the cascade, the model list, and every refusal in OpenAI's error shape."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from websockets.sync.client import connect

from s2t_stream.cli import main
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.server.options import Limits
from s2t_stream.streaming.policy import PolicyOptions
from tests.helpers import BUNDLED_MODEL, SAMPLES, Running, needs_apertium, running
from tests.server.test_hostile import conversation, finals
from tests.server.test_server import start

if not (BUNDLED_MODEL / "config.json").is_file():
    pytest.skip(f"no bundled model at {BUNDLED_MODEL}", allow_module_level=True)

pytestmark = [pytest.mark.network, pytest.mark.model]

SAMPLE = SAMPLES / "sample1-espeak-en-gb-x-rp-f4.wav"
MODEL_NAME = BUNDLED_MODEL.name  # what /v1/models must call the bundled model


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory, waves: list[np.ndarray]) -> Path:
    """Every sample, 1.5 s apart, as one FLAC file (several segments, another format)."""
    pause = np.zeros(24000, np.float32)
    audio = np.concatenate([part for wave in waves for part in (wave, pause)])
    path = tmp_path_factory.mktemp("rest") / "samples.flac"
    sf.write(path, audio, 16000, subtype="PCM_16")
    return path


def transcribe_command(path: Path, form: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What `s2t-stream transcribe --format FORM PATH` prints (the expected answers)."""
    capsys.readouterr()
    assert main(["transcribe", "--model", str(BUNDLED_MODEL), "--format", form, str(path)]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def server(bundle: Bundle) -> Iterator[Running]:
    with running(bundle) as serving:
        yield serving


def upload(path: Path = SAMPLE) -> tuple[str, bytes]:
    """A file for the client: its name and bytes."""
    return path.name, path.read_bytes()


CLIENTS: list[openai.OpenAI] = []  # closed after each test (their sockets)


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while CLIENTS:
        CLIENTS.pop().close()


def client(server: Running, api_key: str = "unused") -> openai.OpenAI:
    """The official client on the in-process server; no retries (a refusal is what is tested)."""
    base = f"http://127.0.0.1:{server.port}/v1"
    made = openai.OpenAI(base_url=base, api_key=api_key, max_retries=0, timeout=120)
    CLIENTS.append(made)
    return made


def error_of(raised: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    """The error object of a refusal, checked to be in OpenAI's shape."""
    body = raised.value.response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


# --- transcriptions -----------------------------------------------------------------------------


def test_every_response_format_is_what_the_transcribe_command_says(
    server: Running, recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = {form: transcribe_command(recording, form, capsys) for form in ("json", "srt")}
    expected["vtt"] = transcribe_command(recording, "vtt", capsys)
    segments = json.loads(expected["json"])["segments"]
    text = json.loads(expected["json"])["text"]
    assert len(segments) >= 4 and text  # several segments: the file was cut as the command cuts it
    api = client(server)
    with recording.open("rb") as audio:
        plain = api.audio.transcriptions.create(model="whisper-1", file=audio)
    assert plain.text == text
    for form in ("text", "srt", "vtt"):
        with recording.open("rb") as audio:
            said = api.audio.transcriptions.create(
                model=MODEL_NAME,
                file=audio,
                response_format=form,  # type: ignore[arg-type]
                language="en",
                prompt="ignored",
                temperature=0.0,
            )
        assert said == (text + "\n" if form == "text" else expected[form]), form
    status, metrics = server.http("/metrics")
    assert status == 200 and 's2t_sessions_total{protocol="rest"} 4.0' in metrics
    assert "s2t_transcriptions_active 0.0" in metrics


def test_verbose_json_has_the_segments_and_increasing_word_times(
    server: Running, recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = json.loads(transcribe_command(recording, "json", capsys))
    with recording.open("rb") as audio:
        verbose = client(server).audio.transcriptions.create(
            model="whisper-1",
            file=audio,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert verbose.text == expected["text"]
    assert verbose.language == "english" and verbose.task == "transcribe"  # type: ignore[attr-defined]
    assert verbose.duration == pytest.approx(sf.info(recording).duration, abs=1e-3)
    assert verbose.segments is not None and verbose.words is not None
    assert [(s.start, s.end, s.text) for s in verbose.segments] == [
        (s["start_s"], s["end_s"], s["text"]) for s in expected["segments"]
    ]
    assert [s.id for s in verbose.segments] == list(range(len(expected["segments"])))
    words = [w["word"] for s in expected["segments"] for w in s["words"]]
    assert [w.word for w in verbose.words] == words and len(words) >= 10
    starts = [w.start for w in verbose.words]
    assert starts == sorted(starts) and starts[-1] > starts[0]
    assert all(w.start <= w.end <= verbose.duration for w in verbose.words)


def test_words_come_only_when_asked_for(server: Running) -> None:
    with SAMPLE.open("rb") as audio:
        verbose = client(server).audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="verbose_json"
        )
    assert verbose.segments and verbose.words is None
    assert verbose.segments[0].tokens  # the segment's own tokens


# --- refusals -----------------------------------------------------------------------------------


def test_a_corrupt_or_empty_upload_or_a_bad_field_is_a_400(server: Running) -> None:
    api = client(server)
    riff = SAMPLE.read_bytes()[:44] + bytes(range(256)) * 8  # a WAV header, then garbage
    expected = ": expected audio in a supported format: WAV, FLAC, Ogg Vorbis or Opus, MP3"
    for name, data, said in (
        ("noise.mp3", bytes(range(256)) * 40, "could not be decoded (Format not recognised)"),
        ("cut.wav", riff[:30], "could not be decoded ("),
        ("empty.wav", b"", "is empty"),
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            api.audio.transcriptions.create(model="whisper-1", file=(name, data))
        error = error_of(refused)
        assert (error["type"], error["param"]) == ("invalid_request_error", "file"), name
        # the upload by its name, not `Error opening <_io.BytesIO object at 0x…>`
        assert error["message"].startswith(f"the uploaded file {name!r} {said}"), error
        assert expected in error["message"] and "<_io" not in error["message"], error
    for fields, param in (
        ({"response_format": "xml"}, "response_format"),
        ({"temperature": 3.0}, "temperature"),
        ({"language": "de"}, "language"),
        ({"timestamp_granularities": ["word"]}, "timestamp_granularities"),  # not verbose_json
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            api.audio.transcriptions.create(
                model="whisper-1",
                file=upload(),
                **fields,  # type: ignore[arg-type]
            )
        assert error_of(refused)["param"] == param, fields
    with pytest.raises(openai.NotFoundError) as unknown:
        api.audio.transcriptions.create(model="whisper-large", file=upload())
    assert error_of(unknown)["code"] == "model_not_found"
    answer = httpx.post(f"http://127.0.0.1:{server.port}/v1/audio/transcriptions", json={})
    assert answer.status_code == 400 and set(answer.json()["error"]) >= {"message", "type"}
    status, _ = server.http("/healthz")
    assert status == 200


def test_a_decoding_fault_is_a_500_and_the_next_request_is_served(
    server: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Transcriber, waveforms: Any) -> Any:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(Transcriber, "transcribe", broken)
    with pytest.raises(openai.InternalServerError) as failed:
        client(server).audio.transcriptions.create(model="whisper-1", file=upload())
    assert failed.value.status_code == 500
    assert error_of(failed)["type"] == "server_error"
    assert any("injected fault" in repr(r.exc_info) for r in caplog.records if r.exc_info)
    monkeypatch.undo()
    assert client(server).audio.transcriptions.create(model="whisper-1", file=upload()).text


def test_the_token_guards_the_api(bundle: Bundle) -> None:
    with running(bundle, Limits(token="s3cret")) as server:
        wrong = client(server, "nope")
        with pytest.raises(openai.AuthenticationError) as refused:
            wrong.models.list()
        assert error_of(refused)["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            wrong.audio.transcriptions.create(model="whisper-1", file=upload())
        models = f"http://127.0.0.1:{server.port}/v1/models"
        missing = httpx.get(models)  # no token at all
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
        assert [m.id for m in client(server, "s3cret").models.list()] == [MODEL_NAME]
        assert httpx.get(models + "?token=s3cret").status_code == 200  # as websockets take it
        assert server.http("/healthz") == (200, "ok\n")  # operations need no token
        assert 's2t_errors_total{code="unauthorized"} 3.0' in server.http("/metrics")[1]


def test_an_upload_over_the_limit_is_a_413(bundle: Bundle) -> None:
    limit_mb = 0.05  # 52,429 bytes: the sample is 63,178
    assert SAMPLE.stat().st_size > limit_mb * (1 << 20)
    with running(bundle, Limits(max_upload_mb=limit_mb)) as server:
        api = client(server)
        with pytest.raises(openai.APIStatusError) as refused:
            api.audio.transcriptions.create(model="whisper-1", file=upload())
        assert refused.value.status_code == 413
        assert error_of(refused)["code"] == "file_too_large"
        boundary = "s2t-boundary"  # without a Content-Length: refused as it comes, chunked
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{SAMPLE.name}"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        body = head + SAMPLE.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        chunked = httpx.post(
            f"http://127.0.0.1:{server.port}/v1/audio/transcriptions",
            content=iter([body[i : i + 8192] for i in range(0, len(body), 8192)]),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 413 and chunked.json()["error"]["param"] == "file"
        small = SAMPLES / "sample2-espeak-en-us-f5.wav"  # 51,066 bytes: under the limit
        assert api.audio.transcriptions.create(model="whisper-1", file=upload(small)).text


def test_a_full_or_draining_server_answers_503_with_retry_after(bundle: Bundle) -> None:
    with running(bundle, Limits(max_sessions=1)) as server:
        api = client(server)
        with connect(server.url()) as ws:
            start(ws)
            with pytest.raises(openai.InternalServerError) as busy:
                api.audio.transcriptions.create(model="whisper-1", file=upload())
            assert busy.value.status_code == 503
            assert busy.value.response.headers["Retry-After"] == "5"
            assert error_of(busy)["code"] == "server_busy"
        began = time.monotonic()
        while server.http("/readyz")[0] != 200:  # the session's connection is gone
            assert time.monotonic() - began < 10
            time.sleep(0.01)
        assert api.audio.transcriptions.create(model="whisper-1", file=upload()).text
        server.loop.call_soon_threadsafe(server.server.stop_taking_sessions)
        with pytest.raises(openai.InternalServerError) as draining:
            api.audio.transcriptions.create(model="whisper-1", file=upload())
        assert error_of(draining)["code"] == "shutting_down"


def test_a_transcription_under_way_is_answered_before_the_server_stops(
    bundle: Bundle, recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = json.loads(transcribe_command(recording, "json", capsys))["text"]
    with running(bundle) as server, ThreadPoolExecutor(1) as pool:

        def transcribe() -> str:
            api = client(server)
            with recording.open("rb") as audio:
                return api.audio.transcriptions.create(model="whisper-1", file=audio).text

        job = pool.submit(transcribe)
        began = time.monotonic()
        while "s2t_transcriptions_active 1.0" not in server.http("/metrics")[1]:
            assert time.monotonic() - began < 30, "the transcription did not start"
            time.sleep(0.01)
        assert server.stop is not None
        server.loop.call_soon_threadsafe(server.stop.set)  # what SIGTERM does
        while server.http("/readyz")[0] == 200:
            time.sleep(0.01)
        assert job.result(timeout=120) == expected


def test_transcriptions_beside_streams_change_no_stream(
    bundle: Bundle, waves: list[np.ndarray], recording: Path
) -> None:
    """A stream gets exactly its finals while transcriptions are decoded beside it (float64 and
    a wide AlignAtt border: the finals do not depend on the rounds, as in test_hostile.py)."""
    exact = replace(bundle, model=copy.deepcopy(bundle.model).double())
    with running(exact, workers=2, policy=PolicyOptions(border_s=100.0)) as server:
        alone = finals(conversation(server.url(), waves[4])[0])
        with ThreadPoolExecutor(3) as pool:
            api = client(server)
            jobs = [
                pool.submit(
                    api.audio.transcriptions.create, model="whisper-1", file=upload(recording)
                )
                for _ in range(2)
            ]
            beside = pool.submit(conversation, server.url(), waves[4])
            texts = {job.result(timeout=120).text for job in jobs}
            messages, code = beside.result(timeout=120)
        assert finals(messages) == alone and alone and code == 1000
        assert len(texts) == 1 and texts != {""}


def test_transcriptions_run_off_the_event_loop(bundle: Bundle, recording: Path) -> None:
    """While a long upload is decoded, health checks are answered at once."""
    with running(bundle) as server:
        done = threading.Event()

        def transcribe() -> None:
            with recording.open("rb") as audio:
                client(server).audio.transcriptions.create(model="whisper-1", file=audio)
            done.set()

        worker = threading.Thread(target=transcribe)
        worker.start()
        answered = 0
        while not done.is_set():
            assert server.http("/healthz") == (200, "ok\n")  # urlopen: no timeout needed here
            answered += 1
            done.wait(0.05)
        worker.join()
    assert answered >= 3


# --- models and translations --------------------------------------------------------------------


def test_the_model_list_names_the_loaded_model(server: Running) -> None:
    api = client(server)
    models = list(api.models.list())
    assert [(m.id, m.object, m.owned_by) for m in models] == [(MODEL_NAME, "model", "s2t-stream")]
    assert api.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        api.models.retrieve("gpt-4o-transcribe")


def test_translations_need_a_translation_model_or_the_cascade(server: Running) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(server).audio.translations.create(model="whisper-1", file=upload())
    assert "--mt apertium" in error_of(refused)["message"]


@needs_apertium
def test_translations_through_the_cascade(
    bundle: Bundle, recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from s2t_stream.translation.apertium import ApertiumTranslator

    segments = json.loads(transcribe_command(recording, "json", capsys))["segments"]
    with ApertiumTranslator("es") as translator:  # what Apertium says for each segment
        expected = " ".join(translator.translate(s["text"]) for s in segments if s["text"])
    with running(bundle, mt="apertium") as server:
        api = client(server)
        with recording.open("rb") as audio:
            spanish = api.audio.translations.create(
                model="whisper-1",
                file=audio,
                response_format="verbose_json",
                extra_body={"tgt_lang": "es"},
            )
        assert spanish.text == expected and spanish.language == "spanish"
        with pytest.raises(openai.BadRequestError) as which:  # es and ca: it must be said
            api.audio.translations.create(model="whisper-1", file=upload())
        assert error_of(which)["param"] == "tgt_lang"


def test_rest_transcriptions_decode_with_the_servers_lm_and_ctc_weights() -> None:
    """`serve --lm-weight` and `--ctc-weight` reach the REST endpoint's transcriber as they
    reach the websocket streams (None: the model's own weights)."""
    from s2t_stream.server.rest import transcribe_options
    from s2t_stream.streaming.stream import StreamOptions

    assert transcribe_options(StreamOptions(lm_weight=0.0)).decoding.lm_weight == 0.0
    assert transcribe_options(StreamOptions(lm_weight=0.4)).decoding.lm_weight == 0.4
    assert transcribe_options(StreamOptions()).decoding.lm_weight is None
    assert transcribe_options(StreamOptions(ctc_weight=0.3)).decoding.ctc_weight == 0.3
    assert transcribe_options(StreamOptions()).decoding.ctc_weight is None
