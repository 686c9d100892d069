"""Streaming search: re-force each stream's committed prefix in one teacher-forced pass, then
continue greedily, for many streams in one batch; every token comes with the encoder frame the
decoder attended most when predicting it (for commit policies and word times)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from s2t_stream.model import EncoderOutput, Speech2Text


@dataclass(frozen=True)
class Continuation:
    """One stream's result: `tokens` generated after its prefix (eos not included), `ended` when
    the model produced eos, and `frames[i]`, the encoder frame most attended while predicting
    token i of `prefix[1:] + tokens` (the start token is never predicted)."""

    tokens: tuple[int, ...]
    ended: bool
    frames: tuple[int, ...]


@torch.inference_mode()
def continue_greedy(
    model: Speech2Text,
    encoder: EncoderOutput,
    prefixes: Sequence[Sequence[int]],
    *,
    eos_id: int,
    pad_id: int,
    max_new: Sequence[int],
    record: tuple[int, ...],
    word_starts: Tensor | None = None,
    at_boundary: Sequence[bool] = (),
    border: Sequence[int | None] = (),
    lookahead: int = 0,
) -> list[Continuation]:
    """Row n of `encoder` continues `prefixes[n]` (which starts with the decoder start token) by
    at most `max_new[n]` greedy tokens. Prefixes are left-padded so that all rows step together;
    the cache is built afresh from this encoder output (never reused across re-encodes).

    Where `at_boundary[n]`, the prefix ends with a committed whole word: its first new token
    must be eos or one of `word_starts` (V,) bool, so no piece glues onto that word.

    Where `border[n]` is a frame index, row n stops `lookahead` tokens after the first token
    that attends at or beyond it (AlignAtt: what follows waits for more audio anyway)."""
    rows = len(prefixes)
    device = encoder.hidden.device
    width = max(len(p) for p in prefixes)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    for n, prefix in enumerate(prefixes):
        ids[n, width - len(prefix) :] = torch.tensor(list(prefix), dtype=torch.long)
    cache = model.new_cache(encoder)
    cache.offsets = torch.tensor([width - len(p) for p in prefixes], device=device)
    cache.record = record
    logits = model.decode(ids.to(device), cache)[:, -1]
    if word_starts is not None and any(at_boundary):
        allowed = word_starts.to(device).clone()
        allowed[eos_id] = True
        rows_bound = torch.tensor(list(at_boundary), device=device)[:, None]
        logits = logits.masked_fill(rows_bound & ~allowed[None, :], -torch.inf)
    first = _argmax_frames(cache.alignment)
    frames = [first[n][width - len(p) : -1] for n, p in enumerate(prefixes)]
    generated: list[list[int]] = [[] for _ in range(rows)]
    running = [limit > 0 for limit in max_new]
    ended = [False] * rows
    borders = list(border) or [None] * rows
    beyond = [0] * rows  # tokens generated at or past the border
    while any(running):
        best = logits.float().argmax(-1)
        tokens, step_frames = best.tolist(), [f[-1] for f in _argmax_frames(cache.alignment)]
        for n in range(rows):
            if not running[n]:
                continue
            if tokens[n] == eos_id:
                running[n], ended[n] = False, True
                continue
            generated[n].append(tokens[n])
            frames[n].append(step_frames[n])
            limit = borders[n]
            if beyond[n] or (limit is not None and step_frames[n] >= limit):
                beyond[n] += 1
            running[n] = len(generated[n]) < max_new[n] and beyond[n] <= lookahead
        if not any(running):
            break
        logits = model.decode(best[:, None], cache, last_only=True)
    return [Continuation(tuple(generated[n]), ended[n], tuple(frames[n])) for n in range(rows)]


def _argmax_frames(alignment: Tensor | None) -> list[list[int]]:
    """(N, t, S) attention → the most attended frame of each row and position."""
    if alignment is None:
        raise RuntimeError("no cross-attention was recorded: `record` names no decoder layer")
    rows: list[list[int]] = alignment.argmax(-1).tolist()
    return rows
