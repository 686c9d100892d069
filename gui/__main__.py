"""`python -m gui [--source FILE] [--start] [--overlay]`: the desktop app, as `s2t-stream gui`."""

import argparse
import sys

from gui.display import check_display
from gui.launch import add_arguments, options_from
from s2t_stream.errors import S2TError


def run() -> int:
    """Parse the flags and run the app; errors as one line, exit 2."""
    parser = argparse.ArgumentParser(prog="python -m gui", description=__doc__)
    add_arguments(parser)
    try:
        options = options_from(parser.parse_args())
        check_display()  # before the model code loads: a missing display is said at once
        from gui.app import main

        return main(sys.argv[:1], options)
    except S2TError as error:  # one line, as the command line reports it
        print(f"python -m gui: error: {error}", file=sys.stderr)
        return 2


sys.exit(run())
