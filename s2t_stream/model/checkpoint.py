"""Checkpoints in, model bundle out: a Hugging Face S2T directory (`hf.py`), a fairseq S2T `.pt`
(`fairseq.py`), or a hub id (downloaded, or taken from the local cache) → a loaded `Bundle`;
`save_bundle` writes the published HF layout."""

from __future__ import annotations

from pathlib import Path

from s2t_stream.errors import CheckpointError
from s2t_stream.model import fairseq
from s2t_stream.model.bundle import Bundle, LoadOptions
from s2t_stream.model.hf import load_hf_dir, save_bundle
from s2t_stream.model.quantize import quantize_int8
from s2t_stream.model.weights import WEIGHT_FILES

__all__ = ["Bundle", "LoadOptions", "load_bundle", "save_bundle"]

HUB_FILES = [
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "sentencepiece.bpe.model",
    "vocab.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]


def load_bundle(spec: str | Path, options: LoadOptions = LoadOptions()) -> Bundle:
    """Load a model from a directory, a fairseq `.pt` file, or a hub id like `facebook/s2t-…`."""
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
    for part in (bundle.lm, bundle.ctc):  # float32 whatever the model's dtype: they are small
        if part is not None:
            part.to(device=options.device)
    if options.quantize == "int8":
        quantize_int8(bundle.model)
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
