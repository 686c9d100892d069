"""Checkpoints in, model bundle out: a Hugging Face S2T directory, a fairseq S2T `.pt` (read by
`fairseq.py`), or a hub id → a loaded `Bundle`. Also writes a bundle back in the published HF
layout. Every failure names the file and key."""

from __future__ import annotations

import argparse
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from s2t_stream.errors import CheckpointError, OptionsError, TokenizerError
from s2t_stream.model.config import GenerationConfig, ModelConfig
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.jsonfile import read_json_object, write_json
from s2t_stream.model.network import Speech2Text
from s2t_stream.model.tokenizer import Tokenizer

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HUB_FILES = [
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "sentencepiece.bpe.model",
    "vocab.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]
# Reference-only buffers that older files carry; they hold nothing we do not compute.
IGNORED_SUFFIXES = ("embed_positions.weights", "embed_positions._float_tensor", ".version")
TIED = ("lm_head.weight", "model.decoder.embed_tokens.weight")
# The weights-only unpickler's reasons that mean "this pickle wants to build objects we did not
# allow" (a trust question), as opposed to a damaged file ("Unsupported operand 218", …).
UNSAFE_PICKLE_MARKERS = ("GLOBAL", "allowlisted", "unrecognized function")


@dataclass
class Bundle:
    """Everything needed to turn audio into text with one checkpoint."""

    model: Speech2Text
    tokenizer: Tokenizer
    generation: GenerationConfig
    features: FeatureOptions
    source: str

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def language_token(self, tgt_lang: str | None) -> int | None:
        """The token that selects `tgt_lang` on a multilingual translation model (None when no
        language is asked). Raises S2TError listing the model's languages for an unknown one."""
        if tgt_lang is None:
            return None
        codes = self.tokenizer.lang_code_to_id
        if tgt_lang not in codes:
            known = ", ".join(sorted(codes)) or "none: this model has no language tags"
            raise OptionsError(f"unknown target language {tgt_lang!r} (this model knows: {known})")
        return codes[tgt_lang]


@dataclass(frozen=True)
class LoadOptions:
    """How to load: target device and dtype, pickle trust, hub cache behaviour."""

    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    trust_pickle: bool = False
    offline: bool | None = None  # None: follow HF_HUB_OFFLINE
    cache_dir: Path | None = None


def load_bundle(spec: str | Path, options: LoadOptions = LoadOptions()) -> Bundle:
    """Load a model from a directory, a fairseq `.pt` file, or a hub id like `facebook/s2t-…`."""
    from s2t_stream.model import fairseq  # it reads with this module's helpers

    path = resolve(str(spec), options)
    if path.is_file():
        bundle = fairseq.load(path, options)
    elif any((path / name).is_file() for name in ("config.json", *WEIGHT_FILES)):
        bundle = load_hf_dir(path, options)
    else:
        found = sorted(path.glob("*.pt"))
        if len(found) != 1:
            raise CheckpointError(
                f"{path}: expected a Hugging Face S2T directory (config.json + model.safetensors "
                f"or pytorch_model.bin) or exactly one fairseq .pt file; found neither"
            )
        bundle = fairseq.load(found[0], options)
    bundle.model.to(device=options.device, dtype=options.dtype).eval()
    return bundle


def resolve(spec: str, options: LoadOptions) -> Path:
    """A local path as is; `owner/name` that is not a local path goes to the hub (or its cache)."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if spec.count("/") != 1 or spec.startswith((".", "/", "~")):
        raise CheckpointError(f"{spec}: no such file or directory, and not a hub id (owner/name)")
    return download(spec, options)


def download(repo_id: str, options: LoadOptions) -> Path:
    """Fetch the checkpoint files of a hub repo, or take them from the local cache when offline."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    local_only = constants.HF_HUB_OFFLINE if options.offline is None else options.offline
    try:
        # Weights in one format only: safetensors where the repo has it, else the pickle.
        for weights in WEIGHT_FILES:
            folder = snapshot_download(
                repo_id,
                allow_patterns=[*HUB_FILES, weights],
                cache_dir=options.cache_dir,
                local_files_only=local_only,
            )
            if (Path(folder) / weights).is_file():
                break
    except LocalEntryNotFoundError as e:
        raise CheckpointError(
            f"{repo_id}: not in the local model cache and the hub cannot be reached "
            f"(offline={local_only}); download it once with network access or pass a directory"
        ) from e
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise CheckpointError(f"{repo_id}: could not fetch from the hub: {e}") from e
    return Path(folder)


# --- Hugging Face layout ------------------------------------------------------------------------


def load_hf_dir(path: Path, options: LoadOptions = LoadOptions()) -> Bundle:
    """config.json, generation_config.json, preprocessor_config.json, weights, tokenizer files."""
    raw = read_json_object(path / "config.json")
    config = ModelConfig.from_dict(raw, source=str(path / "config.json"))
    # Files from before generation_config.json keep the generation keys in config.json.
    generation_file = path / "generation_config.json"
    if not generation_file.is_file():
        generation_file = path / "config.json"
    generation = GenerationConfig.from_dict(
        read_json_object(generation_file), source=str(generation_file)
    )
    preprocessor = path / "preprocessor_config.json"
    try:
        features = (
            FeatureOptions.from_preprocessor_config(read_json_object(preprocessor))
            if preprocessor.is_file()
            else FeatureOptions(num_mel_bins=config.input_feat_per_channel)
        )
    except ValueError as e:
        raise CheckpointError(f"{preprocessor}: {e}") from e
    weights = next((path / n for n in WEIGHT_FILES if (path / n).is_file()), None)
    if weights is None:
        raise CheckpointError(
            f"{path}: no weights file (expected one of {', '.join(WEIGHT_FILES)})"
        )
    model = Speech2Text(config)
    apply_state_dict(model, read_weights(weights, trust_pickle=options.trust_pickle), str(weights))
    return Bundle(
        model, tokenizer_or_error(lambda: Tokenizer.from_dir(path)), generation, features, str(path)
    )


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


# --- writing the HF layout ----------------------------------------------------------------------


def save_bundle(bundle: Bundle, out_dir: Path, *, dtype: torch.dtype = torch.float32) -> None:
    """Write config, generation and preprocessor configs, model.safetensors and tokenizer files
    in the published layout, loadable by us and by the reference's `from_pretrained`."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    config = bundle.config
    for name, data in (
        ("config.json", config.to_dict()),
        ("generation_config.json", bundle.generation.to_dict(config)),
        ("preprocessor_config.json", bundle.features.to_preprocessor_config()),
    ):
        write_json(out_dir / name, data, sort_keys=True)
    state = {
        k: v.detach().to("cpu", dtype).contiguous() for k, v in bundle.model.state_dict().items()
    }
    if config.tie_word_embeddings:
        del state["lm_head.weight"]  # one stored copy; loaders re-tie
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    bundle.tokenizer.save(out_dir)
