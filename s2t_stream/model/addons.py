"""Small modules that ride along with a model in a folder of its directory — the token LM in
`lm/` (`lm.py`), the CTC head in `ctc/` (`ctc.py`) — each as `config.json` and
`model.safetensors`: finding them, checking they belong to the model, reading and writing
them. The reference ignores these folders."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from s2t_stream.errors import CheckpointError
from s2t_stream.model.jsonfile import read_json_object, write_json
from s2t_stream.model.weights import read_weights

FILES = ("config.json", "model.safetensors")


def vocabulary_fingerprint(pieces: Sequence[str]) -> str:
    """A short hash of the pieces in id order (the first 16 hex digits of their SHA-256)."""
    return hashlib.sha256("\n".join(pieces).encode("utf-8")).hexdigest()[:16]


def read_config(folder: Path, what: str, made_by: str) -> dict[str, Any] | None:
    """The raw `config.json` of the add-on in `folder` (`what`: "a CTC head", …), or None when
    there is no such folder. CheckpointError for a folder without one of its two files,
    naming what makes them (`made_by`)."""
    if not folder.is_dir():
        return None
    for name in FILES:
        if not (folder / name).is_file():
            raise CheckpointError(
                f"{folder}: {what} folder without {name} (expected config.json and "
                f"model.safetensors, as {made_by} exports them)"
            )
    return read_json_object(folder / "config.json")


def check_vocabulary(
    folder: Path, recorded: str, pieces: Sequence[str], what: str, remedy: str
) -> None:
    """CheckpointError when the fingerprint `recorded` in the add-on's config ("": none, not
    checked) is not that of the model's `pieces`: another SentencePiece model of the same size
    numbers other pieces."""
    found = vocabulary_fingerprint(pieces)
    if recorded and recorded != found:
        raise CheckpointError(
            f"{folder}: {what} of another vocabulary of the same size (pieces {recorded}, the "
            f"model's {found}): {remedy}"
        )


def load_weights(module: nn.Module, folder: Path, what: str) -> None:
    """`folder/model.safetensors` into `module` (as float32); CheckpointError for a file that is
    unreadable or does not fit the module its config describes."""
    weights = folder / "model.safetensors"
    state = read_weights(weights, trust_pickle=False)
    try:
        module.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        raise CheckpointError(
            f"{weights}: not the weights of the {what} its config describes ({e})"
        ) from e


def save(module: nn.Module, config: Any, folder: Path, dtype: torch.dtype) -> None:
    """Write `folder/config.json` (the dataclass `config`) and `model.safetensors` (weights in
    `dtype`)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "config.json", asdict(config), sort_keys=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
