"""Shared test set-up: the tests directory is importable (for `reference`), and the bundled
model and samples load once per session for the engine and server tests."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from s2t_stream.audio import load_audio
from s2t_stream.checkpoint import Bundle, load_bundle
from s2t_stream.cli import BUNDLED_MODEL

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    """The bundled demo model, on one torch thread."""
    if not (BUNDLED_MODEL / "config.json").is_file():
        pytest.skip(f"no bundled model at {BUNDLED_MODEL}")
    torch.set_num_threads(1)
    return load_bundle(BUNDLED_MODEL)


@pytest.fixture(scope="session")
def waves() -> list[np.ndarray]:
    """The bundled samples at 16 kHz, in samples.jsonl order."""
    with (SAMPLES / "samples.jsonl").open() as f:
        return [load_audio(SAMPLES / json.loads(line)["audio"]) for line in f]
