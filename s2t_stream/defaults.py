"""Where the bundled model lives, which model a command uses by default, which compute device
`auto` means, and the load-time quantisations. A leaf module: it imports torch only inside
`pick_device`."""

from __future__ import annotations

import os
from pathlib import Path

from s2t_stream.errors import S2TError

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_MODEL = REPO_ROOT / "assets" / "models" / "s2t-demo-en"
MODEL_ENV = "S2T_STREAM_MODEL"
DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
# how a model's linear layers may be stored when loaded: as they are, or int8 for CPU inference
QUANTIZE_MODES = ("none", "int8")


def default_model() -> str:
    """`$S2T_STREAM_MODEL`, else the bundled demo model's directory."""
    return os.environ.get(MODEL_ENV) or str(BUNDLED_MODEL)


def is_device_name(name: str) -> bool:
    """Whether `name` names a compute device (auto, cpu, cuda, cuda:N), available or not."""
    if name in ("auto", "cpu", "cuda"):
        return True
    prefix, _, index = name.partition(":")
    return prefix == "cuda" and index.isdigit()


def pick_device(name: str, flag: str = "--device") -> str:
    """`auto`: the first CUDA device when there is one, else the CPU; a named device as is.

    Raises S2TError (naming `flag`) for an unknown name, or a CUDA device on a machine
    without CUDA."""
    if not is_device_name(name):
        raise S2TError(f"{flag}: expected {DEVICE_NAMES}, got {name!r}")
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise S2TError(f"{flag} {name}: CUDA is not available on this machine (use cpu or auto)")
    return name
