"""`stream` (a file through the streaming engine, as live captions), `mic` (a microphone or the
desktop's audio) and `devices` (the inputs there are)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np

from s2t_stream.cli.arguments import (
    add_input_arguments,
    add_model_arguments,
    add_stream_arguments,
    audio_source,
    load_model,
    number,
    raw_format,
    stream_options,
)
from s2t_stream.defaults import is_device_name
from s2t_stream.errors import DeviceLost
from s2t_stream.io.captions import Captions
from s2t_stream.model.audio import PCM16_SCALE, RawFormat, load_audio
from s2t_stream.streaming.events import Event, Final


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("stream", "replay an audio file through the streaming engine (live captions)")
    parser.add_argument(
        "file",
        metavar="FILE",
        help="audio file (wav, flac, ogg, mp3…); - is stdin (live, with --raw-rate: e.g. arecord)",
    )
    parser.add_argument(
        "--pace",
        choices=["realtime", "fast"],
        default="realtime",
        help="feed a file at real speed (latency includes compute) or as fast as possible "
        "(headerless PCM from stdin comes at the producer's pace)",
    )
    parser.add_argument(
        "--format",
        choices=["text", "jsonl", "srt", "vtt"],
        default="text",
        help="live captions, one JSON event per line, or subtitles at the end",
    )
    parser.add_argument(
        "--chunk-ms", type=number(int, above=0), default=100, help="audio per push, ms"
    )
    add_input_arguments(parser)
    add_model_arguments(parser)
    add_stream_arguments(parser)
    parser.set_defaults(run=run_stream)

    parser = command("mic", "live captions from a microphone (or desktop audio)")
    parser.add_argument(
        "--input",
        default=None,
        help="input device index or name (default: the system's; see `s2t-stream devices`)",
    )
    parser.add_argument(
        "--loopback",
        action="store_true",
        help="caption what this computer plays (PulseAudio/PipeWire monitor of the default sink)",
    )
    parser.add_argument("--format", choices=["text", "jsonl"], default="text")
    parser.add_argument(
        "--seconds", type=number(float, above=0), default=None, help="stop after this long"
    )
    add_model_arguments(parser)
    parser.add_argument("--compute-device", dest="device", help="deprecated: the same as --device")
    add_stream_arguments(parser)
    parser.set_defaults(run=run_mic)

    parser = command("devices", "list audio input devices")
    parser.set_defaults(run=run_devices)


def emit(captions: Captions, events: list[Event]) -> None:
    for event in events:
        sys.stdout.write(captions.render(event))
    sys.stdout.flush()


def paced(audio: np.ndarray, chunk: int, chunk_s: float, realtime: bool) -> Iterator[np.ndarray]:
    """`audio` in `chunk`-sample pieces; with `realtime`, each once it would have been recorded."""
    started = time.monotonic()
    for index, begin in enumerate(range(0, len(audio), chunk)):
        if realtime:
            time.sleep(max(0.0, started + (index + 1) * chunk_s - time.monotonic()))
        yield audio[begin : begin + chunk]


def live_pcm(raw: RawFormat, chunk_ms: int) -> Iterator[np.ndarray]:
    """Headerless PCM from standard input as it arrives, `chunk_ms` at a time, downmixed."""
    dtype = np.dtype("<i2") if raw.encoding == "s16le" else np.dtype("<f4")
    frame = dtype.itemsize * raw.channels
    size = max(1, raw.sample_rate * chunk_ms // 1000) * frame
    pending = b""
    while block := sys.stdin.buffer.read(size):
        pending += block
        whole = len(pending) - len(pending) % frame
        data, pending = pending[:whole], pending[whole:]
        samples = np.frombuffer(data, dtype=dtype).astype(np.float32)
        if raw.encoding == "s16le":
            samples /= PCM16_SCALE
        yield samples.reshape(-1, raw.channels).mean(axis=1)


def run_stream(args: argparse.Namespace) -> int:
    from s2t_stream.io.subtitles import to_srt, to_vtt
    from s2t_stream.streaming.drive import StreamDriver, drive
    from s2t_stream.streaming.engine import Engine

    options = stream_options(args)
    bundle = load_model(args)
    engine = Engine(bundle, options)
    raw = raw_format(args)
    if args.file == "-" and raw is not None:  # a live pipe: stream it as it comes
        steps = drive(StreamDriver(engine, raw.sample_rate), live_pcm(raw, args.chunk_ms))
    else:
        rate = bundle.features.sample_rate
        audio = load_audio(audio_source(args.file), rate, raw=raw)
        chunk, realtime = rate * args.chunk_ms // 1000, args.pace == "realtime"
        steps = drive(StreamDriver(engine), paced(audio, chunk, args.chunk_ms / 1000, realtime))
    if args.format in ("srt", "vtt"):
        finals = [e for events in steps for e in events if isinstance(e, Final)]
        sys.stdout.write(to_srt(finals) if args.format == "srt" else to_vtt(finals))
        return 0
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    for events in steps:
        emit(captions, events)
    return 0


def _input_device(args: argparse.Namespace) -> str | None:
    """`--input`, or (deprecated) an input device given to `--device`, as `mic` once took it."""
    if args.device is not None and not is_device_name(args.device):
        print(
            f"s2t-stream: note: `mic --device {args.device}` names the microphone; that flag is "
            "now --input (--device is the compute device)",
            file=sys.stderr,
        )
        args.input, args.device = args.device, "auto"
    return args.input


def run_mic(args: argparse.Namespace) -> int:
    from s2t_stream.io.capture import Microphone, choose_device, list_devices, loopback
    from s2t_stream.streaming.drive import StreamDriver
    from s2t_stream.streaming.engine import Engine

    device_spec = _input_device(args)
    options = stream_options(args)
    if args.loopback:
        loopback()
    bundle = load_model(args)
    engine = Engine(bundle, options)
    device = choose_device(device_spec, list_devices())
    microphone = Microphone(device, bundle.features.sample_rate)
    print(
        f"s2t-stream: listening to {device.name!r} ({device.sample_rate} Hz, "
        f"{microphone.channels} ch); Ctrl-C ends",
        file=sys.stderr,
    )
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    driver = StreamDriver(engine)
    started = time.monotonic()
    try:
        while args.seconds is None or time.monotonic() - started < args.seconds:
            time.sleep(0.05)
            emit(captions, driver.push(microphone.read()))
    except KeyboardInterrupt:
        pass
    except DeviceLost as lost:
        print(f"s2t-stream: {lost}; keeping what was transcribed", file=sys.stderr)
    finally:
        emit(captions, driver.push(microphone.close()) + driver.end())
    stats = microphone.stats
    if stats.dropped_s or stats.device_overflows:
        print(
            f"s2t-stream: audio lost: {stats.dropped_s:.2f} s dropped (fell behind), "
            f"{stats.device_overflows} device overflows",
            file=sys.stderr,
        )
    return 0


def run_devices(args: argparse.Namespace) -> int:
    from s2t_stream.io.capture import list_devices

    found = list_devices()
    if not found:
        print("no audio input devices (is a microphone connected, or a sound server running?)")
    for d in found:
        mark = "*" if d.default else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.channels} ch, {d.sample_rate} Hz, {d.host_api})")
    return 0
