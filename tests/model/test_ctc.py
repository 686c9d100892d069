"""The CTC head (`model/ctc.py`) and joint CTC/attention decoding in search: prefix scores
against a brute-force sum over every alignment, hypothesis scores against the two models'
probabilities computed apart, and the files."""

from __future__ import annotations

import itertools
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from s2t_stream.errors import CheckpointError, OptionsError, S2TError
from s2t_stream.model.addons import vocabulary_fingerprint
from s2t_stream.model.checkpoint import load_bundle, save_bundle
from s2t_stream.model.config import DecodingOptions, GenerationConfig
from s2t_stream.model.ctc import (
    CTCConfig,
    CTCHead,
    CTCPrefixScorer,
    extend_prefixes,
    load_ctc,
    save_ctc,
)
from s2t_stream.model.incremental import align_tokens, continue_greedy
from s2t_stream.model.lm import LMConfig, TokenLM
from s2t_stream.model.network import EncoderOutput, Speech2Text
from s2t_stream.model.search import SearchSettings, beam_search, greedy_search
from tests.helpers import EOS, TINY, random_features, reference_pair

PAD = 1
BLANK = 0
BUNDLED = Path(__file__).resolve().parents[2] / "assets" / "models" / "s2t-demo-en"


def collapse(alignment: tuple[int, ...]) -> list[int]:
    """CTC's many-to-one map: merge repeats, then drop blanks."""
    merged = [s for i, s in enumerate(alignment) if i == 0 or s != alignment[i - 1]]
    return [s for s in merged if s != BLANK]


def brute_prefix(log_probs: torch.Tensor, prefix: list[int]) -> float:
    """log Σ p(alignment) over every alignment of the (T, V) frames whose labels start with
    `prefix`: the definition of the CTC prefix probability, by enumeration."""
    frames, vocab = log_probs.shape
    total = 0.0
    for alignment in itertools.product(range(vocab), repeat=frames):
        if collapse(alignment)[: len(prefix)] == prefix:
            total += math.exp(sum(float(log_probs[t, s]) for t, s in enumerate(alignment)))
    return math.log(total) if total > 0 else -math.inf


def test_prefix_scores_equal_the_sum_over_every_alignment_that_starts_with_them() -> None:
    """Two rows of one step each, from the empty prefix through repeats (a repeated token must
    pass through a blank), the second row with only 4 of its 6 frames valid."""
    torch.manual_seed(0)
    vocab, frames = 4, 6
    x = torch.log_softmax(3 * torch.randn(2, frames, vocab, dtype=torch.float64), -1)
    valid = torch.tensor([6, 4])
    forward = torch.full((2, frames, 2), -math.inf, dtype=torch.float64)
    forward[..., 1] = torch.cumsum(x[..., BLANK], 1)
    last = torch.tensor([-1, -1])
    candidates = torch.tensor([[1, 2, 3], [3, 2, 1]])
    prefixes: list[list[int]] = [[], []]
    for chosen in ([2, 3], [2, 3], [1, 1]):  # → [2, 2, 1] and [3, 3, 1]
        ctc = torch.stack([x[n][:, candidates[n]] for n in range(2)])
        extended, scores = extend_prefixes(ctc, x[..., BLANK], valid, forward, last, candidates)
        for n in range(2):
            for k, token in enumerate(candidates[n].tolist()):
                expected = brute_prefix(x[n, : valid[n]], [*prefixes[n], token])
                assert float(scores[n, k]) == pytest.approx(expected, abs=1e-9)
        k = torch.tensor([candidates[n].tolist().index(chosen[n]) for n in range(2)])
        forward, last = extended[torch.arange(2), k], torch.tensor(chosen)
        prefixes = [[*prefixes[n], chosen[n]] for n in range(2)]
    for n in range(2):  # the whole sequence: the last valid frame's forward variables
        full = forward[n, valid[n] - 1].logsumexp(-1)
        loss = F.ctc_loss(
            x[n, : valid[n], None],
            torch.tensor([prefixes[n]]),
            valid[n : n + 1],
            torch.tensor([3]),
            blank=BLANK,
            reduction="sum",
        )
        assert float(full) == pytest.approx(-float(loss), abs=1e-9)


def random_head(seed: int = 0, weight: float = 0.0, scale: float = 1.0) -> CTCHead:
    torch.manual_seed(seed)
    head = CTCHead(CTCConfig(TINY["vocab_size"], TINY["d_model"], blank=BLANK, weight=weight))
    with torch.no_grad():
        head.proj.weight.mul_(scale)
    return head.eval()


def random_lm(seed: int = 0) -> TokenLM:
    torch.manual_seed(seed)
    return TokenLM(LMConfig(TINY["vocab_size"], embed_dim=16, hidden_dim=32)).eval()


def tiny_model() -> Speech2Text:
    _, ours = reference_pair(TINY, seed=3, eos_bias=1.0, tie_word_embeddings=False)
    return ours


def settings(num_beams: int, ctc_weight: float, **options: object) -> SearchSettings:
    """Search settings; a weight > 0 resolves against a stand-in head (the one searched with
    is passed to the search itself)."""
    chosen = {"max_length": 20, **options, "num_beams": num_beams, "ctc_weight": ctc_weight}
    return SearchSettings.resolve(
        DecodingOptions(**chosen),  # type: ignore[arg-type]
        GenerationConfig(),
        ctc=random_head() if ctc_weight > 0 else None,
    )


def _row(encoder: EncoderOutput, n: int) -> EncoderOutput:
    mask = None if encoder.mask is None else encoder.mask[n : n + 1]
    return EncoderOutput(encoder.hidden[n : n + 1], mask)


@pytest.mark.parametrize("num_beams", [1, 4])
@pytest.mark.parametrize("forced", [None, 5])
def test_joint_scores_are_attention_plus_ctc_sequence_probability(
    num_beams: int, forced: int | None
) -> None:
    """The CTC terms of a hypothesis telescope: its score is (1 − μ) Σ log p_att + μ log
    p_ctc(tokens | x) (over its length for beam search), p_ctc the whole sequence's CTC
    probability without eos and a forced first token. Rows mixed up in a batch, a beam's
    reorder lost or a state advanced on the wrong token would break the sums."""
    model, head, weight = tiny_model(), random_head(seed=4, scale=4.0), 0.4
    encoder = model.encode(*random_features([40, 33, 21], dim=80, seed=5))
    found = settings(
        num_beams, weight, length_penalty=1.0, early_stopping=True, forced_bos_token_id=forced
    )
    if num_beams == 1:
        hypotheses = [[h] for h in greedy_search(model, encoder, found, ctc=head)]
    else:
        hypotheses = beam_search(model, encoder, found, ctc=head)
    checked = 0
    for row, beams in enumerate(hypotheses):
        single = _row(encoder, row)
        frames = int(single.mask.sum()) if single.mask is not None else single.hidden.shape[1]
        ctc = head(single.hidden).detach()[0, :frames]
        for hyp in beams:
            assert hyp.tokens[-1] == EOS, "a hypothesis cut by max_length: raise max_length"
            sequence = [EOS, *hyp.tokens]
            att = sum(
                align_tokens(model, single, [sequence], pad_id=PAD, align_layers=(0,))[0].log_probs
            )
            labels = [t for t in hyp.tokens[:-1] if t != forced]
            if forced is not None:
                assert hyp.tokens[0] == forced
            log_p_ctc = -F.ctc_loss(
                ctc[:, None].double(),
                torch.tensor([labels], dtype=torch.long),
                torch.tensor([frames]),
                torch.tensor([len(labels)]),
                blank=BLANK,
                reduction="sum",
            )
            if forced is not None:  # the forced step scores 0 whatever the models say
                att -= float(
                    align_tokens(model, single, [sequence[:2]], pad_id=PAD, align_layers=(0,))[
                        0
                    ].log_probs[0]
                )
            total = (1 - weight) * att + weight * float(log_p_ctc)
            expected = total / len(hyp.tokens) if num_beams > 1 else total
            assert hyp.score == pytest.approx(expected, abs=1e-3)
            checked += 1
    assert checked == len(hypotheses) * num_beams


def test_a_confident_ctc_head_decides_the_tokens_and_weight_zero_is_the_plain_search() -> None:
    """A head certain that every frame says 7 (which CTC reads as one 7) and a large weight:
    every search writes 7 once, then ends; at weight 0 the head changes nothing."""
    model, head = tiny_model(), random_head()
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.fill_(-30.0)
        head.proj.bias[7] = 30.0
    encoder = model.encode(*random_features([30], dim=80, seed=2))
    assert greedy_search(model, encoder, settings(1, 0.0))[0].tokens != (7, EOS)
    assert greedy_search(model, encoder, settings(1, 0.9), ctc=head)[0].tokens == (7, EOS)
    assert beam_search(model, encoder, settings(3, 0.9), ctc=head)[0][0].tokens == (7, EOS)
    plain = settings(3, 0.0)
    assert beam_search(model, encoder, plain, ctc=head) == beam_search(model, encoder, plain)
    greedy = settings(1, 0.0)
    assert greedy_search(model, encoder, greedy, ctc=head) == greedy_search(model, encoder, greedy)


def test_a_half_precision_model_decodes_with_its_float32_head() -> None:
    """Loading in bf16 or fp16 keeps the small head in float32; it takes the model's states
    in any precision, and still decides: a head certain of 7 makes both searches write 7,
    then end, where the decoder ranks 7 among its candidates (the first row)."""
    model, head = tiny_model().to(torch.bfloat16), random_head()
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.fill_(-30.0)
        head.proj.bias[7] = 30.0
    features, mask = random_features([40, 33], dim=80, seed=5)
    encoder = model.encode(features.to(torch.bfloat16), mask)
    plain = greedy_search(model, encoder, settings(1, 0.0), ctc=head)[0].tokens
    greedy = greedy_search(model, encoder, settings(1, 0.9), ctc=head)[0].tokens
    beam = beam_search(model, encoder, settings(3, 0.9), ctc=head)[0][0].tokens
    assert plain != (7, EOS)
    assert greedy == beam == (7, EOS)


def test_inactive_scorer_leaves_scores_unchanged() -> None:
    model = tiny_model()
    encoder = model.encode(*random_features([12], dim=80, seed=1))
    scorer = CTCPrefixScorer(None, 0.5, encoder)
    scores = torch.randn(1, TINY["vocab_size"])
    assert not scorer.active
    assert scorer.add(scores, torch.tensor([EOS])) is scores


def test_beam_search_takes_the_heads_tuned_weight_unless_told_and_greedy_only_when_told() -> None:
    """Greedy search decodes as the streaming engine does, with the decoder alone, unless a
    weight is asked for."""
    head = random_head(weight=0.3)
    generation = GenerationConfig(num_beams=5)

    def weight(head: CTCHead | None, **options: object) -> float:
        decoding = DecodingOptions(**options)  # type: ignore[arg-type]
        return SearchSettings.resolve(decoding, generation, ctc=head).ctc_weight

    assert weight(head) == 0.3
    assert weight(head, ctc_weight=0.0) == 0.0
    assert weight(None) == 0.0
    assert weight(head, num_beams=1) == 0.0
    assert weight(head, num_beams=1, ctc_weight=0.2) == 0.2
    with pytest.raises(S2TError, match=r"--ctc-weight 0.5: the model has no CTC head"):
        weight(None, ctc_weight=0.5)
    for bad in (1.0, -0.1, float("nan"), True):
        with pytest.raises(OptionsError, match=r"ctc_weight must be a number in \[0, 1\)"):
            DecodingOptions(ctc_weight=bad)


def test_saved_head_loads_with_the_model_and_a_wrong_width_is_refused(tmp_path: Path) -> None:
    if not (BUNDLED / "config.json").is_file():
        pytest.skip(f"no bundled model at {BUNDLED}")
    model_dir = tmp_path / "model"
    shutil.copytree(BUNDLED, model_dir, ignore=shutil.ignore_patterns("ctc", "lm"))
    bundle = load_bundle(model_dir)
    assert bundle.ctc is None
    config = CTCConfig(
        bundle.config.vocab_size,
        bundle.config.d_model,
        weight=0.2,
        vocabulary=vocabulary_fingerprint(bundle.tokenizer.pieces()),
    )
    head = CTCHead(config)
    save_ctc(head, model_dir)
    loaded = load_bundle(model_dir).ctc
    assert loaded is not None and loaded.config == config
    hidden = torch.randn(1, 5, config.d_model)
    torch.testing.assert_close(loaded(hidden), head(hidden), atol=3e-2, rtol=0)  # fp16 on disk
    save_bundle(load_bundle(model_dir), tmp_path / "saved")  # saving again keeps the head
    saved = load_bundle(tmp_path / "saved").ctc
    assert saved is not None and saved.config == config
    save_ctc(CTCHead(replace(config, d_model=config.d_model + 1)), model_dir)
    with pytest.raises(CheckpointError, match="it belongs to another model"):
        load_bundle(model_dir)


def test_a_broken_ctc_folder_is_a_checkpoint_error_naming_what_is_wrong(tmp_path: Path) -> None:
    pieces = [f"p{i}" for i in range(64)]
    assert load_ctc(tmp_path, 64, 16, pieces) is None  # no ctc/ folder: no head
    folder = tmp_path / "ctc"
    folder.mkdir()
    (folder / "config.json").write_text('{"vocab_size": 64, "d_model": 16}')
    with pytest.raises(CheckpointError, match=r"without model.safetensors"):
        load_ctc(tmp_path, 64, 16, pieces)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match=r"model.safetensors: not a readable safetensors"):
        load_ctc(tmp_path, 64, 16, pieces)
    (folder / "config.json").write_text('{"vocab_size": 64, "d_model": 16, "blank": 64}')
    with pytest.raises(CheckpointError, match=r"not a CTC head config.*blank must be a token"):
        load_ctc(tmp_path, 64, 16, pieces)
    head = CTCHead(CTCConfig(64, 16, vocabulary=vocabulary_fingerprint(pieces)))
    save_ctc(head, tmp_path)
    assert load_ctc(tmp_path, 64, 16, pieces) is not None
    renumbered = [pieces[1], pieces[0], *pieces[2:]]
    with pytest.raises(CheckpointError, match="another vocabulary of the same size"):
        load_ctc(tmp_path, 64, 16, renumbered)
    save_ctc(CTCHead(CTCConfig(32, 16)), tmp_path)
    (folder / "config.json").write_text('{"vocab_size": 64, "d_model": 16}')
    with pytest.raises(CheckpointError, match="not the weights of the CTC head"):
        load_ctc(tmp_path, 64, 16, pieces)


def test_teacher_forced_tokens_that_were_no_candidates_are_read_into_the_prefix() -> None:
    """Tokens forced on the scorer that the decoder does not rank among its best (search
    never does this; a teacher-forcing caller may) are read into the prefix all the same (the
    whole sequence's probability checked against torch's CTC loss); the start token and
    padding are not read."""
    model, head = tiny_model(), random_head(seed=2, scale=3.0)
    encoder = model.encode(*random_features([48, 36], dim=80, seed=3))
    scorer = CTCPrefixScorer(head, 0.5, encoder, candidates=4, skip=[PAD], eos=EOS)
    vocab = TINY["vocab_size"]
    decoder = torch.zeros(2, vocab)
    decoder[:, 40:43] = 5.0  # the decoder's three best: never the tokens read below
    sequences = [[PAD, EOS, 5, 9, 5], [EOS, 7, 7, 30, 12]]  # left-padded, start token first
    for position in range(5):
        scorer.add(decoder, torch.tensor([row[position] for row in sequences]))
    scorer.add(decoder, torch.tensor([PAD, PAD]))  # padding after the end: nothing read
    with torch.no_grad():
        log_probs = head(encoder.hidden).double()
    lengths = encoder.mask.sum(-1) if encoder.mask is not None else None
    assert lengths is not None
    for n, labels in enumerate([[5, 9, 5], [7, 7, 30, 12]]):
        frames = int(lengths[n])
        full = scorer.forward[n, frames - 1].logsumexp(-1)
        loss = F.ctc_loss(
            log_probs[n, :frames, None],
            torch.tensor([labels]),
            torch.tensor([frames]),
            torch.tensor([len(labels)]),
            blank=BLANK,
            reduction="sum",
        )
        assert float(full) == pytest.approx(-float(loss), abs=1e-6)
        assert scorer.last[n] == labels[-1]


@pytest.mark.parametrize("lm_weight", [0.0, 0.5])
def test_streaming_continuations_with_prefixes_drafts_and_budgets_are_joint_greedy_search(
    lm_weight: float,
) -> None:
    """The streaming engine's search (`continue_greedy`) with a CTC scorer continues each
    row's committed prefix exactly as joint greedy search would: rows of different prefixes
    (0, 3 and 1 tokens, so the CTC state reads each at its own left-padded columns), a right
    draft, a wrong one and none (the CTC state must follow the draft only while greedy agrees
    with it), one row stopped early by its budget; with and without an LM on top."""
    model, head, weight = tiny_model(), random_head(seed=5, scale=2.0), 0.4
    lm = random_lm(seed=8) if lm_weight > 0 else None
    encoder = model.encode(*random_features([40, 30, 48], dim=80, seed=9))
    decoding = DecodingOptions(max_length=30, num_beams=1, ctc_weight=weight, lm_weight=lm_weight)
    found = greedy_search(
        model, encoder, SearchSettings.resolve(decoding, GenerationConfig(), lm, head), lm, head
    )
    plain = greedy_search(model, encoder, settings(1, 0.0, max_length=30))
    assert [h.tokens for h in plain] != [h.tokens for h in found], "the head must matter here"
    expected = [h.tokens[:-1] if h.tokens[-1:] == (EOS,) else h.tokens for h in found]
    ks, budgets = (0, 3, 1), (29, 2, 28)
    assert len(expected[0]) > 4 and len(expected[1]) > ks[1] + budgets[1]
    drafts = [list(expected[0][0:4]), [5, 5], []]
    scorer = CTCPrefixScorer(head, weight, encoder, skip=[PAD], eos=EOS)
    results = continue_greedy(
        model, encoder, [[EOS, *t[:k]] for t, k in zip(expected, ks, strict=True)],
        eos_id=EOS, pad_id=PAD, max_new=list(budgets), align_layers=(0, 1), drafts=drafts,
        lm=lm, lm_weight=lm_weight, ctc=scorer,
    )  # fmt: skip
    wanted = [t[k : k + b] for t, k, b in zip(expected, ks, budgets, strict=True)]
    assert [r.tokens for r in results] == wanted
    assert all(h.tokens[-1] == EOS for h in found)
    assert [r.ended for r in results] == [True, False, True]  # the second cut by its budget


def test_a_streaming_scorer_that_does_not_skip_padding_is_refused() -> None:
    """Padding is how a row of the forced pass stands still; a scorer reading it as a token
    would drift from the decoder, so `continue_greedy` refuses one."""
    model, head = tiny_model(), random_head(seed=5, scale=2.0)
    encoder = model.encode(*random_features([20], dim=80, seed=9))
    scorer = CTCPrefixScorer(head, 0.4, encoder, skip=[], eos=EOS)
    with pytest.raises(ValueError, match="must skip the padding token 1"):
        continue_greedy(
            model, encoder, [[EOS]], eos_id=EOS, pad_id=PAD, max_new=[5], align_layers=(0,),
            ctc=scorer,
        )  # fmt: skip
