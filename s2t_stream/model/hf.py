"""The published Hugging Face layout, both ways: a model directory (config.json,
generation_config.json, preprocessor_config.json, weights, tokenizer files) → `Bundle`, and a
`Bundle` → such a directory, loadable by us and by the reference's `from_pretrained`."""

from __future__ import annotations

from pathlib import Path

import torch

from s2t_stream.errors import CheckpointError
from s2t_stream.model.bundle import Bundle, LoadOptions
from s2t_stream.model.config import GenerationConfig, ModelConfig
from s2t_stream.model.ctc import load_ctc, save_ctc
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.jsonfile import read_json_object, write_json
from s2t_stream.model.lm import load_lm, save_lm
from s2t_stream.model.network import Speech2Text
from s2t_stream.model.quantize import is_quantized
from s2t_stream.model.tokenizer import Tokenizer
from s2t_stream.model.weights import (
    WEIGHT_FILES,
    apply_state_dict,
    read_weights,
    tokenizer_or_error,
)


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
    tokenizer = tokenizer_or_error(lambda: Tokenizer.from_dir(path))
    lm = load_lm(path, config.vocab_size, tokenizer.pieces())
    ctc = load_ctc(path, config.vocab_size, config.d_model, tokenizer.pieces())
    return Bundle(model, tokenizer, generation, features, str(path), lm, ctc)


def save_bundle(bundle: Bundle, out_dir: Path, *, dtype: torch.dtype = torch.float32) -> None:
    """Write config, generation and preprocessor configs, model.safetensors and tokenizer files
    in the published layout, loadable by us and by the reference's `from_pretrained` (and the
    bundle's LM and CTC head, if it has them, in `lm/` and `ctc/`, which the reference
    ignores). A model quantised at load (`LoadOptions.quantize`) cannot be saved: its weights
    are packed int8."""
    from safetensors.torch import save_file

    if is_quantized(bundle.model):
        raise CheckpointError(
            f"{out_dir}: cannot save an int8-quantised model (its weights are packed for the "
            "int8 kernels); save the float model and quantise when loading it (--quantize int8)"
        )
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
    if bundle.lm is not None:
        save_lm(bundle.lm, out_dir)
    if bundle.ctc is not None:
        save_ctc(bundle.ctc, out_dir)
