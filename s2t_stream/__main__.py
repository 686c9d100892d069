"""`python -m s2t_stream` runs the command-line interface."""

from s2t_stream.cli import main

raise SystemExit(main())
