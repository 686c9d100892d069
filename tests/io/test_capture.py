"""Audio capture: with an injected fake PortAudio device (overruns, 44.1/48 kHz, stereo, device
loss, open errors, the `mic` command); PulseAudio sources listed from `pactl`'s JSON, chosen by
name, and recorded through a fake `parec` (a program writing samples: drops, loss); and end to
end on a PulseAudio daemon with null-sink virtual microphones (one input, `client --mic` taking
one by name, and a microphone plus desktop audio as two labelled streams)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

import s2t_stream.io.capture as capture
from s2t_stream.cli import main
from s2t_stream.io.capture import (
    Capture,
    CaptureError,
    DeviceLost,
    InputSource,
    Microphone,
    PulseCapture,
    RingBuffer,
    choose_device,
    desktop_source,
    find_source,
    list_devices,
    list_sources,
    open_source,
    pulse_sources,
)
from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from tests.helpers import BUNDLED_MODEL, SAMPLES, FakeBackend

SAMPLE = SAMPLES / "sample1-espeak-en-gb-x-rp-f4.wav"


def tone(rate: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    mono = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def test_devices_are_listed_and_chosen() -> None:
    devices = list_devices(FakeBackend())
    assert [(d.index, d.name) for d in devices] == [(1, "USB mic"), (2, "Monitor of speakers")]
    assert devices[0].default and devices[1].monitor
    assert choose_device(None, devices).name == "USB mic"
    assert choose_device("2", devices).index == 2
    assert choose_device("usb", devices).index == 1
    with pytest.raises(CaptureError, match="no input device with index 7; input devices: 1: USB"):
        choose_device(7, devices)
    with pytest.raises(CaptureError, match="'x' matches no input device"):
        choose_device("x", devices)
    with pytest.raises(CaptureError, match="no audio input device found"):
        choose_device(None, [])


def test_ring_buffer_drops_the_oldest_and_counts() -> None:
    ring = RingBuffer(capacity=10)
    for start in range(0, 16, 4):  # 16 frames into room for 10
        ring.push(np.arange(start, start + 4, dtype=np.float32)[:, None])
    assert ring.dropped == 6
    data = ring.pop_all()
    assert data is not None
    np.testing.assert_array_equal(data[:, 0], np.arange(6, 16))
    assert ring.pop_all() is None


@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (44100, 1), (16000, 2)])
def test_microphone_resamples_and_downmixes(
    rate: int, channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stopped clock: the first block "arrives" as the device opens, so no lead-in silence is
    # added however long this process waits between the two (a loaded machine).
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)
    backend = FakeBackend(rate, channels)
    device = list_devices(backend)[0]
    microphone = Microphone(device, 16000, backend=backend)
    stream = backend.streams[0]
    assert stream.kwargs["samplerate"] == rate and stream.kwargs["channels"] == channels
    audio = tone(rate, 1.0, channels)
    for i in range(0, len(audio), rate // 50):
        stream.feed(audio[i : i + rate // 50])
    out = np.concatenate([microphone.read(), microphone.close()])
    assert abs(len(out) - 16000) <= 2  # one second at the model's rate
    expected = tone(16000, 1.0, 1)[:, 0]
    middle = slice(1000, 15000)  # away from the resampler's edges
    assert np.corrcoef(out[middle], expected[middle])[0, 1] > 0.999
    assert microphone.stats.captured_s == pytest.approx(1.0)


def test_overruns_are_counted_not_hidden() -> None:
    backend = FakeBackend(16000, 1)
    microphone = Microphone(list_devices(backend)[0], 16000, buffer_s=1.0, backend=backend)
    stream = backend.streams[0]
    for _ in range(30):  # 3 s of audio, nobody reading, room for 1 s
        stream.feed(tone(16000, 0.1, 1))
    stream.feed(tone(16000, 0.1, 1), overflow=True)
    out = microphone.read()
    assert len(out) == pytest.approx(16000, abs=100)
    assert microphone.stats.dropped_s == pytest.approx(2.1, abs=0.01)
    assert microphone.stats.device_overflows == 1


def test_device_loss_keeps_what_was_captured() -> None:
    backend = FakeBackend(16000, 1)
    microphone = Microphone(list_devices(backend)[0], 16000, backend=backend)
    stream = backend.streams[0]
    stream.feed(tone(16000, 0.5, 1))
    stream.lose()
    assert len(microphone.read()) == 8000  # the audio delivered before the loss
    with pytest.raises(DeviceLost, match="'USB mic' stopped delivering audio"):
        microphone.read()


def test_open_errors_say_what_to_do() -> None:
    backend = FakeBackend()
    device = list_devices(backend)[0]
    backend.open_error = RuntimeError(
        "Error opening InputStream: Invalid sample rate [PaErrorCode -9997]"
    )
    with pytest.raises(CaptureError, match=r"does not support 48000 Hz.*--device"):
        Microphone(device, 16000, backend=backend)
    backend.open_error = RuntimeError(
        "Error opening InputStream: Device unavailable [PaErrorCode -9985]"
    )
    with pytest.raises(CaptureError, match="busy"):
        Microphone(device, 16000, backend=backend)


# --- PulseAudio sources (pactl's JSON) and parec capture, faked -------------------------------

# What `pactl --format=json` answered on a PulseAudio 16.1 with a null sink and a remapped source.
PACTL = {
    ("info",): {"default_sink_name": "vdesk", "default_source_name": "vmic_in"},
    ("list", "sources"): [
        {
            "name": "vdesk.monitor",
            "description": "Monitor of Null Output",
            "monitor_source": "vdesk",
            "properties": {
                "device.description": "Monitor of Null Output",
                "device.class": "monitor",
            },
        },
        {
            "name": "vmic_in",
            "description": "Virtual microphone",
            "monitor_source": "",
            "properties": {"device.class": "filter"},
        },
    ],
}


def fake_pactl(args: list[str]) -> str:
    assert args[0] == "--format=json"
    return json.dumps(PACTL[tuple(args[1:])])


def no_server(args: list[str]) -> str:
    raise CaptureError("pactl info: Connection failure: Connection refused")


def test_pulse_sources_are_listed_by_name_and_description() -> None:
    sources = pulse_sources(fake_pactl)
    assert sources is not None
    assert [(s.name, s.description, s.kind, s.default) for s in sources] == [
        ("vdesk.monitor", "Monitor of Null Output", "desktop audio", False),
        ("vmic_in", "Virtual microphone", "microphone", True),
    ]
    assert desktop_source(fake_pactl) == "vdesk.monitor"
    assert pulse_sources(no_server) is None  # no sound server: the caller falls back


def test_without_a_sound_server_the_portaudio_devices_are_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(capture, "pulse_sources", lambda: None)
    sources = list_sources(FakeBackend())
    assert [(s.name, s.backend, s.index, s.kind) for s in sources] == [
        ("USB mic", "portaudio", 1, "microphone"),
        ("Monitor of speakers", "portaudio", 2, "desktop audio"),
    ]
    microphone = open_source("usb", 16000, backend=FakeBackend(), sources=sources)
    assert isinstance(microphone, Microphone) and microphone.name == "USB mic"


def test_sources_are_chosen_by_name_description_or_default() -> None:
    sources = pulse_sources(fake_pactl)
    assert sources is not None
    assert find_source(None, sources).name == "vmic_in"  # the default
    assert find_source("vdesk.monitor", sources).name == "vdesk.monitor"
    assert find_source("virtual", sources).name == "vmic_in"  # part of a description
    with pytest.raises(CaptureError, match=r"^--input 'x' matches no input; the inputs are: vd"):
        find_source("x", sources)
    with pytest.raises(CaptureError, match=r"^--desktop-input 'v' matches 2 inputs"):
        find_source("v", sources, "--desktop-input")
    monitors_only = [s for s in sources if s.monitor]
    no_default = [InputSource("a.monitor", "A", True, False, "pulse"), *monitors_only]
    assert find_source("", no_default).name == "a.monitor"
    with pytest.raises(CaptureError, match="no audio input found"):
        find_source(None, [])


def fake_parec(samples: int, pause_s: float = 0.0, delay_s: float = 0.0) -> list[str]:
    """A program that waits `delay_s`, writes `samples` float32 samples (0, 1, 2, …), waits
    `pause_s`, then fails as `parec` does when its source goes away."""
    script = (
        f"import sys, time, numpy as np; time.sleep({delay_s});"
        f"sys.stdout.buffer.write(np.arange({samples}, dtype='<f4').tobytes());"
        f"sys.stdout.flush(); time.sleep({pause_s});"
        "print('Stream error: No such entity', file=sys.stderr); sys.exit(1)"
    )
    return [sys.executable, "-c", script]


def test_parec_capture_counts_drops_and_reports_loss() -> None:
    source = PulseCapture("vmic", 1000, buffer_s=0.5, command=fake_parec(2000), lead=False)
    source.reader.join(10)  # the program wrote 2 s into room for 0.5 s, and ended
    assert source.backlog_s() == pytest.approx(0.5) and source.dropped_s() == pytest.approx(1.5)
    np.testing.assert_array_equal(source.read(), np.arange(1500, 2000, dtype=np.float32))
    with pytest.raises(DeviceLost, match=r"'vmic' stopped delivering audio \(Stream error"):
        source.read()
    assert len(source.close()) == 0


def test_the_first_audio_comes_behind_the_silence_the_input_took_to_start() -> None:
    source = PulseCapture("vmic", 1000, command=fake_parec(100, pause_s=30, delay_s=0.6))
    while not len(audio := source.read()):
        time.sleep(0.01)
    lead, data = audio[:-100], audio[-100:]
    assert 0.5 <= len(lead) / 1000 <= 2.0 and not lead.any()  # its start-up: 0.6 s and more
    np.testing.assert_array_equal(data, np.arange(100, dtype=np.float32))
    source.close()


def test_parec_capture_close_returns_what_was_not_read() -> None:
    source = PulseCapture("vmic", 1000, command=fake_parec(300, pause_s=30), lead=False)
    for _ in range(500):
        if source.backlog_s() >= 0.3:
            break
        time.sleep(0.01)
    started = time.monotonic()
    np.testing.assert_array_equal(source.close(), np.arange(300, dtype=np.float32))
    assert time.monotonic() - started < 5  # the program was stopped, not waited for
    assert len(source.read()) == 0  # closed: no DeviceLost


needs_model = pytest.mark.skipif(
    not (BUNDLED_MODEL / "config.json").is_file(), reason=f"no bundled model at {BUNDLED_MODEL}"
)


@pytest.mark.model
@pytest.mark.parametrize("lose", [False, True])
def test_mic_command_with_a_fake_device(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lose: bool
) -> None:
    backend = FakeBackend(48000, 2)
    monkeypatch.setattr(capture, "portaudio", lambda: backend)
    speech = load_audio(SAMPLE, 48000)
    audio = np.concatenate([np.zeros(24000), speech, np.zeros(48000)]).astype(np.float32)

    def play() -> None:
        while not backend.streams:
            time.sleep(0.01)
        stream = backend.streams[0]
        for i in range(0, len(audio), 4800):  # 10× faster than real time
            stream.feed(np.repeat(audio[i : i + 4800, None], 2, axis=1))
            time.sleep(0.01)
        if lose:
            stream.lose()

    player = threading.Thread(target=play, daemon=True)
    player.start()
    monkeypatch.setattr(capture, "pulse_sources", lambda: None)  # no sound server: PortAudio
    assert main(["mic", "--seconds", "3", "--format", "jsonl"]) == 0
    player.join()
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) == 1 and finals[0]["text"]
    assert "listening to 'USB mic' (ALSA, 2 ch, 48000 Hz)" in captured.err
    if lose:
        assert "stopped delivering audio; keeping what was transcribed" in captured.err


# --- end to end on PulseAudio -------------------------------------------------------------------


def play_into(env: dict[str, str], sink: str, wav: Path) -> None:
    """Play `wav` into `sink` after 0.3 s of silence: PulseAudio alters the first ~40 ms of a
    new playback stream (its start-up), which would otherwise fall on the first word."""
    padded = Path(env["XDG_RUNTIME_DIR"]) / f"padded-{wav.name}"
    audio, rate = soundfile.read(wav, dtype="float32")
    soundfile.write(padded, np.concatenate([np.zeros(round(0.3 * rate), np.float32), audio]), rate)
    subprocess.run(["paplay", "-d", sink, str(padded)], env=env, check=True)


@pytest.fixture
def virtual_microphone(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A PulseAudio daemon with a null sink whose monitor is the default source (tests using it
    carry the `audio("pulseaudio", "pactl", …)` marker)."""
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_SERVER": f"unix:{runtime}/pulse/native",
    }
    daemon = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "--log-target=stderr"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.skip("PulseAudio did not start here (no daemon answering pactl)")
        for command in (
            [
                "pactl",
                "load-module",
                "module-null-sink",
                "sink_name=vsink",
                "rate=16000",
                "channels=1",
            ],
            ["pactl", "set-default-source", "vsink.monitor"],
            ["pactl", "set-default-sink", "vsink"],
        ):
            subprocess.run(command, env=env, check=True, capture_output=True)
        yield env
    finally:
        daemon.terminate()
        daemon.wait(10)


def ended(process: subprocess.Popen[str], signum: signal.Signals) -> tuple[str, str]:
    """Send `signum`; its output once it has exited. Fails, after killing it, if it has not
    within 60 s (a process left behind would trouble later tests)."""
    process.send_signal(signum)
    try:
        return process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"still running 60 s after {signum.name}: {out[-500:]} {err[-500:]}")


def ignoring_sigint() -> None:
    """In the child before exec: SIGINT ignored, as a non-interactive shell starts a program
    in the background (`mic &` in a script)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.model
@pytest.mark.audio("pulseaudio", "pactl", "paplay")
@pytest.mark.parametrize(
    ("ending", "started_ignoring_sigint"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "ctrl-c-started-in-background", "sigterm"],
)
def test_speech_played_into_a_virtual_microphone_is_transcribed(
    virtual_microphone: dict[str, str],
    bundle: Bundle,
    ending: signal.Signals,
    started_ignoring_sigint: bool,
) -> None:
    env = {**virtual_microphone, "OMP_NUM_THREADS": "1"}
    # No early commits (wide border): the final decodes the whole captured utterance at once.
    # Ctrl-C (SIGINT) or SIGTERM ends the command, which must still print the last final.
    command = [sys.executable, "-m", "s2t_stream", "mic", "--format", "jsonl", "--border", "100"]
    mic = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignoring_sigint if started_ignoring_sigint else None,
    )
    assert mic.stderr is not None
    early = []  # up to "listening to …": the model is loaded and the stream open
    while "listening" not in (line := mic.stderr.readline()):
        early.append(line)
        assert line, "".join(early)  # EOF: the command died before listening
    time.sleep(1.0)  # the stream's first callbacks
    play_into(env, "vsink", SAMPLE)
    time.sleep(0.2)
    out, err = ended(mic, ending)
    assert mic.returncode == 0, err
    finals = [e for e in map(json.loads, out.splitlines()) if e["type"] == "final"]
    assert len(finals) == 1, (out, err)
    duration = len(load_audio(SAMPLE)) / 16000
    final = finals[0]
    assert 0.5 * duration <= final["end_s"] - final["start_s"] <= duration + 0.3
    # What `parec` captured is the played sample sample-exact (PulseAudio's start-of-stream
    # artefacts land on the lead silence `play_into` adds), so the final reads as the model's
    # offline greedy reading of the sample file does.
    greedy = TranscribeOptions(decoding=DecodingOptions(num_beams=1))
    offline = Transcriber(bundle, greedy).transcribe([load_audio(SAMPLE)])[0].text
    assert final["text"] == offline == "they play together perfectly", (out, err)


@pytest.mark.audio("pulseaudio", "pactl")
def test_loopback_points_the_default_source_at_the_output_monitor(
    virtual_microphone: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("XDG_RUNTIME_DIR", "PULSE_SERVER"):
        monkeypatch.setenv(name, virtual_microphone[name])
    monkeypatch.delenv("PULSE_SOURCE", raising=False)
    assert capture.loopback() == "vsink.monitor"
    assert os.environ["PULSE_SOURCE"] == "vsink.monitor"


def test_loopback_without_a_sound_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(CaptureError, match="PulseAudio or PipeWire"):
        capture.loopback()


@pytest.mark.audio("pactl")
def test_desktop_audio_without_a_sound_server_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/native")  # no server listens there
    assert pulse_sources() is None
    with pytest.raises(CaptureError) as refused:
        desktop_source()
    said = str(refused.value)  # pactl's reason, not its second line repeating it
    assert said.startswith("no sound server for desktop audio (pactl --format=json info: ")
    assert "Connection" in said and "\n" not in said and "pa_context_connect" not in said


@pytest.mark.audio("pulseaudio", "pactl", "paplay", "parec")
def test_a_pulseaudio_source_is_listed_and_recorded_by_name(
    virtual_microphone: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("XDG_RUNTIME_DIR", "PULSE_SERVER"):
        monkeypatch.setenv(name, virtual_microphone[name])
    sources = list_sources()
    assert [(s.name, s.kind, s.backend) for s in sources] == [
        ("vsink.monitor", "desktop audio", "pulse")
    ]
    source = open_source("vsink.monitor", 16000)
    try:
        while not len(audio := source.read()):  # the stream's first audio
            time.sleep(0.05)
        play_into(virtual_microphone, "vsink", SAMPLE)
        time.sleep(0.3)
        audio = source.read()
    finally:
        audio = np.concatenate([audio, source.close()])
    played = load_audio(SAMPLE)
    played = played[np.flatnonzero(played)[0] :]
    heard = audio[np.flatnonzero(audio)[0] :][: len(played)]
    np.testing.assert_array_equal(heard, played)  # sample-exact, by name, through parec


@pytest.mark.audio("pulseaudio", "pactl", "parec")
def test_client_mic_takes_an_input_by_name_as_mic_does(
    virtual_microphone: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("XDG_RUNTIME_DIR", "PULSE_SERVER"):
        monkeypatch.setenv(name, virtual_microphone[name])
    for command in (  # a microphone named as `devices` lists it: vmic_in (vmic: two inputs)
        ["pactl", "load-module", "module-null-sink", "sink_name=vmic", "rate=16000", "channels=1"],
        ["pactl", "load-module", "module-remap-source", "master=vmic.monitor",
         "source_name=vmic_in"],
    ):  # fmt: skip
        subprocess.run(command, env=virtual_microphone, check=True, capture_output=True)
    opened: list[Capture] = []
    open_source = capture.open_source
    monkeypatch.setattr(
        capture, "open_source", lambda *args: opened.append(open_source(*args)) or opened[-1]
    )
    url = "ws://127.0.0.1:9/v1/stream"  # no server: the input is chosen and opened first
    assert main(["client", "--mic", "--input", "vmic_in", "--url", url]) == 2
    streaming, error = capsys.readouterr().err.splitlines()
    assert streaming == "s2t-stream: streaming 'vmic_in'; Ctrl-C ends"
    assert error.startswith(f"s2t-stream: error: cannot connect to {url}")
    (microphone,) = opened
    assert isinstance(microphone, PulseCapture) and microphone.name == "vmic_in"
    assert microphone.process.poll() is not None  # stopped when the server could not be reached


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.audio("pulseaudio", "pactl", "paplay", "parec")
def test_mic_with_desktop_audio_captions_both_labelled_in_time_order(
    virtual_microphone: dict[str, str],
) -> None:
    env = {**virtual_microphone, "OMP_NUM_THREADS": "1"}
    for command in (  # a microphone of its own: a source fed by a second null sink
        ["pactl", "load-module", "module-null-sink", "sink_name=vmic", "rate=16000", "channels=1"],
        ["pactl", "load-module", "module-remap-source", "master=vmic.monitor", "source_name=mic"],
    ):
        subprocess.run(command, env=env, check=True, capture_output=True)
    command = [sys.executable, "-m", "s2t_stream", "mic", "--input", "mic", "--with-desktop",
               "--labels", "Me,Them", "--format", "jsonl", "--border", "100"]  # fmt: skip
    mic = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert mic.stderr is not None
    early = []
    while "listening" not in (line := mic.stderr.readline()):
        early.append(line)
        assert line, "".join(early)
    assert "Me: 'mic'" in line and "Them: 'vsink.monitor'" in line
    time.sleep(1.5)  # the streams' first audio
    play_into(env, "vsink", SAMPLES / "sample2-espeak-en-us-f5.wav")  # the others speak first
    time.sleep(0.5)
    play_into(env, "vmic", SAMPLE)
    time.sleep(0.5)
    out, err = ended(mic, signal.SIGINT)
    assert mic.returncode == 0, err
    finals = [e for e in map(json.loads, out.splitlines()) if e["type"] == "final"]
    assert [f["source"] for f in finals] == ["Them", "Me"], (out, err)
    assert finals[0]["end_s"] < finals[1]["start_s"]
    assert finals[1]["text"].split()[0] == "they"
