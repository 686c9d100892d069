"""`s2t-stream stream`: the README's main job, on the bundled model and a bundled sample."""

from __future__ import annotations

import json

import pytest

from s2t_stream.cli import main
from s2t_stream.io.captions import CLEAR_LINE, DIM, Captions, json_line
from s2t_stream.streaming.events import Final, Partial, Word, event_from_json
from tests.helpers import BUNDLED_MODEL, SAMPLES

SAMPLE = SAMPLES
WAV = SAMPLE / "sample1-espeak-en-gb-x-rp-f4.wav"

needs_model = pytest.mark.skipif(
    not (BUNDLED_MODEL / "config.json").is_file(), reason=f"no bundled model at {BUNDLED_MODEL}"
)


@pytest.mark.model
def test_stream_jsonl_prints_partials_then_a_final(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stream", str(WAV), "--pace", "fast", "--format", "jsonl"]) == 0
    events = [event_from_json(json.loads(line)) for line in capsys.readouterr().out.splitlines()]
    assert isinstance(events[-1], Final) and events[-1].text
    assert all(isinstance(e, Partial) for e in events[:-1]) and len(events) > 1
    assert events[-1].audio_s == pytest.approx(1.973, abs=0.01)


@pytest.mark.model
def test_stream_text_to_a_pipe_prints_finals_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stream", str(WAV), "--pace", "fast"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "\x1b" not in out and out.strip()


@pytest.mark.model
def test_realtime_pace_takes_real_time(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    started = time.monotonic()
    assert main(["stream", str(WAV), "--format", "jsonl"]) == 0
    assert time.monotonic() - started >= 1.9  # the sample lasts 1.97 s
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert last["wall_s"] >= 1.9


def test_bad_stream_options_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stream", str(WAV), "--chunk-ms", "0", "--pace", "fast"]) == 2
    assert "argument --chunk-ms: expected an integer > 0, got 0" in capsys.readouterr().err
    assert main(["stream", str(WAV), "--step", "0"]) == 2
    assert "argument --step: expected a number > 0, got 0" in capsys.readouterr().err
    assert main(["stream", str(WAV), "--compute-factor", "-1"]) == 2
    assert "argument --compute-factor: expected a number ≥ 0, got -1" in capsys.readouterr().err
    assert main(["serve", "--threads", "0", "--port", "0"]) == 2
    assert "argument --threads: expected an integer ≥ 1, got 0" in capsys.readouterr().err
    assert main(["stream", "missing.wav"]) == 2
    assert "missing.wav" in capsys.readouterr().err


def test_terminal_captions_redraw_the_open_line() -> None:
    live = Captions(live=True)
    partial = live.render(Partial(0, "hello", "wor", 1.0, 1.1))
    assert partial.startswith(CLEAR_LINE) and "hello" in partial and DIM + "wor" in partial
    assert not partial.endswith("\n")
    final = Final(0, "hello world", 0.0, 1.0, 1.2, 1.3, (Word("hello", 0.0, 0.5),))
    assert live.render(final) == CLEAR_LINE + "hello world\n"
    piped = Captions(live=False)
    assert piped.render(Partial(0, "a", "b", 1.0, 1.0)) == ""
    assert piped.render(final) == "hello world\n"
    assert json.loads(json_line(final))["words"][0]["word"] == "hello"
