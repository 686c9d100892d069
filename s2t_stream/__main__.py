"""`python -m s2t_stream` is the `s2t-stream` command."""

import sys

from s2t_stream.cli import main

sys.exit(main())
