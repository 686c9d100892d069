"""Greedy and beam search against the reference's `generate`: same tokens, same scores."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from s2t_stream.model.config import GenerationConfig
from s2t_stream.model.search import (
    DecodingOptions,
    Hypothesis,
    SearchSettings,
    beam_search,
    greedy_search,
    search,
)
from tests.helpers import EOS, MULTILINGUAL, SMALL, TINY, random_features, reference_pair

PAD = 1


def reference_generate(
    ref: Any, feats: torch.Tensor, mask: torch.Tensor, **kwargs: Any
) -> tuple[list[list[int]], list[float] | None]:
    if kwargs["num_beams"] > 1:
        kwargs.setdefault("early_stopping", True)
    out = ref.generate(
        feats,
        attention_mask=mask,
        do_sample=False,
        return_dict_in_generate=True,
        output_scores=True,
        **kwargs,
    )
    scores = out.sequences_scores.tolist() if kwargs["num_beams"] > 1 else None
    return out.sequences.tolist(), scores


def as_reference_row(hyp: Hypothesis, width: int) -> list[int]:
    """Our hypothesis as the reference prints it: start token first, padded to the batch width."""
    row = [2, *hyp.tokens]
    return row + [PAD] * (width - len(row))


def run_ours(
    ours: Any, feats: torch.Tensor, mask: torch.Tensor, **options: Any
) -> list[Hypothesis]:
    if options["num_beams"] > 1:
        options.setdefault("early_stopping", True)
    settings = SearchSettings.resolve(DecodingOptions(**options), GenerationConfig())
    with torch.no_grad():
        encoder = ours.encode(feats, mask)
    if settings.num_beams == 1:
        return greedy_search(ours, encoder, settings)
    return [beams[0] for beams in beam_search(ours, encoder, settings)]


def assert_same(
    ours: list[Hypothesis], sequences: list[list[int]], scores: list[float] | None
) -> None:
    width = len(sequences[0])
    assert [as_reference_row(h, width) for h in ours] == sequences
    if scores is not None:
        assert [h.score for h in ours] == pytest.approx(scores, abs=1e-4)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tiny_sweep_matches_reference(seed: int) -> None:
    """Greedy and beams 3/5, two max lengths, with and without a forced first token, batched."""
    ref, ours = reference_pair(TINY, seed=seed, eos_bias=1.0, tie_word_embeddings=False)
    feats, mask = random_features([37, 20, 9], seed=seed)
    ended_early = 0
    for beams, max_length, forced in itertools.product([1, 3, 5], [15, 20], [None, 7]):
        extra = {} if forced is None else {"forced_bos_token_id": forced}
        sequences, scores = reference_generate(
            ref, feats, mask, num_beams=beams, max_length=max_length, **extra
        )
        hyps = run_ours(ours, feats, mask, num_beams=beams, max_length=max_length, **extra)
        assert_same(hyps, sequences, scores if beams > 1 else None)
        if forced is not None:
            assert all(h.tokens[0] == forced for h in hyps)
        ended_early += sum(h.tokens[-1] == EOS and len(h.tokens) < max_length - 1 for h in hyps)
    assert ended_early > 0, "the sweep must exercise eos-terminated hypotheses"


@pytest.mark.parametrize("early_stopping", [False, "never"])
def test_early_stopping_variants(early_stopping: bool | str) -> None:
    ref, ours = reference_pair(TINY, seed=11, eos_bias=0.75, tie_word_embeddings=False)
    feats, mask = random_features([31, 12], seed=3)
    sequences, scores = reference_generate(
        ref,
        feats,
        mask,
        num_beams=4,
        max_length=18,
        early_stopping=early_stopping,
        length_penalty=0.6,
    )
    hyps = run_ours(
        ours,
        feats,
        mask,
        num_beams=4,
        max_length=18,
        early_stopping=early_stopping,
        length_penalty=0.6,
    )
    assert_same(hyps, sequences, scores)


@pytest.mark.parametrize(
    ("shape", "forced"), [(SMALL, None), (MULTILINGUAL, 5)], ids=["small", "multilingual"]
)
def test_published_shapes_greedy_and_beam5(shape: dict[str, Any], forced: int | None) -> None:
    ref, ours = reference_pair(shape, seed=0, eos_bias=0.8)
    feats, mask = random_features([40, 26], seed=5)
    extra = {} if forced is None else {"forced_bos_token_id": forced}
    for beams in (1, 5):
        sequences, scores = reference_generate(
            ref, feats, mask, num_beams=beams, max_length=20, **extra
        )
        hyps = run_ours(ours, feats, mask, num_beams=beams, max_length=20, **extra)
        assert_same(hyps, sequences, scores if beams > 1 else None)


def test_beam_search_returns_sorted_beams_and_search_picks_best() -> None:
    _, ours = reference_pair(TINY, seed=2, eos_bias=0.75, tie_word_embeddings=False)
    feats, mask = random_features([30], seed=1)
    settings = SearchSettings.resolve(
        DecodingOptions(num_beams=4, max_length=16), GenerationConfig()
    )
    with torch.no_grad():
        encoder = ours.encode(feats, mask)
        beams = beam_search(ours, encoder, settings)[0]
        best = search(ours, encoder, settings)[0]
    assert len(beams) == 4
    assert [b.score for b in beams] == sorted((b.score for b in beams), reverse=True)
    assert best == beams[0]


def test_generation_config_defaults_fill_unset_options() -> None:
    generation = GenerationConfig(num_beams=5, max_length=200, early_stopping=True)
    settings = SearchSettings.resolve(DecodingOptions(num_beams=2), generation)
    assert (settings.num_beams, settings.max_length, settings.early_stopping) == (2, 200, True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_beams", 0, "num_beams"),
        ("max_length", 1, "max_length"),
        ("early_stopping", "x", "early"),
    ],
)
def test_bad_decoding_options_name_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DecodingOptions(**{field: value})
