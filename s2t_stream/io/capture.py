"""Microphone capture: a PortAudio input at the device's own rate → a bounded buffer → mono
audio at the model's rate (`Microphone`), and the devices to choose from."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2t_stream.errors import CaptureError, DeviceLost
from s2t_stream.model.audio import StreamResampler


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    sample_rate: int
    host_api: str
    default: bool

    @property
    def monitor(self) -> bool:
        """A loopback source: what the computer plays (PulseAudio's `*.monitor`)."""
        return self.name.endswith(".monitor") or "monitor of" in self.name.lower()


def portaudio() -> Any:
    """The sounddevice module, or a clear error when PortAudio cannot load."""
    try:
        import sounddevice
    except OSError as error:  # the library imports but libportaudio is missing
        raise CaptureError(
            f"PortAudio is not available ({error}); on Debian: apt-get install libportaudio2"
        ) from None
    except ImportError:
        raise CaptureError(
            "microphone capture needs the 'mic' extra: pip install 's2t-stream[mic]'"
        ) from None
    return sounddevice


def list_devices(backend: Any = None) -> list[InputDevice]:
    """Every device with input channels (monitor sources included)."""
    sd = backend or portaudio()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
        default_input = sd.default.device[0]
    except Exception as error:  # PortAudio reports host problems as plain exceptions
        raise CaptureError(f"cannot list audio devices: {error}") from None
    return [
        InputDevice(
            index=i,
            name=str(d["name"]),
            channels=int(d["max_input_channels"]),
            sample_rate=int(d["default_samplerate"]),
            host_api=str(apis[d["hostapi"]]["name"]),
            default=i == default_input,
        )
        for i, d in enumerate(devices)
        if int(d["max_input_channels"]) > 0
    ]


def choose_device(spec: str | int | None, devices: list[InputDevice]) -> InputDevice:
    """By index, by (case-insensitive) name fragment, or the default input device."""
    if not devices:
        raise CaptureError(
            "no audio input device found: connect a microphone, or start a sound server "
            "(PulseAudio / PipeWire) and check `s2t-stream devices`"
        )
    known = "; ".join(f"{d.index}: {d.name}" for d in devices)
    if spec is None or spec == "":
        return next((d for d in devices if d.default), devices[0])
    if isinstance(spec, int) or str(spec).isdigit():
        index = int(spec)
        for device in devices:
            if device.index == index:
                return device
        raise CaptureError(f"no input device with index {index}; input devices: {known}")
    matches = [d for d in devices if str(spec).lower() in d.name.lower()]
    if len(matches) != 1:
        problem = "matches no" if not matches else f"matches {len(matches)}"
        raise CaptureError(f"device name {spec!r} {problem} input device; input devices: {known}")
    return matches[0]


class RingBuffer:
    """Blocks of (frames, channels) float32 from the audio thread, at most `capacity` frames;
    a full buffer drops its oldest frames and counts them. Thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.blocks: deque[np.ndarray] = deque()
        self.frames = 0
        self.dropped = 0
        self.lock = threading.Lock()

    def push(self, block: np.ndarray) -> None:
        with self.lock:
            self.blocks.append(block)
            self.frames += len(block)
            while self.frames > self.capacity:
                excess = self.frames - self.capacity
                oldest = self.blocks[0]
                if len(oldest) <= excess:
                    self.blocks.popleft()
                    cut = len(oldest)
                else:
                    self.blocks[0] = oldest[excess:]
                    cut = excess
                self.frames -= cut
                self.dropped += cut

    def pop_all(self) -> np.ndarray | None:
        with self.lock:
            if not self.blocks:
                return None
            data = np.concatenate(self.blocks)
            self.blocks.clear()
            self.frames = 0
            return data


@dataclass
class CaptureStats:
    captured_s: float = 0.0
    dropped_s: float = 0.0  # overrun: the reader fell behind and the oldest audio was dropped
    device_overflows: int = 0  # PortAudio reported input overflow (audio lost in the driver)


class Microphone:
    """One open input stream (sounddevice) at the device's own rate and channels. The audio
    callback only copies into a bounded `RingBuffer` (on overflow the oldest audio is dropped
    and counted in `stats`); `read()` downmixes and resamples (soxr) what arrived to new mono
    float32 samples at `target_rate`. The PortAudio binding is injected (`backend`), so tests
    drive the same code with a fake device."""

    def __init__(
        self,
        device: InputDevice,
        target_rate: int,
        *,
        buffer_s: float = 10.0,
        block_s: float = 0.02,
        backend: Any = None,
    ) -> None:
        self.device = device
        self.rate = device.sample_rate
        self.channels = min(device.channels, 2)
        self.buffer = RingBuffer(round(buffer_s * self.rate))
        self.resampler = StreamResampler(self.rate, target_rate)
        self.stats = CaptureStats()
        self.lost: str | None = None
        self.closing = False
        sd = backend or portaudio()
        try:
            self.stream = sd.InputStream(
                device=device.index,
                samplerate=self.rate,
                channels=self.channels,
                dtype="float32",
                blocksize=round(block_s * self.rate),
                callback=self._callback,
                finished_callback=self._finished,
            )
            self.stream.start()
        except Exception as error:
            raise CaptureError(_explain(error, device)) from None

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio's thread: copy and return, never block."""
        if status and getattr(status, "input_overflow", False):
            self.stats.device_overflows += 1
        self.buffer.push(indata.copy())

    def _finished(self) -> None:
        if not self.closing:
            self.lost = f"input device {self.device.name!r} stopped delivering audio"

    def read(self) -> np.ndarray:
        """Everything captured since the last call, mono at the target rate. Raises DeviceLost
        once the device is gone (after the audio it had delivered has been read)."""
        data = self.buffer.pop_all()
        self.stats.dropped_s = self.buffer.dropped / self.rate
        if data is None:
            if self.lost or not self.stream.active:
                raise DeviceLost(self.lost or f"input device {self.device.name!r} went away")
            return np.zeros(0, dtype=np.float32)
        self.stats.captured_s += len(data) / self.rate
        mono = data.mean(axis=1, dtype=np.float32) if data.ndim == 2 else data
        return self.resampler.process(mono.astype(np.float32, copy=False))

    def close(self) -> np.ndarray:
        """Stop the device; return the resampler's last samples (nothing on a second call)."""
        if self.closing:
            return np.zeros(0, dtype=np.float32)
        self.closing = True
        try:
            self.stream.stop()
            self.stream.close()
        except Exception:  # a lost device may fail to stop: nothing left to release
            pass
        return self.resampler.flush()


def loopback() -> str:
    """Record the default output's monitor (desktop audio) by pointing PulseAudio's default
    source for this process at it; returns the source name."""
    if shutil.which("pactl") is None:
        raise CaptureError("desktop-audio capture needs PulseAudio or PipeWire (pactl not found)")
    try:
        sink = subprocess.run(
            ["pactl", "get-default-sink"], capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError) as error:
        raise CaptureError(f"cannot ask PulseAudio for the default output: {error}") from None
    source = f"{sink}.monitor"
    os.environ["PULSE_SOURCE"] = source  # read by the ALSA pulse plugin when the stream opens
    return source


def _explain(error: Exception, device: InputDevice) -> str:
    text = str(error)
    if "Invalid sample rate" in text:
        return (
            f"input device {device.name!r} does not support {device.sample_rate} Hz "
            f"({text}); choose another device with --device"
        )
    if "Device unavailable" in text or "busy" in text.lower():
        return f"input device {device.name!r} is busy (another program has it?): {text}"
    return f"cannot open input device {device.name!r}: {text}"
