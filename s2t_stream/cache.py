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
    `self_k[i]`/`self_v[i]`: (B * group, H, t, Dh) — `group` rows (beams) per utterance.
    A cache belongs to one encoder output: when the encoder output changes, make a new cache.
    """

    cross_k: list[Tensor]
    cross_v: list[Tensor]
    cross_mask: Tensor | None
    self_k: list[Tensor] = field(default_factory=list)
    self_v: list[Tensor] = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        return self.cross_k[0].shape[0]

    @property
    def length(self) -> int:
        """Number of decoder positions already cached."""
        return self.self_k[0].shape[2] if self.self_k else 0

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add this step's self-attention K/V (N, H, t, Dh) for `layer`; return the full K/V."""
        if layer == len(self.self_k):
            self.self_k.append(k)
            self.self_v.append(v)
        else:
            self.self_k[layer] = torch.cat([self.self_k[layer], k], dim=2)
            self.self_v[layer] = torch.cat([self.self_v[layer], v], dim=2)
        return self.self_k[layer], self.self_v[layer]

    def reorder(self, rows: Tensor) -> None:
        """Keep self-attention rows `rows` (N,) — beam search's choice of surviving beams.

        Rows must stay within their utterance; cross-attention K/V are per utterance and stay.
        """
        self.self_k = [k.index_select(0, rows) for k in self.self_k]
        self.self_v = [v.index_select(0, rows) for v in self.self_v]

    def truncate(self, length: int) -> None:
        """Forget every decoder position from `length` on (keep the first `length`)."""
        self.self_k = [k[:, :, :length] for k in self.self_k]
        self.self_v = [v[:, :, :length] for v in self.self_v]
        if length == 0:
            self.reset()

    def reset(self) -> None:
        """Forget all decoder positions; the cross-attention K/V stay valid for the same encoder output."""
        self.self_k = []
        self.self_v = []
