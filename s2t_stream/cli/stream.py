"""`stream` (a file through the streaming engine, as live captions), `mic` (a microphone or the
desktop's audio) and `devices` (the inputs there are)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

import numpy as np

from s2t_stream.cli.arguments import (
    add_input_arguments,
    add_model_arguments,
    add_stream_arguments,
    audio_name,
    audio_source,
    check_languages,
    load_model,
    number,
    open_mt,
    prefer_cascade,
    raw_format,
    stream_options,
)
from s2t_stream.defaults import is_device_name
from s2t_stream.errors import CaptureError, DeviceLost, S2TError
from s2t_stream.io.captions import Captions
from s2t_stream.model.audio import PCM16_SCALE, RawFormat, load_audio
from s2t_stream.streaming.drive import DEFAULT_LABELS, HealthMonitor, InputHealth
from s2t_stream.streaming.events import Event, Final
from s2t_stream.translation.translator import Translating, as_translation

if TYPE_CHECKING:
    from s2t_stream.io.capture import Capture, InputSource
    from s2t_stream.translation.translator import Translator


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

    parser = command("mic", "live captions from a microphone, desktop audio, or both")
    parser.add_argument(
        "--input",
        default=None,
        metavar="NAME",
        help="the microphone: an input's name, or part of its name or description "
        "(default: the system's; see `s2t-stream devices`)",
    )
    parser.add_argument(
        "--loopback",
        action="store_true",
        help="caption what this computer plays (the default output's monitor) instead",
    )
    parser.add_argument(
        "--with-desktop",
        action="store_true",
        help="caption the microphone and desktop audio together, as two labelled streams",
    )
    parser.add_argument(
        "--desktop-input",
        default=None,
        metavar="NAME",
        help="the desktop audio for --loopback or --with-desktop (default: the default "
        "output's monitor)",
    )
    parser.add_argument(
        "--labels",
        type=labels,
        default=DEFAULT_LABELS,
        metavar="MIC,DESKTOP",
        help=f"the two streams' labels with --with-desktop (default: {','.join(DEFAULT_LABELS)})",
    )
    parser.add_argument(
        "--format",
        choices=["text", "jsonl"],
        default="text",
        help="live captions, or one JSON event per line",
    )
    parser.add_argument(
        "--seconds", type=number(float, above=0), default=None, help="stop after this long"
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--compute-device", dest="compute_device", help="deprecated: the same as --device"
    )
    add_stream_arguments(parser)
    parser.set_defaults(run=run_mic)

    parser = command("devices", "list the audio inputs (microphones and desktop audio)")
    parser.set_defaults(run=run_devices)


def labels(text: str) -> tuple[str, str]:
    """An argparse type: two distinct, non-empty labels separated by a comma."""
    parts = tuple(part.strip() for part in text.split(","))
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise argparse.ArgumentTypeError(
            f"expected two different labels like You,Others, got {text!r}"
        )
    return parts[0], parts[1]


def emit(captions: Captions, events: list[Event]) -> None:
    for event in events:
        sys.stdout.write(captions.render(event))
    sys.stdout.flush()


class HealthNotes:
    """Shows a live input's health: as a warning line in the live captions, or — when stdout
    is a pipe or JSON lines — on stderr when a warning starts, changes kind, or ends."""

    def __init__(self, captions: Captions) -> None:
        self.captions = captions
        self.monitor = HealthMonitor()
        self.kinds = (False, False)  # (dropping, lagging) last said on stderr

    def update(self, lag_s: float, dropped_s: float) -> InputHealth:
        health = self.monitor.update(lag_s, dropped_s)
        if self.captions.live and not self.captions.jsonl:
            sys.stdout.write(self.captions.status(health.warning))
            sys.stdout.flush()
        elif (health.dropping, health.lagging) != self.kinds:
            said = f"warning: {health.warning}" if health.warning else "caught up with real time"
            print(f"s2t-stream: {said}", file=sys.stderr)
        self.kinds = (health.dropping, health.lagging)
        return health


class Paced:
    """`audio` in `chunk`-sample pieces; with `realtime`, each once it would have been recorded,
    and `lag_s` says how far the consumer has fallen behind that pace."""

    def __init__(self, audio: np.ndarray, chunk: int, rate: int, realtime: bool) -> None:
        self.audio, self.chunk, self.rate, self.realtime = audio, chunk, rate, realtime
        self.started = time.monotonic()
        self.sent = 0  # samples handed out

    def __iter__(self) -> Iterator[np.ndarray]:
        self.started = time.monotonic()
        for begin in range(0, len(self.audio), self.chunk):
            piece = self.audio[begin : begin + self.chunk]
            if self.realtime:
                due = self.started + (begin + len(piece)) / self.rate
                time.sleep(max(0.0, due - time.monotonic()))
            self.sent = begin + len(piece)
            yield piece

    def lag_s(self) -> float:
        """Seconds of audio that a live recording would have made and that were not yet taken."""
        return max(0.0, time.monotonic() - self.started - self.sent / self.rate)


def paced(audio: np.ndarray, chunk: int, chunk_s: float, realtime: bool) -> Iterator[np.ndarray]:
    """`audio` in `chunk`-sample pieces; with `realtime`, each once it would have been recorded."""
    return iter(Paced(audio, chunk, round(chunk / chunk_s), realtime))


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
    prefer_cascade(args)
    check_languages(args)  # a language nothing here has: said before the model loads
    translator = open_mt(args)  # before the model loads: a missing pair is said at once
    try:
        return _stream(args, translator)
    finally:
        if translator is not None:
            translator.close()


def _stream(args: argparse.Namespace, translator: Translator | None) -> int:
    from s2t_stream.io.subtitles import to_srt, to_vtt
    from s2t_stream.streaming.drive import Captioner, StreamDriver, drive
    from s2t_stream.streaming.engine import Engine

    options = stream_options(args)
    bundle = load_model(args)
    check_languages(args, bundle)
    engine = Engine(bundle, options)
    raw = raw_format(args)
    pace: Paced | None = None
    chunks: Iterator[np.ndarray]
    if args.file == "-" and raw is not None:  # a live pipe: stream it as it comes
        driver = StreamDriver(engine, raw.sample_rate)
        chunks = live_pcm(raw, args.chunk_ms)
    else:
        rate = bundle.features.sample_rate
        audio = load_audio(audio_source(args.file), rate, raw=raw, name=audio_name(args.file))
        pace = Paced(audio, rate * args.chunk_ms // 1000, rate, args.pace == "realtime")
        driver, chunks = StreamDriver(engine), iter(pace)
    captioner: Captioner = driver if translator is None else Translating(driver, translator)
    steps = drive(captioner, chunks)
    if args.format in ("srt", "vtt"):  # with --mt: subtitles in the target language
        finals = [as_translation(e) for events in steps for e in events if isinstance(e, Final)]
        sys.stdout.write(to_srt(finals) if args.format == "srt" else to_vtt(finals))
        return 0
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    notes = HealthNotes(captions) if pace is not None and pace.realtime else None
    for events in steps:
        emit(captions, events)
        if notes is not None and pace is not None:
            notes.update(pace.lag_s(), 0.0)
    return 0


def _input_device(args: argparse.Namespace) -> tuple[str | None, str]:
    """The microphone and the flag that named it: `--input`, or (deprecated) an input given to
    `--device`, as `mic` once took it. `--compute-device` (deprecated) is `--device`, and
    errors name it."""
    if args.compute_device is not None:
        args.device, args.device_flag = args.compute_device, "--compute-device"
    elif args.device is not None and not is_device_name(args.device):
        print(
            f"s2t-stream: note: `mic --device {args.device}` names the microphone; that flag is "
            "now --input (--device is the compute device)",
            file=sys.stderr,
        )
        args.input, args.device = args.device, "auto"
        return args.input, "--device"
    return args.input, "--input"


def plan_inputs(
    args: argparse.Namespace, sources: list[InputSource], desktop: Callable[[], str]
) -> dict[str, InputSource]:
    """The inputs `mic` captures, by label ("" for a single unlabelled one), each resolved
    against the sources there are (errors name the flag the user typed)."""
    from s2t_stream.io.capture import find_source

    mic, mic_flag = _input_device(args)
    if args.desktop_input is not None and not (args.loopback or args.with_desktop):
        raise S2TError("--desktop-input: only with --loopback or --with-desktop")
    if args.loopback and args.with_desktop:
        raise S2TError("--loopback and --with-desktop: choose one")
    if not (args.loopback or args.with_desktop):
        return {"": find_source(mic, sources, mic_flag)}
    flag = "--loopback" if args.loopback else "--with-desktop"
    if args.desktop_input is not None:
        monitor = find_source(args.desktop_input, sources, "--desktop-input")
    else:
        try:
            default = desktop()
        except CaptureError as error:  # no sound server, or no default output
            raise CaptureError(f"{flag}: {error}") from None
        monitor = find_source(default, sources, flag)
    if args.loopback:
        return {"": monitor}
    microphone = find_source(mic, sources, mic_flag)
    if microphone.name == monitor.name:
        raise S2TError(
            f"--with-desktop: the microphone would be the desktop audio itself "
            f"({monitor.name}); choose a microphone with {mic_flag} (see `s2t-stream devices`)"
        )
    you, others = args.labels
    return {you: microphone, others: monitor}


def open_inputs(plan: Mapping[str, InputSource], rate: int) -> dict[str, Capture]:
    """Start capturing every planned input at `rate` (all or none)."""
    from s2t_stream.io.capture import open_source

    opened: dict[str, Capture] = {}
    try:
        for label, source in plan.items():
            opened[label] = open_source(source.name, rate, sources=list(plan.values()))
    except S2TError:
        for capture in opened.values():
            capture.close()
        raise
    return opened


def run_mic(args: argparse.Namespace) -> int:
    from s2t_stream.io.capture import desktop_source, list_sources

    prefer_cascade(args)
    check_languages(args)
    plan = plan_inputs(args, list_sources(), desktop_source)
    translator = open_mt(args)  # before the model loads: a missing pair is said at once
    try:
        return _caption_inputs(args, plan, translator)
    finally:
        if translator is not None:
            translator.close()


def _caption_inputs(
    args: argparse.Namespace, plan: dict[str, InputSource], translator: Translator | None
) -> int:
    from s2t_stream.streaming.drive import (
        LabelledCaptioner,
        SourcesDriver,
        StreamDriver,
        Unlabelled,
    )
    from s2t_stream.streaming.engine import Engine

    options = stream_options(args)
    bundle = load_model(args)
    check_languages(args, bundle)
    engine = Engine(bundle, options)
    captures = open_inputs(plan, bundle.features.sample_rate)
    heard = ", ".join(
        f"{label + ': ' if label else ''}{s.name!r} ({s.description})" for label, s in plan.items()
    )
    print(f"s2t-stream: listening to {heard}; Ctrl-C ends", file=sys.stderr)
    labelled = list(plan) != [""]
    driver: LabelledCaptioner = (
        SourcesDriver(engine, list(plan)) if labelled else Unlabelled(StreamDriver(engine))
    )
    if translator is not None:
        driver = Translating(driver, translator)
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    notes = HealthNotes(captions)
    started = time.monotonic()
    try:
        with stop_on_signals() as stop:
            while not stop.requested and (
                args.seconds is None or time.monotonic() - started < args.seconds
            ):
                time.sleep(0.05)
                emit(captions, driver.push({label: c.read() for label, c in captures.items()}))
                lag_s = max(c.backlog_s() for c in captures.values())
                notes.update(lag_s, sum(c.dropped_s() for c in captures.values()))
    except DeviceLost as lost:
        print(f"s2t-stream: {lost}; keeping what was transcribed", file=sys.stderr)
    finally:
        tails = {label: capture.close() for label, capture in captures.items()}
        emit(captions, driver.push(tails) + driver.end())
    dropped_s = sum(c.dropped_s() for c in captures.values())
    if dropped_s:
        print(f"s2t-stream: audio lost: {dropped_s:.2f} s dropped (fell behind)", file=sys.stderr)
    return 0


@dataclass
class StopRequest:
    """Set by `stop_on_signals`' handler: the loop ends at its next check."""

    requested: bool = False


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT (Ctrl-C) and SIGTERM (`kill`, a supervisor stopping it) set
    the returned request instead of raising, so that the capture loop ends between two pushes
    (an exception raised inside one would lose the audio read and could leave the engine mid
    update) and live captioning ends with its last final; the handlers before are restored
    after. Set explicitly because a program started in the background by a non-interactive
    shell inherits SIGINT ignored."""
    stop = StopRequest()

    def request(signum: int, frame: FrameType | None) -> None:
        stop.requested = True

    before = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def run_devices(args: argparse.Namespace) -> int:
    from s2t_stream.io.capture import list_sources

    found = list_sources()
    if not found:
        print("no audio inputs (is a microphone connected, or a sound server running?)")
        return 0
    width = max(len(s.name) for s in found)
    for s in found:
        mark = "*" if s.default else " "
        print(f"{mark} {s.name:<{width}}  {s.kind:<13}  {s.description}")
    where = "PulseAudio/PipeWire" if found[0].backend == "pulse" else "PortAudio"
    count = f"{len(found)} input{'' if len(found) == 1 else 's'}"
    print(f"({count} from {where}; * the default; choose one with `mic --input NAME`)")
    return 0
