"""Streaming search: prefix re-forcing in one pass, left-padded batches and cross-attention
alignment give exactly what token-by-token greedy search gives."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from s2t_stream.model.config import DecodingOptions, GenerationConfig
from s2t_stream.model.incremental import continue_greedy
from s2t_stream.model.network import Speech2Text, concat_outputs
from s2t_stream.model.search import SearchSettings, greedy_search
from tests.helpers import EOS, TINY, random_features, reference_pair

PAD = 1


@pytest.fixture(scope="module")
def pair() -> tuple[Any, Speech2Text]:
    return reference_pair(TINY, seed=11, eos_bias=0.75, tie_word_embeddings=False)


@pytest.fixture(scope="module")
def model(pair: tuple[Any, Speech2Text]) -> Speech2Text:
    return pair[1]


def settings(max_length: int = 30) -> SearchSettings:
    return SearchSettings.resolve(
        DecodingOptions(num_beams=1, max_length=max_length), GenerationConfig()
    )


def continue_one(model: Speech2Text, feats: torch.Tensor, prefix: list[int], limit: int = 29):
    encoder = model.encode(feats)
    return continue_greedy(
        model, encoder, [prefix], eos_id=EOS, pad_id=PAD, max_new=[limit], align_layers=(0, 1)
    )[0]


def test_start_prefix_equals_greedy_search(model: Speech2Text) -> None:
    feats, _ = random_features([48], seed=1)
    expected = greedy_search(model, model.encode(feats), settings())[0].tokens
    result = continue_one(model, feats, [EOS])
    ended = bool(expected) and expected[-1] == EOS
    assert result.ended == ended
    assert result.tokens == (expected[:-1] if ended else expected)
    assert len(result.frames) == len(result.tokens)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_forced_prefix_continues_like_greedy(model: Speech2Text, k: int) -> None:
    feats, _ = random_features([40], seed=2)
    full = continue_one(model, feats, [EOS])
    assert len(full.tokens) > k, "the random model must produce more than k tokens"
    forced = continue_one(model, feats, [EOS, *full.tokens[:k]])
    assert forced.tokens == full.tokens[k:]
    assert forced.ended == full.ended
    # the prefix's alignment comes from the teacher-forced pass and equals the stepwise one
    assert forced.frames == full.frames
    assert forced.log_probs == pytest.approx(full.log_probs, abs=1e-5)


def test_log_probs_are_the_references_transition_scores(pair: tuple[Any, Speech2Text]) -> None:
    ref, model = pair
    feats, mask = random_features([44], seed=3)
    out = ref.generate(
        feats,
        attention_mask=mask,
        num_beams=1,
        do_sample=False,
        max_length=30,
        return_dict_in_generate=True,
        output_scores=True,
    )
    expected = ref.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
    result = continue_one(model, feats, [EOS])
    assert list(result.tokens) == out.sequences[0, 1 : 1 + len(result.tokens)].tolist()
    assert len(result.log_probs) == len(result.tokens) > 3
    assert result.log_probs == pytest.approx(expected[0, : len(result.tokens)].tolist(), abs=1e-4)
    assert all(p < 0 for p in result.log_probs)


def test_left_padded_batch_equals_rows_alone(model: Speech2Text) -> None:
    lengths = [48, 30, 40]
    feats, mask = random_features(lengths, seed=4)
    alone = []
    for b, n in enumerate(lengths):
        row = feats[b : b + 1, :n]
        first = continue_one(model, row, [EOS], limit=4)
        alone.append((row, [EOS, *first.tokens[: b + 1]]))
    singles = [continue_one(model, row, prefix) for row, prefix in alone]
    batch = continue_greedy(
        model,
        model.encode(feats, mask),
        [prefix for _, prefix in alone],
        eos_id=EOS,
        pad_id=PAD,
        max_new=[29, 29, 29],
        align_layers=(0, 1),
    )
    for single, batched in zip(singles, batch, strict=True):
        assert batched.tokens == single.tokens
        assert batched.frames == single.frames
        assert batched.ended == single.ended


def test_joined_encoder_outputs_decode_as_if_alone(model: Speech2Text) -> None:
    """Windows encoded in separate batches, joined into one padded batch for the search."""
    lengths = [20, 48, 44]
    feats, mask = random_features(lengths, seed=5)
    singles = [continue_one(model, feats[b : b + 1, :n], [EOS]) for b, n in enumerate(lengths)]
    joined = concat_outputs(
        [model.encode(feats[:1, :20]), model.encode(feats[1:], mask[1:], isolate_rows=True)]
    )
    assert joined.mask is not None and joined.mask.sum(-1).tolist() == [5, 12, 11]
    batch = continue_greedy(
        model, joined, [[EOS]] * 3, eos_id=EOS, pad_id=PAD, max_new=[29] * 3, align_layers=(0, 1)
    )
    for single, batched in zip(singles, batch, strict=True):
        assert batched.tokens == single.tokens
        assert batched.frames == single.frames


def test_budget_stops_generation(model: Speech2Text) -> None:
    feats, _ = random_features([48], seed=1)
    result = continue_one(model, feats, [EOS], limit=2)
    assert len(result.tokens) <= 2


def test_attention_weights_match_fused_attention(model: Speech2Text) -> None:
    layer = model.decoder.layers[0].encoder_attn
    x = torch.randn(2, 3, 64)
    k, v = layer.keys_values(torch.randn(2, 7, 64))
    mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    mask[1, ..., 5:] = False
    out, weights = layer.attend_with_weights(x, k, v, mask)
    torch.testing.assert_close(out, layer.attend(x, k, v, mask), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[1, :, 5:] == 0)


def test_isolated_rows_encode_as_if_alone(model: Speech2Text) -> None:
    lengths = [48, 29, 37]
    feats, mask = random_features(lengths, seed=5)
    batch = model.encode(feats, mask, isolate_rows=True)
    leaky = model.encode(feats, mask)
    for b, n in enumerate(lengths):
        alone = model.encode(feats[b : b + 1, :n]).hidden[0]
        frames = alone.shape[0]
        torch.testing.assert_close(batch.hidden[b, :frames], alone, atol=1e-5, rtol=1e-5)
        if n < max(lengths):  # the reference's batching differs in the last frames
            assert not torch.allclose(leaky.hidden[b, :frames], alone, atol=1e-5)


def counted(model: Speech2Text, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the number of positions of every decoder call."""
    calls: list[int] = []
    original = model.decode

    def decode(ids: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(ids.shape[1])
        return original(ids, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "decode", decode)
    return calls


@pytest.mark.parametrize(
    "draft",
    [
        "right",  # the true continuation: taken from the pass
        "wrong second",  # greedy disagrees at the second token
        "too long",  # runs past the end of the hypothesis (eos)
        "empty",
    ],
)
def test_drafts_give_greedy_search_result(
    model: Speech2Text, draft: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    feats, _ = random_features([40], seed=2)
    full = continue_one(model, feats, [EOS])
    assert len(full.tokens) > 6, "the random model must produce more than 6 tokens"
    prefix, rest = [EOS, *full.tokens[:2]], list(full.tokens[2:])
    drafts = {
        "right": rest[:3],
        "wrong second": [rest[0], (rest[1] + 1) % 50 + 4, *rest[2:4]],
        "too long": [*rest, 7, 8, 9],
        "empty": [],
    }[draft]
    expected = continue_one(model, feats, prefix)
    calls = counted(model, monkeypatch)
    encoder = model.encode(feats)
    result = continue_greedy(
        model,
        encoder,
        [prefix],
        eos_id=EOS,
        pad_id=PAD,
        max_new=[29],
        align_layers=(0, 1),
        drafts=[drafts],
    )[0]
    assert (result.tokens, result.ended, result.frames) == (
        expected.tokens,
        expected.ended,
        expected.frames,
    )
    assert result.log_probs == pytest.approx(expected.log_probs, abs=1e-5)
    steps = len(expected.tokens) + (1 if expected.ended else 0)  # greedy's decoder calls
    if draft in ("right", "empty"):  # the three right tokens came with the prefix's pass
        assert len(calls) == steps - (3 if draft == "right" else 0)
    if draft == "too long":
        assert len(calls) == 1  # the whole hypothesis came from the pass


def test_drafts_in_a_batch_with_borders_equal_rows_alone(model: Speech2Text) -> None:
    lengths = [48, 30, 40]
    feats, mask = random_features(lengths, seed=4)
    rows = []
    for b, n in enumerate(lengths):
        row = feats[b : b + 1, :n]
        whole = continue_one(model, row, [EOS], limit=8)
        rows.append((row, [EOS, *whole.tokens[:1]], list(whole.tokens[1 : 2 + b])))
    rows[1][2][0] = (rows[1][2][0] + 3) % 50 + 4  # one wrong draft among right ones
    options = {"eos_id": EOS, "pad_id": PAD, "align_layers": (0, 1), "lookahead": 1}
    borders = [6, None, 4]
    singles = [
        continue_greedy(
            model, model.encode(row), [prefix], max_new=[29], border=[limit], **options
        )[0]
        for (row, prefix, _), limit in zip(rows, borders, strict=True)
    ]
    batch = continue_greedy(
        model,
        model.encode(feats, mask, isolate_rows=True),
        [prefix for _, prefix, _ in rows],
        max_new=[29, 29, 29],
        border=borders,
        drafts=[draft for _, _, draft in rows],
        **options,
    )
    for single, batched in zip(singles, batch, strict=True):
        assert (batched.tokens, batched.frames, batched.ended) == (
            single.tokens,
            single.frames,
            single.ended,
        )
