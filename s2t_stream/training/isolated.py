"""Isolated words: the words a corpus speaks one at a time, in its train-words and test-words
splits.

A word said alone is not the same sound as inside a sentence (full stress, no neighbours, a
short utterance between silences), and the text sources have almost no one-word lines: a corpus
of 14 h has a dozen, each in many voices, and a model trained on it falls back on them: a
fifth to a quarter of its wrong answers to single words and to real spoken digits are one of
that dozen ("hockey", "thriller"). These splits give it the training text's own vocabulary, one
word per utterance (measured: README, "Isolated words").

Pure functions of the sentences and a seed (torch- and I/O-free).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from s2t_stream.training.realsets import DIGIT_WORDS
from s2t_stream.training.texts import StyledSentence

WORDS_STYLE = "words"
"""The style of an isolated-word utterance."""
WORDS_SOURCE = "isolated words of the training sentences"
"""The `StyledSentence.source` of an isolated word."""


def word_vocabulary(sentences: Sequence[StyledSentence]) -> list[str]:
    """Every word of `sentences`, most frequent first, ties in alphabetical order."""
    counts = Counter(word for sentence in sentences for word in sentence.words.split())
    return sorted(counts, key=lambda word: (-counts[word], word))


def isolated_words(
    sentences: Sequence[StyledSentence], train_words: int, test_words: int, seed: int
) -> dict[str, list[StyledSentence]]:
    """Split the `train_words + test_words` most frequent words of `sentences` (`word_vocabulary`)
    into `test-words` (`test_words` of them at random, never a digit word) and `train-words`
    (the rest, most frequent first, and the ten `DIGIT_WORDS`, wherever they rank: digits said
    one at a time, as in a PIN, a menu choice or a phone number read slowly, are a common short
    utterance), as sentences of one word, style `WORDS_STYLE`.

    So a test word is one the model heard only inside sentences. Deterministic in `seed`. Raises
    ValueError for a negative count.
    """
    if train_words < 0 or test_words < 0:
        raise ValueError(f"word counts must be >= 0, got {train_words} and {test_words}")
    if train_words + test_words == 0:
        return {"train-words": [], "test-words": []}
    top = word_vocabulary(sentences)[: train_words + test_words]
    candidates = [word for word in top if word not in DIGIT_WORDS]
    picked = np.random.default_rng([seed, 2]).permutation(len(candidates))[:test_words]
    test = {candidates[i] for i in picked}
    train = [word for word in top if word not in test]
    train += [digit for digit in DIGIT_WORDS if digit not in train]
    return {
        "train-words": [_word_sentence(word) for word in train],
        "test-words": [_word_sentence(word) for word in top if word in test],
    }


def _word_sentence(word: str) -> StyledSentence:
    """A word of spelled text is already what is said and written: no pause to add, no number
    to spell; its caption is the word capitalised."""
    return StyledSentence(WORDS_STYLE, word, word, word.capitalize(), WORDS_SOURCE)
