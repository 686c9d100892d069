"""Word error rate: normalisation of both sides, pooled counts, groups and joined texts, with the
expected numbers worked out by hand."""

from __future__ import annotations

import pytest

from s2t_stream.training.wer import (
    WordErrors,
    corpus_wer,
    grouped_wer,
    joined_wer,
    normalize,
    word_errors,
)


def test_normalize_is_the_training_normaliser() -> None:
    assert normalize("The CAT, sat!") == "the cat sat"
    assert normalize("Mr. Smith paid 3 dollars.") == "mister smith paid three dollars"
    assert normalize("It cost 1/4 pounds") == ""  # cannot be spelled: no words
    assert normalize("") == ""


def test_word_errors_counts_each_kind() -> None:
    # 1: right once normalised; 2: "mat" -> "hat" substituted, "again" inserted;
    # 3: nothing heard, both words deleted. 8 reference words, 4 errors.
    errors = word_errors(
        ["the cat sat", "on the mat", "two dogs"], ["The CAT, sat!", "on the hat again", ""]
    )
    assert errors == WordErrors(words=8, substitutions=1, deletions=2, insertions=1)
    assert errors.errors == 4
    assert errors.wer == 0.5


def test_references_are_normalised_like_hypotheses() -> None:
    errors = word_errors(["Mr. Smith paid 3 dollars."], ["mister smith paid three dollars"])
    assert errors == WordErrors(words=5, substitutions=0, deletions=0, insertions=0)


def test_corpus_wer_pools_errors_rather_than_averaging_utterances() -> None:
    # 1 error in 5 words: 0.2 (the mean of the utterances' own rates would be 0.5)
    assert corpus_wer(["a", "b c d e"], ["x", "b c d e"]) == pytest.approx(0.2)


def test_references_without_words() -> None:
    # the empty reference's 2 words are insertions; 2 errors over the 2 words of the other
    errors = word_errors(["", "a b"], ["x y", "a b"])
    assert errors == WordErrors(words=2, substitutions=0, deletions=0, insertions=2)
    assert errors.wer == 1.0
    assert word_errors(["", ""], ["x", ""]).wer == 1.0  # no reference words: the insertions
    assert word_errors([""], [""]) == WordErrors(0, 0, 0, 0)
    assert word_errors([], []).wer == 0.0


def test_paired_texts_must_match_in_number() -> None:
    with pytest.raises(ValueError, match=r"one hypothesis per reference \(2\), got 1"):
        word_errors(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="as many references, hypotheses and groups"):
        grouped_wer(["a"], ["a"], ["v1", "v2"])


def test_grouped_wer_scores_each_group_on_its_own() -> None:
    # v1: "c d" right, 0 of 2; v2: "a b" -> "a" (1 deleted), "e" -> "f" (1 substituted), 2 of 3
    result = grouped_wer(["a b", "c d", "e"], ["a", "c d", "f"], ["v2", "v1", "v2"])
    assert list(result) == ["v1", "v2"]  # sorted by group
    assert result == pytest.approx({"v1": 0.0, "v2": 2 / 3})


def test_joined_wer_ignores_where_the_texts_are_cut() -> None:
    refs, hyps = ["the cat", "sat down"], ["the", "cat sat down"]
    assert corpus_wer(refs, hyps) == 0.5  # paired: "cat" deleted, then "cat" inserted
    assert joined_wer(refs, hyps) == 0.0  # "the cat sat down" both ways
    assert joined_wer(["one two", "three"], ["One, two, three."]) == 0.0
    assert joined_wer(["a b", "c"], ["a b", "a4"]) == pytest.approx(1 / 3)  # "c" deleted
    assert joined_wer(["a b"], []) == 1.0  # nothing heard: every word deleted
