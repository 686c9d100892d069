"""Where the bundled model lives, which model a command uses by default, which compute device
`auto` means, and the load-time quantisations. A leaf module: it imports torch only inside
`pick_device`."""

from __future__ import annotations

import os
from pathlib import Path

from s2t_stream.errors import S2TError

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_MODEL = REPO_ROOT / "assets" / "models" / "s2t-demo-en"
# English speech -> Spanish or Catalan text (the multilingual layout: <lang:es>, <lang:ca>)
BUNDLED_ST_MODEL = REPO_ROOT / "assets" / "models" / "s2t-demo-st"
BUNDLED_ST_LANGUAGES = ("es", "ca")  # its tokenizer's language codes (a test checks them)
MODEL_ENV = "S2T_STREAM_MODEL"
TOKEN_ENV = "S2T_STREAM_TOKEN"  # the server's bearer token, and its clients' (client, gui)
DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
# how a model's linear layers may be stored when loaded: as they are, or int8 for CPU inference
QUANTIZE_MODES = ("none", "int8")


def default_model(tgt_lang: str | None = None) -> str:
    """`$S2T_STREAM_MODEL`; else, for a `tgt_lang` (or comma-separated languages) the bundled
    speech-translation model translates into, that model's directory; else the bundled ASR
    model's."""
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV]
    languages = set(tgt_lang.split(",")) if tgt_lang else set()
    if languages and languages <= set(bundled_translation_languages()):
        return str(BUNDLED_ST_MODEL)
    return str(BUNDLED_MODEL)


def bundled_translation_languages() -> tuple[str, ...]:
    """The target languages of the bundled speech-translation model (none when it is absent)."""
    return BUNDLED_ST_LANGUAGES if (BUNDLED_ST_MODEL / "config.json").is_file() else ()


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
