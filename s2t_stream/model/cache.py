"""Decoder state: per-layer self-attention K/V that grows a step at a time, and cross-attention
K/V computed once per encoder output (shared by all beams of an utterance)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class DecoderCache:
    """Everything the decoder remembers between steps for one batch of utterances.

    `cross_k[i]`/`cross_v[i]`: (B, H, S, Dh) for layer i, computed from one encoder output;
    `cross_mask`: (B, 1, 1, S) bool, True where the encoder frame may be attended (None: all);
    self-attention K/V of layer i live in buffers (B * group, H, capacity, Dh) — `group` rows
    (beams) per utterance — of which the first `length` positions are in use; appending writes
    in place, so a step costs no copy of the past. A cache belongs to one encoder output: when
    the encoder output changes, make a new cache.

    `offsets` (N,): rows whose first `offsets[n]` positions are left padding (several prefixes
    of different lengths decoded in one batch); those positions are never attended and token
    positions count from the first real one. `align_layers`: decoder layers whose cross-attention
    weights are kept; after each decode call `alignment` holds their mean over layers and heads,
    (N, t, S) for the call's t positions.
    """

    cross_k: list[Tensor]
    cross_v: list[Tensor]
    cross_mask: Tensor | None
    self_k: list[Tensor] = field(default_factory=list)
    self_v: list[Tensor] = field(default_factory=list)
    used: list[int] = field(default_factory=list)
    offsets: Tensor | None = None
    align_layers: tuple[int, ...] = ()
    alignment: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.cross_k[0].shape[0]

    @property
    def length(self) -> int:
        """Number of decoder positions already cached."""
        return self.used[0] if self.used else 0

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add this step's self-attention K/V (N, H, t, Dh) for `layer`; return the full K/V."""
        if layer == len(self.self_k):
            shape = (*k.shape[:2], max(INITIAL_CAPACITY, k.shape[2]), k.shape[3])
            self.self_k.append(k.new_empty(shape))
            self.self_v.append(v.new_empty(shape))
            self.used.append(0)
        start, end = self.used[layer], self.used[layer] + k.shape[2]
        if end > self.self_k[layer].shape[2]:
            self.self_k[layer] = _grown(self.self_k[layer], start, end)
            self.self_v[layer] = _grown(self.self_v[layer], start, end)
        self.self_k[layer][:, :, start:end] = k
        self.self_v[layer][:, :, start:end] = v
        self.used[layer] = end
        return self.self_k[layer][:, :, :end], self.self_v[layer][:, :, :end]

    def reorder(self, rows: Tensor) -> None:
        """Keep self-attention rows `rows` (N,) — beam search's choice of surviving beams.

        Rows must stay within their utterance; cross-attention K/V are per utterance and stay.
        """
        if rows.shape[0] == self.self_k[0].shape[0] and torch.equal(
            rows, torch.arange(rows.shape[0], device=rows.device)
        ):
            return  # every beam kept its place
        self.self_k = [_select(k, rows, n) for k, n in zip(self.self_k, self.used, strict=True)]
        self.self_v = [_select(v, rows, n) for v, n in zip(self.self_v, self.used, strict=True)]
        if self.offsets is not None:
            self.offsets = self.offsets[rows]

    def truncate(self, length: int) -> None:
        """Forget every decoder position from `length` on (keep the first `length`)."""
        self.used = [min(n, length) for n in self.used]
        if length == 0:
            self.reset()

    def reset(self) -> None:
        """Forget all decoder positions; cross-attention K/V stay valid (same encoder output)."""
        self.self_k = []
        self.self_v = []
        self.used = []


INITIAL_CAPACITY = 64


def _grown(buffer: Tensor, used: int, needed: int) -> Tensor:
    """A buffer with room for `needed` positions holding the first `used` of `buffer`."""
    shape = (*buffer.shape[:2], max(needed, 2 * buffer.shape[2]), buffer.shape[3])
    grown = buffer.new_empty(shape)
    grown[:, :, :used] = buffer[:, :, :used]
    return grown


def _select(buffer: Tensor, rows: Tensor, used: int) -> Tensor:
    """Rows `rows` of the used part of `buffer`, copied once into a buffer of the same capacity."""
    out = buffer.new_empty((rows.shape[0], *buffer.shape[1:]))
    torch.index_select(buffer[:, :, :used], 0, rows, out=out[:, :, :used])
    return out
