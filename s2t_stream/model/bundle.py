"""A loaded model: network, tokenizer, generation and feature settings (`Bundle`), and how to
load one (`LoadOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from s2t_stream.defaults import QUANTIZE_MODES
from s2t_stream.errors import OptionsError
from s2t_stream.model.config import GenerationConfig, ModelConfig
from s2t_stream.model.ctc import CTCHead
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.lm import TokenLM
from s2t_stream.model.network import Speech2Text
from s2t_stream.model.tokenizer import Tokenizer


@dataclass
class Bundle:
    """Everything needed to turn audio into text with one checkpoint."""

    model: Speech2Text
    tokenizer: Tokenizer
    generation: GenerationConfig
    features: FeatureOptions
    source: str
    lm: TokenLM | None = None
    """The token LM for shallow fusion (`lm.py`), from the model directory's `lm/` folder."""
    ctc: CTCHead | None = None
    """The CTC head for joint decoding (`ctc.py`), from the model directory's `ctc/` folder."""

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def languages(self) -> tuple[str, ...]:
        """The target languages of the model's language tags, in the tokenizer's order; none
        for a model without them (speech recognition: it writes what it hears)."""
        return tuple(self.tokenizer.lang_code_to_id)

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
    """How to load: target device and dtype, int8 quantisation (`quantize`, see
    `model/quantize.py`: CPU and float32 only), pickle trust, hub cache behaviour."""

    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    trust_pickle: bool = False
    offline: bool | None = None  # None: follow HF_HUB_OFFLINE
    cache_dir: Path | None = None
    quantize: str = "none"  # one of QUANTIZE_MODES

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZE_MODES:
            raise OptionsError(
                f"LoadOptions.quantize: expected one of {', '.join(QUANTIZE_MODES)}, "
                f"got {self.quantize!r}"
            )
        if self.quantize != "none" and (
            torch.device(self.device).type != "cpu" or self.dtype != torch.float32
        ):
            raise OptionsError(
                f"LoadOptions.quantize={self.quantize!r} is for CPU inference in float32, got "
                f"device={self.device!r}, dtype={self.dtype}"
            )
