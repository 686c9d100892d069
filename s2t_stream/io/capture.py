"""Audio capture: the inputs there are (`list_sources`: PulseAudio/PipeWire sources through
`pactl`, else PortAudio's input devices) and one opened by name (`open_source`) → a bounded
buffer → new mono float32 audio at the model's rate (`PulseCapture` via `parec`, or
`Microphone` via PortAudio), with the audio dropped and waiting counted."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2t_stream.errors import CaptureError, DeviceLost
from s2t_stream.io.inputs import Capture, InputSource, RingBuffer, lead_in
from s2t_stream.io.pulse import PulseCapture, desktop_source, pulse_sources
from s2t_stream.model.audio import StreamResampler

__all__ = [  # the shared input types and PulseAudio's pieces are used from here too
    "Capture",
    "CaptureError",
    "DeviceLost",
    "InputDevice",
    "InputSource",
    "Microphone",
    "PulseCapture",
    "RingBuffer",
    "choose_device",
    "desktop_source",
    "find_source",
    "list_devices",
    "list_sources",
    "loopback",
    "open_source",
    "pulse_sources",
]


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
        lead: bool = True,
    ) -> None:
        self.device = device
        self.name = device.name
        self.rate = target_rate  # of what `read` returns
        self.device_rate = device.sample_rate
        self.channels = min(device.channels, 2)
        self.buffer = RingBuffer(round(buffer_s * self.device_rate))
        self.resampler = StreamResampler(self.device_rate, target_rate)
        self.stats = CaptureStats()
        self.lost: str | None = None
        self.closing = False
        self.lead = lead  # the first audio still to come behind its `lead_in`
        self.opened_at = time.monotonic()
        sd = backend or portaudio()
        try:
            self.stream = sd.InputStream(
                device=device.index,
                samplerate=self.device_rate,
                channels=self.channels,
                dtype="float32",
                blocksize=round(block_s * self.device_rate),
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
        """Everything captured since the last call, mono at the target rate (the first audio
        behind its `lead_in`). Raises DeviceLost once the device is gone (after the audio it had
        delivered has been read)."""
        data = self.buffer.pop_all()
        self.stats.dropped_s = self.buffer.dropped / self.device_rate
        if data is None:
            if self.lost or not self.stream.active:
                raise DeviceLost(self.lost or f"input device {self.device.name!r} went away")
            return np.zeros(0, dtype=np.float32)
        if self.lead:
            self.lead = False
            lead = lead_in(self.buffer, self.opened_at, self.device_rate, self.rate)
            return np.concatenate([lead, self._convert(data)])
        return self._convert(data)

    def _convert(self, data: np.ndarray) -> np.ndarray:
        self.stats.captured_s += len(data) / self.device_rate
        mono = data.mean(axis=1, dtype=np.float32) if data.ndim == 2 else data
        return self.resampler.process(mono.astype(np.float32, copy=False))

    def dropped_s(self) -> float:
        return self.buffer.dropped / self.device_rate

    def backlog_s(self) -> float:
        return self.buffer.frames / self.device_rate

    def close(self) -> np.ndarray:
        """Stop the device; return what it had captured and not yet read, and the resampler's
        last samples (nothing on a second call)."""
        if self.closing:
            return np.zeros(0, dtype=np.float32)
        self.closing = True
        try:
            self.stream.stop()
            self.stream.close()
        except Exception:  # a lost device may fail to stop: nothing left to release
            pass
        rest = self.buffer.pop_all()
        head = self._convert(rest) if rest is not None else np.zeros(0, dtype=np.float32)
        return np.concatenate([head, self.resampler.flush()])


# --- choosing an input --------------------------------------------------------------------------


def list_sources(backend: Any = None) -> list[InputSource]:
    """PulseAudio/PipeWire sources when a sound server answers `pactl`, else PortAudio's
    input devices (`backend`: the sounddevice module, injected by tests)."""
    pulse = pulse_sources()
    if pulse is not None:
        return pulse
    return [
        InputSource(
            name=d.name,
            description=f"{d.host_api}, {d.channels} ch, {d.sample_rate} Hz",
            monitor=d.monitor,
            default=d.default,
            backend="portaudio",
            index=d.index,
        )
        for d in list_devices(backend)
    ]


def find_source(
    spec: str | None, sources: Sequence[InputSource], flag: str = "--input"
) -> InputSource:
    """None or "": the default input (else the first microphone); otherwise the source named
    exactly `spec`, a PortAudio index, or the one whose name or description contains it
    (case-insensitive). Errors name `flag` and list the inputs there are."""
    if not sources:
        raise CaptureError(
            "no audio input found: connect a microphone, or start a sound server "
            "(PulseAudio / PipeWire) and check `s2t-stream devices`"
        )
    if not spec:
        defaults = [s for s in sources if s.default] or [s for s in sources if not s.monitor]
        return (defaults or list(sources))[0]
    wanted = spec.lower()
    for matches in (
        [s for s in sources if s.name == spec],
        [s for s in sources if spec.isdigit() and s.index == int(spec)],
        [s for s in sources if wanted in s.name.lower() or wanted in s.description.lower()],
    ):
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(s.name for s in matches)
            raise CaptureError(f"{flag} {spec!r} matches {len(matches)} inputs: {names}")
    names = ", ".join(s.name for s in sources)
    raise CaptureError(f"{flag} {spec!r} matches no input; the inputs are: {names}")


def open_source(
    name: str | None,
    rate: int,
    *,
    sources: Sequence[InputSource] | None = None,
    backend: Any = None,
    flag: str = "--input",
) -> Capture:
    """Start capturing the input `name` chooses (`find_source`) as mono audio at `rate`."""
    chosen = find_source(name, list_sources(backend) if sources is None else sources, flag)
    if chosen.backend == "pulse":
        return PulseCapture(chosen.name, rate)
    device = choose_device(chosen.index, list_devices(backend))
    return Microphone(device, rate, backend=backend)


def loopback() -> str:
    """Record the default output's monitor (desktop audio) by pointing PulseAudio's default
    source for this process at it (the ALSA pulse plugin reads it); returns the source name."""
    source = os.environ["PULSE_SOURCE"] = desktop_source()
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
