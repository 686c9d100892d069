"""Load-time int8 quantisation: a float32 `Speech2Text` on the CPU → the same network with every
`nn.Linear` (attention projections, feed-forward layers, the LM head) replaced by PyTorch's
dynamically quantised int8 linear layer — int8 weights with one scale per output row,
activations quantised on the fly at each call. Convolutions, layer norms and the token
embedding stay float32.

The tied LM head: the embedding keeps its float rows for the decoder's input and the head gets
its own int8 copy, so the tie is gone in the quantised model (nothing trains it) and it cannot
be saved (`is_quantized`, checked by `save_bundle`)."""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

from s2t_stream.errors import OptionsError
from s2t_stream.model.network import Speech2Text

# torch 2.13 still ships eager-mode dynamic quantisation and runs it on its x86 (fbgemm) and ARM
# (qnnpack) kernels, but marks it deprecated in favour of torchao, a separate package, and
# warns that quantised tensor constructors will go. These two warnings are said once per load
# and tell the user nothing they can act on (the README and docs/deploy.md say it).
_DEPRECATIONS = (
    (DeprecationWarning, r"torch\.ao\.quantization is deprecated"),
    (UserWarning, r"torch\.quantize_per_tensor, torch\.quantize_per_channel"),
)


def quantize_int8(model: Speech2Text) -> Speech2Text:
    """`model` (float32, on the CPU, in eval mode) with its linear layers int8, in place.

    Every code path calls those layers through `network.project`, which sends a layer that is
    not a float `nn.Linear` through its own forward (the quantised kernel), so the encoder, the
    cached decoder, batched streaming search and beam search run unchanged. Results differ from
    the float model's by the quantisation error (greedy transcripts: README, `--quantize`)."""
    parameter = next(model.parameters())
    if parameter.device.type != "cpu" or parameter.dtype != torch.float32:
        raise OptionsError(
            f"int8 quantisation needs a float32 model on the CPU, got {parameter.dtype} on "
            f"{parameter.device}"
        )
    if model.training:
        raise OptionsError("int8 quantisation is for inference: call model.eval() first")
    spec = {nn.Linear: per_channel_dynamic_qconfig}
    with warnings.catch_warnings():
        for category, message in _DEPRECATIONS:
            warnings.filterwarnings("ignore", message, category)
        quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    return model


def is_quantized(model: nn.Module) -> bool:
    """Whether any layer of `model` holds quantised weights."""
    return any(isinstance(module, QuantizedLinear) for module in model.modules())
