"""Isolated words: which words of the training sentences are spoken alone, for training and for
testing."""

from __future__ import annotations

import pytest

from s2t_stream.training.isolated import isolated_words, word_vocabulary
from s2t_stream.training.texts import StyledSentence


def _sentences(*texts: str) -> list[StyledSentence]:
    return [StyledSentence("read", t, t, t.capitalize(), "read.txt") for t in texts]


SENTENCES = _sentences("the cat sat", "the dog sat down", "a cat ran", "the end", "two and two")


def test_vocabulary_is_by_count_then_alphabetical() -> None:
    # the 3; cat, sat, two 2; the rest once, a-z
    assert word_vocabulary(SENTENCES) == [
        "the", "cat", "sat", "two", "a", "and", "dog", "down", "end", "ran",
    ]  # fmt: skip


def test_test_words_are_drawn_from_the_top_and_never_trained() -> None:
    words = isolated_words(SENTENCES, train_words=4, test_words=2, seed=0)
    train = [s.words for s in words["train-words"]]
    test = [s.words for s in words["test-words"]]
    assert len(test) == 2 and not set(train) & set(test)
    top = ["the", "cat", "sat", "two", "a", "and"]
    assert set(train) | set(test) == set(top) | {"zero", "one", "three", "four", "five", "six",
                                                 "seven", "eight", "nine"}  # fmt: skip
    assert "two" in train  # a digit word is never held out
    assert train[:4] == [w for w in top if w not in test][:4]  # most frequent first
    assert train[4:] == ["zero", "one", "three", "four", "five", "six", "seven", "eight", "nine"]
    for sentence in words["train-words"] + words["test-words"]:
        assert sentence.style == "words" and sentence.speech == sentence.words
        assert sentence.caption == sentence.words.capitalize()
    assert isolated_words(SENTENCES, 4, 2, seed=0) == words
    draws = {tuple(s.words for s in isolated_words(SENTENCES, 4, 2, seed)["test-words"])
             for seed in range(8)}  # fmt: skip
    assert len(draws) > 1  # the seed decides which words are held out


def test_no_words_and_bad_counts() -> None:
    assert isolated_words(SENTENCES, 0, 0, seed=0) == {"train-words": [], "test-words": []}
    with pytest.raises(ValueError, match="word counts must be >= 0, got -1 and 2"):
        isolated_words(SENTENCES, -1, 2, seed=0)
