"""State dicts in: safetensors or (weights-only unless trusted) pickles, checked key by key and
shape by shape against the network before they load. Every failure names the file and key."""

from __future__ import annotations

import argparse
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from s2t_stream.errors import CheckpointError, TokenizerError
from s2t_stream.model.network import Speech2Text
from s2t_stream.model.tokenizer import Tokenizer

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Reference-only buffers that older files carry; they hold nothing we do not compute.
IGNORED_SUFFIXES = ("embed_positions.weights", "embed_positions._float_tensor", ".version")
TIED = ("lm_head.weight", "model.decoder.embed_tokens.weight")
# The weights-only unpickler's reasons that mean "this pickle wants to build objects we did not
# allow" (a trust question), as opposed to a damaged file ("Unsupported operand 218", …).
UNSAFE_PICKLE_MARKERS = ("GLOBAL", "allowlisted", "unrecognized function")


def read_weights(path: Path, *, trust_pickle: bool) -> dict[str, Tensor]:
    """A safetensors or pickle state dict; pickle with `weights_only=True` unless trusted."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from e
    state = read_pickle(path, trust_pickle=trust_pickle)
    if isinstance(state, Mapping) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return dict(state)


def read_pickle(path: Path, *, trust_pickle: bool) -> Any:
    """torch.load with `weights_only=True` (argparse.Namespace allowed: fairseq's plain args).

    Anything else in the pickle needs `trust_pickle`, because unpickling can run code.
    """
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        reason = _unpickler_reason(e)
        if not any(marker in reason for marker in UNSAFE_PICKLE_MARKERS):
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({reason})") from e
        if not trust_pickle:
            raise CheckpointError(
                f"{path}: needs full unpickling, which can run arbitrary code ({reason}). "
                f"If you trust this file, pass --trust-checkpoint (LoadOptions.trust_pickle=True)"
            ) from e
    except Exception as e:  # the weights-only unpickler runs no code: any failure is a bad file
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})"
        ) from e
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # arbitrary unpickling failure of a trusted file
        raise CheckpointError(f"{path}: could not unpickle ({e})") from e


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    """The weights-only unpickler's own reason, without torch's multi-line advice around it."""
    text = str(error)
    _, found, reason = text.partition("WeightsUnpickler error:")
    reason = (reason if found else text).split("Check the documentation")[0]
    return " ".join(reason.split(" Please use ")[0].split())


def apply_state_dict(model: Speech2Text, state: Mapping[str, Tensor], source: str) -> None:
    """Load HF-named weights strictly: every key known, every parameter present, shapes equal."""
    state = {k: v for k, v in state.items() if not k.endswith(IGNORED_SUFFIXES)}
    if model.config.tie_word_embeddings:
        state = _tie(state, source)
    expected = model.state_dict()
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise CheckpointError(
            f"{source}: unexpected key {unknown[0]!r}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            + " — not a Speech2Text checkpoint of this configuration"
        )
    missing = sorted(set(expected) - set(state))
    if missing:
        raise CheckpointError(
            f"{source}: missing key {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{source}: key {key!r} has shape {tuple(tensor.shape)}, the config expects "
                f"{tuple(expected[key].shape)}"
            )
        if not tensor.is_floating_point():
            raise CheckpointError(f"{source}: key {key!r} has dtype {tensor.dtype}, expected float")
    model.load_state_dict(state, strict=True)


def _tie(state: dict[str, Tensor], source: str) -> dict[str, Tensor]:
    """Tied embeddings: the decoder embedding is the LM head; either one may be the stored copy."""
    head, embed = (state.get(k) for k in TIED)
    if embed is None and head is not None:
        state[TIED[1]] = head
    elif head is not None and embed is not None and not torch.equal(head, embed):
        log.warning(
            "%s: lm_head.weight differs from the tied decoder embedding; ignoring it", source
        )
    state[TIED[0]] = state.get(TIED[1], head)  # type: ignore[assignment]
    if state[TIED[0]] is None:
        del state[TIED[0]]
    return state


def tokenizer_or_error(make: Any) -> Tokenizer:
    """`make()`, with a tokenizer failure reported as a checkpoint error."""
    try:
        tokenizer: Tokenizer = make()
    except TokenizerError as e:
        raise CheckpointError(str(e)) from e
    return tokenizer
