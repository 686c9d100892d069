"""Streaming search: continue many streams' committed prefixes greedily in one batch, each token
with the encoder frame it attended most (for commit policies and word times) and the probability
the model gave it (for word confidences). With a CTC head (`ctc.CTCPrefixScorer`) and an LM
(`lm.Fusion`), greedy picks by the joint score (1 − μ) · log p_att + μ · Δ log p_ctc
+ λ · log p_LM, as `search.greedy_search` does; the probabilities reported are still the
decoder's own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from s2t_stream.model.cache import DecoderCache
from s2t_stream.model.ctc import CTCPrefixScorer
from s2t_stream.model.lm import Fusion, TokenLM
from s2t_stream.model.network import EncoderOutput, Speech2Text


@dataclass(frozen=True)
class Continuation:
    """One stream's result: `tokens` generated after its prefix (eos not included), `ended` when
    the model produced eos, and `frames[i]`, the encoder frame most attended while predicting
    token i of `prefix[1:] + tokens` (the start token is never predicted), and `log_probs[i]`,
    the natural-log probability the model gave that token there (see `token_log_probs`)."""

    tokens: tuple[int, ...]
    ended: bool
    frames: tuple[int, ...]
    log_probs: tuple[float, ...]


@dataclass(frozen=True)
class Alignment:
    """A given token sequence in the model's eyes: `frames[i]`, the encoder frame most attended
    while predicting token i, and `log_probs[i]`, the natural-log probability it gave token i."""

    frames: tuple[int, ...]
    log_probs: tuple[float, ...]


@dataclass
class _Rows:
    """The growing state of every row during one `continue_greedy` call."""

    max_new: Sequence[int]
    borders: Sequence[int | None]
    lookahead: int
    generated: list[list[int]] = field(default_factory=list)
    frames: list[list[int]] = field(default_factory=list)
    log_probs: list[list[float]] = field(default_factory=list)
    running: list[bool] = field(default_factory=list)
    ended: list[bool] = field(default_factory=list)
    beyond: list[int] = field(default_factory=list)  # tokens generated at or past the border

    def __post_init__(self) -> None:
        rows = len(self.max_new)
        self.borders = list(self.borders) or [None] * rows
        self.generated = [[] for _ in range(rows)]
        self.running = [limit > 0 for limit in self.max_new]
        self.ended = [False] * rows
        self.beyond = [0] * rows

    def accept(self, n: int, token: int, frame: int, log_prob: float, eos_id: int) -> None:
        """Row n's next greedy token (predicted attending most to `frame`, with `log_prob`)."""
        if token == eos_id:
            self.running[n], self.ended[n] = False, True
            return
        self.generated[n].append(token)
        self.frames[n].append(frame)
        self.log_probs[n].append(log_prob)
        limit = self.borders[n]
        if self.beyond[n] or (limit is not None and frame >= limit):
            self.beyond[n] += 1
        self.running[n] = len(self.generated[n]) < self.max_new[n] and (
            self.beyond[n] <= self.lookahead
        )


@torch.inference_mode()
def continue_greedy(
    model: Speech2Text,
    encoder: EncoderOutput,
    prefixes: Sequence[Sequence[int]],
    *,
    eos_id: int,
    pad_id: int,
    max_new: Sequence[int],
    align_layers: tuple[int, ...],
    word_starts: Tensor | None = None,
    at_boundary: Sequence[bool] = (),
    border: Sequence[int | None] = (),
    lookahead: int = 0,
    drafts: Sequence[Sequence[int]] = (),
    lm: TokenLM | None = None,
    lm_weight: float = 0.0,
    ctc: CTCPrefixScorer | None = None,
) -> list[Continuation]:
    """Row n of `encoder` continues `prefixes[n]` (which starts with the decoder start token) by
    at most `max_new[n]` greedy tokens. Prefixes are left-padded so that all rows step together;
    the cache is built afresh from this encoder output (never reused across re-encodes).

    Where `at_boundary[n]`, the prefix ends with a committed whole word: its first new token
    must be eos or one of `word_starts` (V,) bool, so no piece glues onto that word.

    Where `border[n]` is a frame index, row n stops `lookahead` tokens after the first token
    that attends at or beyond it (AlignAtt: what follows waits for more audio anyway).

    `drafts[n]`: tokens row n probably continues with (the last update's tentative words).
    They ride along in the prefix's teacher-forced pass, and the run of them that greedy search
    picks too is taken without a decoding step each (speculative decoding, the last hypothesis
    as the draft); after the first disagreement, decoding goes on from greedy's own token. The
    result is greedy search's, drafts or not.

    With `lm` and `lm_weight` > 0, greedy picks by the fused score (shallow fusion), the LM
    reading each row's sequence alongside the decoder. With an active `ctc` scorer (built on
    this `encoder`, fresh: it takes in every prefix here; skipping `pad_id` and any forced
    language tag, else ValueError), by the joint CTC/attention score:
    the prefix's tokens and the drafts' agreed ones go into the CTC prefix state one position
    at a time (`_joint_choices`), so the drafts still save every decoding step they saved."""
    rows = len(prefixes)
    drafts = [list(d) for d in drafts] or [[] for _ in range(rows)]
    forced = [[*p, *d] for p, d in zip(prefixes, drafts, strict=True)]
    state = _Rows(max_new, border, lookahead)
    fusion = Fusion(lm, lm_weight)
    logits, cache = _force(model, encoder, forced, pad_id, align_layers)
    width = logits.shape[1]
    firsts = [width - len(f) + len(p) - 1 for f, p in zip(forced, prefixes, strict=True)]
    if word_starts is not None and any(at_boundary):
        _only_word_starts(logits, firsts, at_boundary, word_starts, eos_id)
    attended = _argmax_frames(cache.alignment)
    scores = torch.log_softmax(logits.float(), -1)  # once for the prefix's and greedy's tokens
    forced_log_probs = token_log_probs(scores, forced)
    state.frames = [attended[n][width - len(f) : firsts[n]] for n, f in enumerate(forced)]
    state.log_probs = [forced_log_probs[n][: len(p) - 1] for n, p in enumerate(prefixes)]
    lm_part = None
    if fusion.active:  # λ · the LM's log-probs at the same (left-padded) positions
        lm_part = torch.zeros_like(scores)
        for n, lm_row in enumerate(fusion.read(forced)):
            lm_part[n, width - len(lm_row) :] = lm_row.to(scores.device)
    joint = ctc if ctc is not None and ctc.active else None
    if joint is not None:
        choice = _joint_choices(joint, scores, lm_part, forced, firsts, pad_id)
    else:
        choice = scores if lm_part is None else scores + lm_part
    best, best_log_probs = _best(scores, choice)
    consistent = [
        _take_draft(
            state, n, drafts[n], best[n][f:], attended[n][f:], best_log_probs[n][f:], eos_id
        )
        for n, f in enumerate(firsts)
    ]
    if not any(state.running):
        return _results(state)
    last = torch.tensor([g[-1] if g else pad_id for g in state.generated])  # from the pass
    if all(consistent[n] or not state.running[n] for n in range(rows)):
        logits = model.decode(last[:, None].to(logits.device), cache, last_only=True)
        lm_next = fusion.step(last) if fusion.active else None
    else:  # re-force what greedy agreed on, once for all rows
        agreed = [[*p, *g] for p, g in zip(prefixes, state.generated, strict=True)]
        logits, cache = _force(model, encoder, agreed, pad_id, align_layers)
        logits = logits[:, -1]
        lm_next = torch.stack([row[-1] for row in fusion.read(agreed)]) if fusion.active else None
    return _decode_greedily(model, cache, logits, state, eos_id, fusion, lm_next, joint, last)


def _only_word_starts(
    logits: Tensor, firsts: list[int], rows: Sequence[bool], word_starts: Tensor, eos_id: int
) -> None:
    """In place: where `rows[n]`, only eos or a word-starting token may be predicted at row
    n's position `firsts[n]` (its first new token)."""
    allowed = word_starts.to(logits.device).clone()
    allowed[eos_id] = True
    for n, position in enumerate(firsts):
        if rows[n]:
            logits[n, position] = logits[n, position].masked_fill(~allowed, -torch.inf)


def _decode_greedily(
    model: Speech2Text,
    cache: DecoderCache,
    logits: Tensor,
    state: _Rows,
    eos_id: int,
    fusion: Fusion,
    lm_next: Tensor | None,
    joint: CTCPrefixScorer | None,
    last: Tensor,
) -> list[Continuation]:
    """From the last position's `logits` (N, V) (and, fusing, λ · the LM's log-probs there,
    `lm_next`; with `joint`, the CTC prefix state before `last` (N,), the tokens the logits
    follow): one greedy step at a time for every row still running, until none is."""
    while True:
        scores = torch.log_softmax(logits.float(), -1)
        choice = scores if joint is None else joint.add(scores, last)
        if lm_next is not None:
            choice = choice + lm_next.to(scores.device)
        tokens, log_probs = _best(scores, choice)
        step_frames = [f[-1] for f in _argmax_frames(cache.alignment)]
        for n in range(len(tokens)):
            if state.running[n]:
                state.accept(n, tokens[n], step_frames[n], log_probs[n], eos_id)
        if not any(state.running):
            return _results(state)
        last = torch.tensor(tokens)
        logits = model.decode(last[:, None].to(logits.device), cache, last_only=True)
        if fusion.active:
            lm_next = fusion.step(last)


def _joint_choices(
    joint: CTCPrefixScorer,
    scores: Tensor,
    lm_part: Tensor | None,
    forced: Sequence[Sequence[int]],
    firsts: Sequence[int],
    pad_id: int,
) -> Tensor:
    """Greedy's scores at every position of the teacher-forced pass over left-padded `forced`
    (N, W; prefix then draft), jointly with CTC: `scores` (N, W, V), the decoder's log-probs,
    become (1 − μ) · log p_att + μ · Δ log p_ctc (+ `lm_part`) from each row's first new
    position `firsts[n]` on. The CTC prefix state takes the tokens column by column: the
    prefix's all, a draft's only while greedy picks them too (after the first disagreement
    the row's state stays where greedy left the draft, and its later columns, unused, are
    scored from there). It ends holding prefix + the agreed draft; the token greedy picked
    after that is for the caller to feed (`_decode_greedily`'s `last`)."""
    if pad_id not in joint.never.tolist():  # padding is how a row here stands still
        raise ValueError(f"the CTC scorer must skip the padding token {pad_id}")
    rows, width = scores.shape[:2]
    ids = _left_padded(forced, pad_id)
    first = torch.tensor(list(firsts))
    live = torch.ones(rows, dtype=torch.bool)  # the row's draft agrees with greedy so far
    choice = scores if lm_part is None else scores + lm_part
    choice = choice.clone()
    for column in range(width):
        fed = torch.where(live, ids[:, column], pad_id)
        if column < int(first.min()):
            joint.take(fed)  # the prefix: no choice made here
            continue
        column_choice = joint.add(scores[:, column], fed)
        if lm_part is not None:
            column_choice = column_choice + lm_part[:, column]
        choice[:, column] = column_choice
        if column + 1 < width:  # a row whose next column holds a draft token greedy did not pick
            picked = column_choice.argmax(-1).cpu()
            drafted = column >= first
            live &= ~drafted | (picked == ids[:, column + 1])
    return choice


def _take_draft(
    state: _Rows,
    n: int,
    draft: Sequence[int],
    predicted: list[int],
    attended: list[int],
    log_probs: list[float],
    eos: int,
) -> bool:
    """Take row n's greedy tokens from the pass: `predicted[j]` is greedy's choice after the
    first j draft tokens, so it holds while the draft agrees. Returns whether the cache still
    holds exactly prefix + generated (false after a disagreement)."""
    for j in range(len(draft) + 1):
        if not state.running[n]:
            return True
        state.accept(n, predicted[j], attended[j], log_probs[j], eos)
        if j < len(draft) and predicted[j] != draft[j]:
            return False
    return True


def _force(
    model: Speech2Text,
    encoder: EncoderOutput,
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    align_layers: tuple[int, ...],
) -> tuple[Tensor, DecoderCache]:
    """One teacher-forced pass over left-padded `sequences`: logits (N, W, V) and the cache."""
    device = encoder.hidden.device
    ids = _left_padded(sequences, pad_id)
    width = ids.shape[1]
    cache = model.new_cache(encoder)
    cache.offsets = torch.tensor([width - len(s) for s in sequences], device=device)
    cache.align_layers = align_layers
    return model.decode(ids.to(device), cache), cache


def _left_padded(sequences: Sequence[Sequence[int]], pad_id: int) -> Tensor:
    """`sequences` as one (N, longest) long tensor on the CPU, each right-aligned."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    for n, sequence in enumerate(sequences):
        ids[n, width - len(sequence) :] = torch.tensor(list(sequence), dtype=torch.long)
    return ids


def _results(state: _Rows) -> list[Continuation]:
    return [
        Continuation(tuple(g), e, tuple(f), tuple(p))
        for g, e, f, p in zip(
            state.generated, state.ended, state.frames, state.log_probs, strict=True
        )
    ]


def _best(log_probs: Tensor, choice: Tensor | None = None) -> tuple[list[Any], list[Any]]:
    """Greedy's choice at each position — the argmax of `choice` (..., V), by default
    `log_probs` itself — and the log-probability `log_probs` gives it."""
    if choice is None or choice is log_probs:
        best, index = log_probs.max(-1)
        return index.tolist(), best.tolist()
    index = choice.argmax(-1)
    return index.tolist(), log_probs.gather(-1, index[..., None])[..., 0].tolist()


def token_log_probs(log_probs: Tensor, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
    """From a teacher-forced pass's `log_probs` (N, W, V; log-softmax of its logits) over
    left-padded `sequences`: for each row, the log-probability of every token after the first
    given the ones before it — length len(sequences[n]) - 1."""
    width = log_probs.shape[1]
    rows = []
    for n, sequence in enumerate(sequences):
        begin = width - len(sequence)
        targets = torch.tensor(list(sequence[1:]), dtype=torch.long, device=log_probs.device)
        rows.append(log_probs[n, begin : width - 1].gather(-1, targets[:, None])[:, 0].tolist())
    return rows


def _argmax_frames(alignment: Tensor | None) -> list[list[int]]:
    """(N, t, S) attention → the most attended frame of each row and position."""
    if alignment is None:
        raise RuntimeError("no cross-attention was recorded: `align_layers` names no decoder layer")
    rows: list[list[int]] = alignment.argmax(-1).tolist()
    return rows


@torch.inference_mode()
def align_tokens(
    model: Speech2Text,
    encoder: EncoderOutput,
    sequences: Sequence[Sequence[int]],
    *,
    pad_id: int,
    align_layers: tuple[int, ...],
) -> list[Alignment]:
    """For row n of `encoder` and the tokens `sequences[n]` (start token first, e.g. a finished
    hypothesis), how the model sees each token after the start token, in one teacher-forced pass
    (word times and confidences for hypotheses found by beam search)."""
    logits, cache = _force(model, encoder, sequences, pad_id, align_layers)
    attended = _argmax_frames(cache.alignment)
    log_probs = token_log_probs(torch.log_softmax(logits.float(), -1), sequences)
    width = max(len(s) for s in sequences)
    return [
        Alignment(tuple(attended[n][width - len(s) : width - 1]), tuple(log_probs[n]))
        for n, s in enumerate(sequences)
    ]
