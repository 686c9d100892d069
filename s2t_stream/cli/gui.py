"""`gui`: the desktop app (a top-level package of its own; it needs the 'gui' extra)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from gui.launch import add_arguments, options_from
from s2t_stream.cli.arguments import needs_extra


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """The `gui` command and its flags."""
    parser = command("gui", "the desktop app: live captions in a window and an overlay")
    add_arguments(parser)
    parser.set_defaults(run=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    """Check the flags and the display, then run the app."""
    options = options_from(args)
    with needs_extra("gui", "the desktop app"):
        from gui.display import check_display

        check_display()  # before the model code loads: a missing display is said at once
        from gui.app import main
    return main(sys.argv[:1], options)
