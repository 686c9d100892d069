"""Translation scores: corpus BLEU and chrF on normalised texts, and BLEU per group (expected
values computed by sacrebleu on literal, hand-normalised strings)."""

from __future__ import annotations

import pytest
from sacrebleu.metrics import BLEU, CHRF

from s2t_stream.training.bleu import corpus_bleu, corpus_chrf
from s2t_stream.training.wer import grouped

REFS = ["El gato se sentó en la alfombra.", "Un perro corrió en el parque.", "Hola."]
HYPS = ["el GATO se sentó en la alfombra", "un perro corre en el parque!", "adiós"]
NORMAL_REFS = ["el gato se sentó en la alfombra", "un perro corrió en el parque", "hola"]
NORMAL_HYPS = ["el gato se sentó en la alfombra", "un perro corre en el parque", "adiós"]


def test_bleu_and_chrf_score_the_normalised_texts() -> None:
    assert corpus_bleu(REFS, HYPS) == pytest.approx(
        BLEU().corpus_score(NORMAL_HYPS, [NORMAL_REFS]).score
    )
    assert corpus_chrf(REFS, HYPS) == pytest.approx(
        CHRF().corpus_score(NORMAL_HYPS, [NORMAL_REFS]).score
    )
    assert corpus_bleu(REFS[:1], HYPS[:1]) == pytest.approx(100.0)


def test_grouped_bleu_is_the_corpus_bleu_of_each_group() -> None:
    scores = grouped(corpus_bleu, REFS, HYPS, ["b", "a", "b"])
    assert list(scores) == ["a", "b"]
    assert scores["a"] == pytest.approx(
        BLEU().corpus_score(NORMAL_HYPS[1:2], [NORMAL_REFS[1:2]]).score
    )
    both = [0, 2]
    assert scores["b"] == pytest.approx(
        BLEU().corpus_score([NORMAL_HYPS[i] for i in both], [[NORMAL_REFS[i] for i in both]]).score
    )


def test_counts_that_differ_are_refused() -> None:
    with pytest.raises(ValueError, match=r"one hypothesis per reference \(3\), got 2"):
        corpus_bleu(REFS, HYPS[:2])
    with pytest.raises(ValueError, match="got 3, 3 and 2"):
        grouped(corpus_bleu, REFS, HYPS, ["a", "b"])
