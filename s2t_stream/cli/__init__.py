"""Command line: `s2t-stream <command>`. The parser is built without loading torch or any optional
extra, so `--help`, `--version` and argument errors answer at once; each command imports what it
needs when it runs. Every user error is one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from s2t_stream import __version__
from s2t_stream.cli import client as client_command
from s2t_stream.cli import gui as gui_command
from s2t_stream.cli import offline, serve, stream, training
from s2t_stream.cli.arguments import HelpFormatter
from s2t_stream.errors import S2TError


class UsageError(Exception):
    """A command-line mistake found by the parser (flag name included)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`s2t-stream: error: argument --x: …`) and the
    caller decides the exit, like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (torch-free)."""
    verbose = Parser(add_help=False)  # -v works before and after the command
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress"
    )
    parser = Parser(
        prog="s2t-stream",
        description="Streaming speech transcription and translation with Speech2Text models.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--version", action="version", version=f"s2t-stream {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=help, parents=[verbose], formatter_class=HelpFormatter
        )

    for module in (stream, offline, serve, client_command, gui_command, training):
        module.register(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        print(f"s2t-stream: error: {error}", file=sys.stderr)
        return 2
    progress = args.verbose or getattr(args, "progress", False)  # long jobs always log it
    logging.basicConfig(
        level=logging.INFO if progress else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args))
    except (S2TError, ValueError) as e:
        print(f"s2t-stream: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
