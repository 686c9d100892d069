"""The token LM (`model/lm.py`) and shallow fusion in search: scores checked against the two
models' log-probabilities computed apart, state handling in batches and beams, and the files."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from s2t_stream.errors import CheckpointError, S2TError
from s2t_stream.model.addons import vocabulary_fingerprint
from s2t_stream.model.checkpoint import Bundle, load_bundle, save_bundle
from s2t_stream.model.config import DecodingOptions, GenerationConfig
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.incremental import align_tokens, continue_greedy
from s2t_stream.model.lm import LMConfig, TokenLM, load_lm, save_lm
from s2t_stream.model.network import EncoderOutput, Speech2Text
from s2t_stream.model.search import SearchSettings, beam_search, greedy_search
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.stream import StreamOptions
from tests.helpers import EOS, TINY, random_features, reference_pair

PAD = 1
BUNDLED = Path(__file__).resolve().parents[2] / "assets" / "models" / "s2t-demo-en"


def random_lm(vocab: int = TINY["vocab_size"], seed: int = 0, weight: float = 0.0) -> TokenLM:
    torch.manual_seed(seed)
    return TokenLM(LMConfig(vocab, embed_dim=16, hidden_dim=32, weight=weight)).eval()


def tiny_model() -> Speech2Text:
    _, ours = reference_pair(TINY, seed=3, eos_bias=1.0, tie_word_embeddings=False)
    return ours


def settings(num_beams: int, lm_weight: float, **options: object) -> SearchSettings:
    """Search settings; a weight > 0 resolves against a stand-in LM (the one searched with is
    passed to the search itself)."""
    return SearchSettings.resolve(
        DecodingOptions(
            **{"max_length": 20, **options, "num_beams": num_beams, "lm_weight": lm_weight}
        ),  # type: ignore[arg-type]
        GenerationConfig(),
        random_lm() if lm_weight > 0 else None,
    )


def test_reading_whole_sequences_matches_stepping_token_by_token() -> None:
    lm = random_lm()
    sequences = [[2, 5, 9, 11], [2, 7], [2, 3, 3]]
    whole, state = lm.start(sequences)
    for n, sequence in enumerate(sequences):
        row_state = None
        for i, token in enumerate(sequence):
            log_probs, row_state = lm.step(torch.tensor([token]), row_state)
            torch.testing.assert_close(log_probs[0], whole[n][i], rtol=1e-5, atol=1e-5)
        assert row_state is not None
        for part in (0, 1):  # h and c
            torch.testing.assert_close(
                row_state[part][:, 0], state[part][:, n], rtol=1e-5, atol=1e-5
            )


def test_a_uniform_lm_shifts_greedy_scores_by_weight_times_log_vocab_per_token() -> None:
    """An LM with all-zero output gives every token log(1/V): fusion then keeps greedy's
    tokens and lowers each step's score by λ·log V, eos included."""
    model, lm = tiny_model(), random_lm()
    with torch.no_grad():
        lm.out.weight.zero_()
        lm.out.bias.zero_()
    encoder = model.encode(*random_features([40, 25], dim=80, seed=1))
    plain = greedy_search(model, encoder, settings(1, 0.0))
    fused = greedy_search(model, encoder, settings(1, 0.5), lm)
    assert [h.tokens for h in fused] == [h.tokens for h in plain]
    assert any(h.tokens[-1] == EOS for h in plain)  # eos is a scored step too
    for p, f in zip(plain, fused, strict=True):
        shift = -0.5 * math.log(TINY["vocab_size"]) * len(p.tokens)
        assert f.score == pytest.approx(p.score + shift, abs=1e-4)


def test_a_strong_lm_decides_the_tokens() -> None:
    """An LM certain of token 7 and a large weight: every step picks 7, greedy and beam."""
    model, lm = tiny_model(), random_lm()
    with torch.no_grad():
        lm.out.weight.zero_()
        lm.out.bias.fill_(-50.0)
        lm.out.bias[7] = 50.0
    encoder = model.encode(*random_features([30], dim=80, seed=2))
    assert set(greedy_search(model, encoder, settings(1, 5.0), lm)[0].tokens) == {7}
    assert set(beam_search(model, encoder, settings(3, 5.0), lm)[0][0].tokens) == {7}
    assert set(greedy_search(model, encoder, settings(1, 0.0), lm)[0].tokens) != {7}


@pytest.mark.parametrize("num_beams", [1, 4])
def test_fused_scores_equal_the_sum_of_both_models_log_probs(num_beams: int) -> None:
    """Each hypothesis's score is Σ log p_ASR + λ Σ log p_LM over its tokens (divided by its
    length for beam search, length_penalty 1), each model scoring the tokens apart: wrong LM
    states (rows mixed up in a batch or by a beam's reorder) would break the sums."""
    model, lm, weight = tiny_model(), random_lm(seed=4), 0.7
    encoder = model.encode(*random_features([40, 33, 21], dim=80, seed=5))
    found = settings(num_beams, weight, length_penalty=1.0, early_stopping=True)
    if num_beams == 1:
        hypotheses = [[h] for h in greedy_search(model, encoder, found, lm)]
    else:
        hypotheses = beam_search(model, encoder, found, lm)
    checked = 0
    for row, beams in enumerate(hypotheses):
        for hyp in beams:
            sequence = [EOS, *hyp.tokens]
            asr = align_tokens(
                model, _row(encoder, row), [sequence], pad_id=PAD, align_layers=(0,)
            )[0].log_probs
            lm_log_probs, _ = lm.start([sequence[:-1]])
            lm_sum = float(lm_log_probs[0].gather(1, torch.tensor(sequence[1:])[:, None]).sum())
            total = sum(asr) + weight * lm_sum
            expected = total / len(hyp.tokens) if num_beams > 1 else total
            assert hyp.score == pytest.approx(expected, abs=1e-3)
            checked += 1
    assert checked == len(hypotheses) * num_beams


def _row(encoder: EncoderOutput, n: int) -> EncoderOutput:
    mask = None if encoder.mask is None else encoder.mask[n : n + 1]
    return EncoderOutput(encoder.hidden[n : n + 1], mask)


def test_weight_zero_is_the_plain_search() -> None:
    model, lm = tiny_model(), random_lm()
    encoder = model.encode(*random_features([40, 25], dim=80, seed=6))
    beam = settings(3, 0.0)
    assert beam_search(model, encoder, beam, lm) == beam_search(model, encoder, beam)
    assert greedy_search(model, encoder, settings(1, 0.0), lm) == greedy_search(
        model, encoder, settings(1, 0.0)
    )


def test_beam_search_takes_the_lms_tuned_weight_unless_told_and_greedy_only_when_told() -> None:
    """The tuned weight is beam search's; greedy search and the streaming engine (greedy)
    fuse only with a weight asked for."""
    lm = random_lm(weight=0.3)
    generation = GenerationConfig(num_beams=5)

    def weight(lm: TokenLM | None, **options: object) -> float:
        decoding = DecodingOptions(**options)  # type: ignore[arg-type]
        return SearchSettings.resolve(decoding, generation, lm).lm_weight

    assert weight(lm) == 0.3
    assert weight(lm, lm_weight=0.0) == 0
    assert weight(None) == 0.0
    assert weight(lm, num_beams=1) == 0.0
    assert weight(lm, num_beams=1, lm_weight=0.2) == 0.2
    with pytest.raises(S2TError, match=r"--lm-weight 0.5: the model has no language model"):
        weight(None, lm_weight=0.5)
    bundle = Bundle(tiny_model(), load_bundle(BUNDLED).tokenizer, generation, FeatureOptions(), "t")
    bundle.lm = lm
    assert Engine(bundle, StreamOptions()).lm_weight == 0.0
    assert Engine(bundle, StreamOptions(lm_weight=0.2)).lm_weight == 0.2


def test_saved_lm_loads_with_the_model_and_a_wrong_vocabulary_is_refused(tmp_path: Path) -> None:
    if not (BUNDLED / "config.json").is_file():
        pytest.skip(f"no bundled model at {BUNDLED}")
    model_dir = tmp_path / "model"
    shutil.copytree(BUNDLED, model_dir, ignore=shutil.ignore_patterns("lm"))
    assert load_bundle(model_dir).lm is None
    vocab = load_bundle(model_dir).config.vocab_size
    lm = random_lm(vocab=vocab, weight=0.25)
    save_lm(lm, model_dir)
    bundle: Bundle = load_bundle(model_dir)
    assert bundle.lm is not None and bundle.lm.config == lm.config
    save_bundle(bundle, tmp_path / "saved")  # saving the bundle again keeps its LM
    saved = load_bundle(tmp_path / "saved").lm
    assert saved is not None and saved.config == lm.config
    tokens = [[2, 10, 20, 30]]
    torch.testing.assert_close(
        bundle.lm.start(tokens)[0][0], lm.start(tokens)[0][0], atol=2e-2, rtol=0
    )  # fmt: skip  (fp16 on disk)
    save_lm(random_lm(vocab=vocab + 1), model_dir)
    with pytest.raises(CheckpointError, match="another model's vocabulary"):
        load_bundle(model_dir)


def test_a_broken_lm_folder_is_a_checkpoint_error_naming_what_is_wrong(tmp_path: Path) -> None:
    pieces = [f"p{i}" for i in range(64)]
    assert load_lm(tmp_path, 64, pieces) is None  # no lm/ folder: no LM
    folder = tmp_path / "lm"
    folder.mkdir()
    (folder / "config.json").write_text('{"vocab_size": 64}')
    with pytest.raises(CheckpointError, match=r"without model.safetensors"):
        load_lm(tmp_path, 64, pieces)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match=r"model.safetensors: not a readable safetensors"):
        load_lm(tmp_path, 64, pieces)
    (folder / "config.json").write_text('{"vocab_size": 64.5}')
    with pytest.raises(CheckpointError, match=r"not an LM config.*vocab_size must be an integer"):
        load_lm(tmp_path, 64, pieces)
    lm = random_lm(vocab=64)
    save_lm(lm, tmp_path)
    assert load_lm(tmp_path, 64, pieces) is not None  # no fingerprint recorded: not checked
    with pytest.raises(CheckpointError, match="an LM of 64 tokens, but the model has 65"):
        load_lm(tmp_path, 65, [*pieces, "p64"])
    lm.config = replace(lm.config, vocabulary=vocabulary_fingerprint(pieces))
    save_lm(lm, tmp_path)
    assert load_lm(tmp_path, 64, pieces) is not None
    renumbered = [pieces[1], pieces[0], *pieces[2:]]  # another SentencePiece model, same size
    with pytest.raises(CheckpointError, match="another vocabulary of the same size"):
        load_lm(tmp_path, 64, renumbered)


@pytest.mark.parametrize("drafts", ["none", "right", "wrong"])
@pytest.mark.parametrize("k", [0, 2])
def test_streaming_fused_greedy_equals_fused_greedy_search(drafts: str, k: int) -> None:
    """The streaming search (left-padded rows, committed prefixes re-forced, drafts checked in
    the same pass) picks what fused greedy search picks, row by row."""
    model, lm, weight = tiny_model(), random_lm(seed=8), 1.0
    encoder = model.encode(*random_features([40, 30, 48], dim=80, seed=9))
    found = greedy_search(model, encoder, settings(1, weight, max_length=30), lm)
    expected = [h.tokens[:-1] if h.tokens[-1:] == (EOS,) else h.tokens for h in found]
    plain = greedy_search(model, encoder, settings(1, 0.0, max_length=30))
    assert [h.tokens for h in plain] != [h.tokens for h in found], "the LM must matter here"
    assert all(len(t) > k + 3 for t in expected)
    guesses = {"none": [[]] * 3, "right": [t[k : k + 3] for t in expected], "wrong": [[5, 5]] * 3}
    results = continue_greedy(
        model, encoder, [[EOS, *t[:k]] for t in expected], eos_id=EOS, pad_id=PAD,
        max_new=[29 - k] * 3, align_layers=(0, 1), drafts=guesses[drafts], lm=lm,
        lm_weight=weight,
    )  # fmt: skip
    assert [r.tokens for r in results] == [t[k:] for t in expected]


def test_streaming_fusion_with_rows_of_different_prefixes_drafts_and_budgets() -> None:
    """Left padding differs per row (committed prefixes of 0, 3 and 1 tokens; a right draft,
    a wrong one, none), so the LM's positions must be aligned row by row; one row stops
    early on its token budget while the others run on."""
    model, lm, weight = tiny_model(), random_lm(seed=8), 1.0
    encoder = model.encode(*random_features([40, 30, 48], dim=80, seed=9))
    found = greedy_search(model, encoder, settings(1, weight, max_length=30), lm)
    expected = [h.tokens[:-1] if h.tokens[-1:] == (EOS,) else h.tokens for h in found]
    ks, budgets = (0, 3, 1), (29, 2, 28)
    drafts = [expected[0][0:4], [5, 5], []]
    results = continue_greedy(
        model, encoder, [[EOS, *t[:k]] for t, k in zip(expected, ks, strict=True)],
        eos_id=EOS, pad_id=PAD, max_new=list(budgets), align_layers=(0, 1), drafts=drafts,
        lm=lm, lm_weight=weight,
    )  # fmt: skip
    wanted = [t[k : k + b] for t, k, b in zip(expected, ks, budgets, strict=True)]
    assert [r.tokens for r in results] == wanted
    assert len(results[1].tokens) == 2 < len(expected[1]) - 3  # stopped by its budget
