"""`client`: stream a file (or the microphone) to a running server over the native protocol and
print its captions, as `stream` prints a local engine's."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np

from s2t_stream.cli.arguments import mt_languages, mt_needs_language, needs_extra
from s2t_stream.cli.stream import emit, paced
from s2t_stream.errors import DeviceLost, S2TError
from s2t_stream.io.captions import Captions
from s2t_stream.translation.translator import ENGINES

DEFAULT_URL = "ws://127.0.0.1:2700/v1/stream"
FILE_RATE = 16000  # files are sent at 16 kHz; the microphone at its own rate (the server resamples)


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("client", "stream a file to a running server and print its captions")
    parser.add_argument("file", metavar="FILE", nargs="?", help="wav, flac, ogg or mp3")
    parser.add_argument("--mic", action="store_true", help="stream the microphone instead")
    parser.add_argument("--input", default=None, help="with --mic: input device index or name")
    parser.add_argument("--device", dest="input", help="deprecated: the same as --input")
    parser.add_argument("--seconds", type=float, default=None, help="with --mic: stop after")
    parser.add_argument("--url", default=DEFAULT_URL, help="the server's native-protocol URL")
    parser.add_argument("--realtime", action="store_true", help="send a file at real speed")
    parser.add_argument("--format", choices=["text", "jsonl"], default="text")
    parser.add_argument("--token", default=None, help="bearer token, if the server wants one")
    parser.add_argument(
        "--tgt-lang",
        default=None,
        help="translate into this language: one the server offers (GET /v1/languages), end "
        f"to end by a translation model, or with --mt ({mt_languages()})",
    )
    parser.add_argument(
        "--mt",
        choices=list(ENGINES),
        default=None,
        help="ask the server (serve --mt apertium) to machine-translate each final into "
        "--tgt-lang; the final's text stays the model's",
    )
    parser.add_argument(
        "--reconnect",
        type=int,
        default=5,
        metavar="N",
        help="when the session is lost (connection dropped, server drained), resume in a new "
        "one up to N times in a row, re-sending the audio since the last final: no word lost "
        "or repeated (default 5; 0: stop with an error)",
    )
    parser.set_defaults(run=run_client)


def microphone_chunks(args: argparse.Namespace) -> tuple[Iterator[np.ndarray], int]:
    from s2t_stream.io.capture import Microphone, choose_device, list_devices

    device = choose_device(args.input, list_devices())
    microphone = Microphone(device, device.sample_rate)
    print(f"s2t-stream: streaming {device.name!r}; Ctrl-C ends", file=sys.stderr)

    def chunks() -> Iterator[np.ndarray]:
        started = time.monotonic()
        try:
            while args.seconds is None or time.monotonic() - started < args.seconds:
                time.sleep(0.1)
                yield microphone.read()
        except (KeyboardInterrupt, DeviceLost) as stop:
            if isinstance(stop, DeviceLost):
                print(f"s2t-stream: {stop}", file=sys.stderr)
        yield microphone.close()

    return chunks(), device.sample_rate


def run_client(args: argparse.Namespace) -> int:
    with needs_extra("server", "s2t-stream client"):
        from s2t_stream.io.client import NativeClient
    from s2t_stream.model.audio import load_audio
    from s2t_stream.streaming.drive import drive

    if args.mic:
        chunks, rate = microphone_chunks(args)
    elif args.file:
        audio = load_audio(args.file, FILE_RATE)
        chunks, rate = paced(audio, FILE_RATE // 10, 0.1, args.realtime), FILE_RATE
    else:
        raise S2TError("give an audio FILE, or --mic")
    if args.mt and not args.tgt_lang:
        raise mt_needs_language(args.mt)
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    with NativeClient(
        args.url,
        rate,
        token=args.token,
        tgt_lang=args.tgt_lang,
        mt=args.mt,
        reconnects=max(0, args.reconnect),
    ) as client:
        for events in drive(client, chunks):
            emit(captions, events)
    return 0
