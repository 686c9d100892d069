"""Microphone capture: with an injected fake PortAudio device (overruns, 44.1/48 kHz, stereo,
device loss, open errors, the `mic` command), and end to end on a real PortAudio input stream
fed by a PulseAudio null-sink virtual microphone."""

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

import s2t_stream.io.capture as capture
from s2t_stream.cli import main
from s2t_stream.io.capture import (
    CaptureError,
    DeviceLost,
    Microphone,
    RingBuffer,
    choose_device,
    list_devices,
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
def test_microphone_resamples_and_downmixes(rate: int, channels: int) -> None:
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
    assert main(["mic", "--seconds", "3", "--format", "jsonl"]) == 0
    player.join()
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) == 1 and finals[0]["text"]
    assert "listening to 'USB mic' (48000 Hz, 2 ch)" in captured.err
    if lose:
        assert "stopped delivering audio; keeping what was transcribed" in captured.err


# --- end to end on PulseAudio -------------------------------------------------------------------


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


@pytest.mark.model
@pytest.mark.audio("pulseaudio", "pactl", "paplay")
@pytest.mark.model
def test_speech_played_into_a_virtual_microphone_is_transcribed(
    virtual_microphone: dict[str, str], bundle: Bundle
) -> None:
    env = {**virtual_microphone, "OMP_NUM_THREADS": "1"}
    # No early commits (wide border): the final decodes the whole captured utterance at once.
    # Ctrl-C (SIGINT) ends the command, which must still print the last final.
    command = [sys.executable, "-m", "s2t_stream", "mic", "--format", "jsonl", "--border", "100"]
    mic = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert mic.stderr is not None
    early = []  # up to "listening to …": the model is loaded and the stream open
    while "listening" not in (line := mic.stderr.readline()):
        early.append(line)
        assert line, "".join(early)  # EOF: the command died before listening
    time.sleep(1.0)  # the stream's first callbacks
    subprocess.run(["paplay", "-d", "vsink", str(SAMPLE)], env=env, check=True)
    time.sleep(0.2)
    mic.send_signal(signal.SIGINT)
    out, err = mic.communicate(timeout=60)
    assert mic.returncode == 0, err
    finals = [e for e in map(json.loads, out.splitlines()) if e["type"] == "final"]
    assert len(finals) == 1, (out, err)
    duration = len(load_audio(SAMPLE)) / 16000
    final = finals[0]
    assert 0.5 * duration <= final["end_s"] - final["start_s"] <= duration + 0.3
    # The captured audio went through PulseAudio's resampling (16 → 44.1 → 16 kHz), which the
    # undertrained bundled model hears differently after the first word or so: the first word
    # is held to the model's offline greedy reading of the sample file, and to the sentence.
    greedy = TranscribeOptions(decoding=DecodingOptions(num_beams=1))
    offline = Transcriber(bundle, greedy).transcribe([load_audio(SAMPLE)])[0].text
    assert final["text"].split()[:1] == offline.split()[:1] == ["they"], (final["text"], offline)


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
