"""`client`: stream a file (or the microphone) to a running server over the native protocol and
print its captions, as `stream` prints a local engine's."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from s2t_stream.cli.arguments import bearer_token, mt_languages, mt_needs_language, needs_extra
from s2t_stream.cli.stream import emit, paced
from s2t_stream.defaults import TOKEN_ENV
from s2t_stream.errors import DeviceLost, S2TError, Unauthorized
from s2t_stream.io.captions import Captions
from s2t_stream.translation.translator import ENGINES

if TYPE_CHECKING:
    from s2t_stream.io.inputs import Capture

DEFAULT_URL = "ws://127.0.0.1:2700/v1/stream"
RATE = 16000  # a file and the microphone are sent at 16 kHz (the server resamples for its model)


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("client", "stream a file to a running server and print its captions")
    parser.add_argument("file", metavar="FILE", nargs="?", help="wav, flac, ogg or mp3")
    parser.add_argument("--mic", action="store_true", help="stream the microphone instead")
    parser.add_argument(
        "--input",
        default=None,
        metavar="NAME",
        help="with --mic: the microphone, as `mic --input` takes it: an input's name, or part of "
        "its name or description (default: the system's; see `s2t-stream devices`)",
    )
    parser.add_argument("--device", dest="input", help="deprecated: the same as --input")
    parser.add_argument("--seconds", type=float, default=None, help="with --mic: stop after")
    parser.add_argument("--url", default=DEFAULT_URL, help="the server's native-protocol URL")
    parser.add_argument("--realtime", action="store_true", help="send a file at real speed")
    parser.add_argument("--format", choices=["text", "jsonl"], default="text")
    parser.add_argument(
        "--token",
        default=None,
        help=f"bearer token, if the server wants one (default: ${TOKEN_ENV}, as for serve)",
    )
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


def recorded(microphone: Capture, seconds: float | None) -> Iterator[np.ndarray]:
    """What `microphone` hears, every 0.1 s, until `seconds`, Ctrl-C or the input's loss; then
    its last samples."""
    started = time.monotonic()
    try:
        while seconds is None or time.monotonic() - started < seconds:
            time.sleep(0.1)
            yield microphone.read()
    except (KeyboardInterrupt, DeviceLost) as stop:
        if isinstance(stop, DeviceLost):
            print(f"s2t-stream: {stop}", file=sys.stderr)
    yield microphone.close()


def run_client(args: argparse.Namespace) -> int:
    with needs_extra("server", "s2t-stream client"):
        from s2t_stream.io.client import NativeClient
    from s2t_stream.io.capture import open_source
    from s2t_stream.model.audio import load_audio
    from s2t_stream.streaming.drive import drive

    if args.mt and not args.tgt_lang:
        raise mt_needs_language(args.mt)
    microphone: Capture | None = None
    if args.mic:
        microphone = open_source(args.input, RATE)  # any input `mic --input` takes, so named
        print(f"s2t-stream: streaming {microphone.name!r}; Ctrl-C ends", file=sys.stderr)
        chunks = recorded(microphone, args.seconds)
    elif args.file:
        chunks = paced(load_audio(args.file, RATE), RATE // 10, 0.1, args.realtime)
    else:
        raise S2TError("give an audio FILE, or --mic")
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    try:
        with NativeClient(
            args.url,
            RATE,
            token=bearer_token(args),
            tgt_lang=args.tgt_lang,
            mt=args.mt,
            reconnects=max(0, args.reconnect),
        ) as client:
            for events in drive(client, chunks):
                emit(captions, events)
    except Unauthorized as refused:  # the server wants a token: say where it is given
        raise Unauthorized(f"{refused} (--token or ${TOKEN_ENV})") from None
    finally:
        if microphone is not None:  # stopped even when the server could not be reached
            microphone.close()
    return 0
