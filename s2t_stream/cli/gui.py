"""`gui`: the desktop app (a top-level package of its own; it needs the 'gui' extra)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from s2t_stream.cli.arguments import needs_extra


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("gui", "the desktop app: live captions in a window and an overlay")
    parser.set_defaults(run=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    with needs_extra("gui", "the desktop app"):
        from gui.app import main
    return main(sys.argv[:1])
