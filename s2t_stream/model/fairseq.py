"""fairseq S2T checkpoints: a `.pt` with its data `config.yaml`, SentencePiece model and
dictionary beside it → a `Bundle` with HF parameter names (spec §1.10). Every failure names the
file and key."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from s2t_stream.errors import CheckpointError
from s2t_stream.model.bundle import Bundle, LoadOptions
from s2t_stream.model.config import GenerationConfig, ModelConfig
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.network import Speech2Text
from s2t_stream.model.tokenizer import Tokenizer
from s2t_stream.model.weights import (
    IGNORED_SUFFIXES,
    apply_state_dict,
    read_pickle,
    tokenizer_or_error,
)

RENAMES = (
    ("encoder.subsample.", "model.encoder.conv."),
    ("encoder.transformer_layers.", "model.encoder.layers."),
    ("encoder.layer_norm.", "model.encoder.layer_norm."),
    ("decoder.output_projection.", "lm_head."),
    ("decoder.", "model.decoder."),
)
DROPPED = ("encoder.ctc_proj.",)
# (argument, truth value the S2T transformer requires); an absent argument takes S2T's default
REQUIRED = (
    ("encoder_normalize_before", True),
    ("decoder_normalize_before", True),
    ("no_scale_embedding", False),
    ("decoder_learned_pos", False),
    ("layernorm_embedding", False),
    ("no_token_positional_embeddings", False),
    ("adaptive_softmax_cutoff", False),
)


def load(path: Path, options: LoadOptions) -> Bundle:
    """A fairseq S2T `.pt` with `config.yaml`, its SentencePiece model and dictionary beside it."""
    checkpoint = read_pickle(path, trust_pickle=options.trust_pickle)
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint:
        raise CheckpointError(f"{path}: expected a fairseq checkpoint dict with a 'model' key")
    args = read_args(checkpoint, path)
    config = model_config(args, checkpoint["model"], path)
    data = _read_data_config(path.parent / "config.yaml")
    features = FeatureOptions(num_mel_bins=config.input_feat_per_channel)
    model = Speech2Text(config)
    apply_state_dict(model, rename(checkpoint["model"]), str(path))
    tokenizer = tokenizer_or_error(lambda: _tokenizer(path.parent, data))
    generation = GenerationConfig(num_beams=5, max_length=200, early_stopping=True)
    return Bundle(model, tokenizer, generation, features, str(path))


def read_args(checkpoint: Mapping[str, Any], path: Path) -> dict[str, Any]:
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


def model_config(args: Mapping[str, Any], state: Mapping[str, Tensor], path: Path) -> ModelConfig:
    """Map fairseq arguments to a ModelConfig after checking the architecture is S2T's."""
    arch = str(args.get("arch", "s2t_transformer"))
    if not arch.startswith("s2t_transformer"):
        raise CheckpointError(f"{path}: args.arch is {arch!r}; expected an s2t_transformer model")
    for key, required in REQUIRED:
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


def rename(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """fairseq parameter names → HF names (spec §1.10); CTC heads and version buffers dropped."""
    renamed = {}
    for key, tensor in state.items():
        if key.startswith(DROPPED) or key.endswith(IGNORED_SUFFIXES):
            continue
        for old, new in RENAMES:
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


def _tokenizer(folder: Path, data: Mapping[str, Any]) -> Tokenizer:
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
