"""Reference models for parity tests: `transformers`' Speech2Text on random weights, and ours
loaded with the very same weights."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

from s2t_stream.config import ModelConfig
from s2t_stream.model import Speech2Text

TINY: dict[str, Any] = dict(
    vocab_size=64,
    d_model=64,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=128,
    decoder_ffn_dim=128,
    conv_channels=96,
    max_source_positions=64,
    max_target_positions=64,
)
# facebook/s2t-small-librispeech-asr: 12+6 layers, d_model 256, vocab 10000, tied head.
SMALL: dict[str, Any] = dict(vocab_size=10000, tie_word_embeddings=True)
# facebook/s2t-medium-mustc-multilingual-st: d_model 512, 8 heads, untied head, 8 language tags.
MULTILINGUAL: dict[str, Any] = dict(
    vocab_size=10000,
    d_model=512,
    encoder_attention_heads=8,
    decoder_attention_heads=8,
    tie_word_embeddings=False,
)
EOS = 2


def reference_pair(
    shape: dict[str, Any], seed: int = 0, eos_bias: float = 0.0, **overrides: Any
) -> tuple[Speech2TextForConditionalGeneration, Speech2Text]:
    """A random reference model and ours with identical weights, both in eval mode.

    `eos_bias` > 0 tilts the final decoder LayerNorm towards the eos output row so that random
    models end hypotheses with eos (they otherwise always run to max_length)."""
    kwargs = {**shape, "dropout": 0.0, **overrides}
    torch.manual_seed(seed)
    ref = Speech2TextForConditionalGeneration(Speech2TextConfig(**kwargs)).eval()
    if eos_bias:
        with torch.no_grad():
            row = ref.lm_head.weight[EOS]
            ref.model.decoder.layer_norm.bias.copy_(eos_bias * row / row.norm())
    ours = Speech2Text(ModelConfig(**kwargs)).eval()
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def random_features(
    lengths: list[int], dim: int = 80, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded random features (B, T, dim) with zeros in the padding, and the (B, T) mask."""
    generator = torch.Generator().manual_seed(seed)
    frames = max(lengths)
    mask = (torch.arange(frames)[None, :] < torch.tensor(lengths)[:, None]).long()
    feats = torch.randn(len(lengths), frames, dim, generator=generator) * mask[..., None]
    return feats, mask
