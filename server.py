"""s2t-stream's websocket server, as a script: `python server.py [serve flags]` is
`s2t-stream serve [serve flags]` (the server itself is the `s2t_stream.server` package)."""

import sys

from s2t_stream.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
