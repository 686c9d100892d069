"""Shared fixtures (the bundled model and samples, loaded once per session) and the markers that
state what a test needs from its environment. A test whose need is not met is skipped with the
reason printed (`-ra`):

- `model`: the bundled demo model (assets/models/s2t-demo-en);
- `st_model`: the bundled speech-translation model (assets/models/s2t-demo-st);
- `qt`: PyQt6 and pytest-qt (the 'gui' and 'dev' extras);
- `audio(*programs)`: those programs on PATH (espeak-ng, flite, sox, pulseaudio, …);
- `slow` and `network` only describe a test (it takes seconds; it opens loopback sockets), for
  `-m "not slow"` and the like."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
import torch

from s2t_stream.defaults import BUNDLED_ST_MODEL
from s2t_stream.model.checkpoint import Bundle, load_bundle
from tests.helpers import BUNDLED_MODEL, load_samples


def _unmet(item: pytest.Item) -> str | None:
    """Why `item` cannot run here (None: it can)."""
    if item.get_closest_marker("model") and not (BUNDLED_MODEL / "config.json").is_file():
        return f"no bundled model at {BUNDLED_MODEL}"
    if item.get_closest_marker("st_model") and not (BUNDLED_ST_MODEL / "config.json").is_file():
        return f"no bundled speech-translation model at {BUNDLED_ST_MODEL}"
    if item.get_closest_marker("qt"):
        missing = [m for m in ("PyQt6", "pytestqt") if importlib.util.find_spec(m) is None]
        if missing:
            return f"Qt tests need {' and '.join(missing)}: pip install -e '.[gui,dev]'"
    for marker in item.iter_markers("audio"):
        absent = [program for program in marker.args if shutil.which(program) is None]
        if absent:
            return f"{', '.join(absent)} not installed (scripts/setup.sh --dev installs them)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _unmet(item)
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    """The bundled demo model, on one torch thread (tests using it carry the `model` marker)."""
    if not (BUNDLED_MODEL / "config.json").is_file():
        pytest.skip(f"no bundled model at {BUNDLED_MODEL}")
    torch.set_num_threads(1)
    return load_bundle(BUNDLED_MODEL)


@pytest.fixture(scope="session")
def waves() -> list[np.ndarray]:
    """The bundled samples at 16 kHz, in samples.jsonl order."""
    return load_samples()
