"""bench/steered_server.py, the launcher of bench_server.py's `--decode realistic`: its model
ends every hypothesis at round(tokens per second × window seconds) tokens (the forced prefix
counted, the start token not), row by row in a padded batch, in greedy and beam search, while
every other logit is the wrapped model's own."""

from __future__ import annotations

import copy
from types import ModuleType

import pytest
import torch

from s2t_stream.model.config import DecodingOptions, GenerationConfig, ModelConfig
from s2t_stream.model.incremental import continue_greedy
from s2t_stream.model.network import EncoderOutput, Speech2Text, concat_outputs
from s2t_stream.model.search import SearchSettings, search
from tests.helpers import TINY, script_module

EOS, PAD, RATE = 2, 1, 3.5


def launcher() -> ModuleType:
    return script_module("steered_server")


def models() -> tuple[Speech2Text, Speech2Text]:
    """A tiny random model and the same weights ending on time."""
    torch.manual_seed(0)
    plain = Speech2Text(ModelConfig(**{**TINY, "dropout": 0.0})).eval()
    return plain, launcher().end_on_time(copy.deepcopy(plain), RATE, EOS)


def window(model: Speech2Text, seconds: float) -> EncoderOutput:
    """The encoder output of `seconds` of random features (100 frames a second; 4× fewer
    encoder frames, 40 ms each)."""
    features = torch.randn(1, round(100 * seconds), 80, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return model.encode(features)


@pytest.mark.parametrize(("seconds", "beams"), [(10.0, 1), (4.0, 1), (10.0, 3)])
def test_offline_search_ends_at_the_rate(seconds: float, beams: int) -> None:
    _, model = models()
    settings = SearchSettings.resolve(
        DecodingOptions(num_beams=beams, max_length=200), GenerationConfig()
    )
    (hypothesis,) = search(model, window(model, seconds), settings)
    *tokens, last = hypothesis.tokens
    assert len(tokens) == round(RATE * seconds) and last == EOS  # 35 or 14 tokens, then eos
    assert EOS not in tokens


def test_streaming_rows_end_at_their_own_windows_length_counting_the_prefix() -> None:
    _, model = models()
    # 10 s, 4 s and 2 s windows in one padded batch: 35, 14 and 7 tokens; the last row's prefix
    # (8 tokens after the start token) is already longer, so it ends at once
    encoder = concat_outputs([window(model, s) for s in (10.0, 4.0, 2.0)])
    prefixes = [[EOS, 7, 8, 9], [EOS, 5], [EOS, *range(10, 18)]]
    results = continue_greedy(
        model, encoder, prefixes, eos_id=EOS, pad_id=PAD, max_new=[100] * 3, align_layers=(0,)
    )
    assert [len(r.tokens) for r in results] == [32, 13, 0]
    assert all(r.ended for r in results)


def test_the_logits_are_the_models_own_but_for_eos() -> None:
    plain, model = models()
    encoder = window(plain, 3.0)
    ids = torch.tensor([[EOS, *range(10, 30)]])
    with torch.inference_mode():
        expected = plain.decode(ids, plain.new_cache(encoder))
        got = model.decode(ids, model.new_cache(encoder))
    others = torch.arange(expected.shape[-1]) != EOS
    assert torch.equal(got[..., others], expected[..., others])
    # 3 s: 10 tokens; the position after the 10th token (index 10) is the first where eos wins
    winners = got[0].argmax(-1)
    assert (winners[10:] == EOS).all() and (winners[:10] != EOS).all()
    assert got[0, :10, EOS].eq(-torch.inf).all()


def test_a_rate_must_be_positive() -> None:
    plain, _ = models()
    with pytest.raises(ValueError, match="tokens_per_s must be > 0, got 0"):
        launcher().end_on_time(plain, 0.0, EOS)


def test_only_the_served_model_is_steered() -> None:
    """`serve` loads a translation model beside the served one through the same loader: only
    `--model`'s ends on time."""
    from types import SimpleNamespace

    loaded: list[tuple[str, str | None]] = []

    def load_model(args: object, flag: str = "--model", default: str | None = None) -> object:
        loaded.append((flag, default))
        model = Speech2Text(ModelConfig(**{**TINY, "dropout": 0.0})).eval()
        return SimpleNamespace(model=model, generation=GenerationConfig())

    module = launcher()
    load = module.steered(load_model, 3.5)
    served = load(None)
    beside = load(None, "--translation-model", "st-dir")
    assert isinstance(served.model, module.EndsOnTime)
    assert type(beside.model) is Speech2Text
    assert loaded == [("--model", None), ("--translation-model", "st-dir")]
