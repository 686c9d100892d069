"""Model and generation configuration: parsed from HF `config.json` / `generation_config.json`
or from a fairseq checkpoint's training arguments, validated, and written back out."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2t_stream.errors import CheckpointError, OptionsError
from s2t_stream.model.jsonfile import read_json_object

ACTIVATIONS = ("relu", "gelu", "gelu_new", "silu", "swish", "tanh")
MODEL_TYPE = "speech_to_text"


@dataclass(frozen=True)
class ModelConfig:
    """Every `Speech2TextConfig` field that changes the math (spec §1.1)."""

    vocab_size: int = 10000
    d_model: int = 256
    encoder_layers: int = 12
    decoder_layers: int = 6
    encoder_attention_heads: int = 4
    decoder_attention_heads: int = 4
    encoder_ffn_dim: int = 2048
    decoder_ffn_dim: int = 2048
    activation_function: str = "relu"
    scale_embedding: bool = True
    max_source_positions: int = 6000
    max_target_positions: int = 1024
    num_conv_layers: int = 2
    conv_kernel_sizes: tuple[int, ...] = (5, 5)
    conv_channels: int = 1024
    input_feat_per_channel: int = 80
    input_channels: int = 1
    tie_word_embeddings: bool = True
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    decoder_start_token_id: int = 2
    # Training-time regularisation; inference ignores them but the trainer and export keep them.
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_kernel_sizes", tuple(int(k) for k in self.conv_kernel_sizes))
        positive = (
            "vocab_size d_model encoder_layers decoder_layers encoder_attention_heads "
            "decoder_attention_heads encoder_ffn_dim decoder_ffn_dim max_source_positions "
            "max_target_positions num_conv_layers conv_channels input_feat_per_channel "
            "input_channels"
        )
        for name in positive.split():
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        for name in ("encoder_attention_heads", "decoder_attention_heads"):
            if self.d_model % getattr(self, name):
                raise ValueError(
                    f"ModelConfig.d_model ({self.d_model}) must be divisible by "
                    f"{name} ({getattr(self, name)})"
                )
        if len(self.conv_kernel_sizes) != self.num_conv_layers:
            raise ValueError(
                f"ModelConfig.conv_kernel_sizes has {len(self.conv_kernel_sizes)} entries "
                f"but num_conv_layers is {self.num_conv_layers}"
            )
        if any(k <= 0 or k % 2 == 0 for k in self.conv_kernel_sizes):
            raise ValueError(
                "ModelConfig.conv_kernel_sizes must be odd positive sizes, "
                f"got {self.conv_kernel_sizes}"
            )
        if self.activation_function not in ACTIVATIONS:
            raise ValueError(
                f"ModelConfig.activation_function must be one of {ACTIVATIONS}, "
                f"got {self.activation_function!r}"
            )

    @property
    def input_dim(self) -> int:
        return self.input_feat_per_channel * self.input_channels

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config") -> ModelConfig:
        """Build from a HF `config.json` dict; unknown keys are ignored, bad values name the key."""
        model_type = data.get("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise CheckpointError(
                f"{source}: model_type is {model_type!r}; "
                f"expected {MODEL_TYPE!r} (a Speech2Text model)"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names and v is not None}
        if "conv_kernel_sizes" in kwargs and isinstance(kwargs["conv_kernel_sizes"], str):
            kwargs["conv_kernel_sizes"] = [int(k) for k in kwargs["conv_kernel_sizes"].split(",")]
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{source}: {e}") from e

    @classmethod
    def from_file(cls, path: Path) -> ModelConfig:
        return cls.from_dict(read_json_object(path), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The HF `config.json` content for this model."""
        data = dataclasses.asdict(self)
        data["conv_kernel_sizes"] = list(self.conv_kernel_sizes)
        data.update(
            model_type=MODEL_TYPE,
            architectures=["Speech2TextForConditionalGeneration"],
            is_encoder_decoder=True,
            use_cache=True,
            encoder_layerdrop=0.0,
            decoder_layerdrop=0.0,
            init_std=0.02,
        )
        return data


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding defaults as stored in `generation_config.json` (spec §3.3).

    A key the file omits takes the reference's library default (greedy, 20 tokens), exactly as
    the reference would; the published checkpoints all set beam 5 / 200 / early stopping.
    """

    num_beams: int = 1
    max_length: int = 20
    early_stopping: bool | str = False
    length_penalty: float = 1.0
    decoder_start_token_id: int = 2
    eos_token_id: int = 2
    pad_token_id: int = 1
    forced_bos_token_id: int | None = None

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "generation config"
    ) -> GenerationConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names and v is not None}
        for key in ("num_beams", "max_length"):
            value = kwargs.get(key, 1)
            if not isinstance(value, int) or value < 1:
                raise CheckpointError(f"{source}: {key} must be a positive integer, got {value!r}")
        if isinstance(kwargs.get("eos_token_id"), list):
            kwargs["eos_token_id"] = kwargs["eos_token_id"][0]
        return cls(**kwargs)

    def to_dict(self, config: ModelConfig) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bos_token_id": config.bos_token_id,
            "decoder_start_token_id": self.decoder_start_token_id,
            "early_stopping": self.early_stopping,
            "eos_token_id": self.eos_token_id,
            "max_length": self.max_length,
            "num_beams": self.num_beams,
            "pad_token_id": self.pad_token_id,
        }
        if self.length_penalty != 1.0:
            data["length_penalty"] = self.length_penalty
        if self.forced_bos_token_id is not None:
            data["forced_bos_token_id"] = self.forced_bos_token_id
        return data


MAX_LM_WEIGHT = 10.0
"""Shallow-fusion weights are in [0, MAX_LM_WEIGHT): far beyond it the LM alone decides."""

MAX_CTC_WEIGHT = 1.0
"""Joint CTC/attention weights are in [0, MAX_CTC_WEIGHT): at 1 the decoder would not count."""


def check_weight(weight: object, name: str, below: float) -> None:
    """OptionsError naming `name` unless `weight` is a number in [0, `below`) (not NaN, not a
    boolean): an LM weight (`MAX_LM_WEIGHT`) or a CTC weight (`MAX_CTC_WEIGHT`)."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < below:
        raise OptionsError(f"{name} must be a number in [0, {below:g}), got {weight!r}")


@dataclass(frozen=True)
class DecodingOptions:
    """How to search. `None` fields take the checkpoint's generation config."""

    num_beams: int | None = None
    max_length: int | None = None
    early_stopping: bool | str | None = None
    length_penalty: float | None = None
    forced_bos_token_id: int | None = None
    lm_weight: float | None = None
    """Shallow-fusion weight λ of the model's LM (`lm.py`); None: the LM's tuned weight."""
    ctc_weight: float | None = None
    """Joint-decoding weight μ of the model's CTC head (`ctc.py`); None: the head's tuned one."""

    def __post_init__(self) -> None:
        if self.lm_weight is not None:
            check_weight(self.lm_weight, "DecodingOptions.lm_weight", MAX_LM_WEIGHT)
        if self.ctc_weight is not None:
            check_weight(self.ctc_weight, "DecodingOptions.ctc_weight", MAX_CTC_WEIGHT)
        if self.num_beams is not None and self.num_beams < 1:
            raise OptionsError(f"DecodingOptions.num_beams must be ≥ 1, got {self.num_beams}")
        if self.max_length is not None and self.max_length < 2:
            raise OptionsError(
                f"DecodingOptions.max_length must be ≥ 2 (it counts the start token), "
                f"got {self.max_length}"
            )
        if self.early_stopping not in (None, True, False, "never"):
            raise OptionsError(
                f"DecodingOptions.early_stopping must be true, false or 'never', "
                f"got {self.early_stopping!r}"
            )
