"""Checkpoints in, model bundle out: a Hugging Face S2T directory, a fairseq S2T `.pt` (with
its data `config.yaml`, SentencePiece model and dictionary), or a hub id → a loaded `Bundle`.
Also writes a bundle back in the published HF layout. Every failure names the file and key."""

from __future__ import annotations

import argparse
import json
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from s2t_stream.config import GenerationConfig, ModelConfig, read_json
from s2t_stream.errors import CheckpointError, TokenizerError
from s2t_stream.features import FeatureOptions
from s2t_stream.model import Speech2Text
from s2t_stream.tokenizer import Tokenizer

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
    path = resolve(str(spec), options)
    if path.is_file():
        bundle = load_fairseq(path, options)
    elif any((path / name).is_file() for name in ("config.json", *WEIGHT_FILES)):
        bundle = load_hf_dir(path, options)
    else:
        fairseq = sorted(path.glob("*.pt"))
        if len(fairseq) != 1:
            raise CheckpointError(
                f"{path}: expected a Hugging Face S2T directory (config.json + model.safetensors "
                f"or pytorch_model.bin) or exactly one fairseq .pt file; found neither"
            )
        bundle = load_fairseq(fairseq[0], options)
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
    raw = read_json(path / "config.json")
    config = ModelConfig.from_dict(raw, source=str(path / "config.json"))
    # Files from before generation_config.json keep the generation keys in config.json.
    generation_file = path / "generation_config.json"
    if not generation_file.is_file():
        generation_file = path / "config.json"
    generation = GenerationConfig.from_dict(read_json(generation_file), source=str(generation_file))
    preprocessor = path / "preprocessor_config.json"
    try:
        features = (
            FeatureOptions.from_preprocessor_config(read_json(preprocessor))
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
        model, _tokenizer(lambda: Tokenizer.from_dir(path)), generation, features, str(path)
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


def _tokenizer(make: Any) -> Tokenizer:
    try:
        tokenizer: Tokenizer = make()
    except TokenizerError as e:
        raise CheckpointError(str(e)) from e
    return tokenizer


# --- fairseq layout -----------------------------------------------------------------------------

FAIRSEQ_RENAMES = (
    ("encoder.subsample.", "model.encoder.conv."),
    ("encoder.transformer_layers.", "model.encoder.layers."),
    ("encoder.layer_norm.", "model.encoder.layer_norm."),
    ("decoder.output_projection.", "lm_head."),
    ("decoder.", "model.decoder."),
)
FAIRSEQ_DROPPED = ("encoder.ctc_proj.",)
# (argument, truth value the S2T transformer requires); an absent argument takes S2T's default
FAIRSEQ_REQUIRED = (
    ("encoder_normalize_before", True),
    ("decoder_normalize_before", True),
    ("no_scale_embedding", False),
    ("decoder_learned_pos", False),
    ("layernorm_embedding", False),
    ("no_token_positional_embeddings", False),
    ("adaptive_softmax_cutoff", False),
)


def load_fairseq(path: Path, options: LoadOptions) -> Bundle:
    """A fairseq S2T `.pt` with `config.yaml`, its SentencePiece model and dictionary beside it."""
    checkpoint = read_pickle(path, trust_pickle=options.trust_pickle)
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint:
        raise CheckpointError(f"{path}: expected a fairseq checkpoint dict with a 'model' key")
    args = fairseq_args(checkpoint, path)
    config = fairseq_model_config(args, checkpoint["model"], path)
    data = _read_data_config(path.parent / "config.yaml")
    features = FeatureOptions(num_mel_bins=config.input_feat_per_channel)
    model = Speech2Text(config)
    apply_state_dict(model, rename_fairseq(checkpoint["model"]), str(path))
    tokenizer = _tokenizer(lambda: _fairseq_tokenizer(path.parent, data))
    generation = GenerationConfig(num_beams=5, max_length=200, early_stopping=True)
    return Bundle(model, tokenizer, generation, features, str(path))


def fairseq_args(checkpoint: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """Model arguments from `args` (argparse.Namespace) or `cfg["model"]` (newer fairseq)."""
    if checkpoint.get("args") is not None:
        args = checkpoint["args"]
        return dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args)
    try:
        model = checkpoint["cfg"]["model"]
    except (KeyError, TypeError):  # no cfg, cfg None, or a cfg without a model section
        model = None
    if model is not None:
        return dict(vars(model)) if isinstance(model, argparse.Namespace) else dict(model)
    raise CheckpointError(f"{path}: fairseq checkpoint has neither 'args' nor 'cfg.model'")


def fairseq_model_config(
    args: Mapping[str, Any], state: Mapping[str, Tensor], path: Path
) -> ModelConfig:
    """Map fairseq arguments to a ModelConfig after checking the architecture is S2T's."""
    arch = str(args.get("arch", "s2t_transformer"))
    if not arch.startswith("s2t_transformer"):
        raise CheckpointError(f"{path}: args.arch is {arch!r}; expected an s2t_transformer model")
    for key, required in FAIRSEQ_REQUIRED:
        if key in args and bool(args[key]) != required:
            raise CheckpointError(
                f"{path}: args.{key} is {args[key]!r}; the S2T transformer needs {required!r}"
            )
    conv_version = args.get("conv_version", "s2t_transformer")
    if conv_version != "s2t_transformer":
        raise CheckpointError(
            f"{path}: args.conv_version is {conv_version!r}; only 's2t_transformer' is supported"
        )
    embed = state.get("decoder.embed_tokens.weight")
    if embed is None:
        raise CheckpointError(f"{path}: missing key 'decoder.embed_tokens.weight'")
    d_model = int(args.get("encoder_embed_dim", embed.shape[1]))
    values = {
        "vocab_size": embed.shape[0],
        "d_model": d_model,
        "encoder_layers": args.get("encoder_layers", 12),
        "decoder_layers": args.get("decoder_layers", 6),
        "encoder_attention_heads": args.get("encoder_attention_heads", 8),
        "decoder_attention_heads": args.get("decoder_attention_heads", 8),
        "encoder_ffn_dim": args.get("encoder_ffn_embed_dim", 2048),
        "decoder_ffn_dim": args.get("decoder_ffn_embed_dim", 2048),
        "activation_function": args.get("activation_fn", "relu"),
        "conv_kernel_sizes": args.get("conv_kernel_sizes", "5,5"),
        "conv_channels": args.get("conv_channels", 1024),
        "input_feat_per_channel": args.get("input_feat_per_channel", 80),
        "input_channels": args.get("input_channels", 1),
        "max_source_positions": args.get("max_source_positions", 6000),
        "max_target_positions": args.get("max_target_positions", 1024),
        "tie_word_embeddings": bool(args.get("share_decoder_input_output_embed", False)),
    }
    if isinstance(values["conv_kernel_sizes"], str):
        values["conv_kernel_sizes"] = [int(k) for k in values["conv_kernel_sizes"].split(",")]
    values["num_conv_layers"] = len(values["conv_kernel_sizes"])
    return ModelConfig.from_dict(values, source=str(path))


def rename_fairseq(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """fairseq parameter names → HF names (spec §1.10); CTC heads and version buffers dropped."""
    renamed = {}
    for key, tensor in state.items():
        if key.startswith(FAIRSEQ_DROPPED) or key.endswith(IGNORED_SUFFIXES):
            continue
        for old, new in FAIRSEQ_RENAMES:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        renamed[key] = tensor
    return renamed


def _read_data_config(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise CheckpointError(
            f"{path}: file not found — a fairseq checkpoint needs its data config.yaml beside it"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise CheckpointError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a mapping")
    transforms = json.dumps(data.get("transforms", {})) + json.dumps(data.get("global_cmvn", {}))
    if "global_cmvn" in transforms:
        raise CheckpointError(
            f"{path}: uses global CMVN; only utterance CMVN checkpoints (all published S2T models) "
            f"are supported"
        )
    return data


def _fairseq_tokenizer(folder: Path, data: Mapping[str, Any]) -> Tokenizer:
    bpe = data.get("bpe_tokenizer") or {}
    if bpe.get("bpe") != "sentencepiece" or "sentencepiece_model" not in bpe:
        raise CheckpointError(
            f"{folder / 'config.yaml'}: bpe_tokenizer must be sentencepiece with a "
            f"sentencepiece_model, got {bpe!r}"
        )
    if "vocab_filename" not in data:
        raise CheckpointError(f"{folder / 'config.yaml'}: missing key 'vocab_filename'")
    # config.yaml often holds absolute paths from the training machine: look beside the .pt.
    return Tokenizer.from_fairseq(
        folder / Path(str(bpe["sentencepiece_model"])).name,
        folder / Path(str(data["vocab_filename"])).name,
        lang_tags=bool(data.get("prepend_tgt_lang_tag", False)),
    )


# --- writing the HF layout ----------------------------------------------------------------------


def save_bundle(bundle: Bundle, out_dir: Path, *, dtype: torch.dtype = torch.float32) -> None:
    """Write config, generation and preprocessor configs, model.safetensors and tokenizer files
    in the published layout, loadable by us and by the reference's `from_pretrained`."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    config = bundle.config
    _write_json(out_dir / "config.json", config.to_dict())
    _write_json(out_dir / "generation_config.json", bundle.generation.to_dict(config))
    _write_json(out_dir / "preprocessor_config.json", bundle.features.to_preprocessor_config())
    state = {
        k: v.detach().to("cpu", dtype).contiguous() for k, v in bundle.model.state_dict().items()
    }
    if config.tie_word_embeddings:
        del state["lm_head.weight"]  # one stored copy; loaders re-tie
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    bundle.tokenizer.save(out_dir)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
