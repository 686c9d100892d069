"""Search: encoder output → token hypotheses, by greedy or beam search with the reference's
semantics (`max_length` counts the start token, forced first token, early stopping, length
penalty). Batched over utterances; one decoder cache per call.

With a CTC head (`ctc.py`) and `ctc_weight` μ > 0, every step scores the decoder's best
candidates by (1 − μ) · log p_att + μ · Δ log p_ctc (joint CTC/attention decoding); with a token
LM (`lm.py`) and `lm_weight` λ > 0, it adds λ · log p_LM (shallow fusion; the LM reads the same
tokens the decoder does). With neither, or both weights 0, the search is exactly the
reference's."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from s2t_stream.model.config import DecodingOptions, GenerationConfig
from s2t_stream.model.ctc import NEG, CTCHead, CTCPrefixScorer, resolve_ctc_weight
from s2t_stream.model.lm import Fusion, TokenLM, resolve_lm_weight
from s2t_stream.model.network import EncoderOutput, Speech2Text

CTC_CANDIDATES = 10
"""Tokens per hypothesis and step that joint decoding scores with CTC, eos one of them (at
least 2 · beams)."""


@dataclass(frozen=True)
class SearchSettings:
    """DecodingOptions resolved against a checkpoint's generation config."""

    num_beams: int
    max_length: int
    early_stopping: bool | str
    length_penalty: float
    forced_bos_token_id: int | None
    start_id: int
    eos_id: int
    pad_id: int
    lm_weight: float = 0.0
    ctc_weight: float = 0.0

    @classmethod
    def resolve(
        cls,
        options: DecodingOptions,
        generation: GenerationConfig,
        lm: TokenLM | None = None,
        ctc: CTCHead | None = None,
    ) -> SearchSettings:
        """`options` over the checkpoint's `generation` config; the LM and CTC weights as
        `resolve_lm_weight` and `resolve_ctc_weight` give them (the tuned ones for beam search
        only; S2TError for a weight asked of a model without that part)."""

        def pick(ours: object, theirs: object) -> object:
            return theirs if ours is None else ours

        num_beams = int(pick(options.num_beams, generation.num_beams))  # type: ignore[call-overload]
        greedy = num_beams == 1
        return cls(
            num_beams=num_beams,
            max_length=int(pick(options.max_length, generation.max_length)),  # type: ignore[call-overload]
            early_stopping=pick(options.early_stopping, generation.early_stopping),  # type: ignore[arg-type]
            length_penalty=float(pick(options.length_penalty, generation.length_penalty)),  # type: ignore[arg-type]
            forced_bos_token_id=pick(options.forced_bos_token_id, generation.forced_bos_token_id),  # type: ignore[arg-type]
            start_id=generation.decoder_start_token_id,
            eos_id=generation.eos_token_id,
            pad_id=generation.pad_token_id,
            lm_weight=resolve_lm_weight(options.lm_weight, lm, greedy=greedy),
            ctc_weight=resolve_ctc_weight(options.ctc_weight, ctc, greedy=greedy),
        )

    def ctc_scorer(
        self, ctc: CTCHead | None, encoder: EncoderOutput, rows_per_utterance: int
    ) -> CTCPrefixScorer:
        """This search's CTC side (inactive without `ctc` or at weight 0)."""
        return CTCPrefixScorer(
            ctc,
            self.ctc_weight,
            encoder,
            rows_per_utterance=rows_per_utterance,
            candidates=max(CTC_CANDIDATES, 2 * self.num_beams),
            skip=[t for t in (self.pad_id, self.forced_bos_token_id) if t is not None],
            eos=self.eos_id,
        )


@dataclass(frozen=True)
class Hypothesis:
    """Generated tokens (start token excluded; ends with eos unless cut by max_length) and score.

    Beam search: the length-normalised sum of log-probabilities (the reference's
    `sequences_scores`). Greedy: the plain sum of log-probabilities. With joint CTC decoding or
    shallow fusion, each token's log-probability is its joint score (module docstring).
    """

    tokens: tuple[int, ...]
    score: float


def force_first_token(log_probs: Tensor, token: int | None, cur_len: int) -> Tensor:
    """After the start token, only `token` is allowed (its score set to 0, as the reference)."""
    if token is None or cur_len != 1:
        return log_probs
    forced = torch.full_like(log_probs, -float("inf"))
    forced[:, token] = 0.0
    return forced


@torch.inference_mode()
def greedy_search(
    model: Speech2Text,
    encoder: EncoderOutput,
    settings: SearchSettings,
    lm: TokenLM | None = None,
    ctc: CTCHead | None = None,
) -> list[Hypothesis]:
    """One hypothesis per utterance: argmax at each step until eos or max_length."""
    batch = encoder.hidden.shape[0]
    device = encoder.hidden.device
    cache = model.new_cache(encoder)
    fusion = Fusion(lm, settings.lm_weight)
    joint = settings.ctc_scorer(ctc, encoder, 1)
    fused = fusion.active or joint.active
    step = torch.full((batch, 1), settings.start_id, dtype=torch.long, device=device)
    running = torch.ones(batch, dtype=torch.bool, device=device)
    tokens: list[Tensor] = []
    score = torch.zeros(batch, device=device)
    for cur_len in range(1, settings.max_length):
        logits = model.decode(step, cache, last_only=True).float()
        if fused:  # argmax of the joint scores, which are the step's score
            log_probs = joint.add(torch.log_softmax(logits, -1), step[:, 0])
            logits = fusion.add(log_probs, step[:, 0])
        logits = force_first_token(logits, settings.forced_bos_token_id, cur_len)
        best = logits.argmax(-1)  # of the logits when not fused, exactly as the reference
        scores = logits if fused else torch.log_softmax(logits, -1)
        score += torch.where(running, scores.gather(1, best[:, None])[:, 0], 0.0)
        best = torch.where(running, best, settings.pad_id)
        tokens.append(best)
        running &= best != settings.eos_id
        if not running.any():
            break
        step = best[:, None]
    table = torch.stack(tokens, 1).tolist()
    return [
        Hypothesis(_until_eos(row, settings.eos_id), float(s))
        for row, s in zip(table, score.tolist(), strict=True)
    ]


def _until_eos(row: list[int], eos: int) -> tuple[int, ...]:
    return tuple(row[: row.index(eos) + 1]) if eos in row else tuple(row)


@dataclass
class BeamState:
    """Per-utterance beams: running (B, nb) and finished (B, nb) hypotheses, as the reference."""

    running_tokens: Tensor  # (B, nb, max_length) long
    running_scores: Tensor  # (B, nb) summed log-probs; -1e9 marks unusable beams
    finished_tokens: Tensor  # (B, nb, max_length)
    finished_scores: Tensor  # (B, nb) length-normalised
    finished_lengths: Tensor  # (B, nb) sequence lengths incl. the start token
    finished: Tensor  # (B, nb) bool: slot holds a real finished hypothesis
    improvable: Tensor  # (B, 1) bool: running beams may still beat the finished ones

    @classmethod
    def start(cls, batch: int, settings: SearchSettings, device: torch.device) -> BeamState:
        nb, length = settings.num_beams, settings.max_length
        tokens = torch.full((batch, nb, length), settings.pad_id, dtype=torch.long, device=device)
        tokens[:, :, 0] = settings.start_id
        scores = torch.zeros(batch, nb, device=device)
        scores[:, 1:] = NEG  # identical start beams: only the first may expand
        return cls(
            running_tokens=tokens,
            running_scores=scores,
            finished_tokens=tokens.clone(),
            finished_scores=torch.full((batch, nb), NEG, device=device),
            finished_lengths=torch.ones(batch, nb, dtype=torch.long, device=device),
            finished=torch.zeros(batch, nb, dtype=torch.bool, device=device),
            improvable=torch.ones(batch, 1, dtype=torch.bool, device=device),
        )


@torch.inference_mode()
def beam_search(
    model: Speech2Text,
    encoder: EncoderOutput,
    settings: SearchSettings,
    lm: TokenLM | None = None,
    ctc: CTCHead | None = None,
) -> list[list[Hypothesis]]:
    """`num_beams` hypotheses per utterance, best first (the reference's vectorised beam search)."""
    batch, nb = encoder.hidden.shape[0], settings.num_beams
    device = encoder.hidden.device
    state = BeamState.start(batch, settings, device)
    cache = model.new_cache(encoder)
    fusion = Fusion(lm, settings.lm_weight)
    joint = settings.ctc_scorer(ctc, encoder, nb)
    row_offset = (torch.arange(batch, device=device) * nb)[:, None]  # (B, 1)
    cur_len = 1
    while True:
        step = state.running_tokens[:, :, cur_len - 1].reshape(batch * nb, 1)
        logits = model.decode(step, cache, last_only=True).float()
        log_probs = joint.add(torch.log_softmax(logits, -1), step[:, 0])
        log_probs = force_first_token(
            fusion.add(log_probs, step[:, 0]),
            settings.forced_bos_token_id,
            cur_len,
        )
        top_scores, top_beams, top_tokens = _top_candidates(state, log_probs, nb)
        hit = (top_tokens == settings.eos_id) | (cur_len + 1 >= settings.max_length)
        candidates = state.running_tokens.gather(
            1, top_beams[:, :, None].expand(-1, -1, settings.max_length)
        ).clone()
        candidates[:, :, cur_len] = top_tokens
        _finish(state, settings, candidates, top_scores, hit, cur_len)
        survivors = _continue(state, candidates, top_scores, hit, nb)
        rows = (top_beams.gather(1, survivors) + row_offset).reshape(-1)
        cache.reorder(rows)
        fusion.reorder(rows)
        joint.reorder(rows)
        cur_len += 1
        _update_improvable(state, settings, cur_len)
        full = bool(state.finished.all()) and settings.early_stopping is True
        if not state.improvable.any() or full or bool(hit.all()):
            break
    return _collect(state)


def _top_candidates(state: BeamState, log_probs: Tensor, nb: int) -> tuple[Tensor, Tensor, Tensor]:
    """Best 2·nb (beam, token) continuations per utterance: scores, beams, tokens, each (B, 2nb)."""
    batch = state.running_scores.shape[0]
    vocab = log_probs.shape[-1]
    total = (log_probs.view(batch, nb, vocab) + state.running_scores[:, :, None]).view(batch, -1)
    top_scores, top_index = torch.topk(total, k=2 * nb)
    return top_scores, top_index // vocab, top_index % vocab


def _finish(
    state: BeamState,
    settings: SearchSettings,
    candidates: Tensor,
    top_scores: Tensor,
    hit: Tensor,
    cur_len: int,
) -> None:
    """Move candidates that end here (eos or max_length) into the finished set if good enough.

    Only the first nb of the 2·nb ranked candidates may finish; a full set stops taking new ones
    under early_stopping=True, and so does an utterance that can no longer improve.
    """
    nb = settings.num_beams
    may_finish = hit.clone()
    may_finish[:, nb:] = False
    normalised = top_scores / ((cur_len + 1 - 1) ** settings.length_penalty)
    full = state.finished.all(-1, keepdim=True) & (settings.early_stopping is True)
    normalised = normalised + full.float() * NEG
    normalised = normalised + (~state.improvable).float() * NEG
    normalised = normalised + (~may_finish).float() * NEG
    scores = torch.cat([state.finished_scores, normalised], 1)
    keep = torch.topk(scores, k=nb)[1]
    tokens = torch.cat([state.finished_tokens, candidates], 1)
    lengths = torch.cat(
        [state.finished_lengths, torch.full_like(hit, cur_len + 1, dtype=torch.long)], 1
    )
    state.finished_tokens = tokens.gather(1, keep[:, :, None].expand(-1, -1, tokens.shape[2]))
    state.finished_scores = scores.gather(1, keep)
    state.finished_lengths = lengths.gather(1, keep)
    state.finished = torch.cat([state.finished, may_finish], 1).gather(1, keep)


def _continue(
    state: BeamState, candidates: Tensor, top_scores: Tensor, hit: Tensor, nb: int
) -> Tensor:
    """Best nb candidates that did not end become the running beams; returns their ranks (B, nb)."""
    scores = top_scores + hit.float() * NEG
    survivors = torch.topk(scores, k=nb)[1]
    state.running_tokens = candidates.gather(
        1, survivors[:, :, None].expand(-1, -1, candidates.shape[2])
    )
    state.running_scores = scores.gather(1, survivors)
    return survivors


def _update_improvable(state: BeamState, settings: SearchSettings, cur_len: int) -> None:
    """Could the best running beam still beat the worst finished one? (reference heuristic)"""
    if settings.early_stopping == "never" and settings.length_penalty > 0.0:
        length = settings.max_length - 1
    else:
        length = cur_len - 1
    best_running = state.running_scores[:, :1] / (length**settings.length_penalty)
    worst_finished = torch.where(state.finished, state.finished_scores.min(1, keepdim=True)[0], NEG)
    state.improvable &= (best_running > worst_finished).any(-1, keepdim=True)


def _collect(state: BeamState) -> list[list[Hypothesis]]:
    results = []
    tokens = state.finished_tokens.tolist()
    lengths = state.finished_lengths.tolist()
    scores = state.finished_scores.tolist()
    for b in range(len(tokens)):
        results.append(
            [
                Hypothesis(tuple(tokens[b][j][1 : lengths[b][j]]), scores[b][j])
                for j in range(len(tokens[b]))
            ]
        )
    return results


def search(
    model: Speech2Text,
    encoder: EncoderOutput,
    settings: SearchSettings,
    lm: TokenLM | None = None,
    ctc: CTCHead | None = None,
) -> list[Hypothesis]:
    """The best hypothesis per utterance, greedy when num_beams is 1; joint with `ctc` when
    `settings.ctc_weight` > 0, fused with `lm` when `settings.lm_weight` > 0."""
    if settings.num_beams == 1:
        return greedy_search(model, encoder, settings, lm, ctc)
    return [beams[0] for beams in beam_search(model, encoder, settings, lm, ctc)]
