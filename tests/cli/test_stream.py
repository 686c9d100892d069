"""`s2t-stream stream`: the README's main job, on the bundled model and a bundled sample."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pyte
import pytest
import soundfile
import torch

import s2t_stream.io.capture as capture
from s2t_stream.cli import build_parser, main
from s2t_stream.cli.arguments import announced, stream_options
from s2t_stream.cli.stream import HealthNotes
from s2t_stream.io.captions import CLEAR_BELOW, DIM, RESET, Captions, json_line
from s2t_stream.io.capture import InputSource
from s2t_stream.streaming.events import Final, Partial, Word, event_from_json
from s2t_stream.streaming.policy import PolicyOptions
from tests.helpers import BUNDLED_MODEL, SAMPLES, FakeBackend, load_samples, needs_apertium

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
    for bad in ("1.5", "nan"):
        assert main(["stream", str(WAV), "--onset-confidence", bad]) == 2
        expected = f"argument --onset-confidence: expected a number ≥ 0 and ≤ 1, got {bad}"
        assert expected in capsys.readouterr().err


@pytest.mark.parametrize("command", [["stream", str(WAV)], ["mic"], ["serve", "--port", "0"]])
def test_global_cmvn_without_its_statistics_names_both_flags_before_the_model_loads(
    command: list[str], capsys: pytest.CaptureFixture[str], sound_server: None
) -> None:
    assert main([*command, "--cmvn", "global", "--model", "no-such-model"]) == 2
    assert capsys.readouterr().err == (
        "s2t-stream: error: --cmvn global needs --cmvn-stats, an .npz file of the features' "
        "'mean' and 'std'\n"
    )


@pytest.mark.parametrize("command", [["stream", str(WAV)], ["mic"], ["serve", "--port", "0"]])
def test_cmvn_statistics_without_global_cmvn_are_refused_not_ignored(
    command: list[str], capsys: pytest.CaptureFixture[str], sound_server: None
) -> None:
    assert main([*command, "--cmvn-stats", "stats.npz", "--model", "no-such-model"]) == 2
    assert capsys.readouterr().err == (
        "s2t-stream: error: --cmvn-stats is read only with --cmvn global (the mode is segment, "
        "which computes its own statistics): add --cmvn global, or drop --cmvn-stats\n"
    )


@needs_model
def test_undecodable_or_empty_standard_input_is_named_as_such(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`head -c 3000 /dev/urandom | s2t-stream stream -` said `Error opening <_io.BytesIO object
    at 0x…>`: it names standard input and says what it expected."""
    noise = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    for data, said in (
        (noise, "standard input could not be decoded (Format not recognised): expected audio"),
        (b"", "standard input is empty: expected audio"),
    ):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        assert main(["stream", "-", "--pace", "fast"]) == 2
        err = capsys.readouterr().err
        assert f"s2t-stream: error: {said} in a supported format: WAV, FLAC" in err
        assert "<_io" not in err and "object at" not in err


def test_policy_flags_reach_the_stream_options() -> None:
    args = build_parser().parse_args(
        ["stream", str(WAV), "--border", "0.7", "--onset-confidence", "0.2"]
    )
    policy = stream_options(args).policy
    assert (policy.border_s, policy.onset_confidence) == (0.7, 0.2)
    assert stream_options(build_parser().parse_args(["stream", str(WAV)])).policy == (
        PolicyOptions()
    )


def test_ctc_and_lm_weights_reach_the_stream_options_of_every_streaming_command() -> None:
    for command in (["stream", str(WAV)], ["mic"], ["serve"]):
        options = stream_options(build_parser().parse_args(command))
        assert (options.ctc_weight, options.lm_weight) == (None, None)
        args = build_parser().parse_args([*command, "--ctc-weight", "0.3", "--lm-weight", "0.2"])
        assert (stream_options(args).ctc_weight, stream_options(args).lm_weight) == (0.3, 0.2)


@needs_model
def test_a_ctc_weight_for_a_model_without_a_head_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headless = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, headless, ignore=shutil.ignore_patterns("ctc"))
    command = ["stream", str(WAV), "--pace", "fast", "--model", str(headless)]
    assert main([*command, "--ctc-weight", "0.3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--ctc-weight 0.3:" in err and "has no CTC head" in err and "\n" not in err
    assert main([*command, "--ctc-weight", "0"]) == 0


def test_band_mask_is_on_unless_turned_off() -> None:
    assert stream_options(build_parser().parse_args(["stream", str(WAV)])).band_mask
    args = build_parser().parse_args(["mic", "--no-band-mask"])
    assert not stream_options(args).band_mask


def test_terminal_captions_redraw_the_open_line() -> None:
    live = Captions(live=True, width=lambda: 80)
    partial = live.render(Partial(0, "hello", "wor", 1.0, 1.1))
    assert partial == "hello " + DIM + "wor" + RESET  # nothing to erase yet
    final = Final(0, "hello world", 0.0, 1.0, 1.2, 1.3, (Word("hello", 0.0, 0.5),))
    assert live.render(final) == "\r" + CLEAR_BELOW + "hello world\n"
    piped = Captions(live=False)
    assert piped.render(Partial(0, "a", "b", 1.0, 1.0)) == ""
    assert piped.render(final) == "hello world\n"
    assert json.loads(json_line(final))["words"][0]["word"] == "hello"


def run_in_terminal(argv: list[str], columns: int, lines: int = 24) -> pyte.Screen:
    """Run `s2t-stream ARGV` with its stdout on a pseudo-terminal of this size; the screen as a
    terminal emulator shows what it wrote."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["OMP_NUM_THREADS"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "s2t_stream", *argv],
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(terminal)
    written = b""
    while True:
        try:
            block = os.read(controller, 1 << 16)
        except OSError:  # EIO: the command closed the terminal
            break
        if not block:
            break
        written += block
    os.close(controller)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    screen = pyte.Screen(columns, lines)
    pyte.Stream(screen).feed(written.decode())  # the tty already turned "\n" into "\r\n"
    return screen


@pytest.mark.model
def test_terminal_captions_of_a_long_line_show_each_line_once_at_40_columns(
    tmp_path: Path,
) -> None:
    wav = tmp_path / "long.wav"
    gap = np.zeros(3200, np.float32)  # 0.2 s: too short to end the segment
    soundfile.write(wav, np.concatenate([x for w in load_samples()[:4] for x in (w, gap)]), 16000)
    argv = ["stream", str(wav), "--pace", "fast", "--chunk-ms", "200", "--max-segment", "60"]
    finals = [line for line in subprocess_text(argv).splitlines() if line]
    assert len(" ".join(finals)) > 2 * 40  # the open line wrapped over 3 rows or more
    screen = run_in_terminal(argv, 40)
    shown = "".join(row.rstrip().ljust(40) for row in screen.display).split()
    assert shown == " ".join(finals).split()  # every word once: no stale wrapped rows


def subprocess_text(argv: list[str]) -> str:
    """What `s2t-stream ARGV` prints to a pipe (finals only)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "s2t_stream", *argv], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_slow_steps_are_announced_on_stderr_and_quick_ones_are_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with announced("loading model demo …", after_s=0.05):
        time.sleep(0.3)
    assert capsys.readouterr().err == "s2t-stream: loading model demo …\n"
    with announced("loading model demo …", after_s=5.0):
        pass
    assert capsys.readouterr().err == ""


def test_health_warnings_go_to_stderr_when_captions_are_piped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    notes = HealthNotes(Captions(live=False))
    notes.update(0.2, 0.0)
    notes.update(6.0, 0.0)
    notes.update(7.0, 0.0)  # the same kind of warning: said once
    notes.update(0.1, 0.0)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "s2t-stream: warning: captions 6.0 s behind real time",
        "s2t-stream: caught up with real time",
    ]


SOURCES = [
    InputSource("alsa_input.usb-mic", "USB Microphone", False, True, "pulse"),
    InputSource("alsa_output.speakers.monitor", "Monitor of Speakers", True, False, "pulse"),
]


@pytest.fixture
def sound_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """`list_sources` and `desktop_source` answer as a PulseAudio server with SOURCES."""
    monkeypatch.setattr(capture, "list_sources", lambda backend=None: SOURCES)
    monkeypatch.setattr(capture, "desktop_source", lambda: "alsa_output.speakers.monitor")


def test_devices_lists_each_input_by_name_kind_and_description(
    sound_server: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "* alsa_input.usb-mic            microphone     USB Microphone",
        "  alsa_output.speakers.monitor  desktop audio  Monitor of Speakers",
        "(2 inputs from PulseAudio/PipeWire; * the default; choose one with `mic --input NAME`)",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "webcam"], "--input 'webcam' matches no input; the inputs are: alsa_input"),
        (["--device", "webcam"], "--device 'webcam' matches no input"),
        (["--loopback", "--desktop-input", "hdmi"], "--desktop-input 'hdmi' matches no input"),
        (["--desktop-input", "speakers"], "--desktop-input: only with --loopback or"),
        (["--loopback", "--with-desktop"], "--loopback and --with-desktop: choose one"),
        (["--with-desktop", "--input", "speakers"], "--with-desktop: the microphone would be"),
        (["--labels", "You"], "argument --labels: expected two different labels"),
        (["--compute-device", "cuda:7"], "--compute-device cuda:7: CUDA is not available"),
    ],
)
def test_mic_errors_are_one_line_naming_the_flag(
    sound_server: None, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if "--compute-device" in argv and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: cuda:7 may exist")
    assert main(["mic", "--seconds", "1", *argv]) == 2
    *notes, error = capsys.readouterr().err.strip().splitlines()
    assert error.startswith("s2t-stream: error: ") and message in error
    assert len(notes) == ("--device" in argv)  # `mic --device NAME` is noted as --input


@pytest.mark.audio("pactl")
@pytest.mark.parametrize("flag", ["--with-desktop", "--loopback"])
def test_desktop_audio_without_a_sound_server_is_one_line_naming_the_flag(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/native")  # no server listens there
    portaudio = [  # what PortAudio lists then: ALSA's plugins
        InputSource("pulse", "ALSA, 32 ch, 44100 Hz", False, False, "portaudio", 0),
        InputSource("default", "ALSA, 32 ch, 44100 Hz", False, True, "portaudio", 1),
    ]
    monkeypatch.setattr(capture, "list_sources", lambda backend=None: portaudio)
    assert main(["mic", "--seconds", "1", flag]) == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith(
        f"s2t-stream: error: {flag}: no sound server for desktop audio (pactl --format=json info: "
    )


def test_a_desktop_audio_not_listed_names_the_flag_that_asked_for_it(
    sound_server: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(capture, "desktop_source", lambda: "hdmi.monitor")
    assert main(["mic", "--seconds", "1", "--with-desktop"]) == 2
    assert capsys.readouterr().err.startswith(
        "s2t-stream: error: --with-desktop 'hdmi.monitor' matches no input; the inputs are: "
    )


def test_a_model_that_cannot_load_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stream", str(WAV), "--model", "missing.wav"]) == 2
    assert capsys.readouterr().err.endswith(
        "s2t-stream: error: --model: missing.wav: no such file or directory, and not a hub id "
        "(owner/name)\n"
    )


# --- the cascade: --mt apertium -------------------------------------------------------------------


def finals_of(out: str) -> list[Final]:
    events = [event_from_json(json.loads(line)) for line in out.splitlines()]
    return [e for e in events if isinstance(e, Final)]


@needs_apertium
@pytest.mark.model
def test_stream_with_mt_translates_each_final_of_the_same_transcript(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from s2t_stream.translation.apertium import ApertiumTranslator

    command = ["stream", str(WAV), "--pace", "fast", "--format", "jsonl"]
    assert main(command) == 0
    plain = finals_of(capsys.readouterr().out)
    assert main([*command, "--mt", "apertium", "--tgt-lang", "es"]) == 0
    translated = finals_of(capsys.readouterr().out)
    assert [f.text for f in translated] == [f.text for f in plain] and plain
    assert all(f.translation is None for f in plain)
    with ApertiumTranslator("es") as spanish:  # what Apertium says for the same text
        assert [f.translation for f in translated] == [spanish.translate(f.text) for f in plain]
    assert all(f.translation and f.translation != f.text for f in translated)


@needs_apertium
@pytest.mark.model
def test_stream_with_mt_prints_the_translation_under_each_final_and_translated_subtitles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = ["stream", str(WAV), "--pace", "fast", "--mt", "apertium", "--tgt-lang", "ca"]
    assert main(command) == 0
    text, translation = capsys.readouterr().out.splitlines()
    assert text and translation.startswith("→ ") and translation[2:] != text
    assert main([*command, "--format", "srt"]) == 0
    srt = capsys.readouterr().out
    assert "-->" in srt and " ".join(srt.split("\n\n")[0].splitlines()[2:]) == translation[2:]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--mt", "apertium"], "--mt apertium needs --tgt-lang"),
        (["--mt", "apertium", "--tgt-lang", "de"], "into es, ca, gl; got target language 'de'"),
        (["--mt", "apertium", "--tgt-lang", "es"], "apertium-eng-spa"),
    ],
)
def test_a_translation_that_cannot_run_is_one_line_before_the_model_loads(
    flags: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "modes").mkdir()
    monkeypatch.setenv("APERTIUM_DATADIR", str(tmp_path))  # no pair installed there
    assert main(["stream", str(WAV), "--model", str(tmp_path / "no-such-model"), *flags]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "no-such-model" not in err


def test_help_and_errors_name_every_language_apertium_translates_into(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Derived from Apertium's table of pairs (es, ca and gl), not a copy of part of it."""
    from s2t_stream.translation.apertium import PAIRS

    languages = ", ".join(PAIRS)
    assert "gl" in PAIRS
    for command in ("stream", "mic", "transcribe", "serve"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        shown = " ".join(capsys.readouterr().out.split())
        assert f"--mt {{apertium}} translate each final's text into --tgt-lang ({languages})" in (
            shown
        ), command
    with pytest.raises(SystemExit):
        build_parser().parse_args(["client", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"or with --mt ({languages})" in shown
    for command in ("stream", "client"):
        assert main([command, str(WAV), "--mt", "apertium"]) == 2
        assert capsys.readouterr().err == (
            "s2t-stream: error: --mt apertium needs --tgt-lang, the language to translate into "
            f"({languages})\n"
        )


@needs_apertium
@pytest.mark.model
def test_mic_with_mt_translates_the_finals_of_a_fake_device(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from s2t_stream.model.audio import load_audio

    backend = FakeBackend(16000, 1)
    monkeypatch.setattr(capture, "portaudio", lambda: backend)
    monkeypatch.setattr(capture, "pulse_sources", lambda: None)  # no sound server: PortAudio
    audio = np.concatenate([np.zeros(8000), load_audio(WAV), np.zeros(16000)]).astype(np.float32)

    def play() -> None:
        while not backend.streams:
            time.sleep(0.01)
        for i in range(0, len(audio), 1600):  # 10× faster than real time
            backend.streams[0].feed(audio[i : i + 1600, None])
            time.sleep(0.01)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    mt = ["--mt", "apertium", "--tgt-lang", "es"]
    assert main(["mic", "--seconds", "3", "--format", "jsonl", *mt]) == 0
    player.join()
    (final,) = finals_of(capsys.readouterr().out)
    assert final.text and final.translation and final.translation != final.text
