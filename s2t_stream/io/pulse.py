"""PulseAudio / PipeWire through their command-line clients: the sources by name and
description (`pactl`), desktop audio (the default output's monitor), and one source recorded by
name (`parec`) into a bounded buffer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from s2t_stream.errors import CaptureError, DeviceLost
from s2t_stream.io.inputs import InputSource, RingBuffer, lead_in

Pactl = Callable[[Sequence[str]], str]


def pactl(args: Sequence[str]) -> str:
    """The output of `pactl ARGS` (C locale); CaptureError when it fails (with the first line
    it said, its reason: a failed connection's second line only repeats it) or is absent."""
    try:
        done = subprocess.run(
            ["pactl", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
            env={**os.environ, "LC_ALL": "C"},
        )
    except subprocess.CalledProcessError as error:
        said = (error.stderr or "").strip().splitlines()
        reason = said[0] if said else f"exit status {error.returncode}"
        raise CaptureError(f"pactl {' '.join(args)}: {reason}") from None
    except (subprocess.SubprocessError, OSError) as error:
        raise CaptureError(f"cannot run pactl: {error}") from None
    return done.stdout


def _pactl_json(run: Pactl, *args: str) -> Any:
    text = run(["--format=json", *args])
    try:
        return json.loads(text)
    except ValueError as error:
        raise CaptureError(f"pactl {' '.join(args)} printed no JSON ({error})") from None


def pulse_sources(run: Pactl = pactl) -> list[InputSource] | None:
    """The sound server's sources (PulseAudio, or PipeWire's pulse server), or None when there
    is no `pactl` (≥ 16, for its JSON) or no server answers."""
    if run is pactl and shutil.which("pactl") is None:
        return None
    try:
        default = _pactl_json(run, "info").get("default_source_name")
        listed = _pactl_json(run, "list", "sources")
    except CaptureError:
        return None
    return [
        InputSource(
            name=str(source["name"]),
            description=str(source.get("description") or source["name"]),
            monitor=_is_monitor(source),
            default=source["name"] == default,
            backend="pulse",
        )
        for source in listed
    ]


def _is_monitor(source: dict[str, Any]) -> bool:
    """A sink's monitor: what the computer plays ("Monitor of Sink" in `pactl list`)."""
    properties = source.get("properties") or {}
    monitor_of = source.get("monitor_source")  # pactl's JSON names the monitored sink here
    return (
        properties.get("device.class") == "monitor"
        or monitor_of not in (None, "", "n/a")
        or str(source["name"]).endswith(".monitor")
    )


def desktop_source(run: Pactl = pactl) -> str:
    """The name of the default output's monitor source: desktop audio. CaptureError when no
    sound server answers `pactl`, or it has no default output."""
    if run is pactl and shutil.which("pactl") is None:
        raise CaptureError("desktop-audio capture needs PulseAudio or PipeWire (pactl not found)")
    try:
        info = _pactl_json(run, "info")
    except CaptureError as error:
        raise CaptureError(f"no sound server for desktop audio ({error})") from None
    sink = info.get("default_sink_name")
    if not sink:
        raise CaptureError("the sound server has no default output, so no desktop audio")
    return f"{sink}.monitor"


def parec_command(source: str, rate: int, latency_ms: int) -> list[str]:
    """`parec` recording `source` as raw mono float32 at `rate` (the server converts)."""
    return [
        "parec",
        f"--device={source}",
        "--raw",
        "--format=float32le",
        f"--rate={rate}",
        "--channels=1",
        f"--latency-msec={latency_ms}",
        "--client-name=s2t-stream",
        f"--stream-name=captions of {source}",
    ]


class PulseCapture:
    """One PulseAudio/PipeWire source, exactly by name (any number at once), recorded by
    `parec`. A reader thread copies the pipe into a bounded `RingBuffer`, so a slow consumer
    loses the oldest audio (counted) rather than stalling the sound server. `command` replaces
    the `parec` command line (tests: a program that writes float32 samples)."""

    def __init__(
        self,
        source: str,
        rate: int,
        *,
        buffer_s: float = 10.0,
        latency_ms: int = 50,
        command: Sequence[str] | None = None,
        lead: bool = True,
    ) -> None:
        self.name, self.rate = source, rate
        self.buffer = RingBuffer(round(buffer_s * rate))
        self.closing = False
        self.lead = lead  # the first audio still to come behind its `lead_in`
        self.opened_at = time.monotonic()
        argv = list(command) if command is not None else parec_command(source, rate, latency_ms)
        if shutil.which(argv[0]) is None:
            raise CaptureError(
                f"recording {source!r} needs {argv[0]} (Debian: apt-get install pulseaudio-utils)"
            )
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.reader = threading.Thread(target=self._pump, name=f"capture {source}", daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        """The reader thread: the pipe's bytes as float32 blocks into the buffer, until EOF."""
        assert self.process.stdout is not None
        pipe, pending = self.process.stdout.fileno(), b""
        while block := os.read(pipe, 1 << 16):
            pending += block
            whole = len(pending) - len(pending) % 4  # whole float32 samples only
            if whole:
                self.buffer.push(np.frombuffer(pending[:whole], dtype="<f4"))
                pending = pending[whole:]

    def read(self) -> np.ndarray:
        """Audio captured since the last call (the first behind its `lead_in`); DeviceLost once
        `parec` has ended (after the audio it had delivered has been read)."""
        data = self.buffer.pop_all()
        if data is None and not self.reader.is_alive():
            data = self.buffer.pop_all()  # the reader's last block may have landed meanwhile
            if data is None and not self.closing:
                raise DeviceLost(self._why_lost())
        if data is None:
            return np.zeros(0, dtype=np.float32)
        if self.lead:
            self.lead = False
            data = np.concatenate(
                [lead_in(self.buffer, self.opened_at, self.rate, self.rate), data]
            )
        return data.astype(np.float32)

    def _why_lost(self) -> str:
        self.process.wait()
        assert self.process.stderr is not None
        said = self.process.stderr.read().decode(errors="replace").strip().splitlines()
        reason = f" ({said[-1]})" if said else ""
        return f"input {self.name!r} stopped delivering audio{reason}"

    def dropped_s(self) -> float:
        return self.buffer.dropped / self.rate

    def backlog_s(self) -> float:
        return self.buffer.frames / self.rate

    def close(self) -> np.ndarray:
        """Stop recording; the audio captured and not yet read (nothing on a second call)."""
        if self.closing:
            return np.zeros(0, dtype=np.float32)
        self.closing = True
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        rest = self.buffer.pop_all()
        return np.zeros(0, dtype=np.float32) if rest is None else rest.astype(np.float32)
