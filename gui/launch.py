"""The app's launch flags (`s2t-stream gui` and `python -m gui` share them), without Qt, so the
command line's parser builds before any optional extra loads."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from s2t_stream.errors import AudioError


@dataclass(frozen=True)
class LaunchOptions:
    """What to do once the window is up."""

    source: Path | None = None  # a recording to caption, replayed in real time
    start: bool = False  # start captioning at once
    overlay: bool = False  # show the caption overlay at once


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The launch flags, on `parser`."""
    parser.add_argument(
        "--source",
        type=Path,
        metavar="FILE",
        help="caption a recording, replayed as the input in real time (instead of a microphone)",
    )
    parser.add_argument("--start", action="store_true", help="start captioning at once")
    parser.add_argument("--overlay", action="store_true", help="show the caption overlay at once")


def options_from(args: argparse.Namespace) -> LaunchOptions:
    """The parsed flags, checked (a missing recording is named now, not after Qt starts)."""
    if args.source is not None and not args.source.is_file():
        raise AudioError(f"--source: no such file: {args.source}")
    return LaunchOptions(args.source, args.start, args.overlay)
