"""The Speech2Text network: fbank features (B, T, F) → conv subsampler → pre-LN Transformer
encoder → pre-LN Transformer decoder with an explicit cache → vocabulary logits."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s2t_stream.model.cache import DecoderCache
from s2t_stream.model.config import ModelConfig

Activation = Callable[[Tensor], Tensor]
ACTIVATIONS: dict[str, Activation] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}
PADDING_IDX = 1  # fairseq positions: row 1 is the zero "padding" row, real positions start at 2
FP16_CLAMP = torch.finfo(torch.float16).max - 1000


@dataclass
class EncoderOutput:
    """`hidden`: (B, S, d_model); `mask`: (B, S) bool, True on valid frames, or None (all valid)."""

    hidden: Tensor
    mask: Tensor | None


def concat_outputs(outputs: Sequence[EncoderOutput]) -> EncoderOutput:
    """Several encoder outputs as one batch: rows right-padded to the longest, masked."""
    if len(outputs) == 1:
        return outputs[0]
    frames = max(o.hidden.shape[1] for o in outputs)
    hidden, masks = [], []
    for o in outputs:
        batch, length = o.hidden.shape[:2]
        hidden.append(F.pad(o.hidden, (0, 0, 0, frames - length)))
        mask = o.mask if o.mask is not None else o.hidden.new_ones(batch, length, dtype=torch.bool)
        masks.append(F.pad(mask, (0, frames - length), value=False))
    return EncoderOutput(torch.cat(hidden), torch.cat(masks))


FEW_ROWS = 8


def project(layer: nn.Module, x: Tensor) -> Tensor:
    """`layer(x)` for (..., in) → (..., out), via a faster GEMM layout when there are few rows.

    A decoding step multiplies a handful of rows (beams) by every weight matrix, which is
    memory-bound; the CPU BLAS streams a weight 2-3× faster as `W @ xᵀ` than as `x @ Wᵀ` for
    2-8 rows (measured: 16-25 vs 6-8 GB/s), and a single row is padded to two for the same path.
    Results differ from `layer(x)` only by float rounding (~1e-6). A layer that is not a float
    `nn.Linear` (an int8 one, `quantize.py`, whose weight is packed for its own kernel) runs
    its own forward.
    """
    rows = x.numel() // x.shape[-1]
    if rows > FEW_ROWS or x.device.type != "cpu" or not isinstance(layer, nn.Linear):
        out: Tensor = layer(x)
        return out
    flat = x.reshape(rows, x.shape[-1])
    if rows == 1:
        flat = torch.cat([flat, flat])
    if layer.bias is None:
        out = layer.weight @ flat.T
    else:
        out = torch.addmm(layer.bias[:, None], layer.weight, flat.T)
    return out.T[:rows].contiguous().reshape(*x.shape[:-1], -1)


def subsampled_lengths(lengths: Tensor, num_layers: int) -> Tensor:
    """Frames after `num_layers` stride-2 convolutions with 'same' padding: L → (L - 1) // 2 + 1."""
    for _ in range(num_layers):
        lengths = (lengths - 1) // 2 + 1
    return lengths


def sinusoid_table(rows: int, dim: int) -> Tensor:
    """fairseq sinusoids, float32 on CPU: `[sin | cos]` halves, frequencies exp(-i·ln 1e4/(h-1))."""
    half = dim // 2
    freqs = torch.exp(
        torch.arange(half, dtype=torch.int64).float() * -(math.log(10000) / (half - 1))
    )
    angles = torch.arange(rows, dtype=torch.int64).float()[:, None] * freqs[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = torch.cat([table, torch.zeros(rows, 1)], dim=1)
    table[PADDING_IDX] = 0
    return table


_TABLE_GROWTH = threading.Lock()  # module level: a lock in the module would not deepcopy


class SinusoidalPositions(nn.Module):
    """Position ids → fixed sinusoid rows; the table grows on demand (no hard length limit).

    Thread-safe: several workers may run the model at once. A call reads the table once into a
    local; growing builds a new, larger table (deterministic contents) under a lock and swaps
    it in, so a reader never sees a table shorter than the one it checked."""

    table: Tensor

    def __init__(self, dim: int, rows: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("table", sinusoid_table(rows, dim), persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        needed = int(positions.max()) + 1
        table = self.table
        if needed > table.shape[0]:
            with _TABLE_GROWTH:
                table = self.table
                if needed > table.shape[0]:
                    rows = max(needed, 2 * table.shape[0])
                    table = sinusoid_table(rows, self.dim).to(table.device, table.dtype)
                    self.table = table
        return table[positions]


def position_ids(ids: Tensor, past: int = 0) -> Tensor:
    """fairseq `make_positions`: non-padding entries get past + 2, past + 3, …; padding gets 1."""
    keep = ids.ne(PADDING_IDX).int()
    return ((torch.cumsum(keep, dim=1) + past) * keep).long() + PADDING_IDX


def left_padded(offsets: Tensor, past: int, steps: int) -> tuple[Tensor, Tensor]:
    """Position ids (N, steps) and self-attention mask (N, 1, steps, past + steps) for rows whose
    first `offsets[n]` cache positions are padding: query p sees keys offset … p, and a padding
    query sees itself alone (finite, ignored values instead of an all-masked NaN row)."""
    query = torch.arange(past, past + steps, device=offsets.device)[None, :]  # (1, t)
    real = query - offsets[:, None]  # (N, t) index among the row's real tokens
    positions = torch.where(real >= 0, real + PADDING_IDX + 1, PADDING_IDX)
    key = torch.arange(past + steps, device=offsets.device)
    causal = key[None, None, :] <= query[:, :, None]  # (1, t, S)
    valid = key[None, None, :] >= offsets[:, None, None]  # (N, 1, S)
    mask = (causal & valid) | (key[None, None, :] == query[:, :, None])
    return positions, mask[:, None]


class Conv1dSubsampler(nn.Module):
    """(B, T, F) → (B, T', d_model): stride-2 Conv1d + GLU per layer, time shrinks 2× per layer."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        n = config.num_conv_layers
        self.conv_layers = nn.ModuleList(
            nn.Conv1d(
                config.input_dim if i == 0 else config.conv_channels // 2,
                config.conv_channels if i < n - 1 else 2 * config.d_model,
                kernel_size=k,
                stride=2,
                padding=k // 2,
            )
            for i, k in enumerate(config.conv_kernel_sizes)
        )

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> Tensor:
        """With `lengths` (B,), each row's padding is zeroed between layers, so a padded row
        gives what it gives alone; without, padding leaks into its last frames (as the
        reference's batches do)."""
        x = features.transpose(1, 2)  # (B, F, T)
        for conv in self.conv_layers:
            x = F.glu(conv(x), dim=1)
            if lengths is not None:
                lengths = subsampled_lengths(lengths, 1)
                valid = torch.arange(x.shape[2], device=x.device)[None, :] < lengths[:, None]
                x = x * valid[:, None, :].to(x.dtype)
        return x.transpose(1, 2)  # (B, T', d_model)


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v/out projections (HF/fairseq names)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def split(self, x: Tensor) -> Tensor:
        """(B, T, d) → (B, H, T, Dh)."""
        return x.reshape(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S, d) → K, V each (B, H, S, Dh)."""
        return self.split(project(self.k_proj, x)), self.split(project(self.v_proj, x))

    def attend(self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """Queries from x (B, T, d) over K/V (B, H, S, Dh); mask broadcasts to (B, H, T, S),
        bool, True = may attend. Returns (B, T, d)."""
        q = self.split(project(self.q_proj, x))
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        out = out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)  # (B, T, d)
        return project(self.out_proj, out)

    def attend_with_weights(
        self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """As `attend` (no dropout), also returning the weights averaged over heads (B, T, S)."""
        q = self.split(project(self.q_proj, x))
        scores = (q @ k.transpose(-1, -2)) * self.head_dim**-0.5  # (B, H, T, S)
        if mask is not None:
            scores = scores.masked_fill(~mask, -torch.inf)
        weights = scores.float().softmax(-1)
        out = (weights.to(v.dtype) @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        return project(self.out_proj, out), weights.mean(1)


class TransformerLayer(nn.Module):
    """What encoder and decoder layers share: pre-LN self-attention and feed-forward blocks."""

    def __init__(self, config: ModelConfig, heads: int, ffn_dim: int) -> None:
        super().__init__()
        d = config.d_model
        self.self_attn = Attention(d, heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.activation: Activation = ACTIVATIONS[config.activation_function]
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def feed_forward(self, x: Tensor) -> Tensor:
        """x + fc2(act(fc1(LN(x))))."""
        h = self.activation_dropout(self.activation(project(self.fc1, self.final_layer_norm(x))))
        return x + self.dropout(project(self.fc2, h))


class EncoderLayer(TransformerLayer):
    """Pre-LN: x + SelfAttn(LN(x)); x + FFN(LN(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config, config.encoder_attention_heads, config.encoder_ffn_dim)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        h = self.self_attn_layer_norm(x)
        k, v = self.self_attn.keys_values(h)
        x = self.feed_forward(x + self.dropout(self.self_attn.attend(h, k, v, mask)))
        if x.dtype == torch.float16:  # as the reference: keep fp16 activations finite
            x = x.clamp(-FP16_CLAMP, FP16_CLAMP)
        return x


class Encoder(nn.Module):
    """(B, T, F) features + (B, T) mask → EncoderOutput (B, T', d_model)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.num_conv_layers = config.num_conv_layers
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.conv = Conv1dSubsampler(config)
        self.embed_positions = SinusoidalPositions(
            config.d_model, config.max_source_positions + PADDING_IDX + 1
        )
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.encoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model)

    def forward(
        self, features: Tensor, attention_mask: Tensor | None = None, isolate_rows: bool = False
    ) -> EncoderOutput:
        lengths = attention_mask.sum(-1) if isolate_rows and attention_mask is not None else None
        x = self.conv(features, lengths) * self.embed_scale  # (B, S, d)
        batch, frames = x.shape[:2]
        if attention_mask is None:
            valid = None
            padding = torch.zeros(batch, frames, dtype=torch.long, device=x.device)
        else:
            lengths = subsampled_lengths(attention_mask.sum(-1), self.num_conv_layers)
            # A zero-length row would mask everything; the reference then attends to all frames.
            lengths = torch.where(lengths > 0, lengths, frames)
            valid = torch.arange(frames, device=x.device)[None, :] < lengths[:, None]
            padding = (~valid).long()
        x = self.dropout(x + self.embed_positions(position_ids(padding)).to(x.dtype))
        mask = None if valid is None else valid[:, None, None, :]  # (B, 1, 1, S)
        for layer in self.layers:
            x = layer(x, mask)
        return EncoderOutput(self.layer_norm(x), valid)


class DecoderLayer(TransformerLayer):
    """Pre-LN: causal self-attention (cached), cross-attention over the encoder, FFN."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config, config.decoder_attention_heads, config.decoder_ffn_dim)
        d = config.d_model
        self.encoder_attn = Attention(d, config.decoder_attention_heads, config.attention_dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)

    def forward(self, x: Tensor, index: int, cache: DecoderCache, mask: Tensor | None) -> Tensor:
        """x: (N, t, d) with N = B·group rows; mask: self-attention mask (None: see all);
        returns (N, t, d)."""
        h = self.self_attn_layer_norm(x)
        k, v = cache.append(index, *self.self_attn.keys_values(h))
        x = x + self.dropout(self.self_attn.attend(h, k, v, mask))
        x = x + self.dropout(self.cross_attend(self.encoder_attn_layer_norm(x), index, cache))
        return self.feed_forward(x)

    def cross_attend(self, h: Tensor, index: int, cache: DecoderCache) -> Tensor:
        # The `group` rows (beams) of one utterance share its encoder K/V and have no causal
        # mask between them, so they are folded into the query axis: (N, t, d) → (B, group·t, d).
        rows, steps, dim = h.shape
        batch = cache.batch_size
        folded = h.reshape(batch, (rows // batch) * steps, dim)
        k, v, mask = cache.cross_k[index], cache.cross_v[index], cache.cross_mask
        if index not in cache.align_layers:
            return self.encoder_attn.attend(folded, k, v, mask).reshape(rows, steps, dim)
        out, weights = self.encoder_attn.attend_with_weights(folded, k, v, mask)
        weights = weights.reshape(rows, steps, -1) / len(cache.align_layers)
        cache.alignment = weights if cache.alignment is None else cache.alignment + weights
        return out.reshape(rows, steps, dim)


class Decoder(nn.Module):
    """Token ids (N, t) + cache → hidden states (N, t, d_model); the cache grows by t."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
        self.embed_positions = SinusoidalPositions(
            config.d_model, config.max_target_positions + PADDING_IDX + 1
        )
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, ids: Tensor, cache: DecoderCache) -> Tensor:
        past, steps = cache.length, ids.shape[1]
        x = self.embed_tokens(ids) * self.embed_scale
        if cache.offsets is None:
            positions = position_ids(ids, past)
            mask = None
            if steps > 1:  # query i sits at position past + i and sees keys 0 … past + i
                mask = torch.ones(steps, past + steps, dtype=torch.bool, device=ids.device)
                mask = mask.tril(past)
        else:
            positions, mask = left_padded(cache.offsets, past, steps)
        x = self.dropout(x + self.embed_positions(positions).to(x.dtype))
        cache.alignment = None
        for i, layer in enumerate(self.layers):
            x = layer(x, i, cache, mask)
        return self.layer_norm(x)

    def new_cache(self, encoder: EncoderOutput) -> DecoderCache:
        """Cross-attention K/V for this encoder output, computed once for every later step."""
        keys, values = [], []
        for layer in self.layers:
            assert isinstance(layer, DecoderLayer)
            k, v = layer.encoder_attn.keys_values(encoder.hidden)
            keys.append(k)
            values.append(v)
        mask = None if encoder.mask is None else encoder.mask[:, None, None, :]
        return DecoderCache(keys, values, mask)


class Speech2Text(nn.Module):
    """Encoder + decoder + LM head. Parameter names equal the Hugging Face
    `Speech2TextForConditionalGeneration` state-dict keys, so published checkpoints load with
    `load_state_dict` unchanged."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.model = nn.ModuleDict({"encoder": Encoder(config), "decoder": Decoder(config)})
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.decoder.embed_tokens.weight

    @property
    def encoder(self) -> Encoder:
        return self.model["encoder"]  # type: ignore[return-value]

    @property
    def decoder(self) -> Decoder:
        return self.model["decoder"]  # type: ignore[return-value]

    def encode(
        self, features: Tensor, attention_mask: Tensor | None = None, *, isolate_rows: bool = False
    ) -> EncoderOutput:
        """features (B, T, F) float, attention_mask (B, T) 1 = valid frame. `isolate_rows`: each
        padded row's output equals its output alone (the reference lets padding leak in)."""
        return self.encoder(features, attention_mask, isolate_rows)

    def new_cache(self, encoder: EncoderOutput) -> DecoderCache:
        return self.decoder.new_cache(encoder)

    def decode(self, ids: Tensor, cache: DecoderCache, *, last_only: bool = False) -> Tensor:
        """ids (N, t) → logits (N, t, V), or (N, V) for the last position only; grows the cache."""
        hidden = self.decoder(ids, cache)
        if last_only:
            hidden = hidden[:, -1]
        return project(self.lm_head, hidden)

    def forward(
        self, features: Tensor, attention_mask: Tensor | None, decoder_input_ids: Tensor
    ) -> Tensor:
        """Teacher-forced logits (B, t, V) — for training and parity checks."""
        encoder = self.encode(features, attention_mask)
        return self.decode(decoder_input_ids, self.new_cache(encoder))


def pad_batch(features: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Right-pad (T_i, bins) feature arrays with 0.0, like HF's `padding=True`.

    Returns input features (B, T_max, bins) float32 and attention mask (B, T_max) int64
    (1 = valid frame, 0 = padding).
    """
    if len(features) == 0:
        raise ValueError("pad_batch: expected at least one feature array, got an empty batch")
    arrays = [np.asarray(f, dtype=np.float32) for f in features]
    bins = arrays[0].shape[1] if arrays[0].ndim == 2 else -1
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[1] != bins:
            expected = f"(T, {bins})" if bins >= 0 else "(T, bins)"
            raise ValueError(f"pad_batch: item {i}: expected shape {expected}, got {a.shape}")
    max_len = max(a.shape[0] for a in arrays)
    batch = torch.zeros(len(arrays), max_len, bins, dtype=torch.float32)
    mask = torch.zeros(len(arrays), max_len, dtype=torch.int64)
    for i, a in enumerate(arrays):
        batch[i, : a.shape[0]] = torch.from_numpy(a)
        mask[i, : a.shape[0]] = 1
    return batch, mask


def encode_batch(
    model: Speech2Text, features: Sequence[np.ndarray], *, isolate_rows: bool = False
) -> EncoderOutput:
    """Encode normalised (T_i, bins) feature arrays as one right-padded batch on the model's
    device and dtype (a batch of one passes no mask, as the reference does). `isolate_rows`:
    see `Speech2Text.encode`."""
    param = next(model.parameters())
    feats, mask = pad_batch(features)
    with torch.inference_mode():
        return model.encode(
            feats.to(param.device, param.dtype),
            mask.to(param.device) if len(features) > 1 else None,
            isolate_rows=isolate_rows,
        )
