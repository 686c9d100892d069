"""Shared test set-up: the tests directory is importable (for `reference`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
