"""Model parity with the reference on random weights: encoder, teacher-forced logits, cache."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from s2t_stream.model.network import (
    PADDING_IDX,
    SinusoidalPositions,
    sinusoid_table,
    subsampled_lengths,
)
from tests.helpers import MULTILINGUAL, SMALL, TINY, random_features, reference_pair

SHAPES = {"tiny": TINY, "small": SMALL, "multilingual": MULTILINGUAL}


@pytest.fixture(scope="module", params=sorted(SHAPES))
def pair(request: pytest.FixtureRequest) -> Any:
    return reference_pair(SHAPES[request.param], seed=1)


@pytest.mark.parametrize("lengths", [[37], [37, 20, 9], [8, 5], [5]])
def test_encoder_and_teacher_forced_logits_match_reference(pair: Any, lengths: list[int]) -> None:
    ref, ours = pair
    feats, mask = random_features(lengths, seed=len(lengths))
    tokens = torch.randint(3, ref.config.vocab_size, (len(lengths), 6))
    tokens[:, 0] = 2
    with torch.no_grad():
        expected = ref(input_features=feats, attention_mask=mask, decoder_input_ids=tokens)
        encoder = ours.encode(feats, mask)
        logits = ours(feats, mask, tokens)
    torch.testing.assert_close(
        encoder.hidden, expected.encoder_last_hidden_state, atol=1e-4, rtol=0
    )
    torch.testing.assert_close(logits, expected.logits, atol=1e-4, rtol=0)
    valid = subsampled_lengths(mask.sum(-1), ref.config.num_conv_layers)
    assert encoder.mask is not None
    assert encoder.mask.sum(-1).tolist() == valid.tolist()


def test_no_mask_equals_all_ones_mask(pair: Any) -> None:
    _, ours = pair
    feats, mask = random_features([23, 23])
    with torch.no_grad():
        unmasked = ours.encode(feats, None).hidden
        masked = ours.encode(feats, mask).hidden
    torch.testing.assert_close(unmasked, masked, atol=1e-6, rtol=0)


def test_incremental_decoding_equals_full_sequence() -> None:
    _, ours = reference_pair(TINY, seed=2)
    feats, mask = random_features([30, 17])
    tokens = torch.randint(3, 64, (2, 9))
    tokens[:, 0] = 2
    with torch.no_grad():
        encoder = ours.encode(feats, mask)
        full = ours.decode(tokens, ours.new_cache(encoder))
        cache = ours.new_cache(encoder)
        steps = [ours.decode(tokens[:, t : t + 1], cache) for t in range(9)]
        # a prefix forced in one pass, then single steps: same logits again
        mixed_cache = ours.new_cache(encoder)
        head = ours.decode(tokens[:, :5], mixed_cache)
        tail = [ours.decode(tokens[:, t : t + 1], mixed_cache) for t in range(5, 9)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat([head, *tail], 1), full, atol=1e-5, rtol=0)
    assert cache.length == 9


def test_pad_inside_decoder_input_uses_reference_positions() -> None:
    ref, ours = reference_pair(TINY, seed=3)
    feats, mask = random_features([30])
    tokens = torch.tensor([[2, 7, PADDING_IDX, 9, 11]])
    with torch.no_grad():
        expected = ref(input_features=feats, attention_mask=mask, decoder_input_ids=tokens).logits
        logits = ours(feats, mask, tokens)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)


def test_cache_reorder_follows_rows() -> None:
    _, ours = reference_pair(TINY, seed=4)
    feats, _ = random_features([25])
    first = torch.tensor([[2, 5, 6], [2, 9, 10], [2, 12, 13]])
    with torch.no_grad():
        encoder = ours.encode(feats)
        cache = ours.new_cache(encoder)
        ours.decode(first, cache)
        cache.reorder(torch.tensor([2, 2, 0]))
        step = torch.tensor([[20], [21], [22]])
        reordered = ours.decode(step, cache)[:, -1]
        expected = ours.decode(torch.cat([first[[2, 2, 0]], step], 1), ours.new_cache(encoder))[
            :, -1
        ]
    torch.testing.assert_close(reordered, expected, atol=1e-5, rtol=0)


def test_cache_truncate_and_reset() -> None:
    _, ours = reference_pair(TINY, seed=5)
    feats, _ = random_features([25])
    tokens = torch.tensor([[2, 5, 6, 7]])
    with torch.no_grad():
        encoder = ours.encode(feats)
        cache = ours.new_cache(encoder)
        ours.decode(tokens, cache)
        cache.truncate(2)
        assert cache.length == 2
        again = ours.decode(tokens[:, 2:], cache)
        expected = ours.decode(tokens, ours.new_cache(encoder))[:, 2:]
        cache.reset()
        assert cache.length == 0
    torch.testing.assert_close(again, expected, atol=1e-5, rtol=0)


def test_position_table_rows_match_reference_and_grow() -> None:
    ref, ours = reference_pair(TINY, seed=0)
    expected = ref.model.encoder.embed_positions.weights
    table = ours.encoder.embed_positions.table
    assert torch.equal(table, expected[: table.shape[0]])
    positions = SinusoidalPositions(64, rows=10)
    far = positions(torch.tensor([[2, 500, 1]]))
    direct = sinusoid_table(501, 64)
    assert torch.equal(far[0, 1], direct[500])
    assert torch.count_nonzero(far[0, 2]) == 0  # padding row


def test_long_decoder_sequences_do_not_overflow_positions() -> None:
    """The reference indexes out of range past max_target_positions; we grow the table."""
    _, ours = reference_pair(TINY, seed=6)  # max_target_positions = 64
    feats, _ = random_features([20])
    tokens = torch.randint(3, 64, (1, 80))
    with torch.no_grad():
        logits = ours(feats, None, tokens)
    assert logits.shape == (1, 80, 64)
    assert torch.isfinite(logits).all()
