"""Commit policies (LocalAgreement, AlignAtt) and the whole-word boundary."""

from __future__ import annotations

import pytest

from s2t_stream.streaming.policy import AlignAtt, LocalAgreement, PolicyOptions, word_boundary


def test_local_agreement_commits_the_common_prefix_of_the_last_n() -> None:
    policy = LocalAgreement(2)
    assert policy.stable([5, 6, 7], [0, 1, 2], 10) == 0  # one hypothesis: nothing agreed yet
    assert policy.stable([5, 6, 8, 9], [0, 1, 2, 3], 10) == 2
    policy.committed(2)
    assert policy.stable([8, 9, 4], [2, 3, 4], 10) == 2  # history was re-based on the prefix
    three = LocalAgreement(3)
    three.stable([1, 2], [0, 0], 5)
    three.stable([1, 2], [0, 0], 5)
    assert three.stable([1, 3], [0, 0], 5) == 1


def test_alignatt_stops_at_the_first_token_looking_at_the_border() -> None:
    policy = AlignAtt(border_frames=3)
    assert policy.stable([1, 2, 3, 4], [1, 4, 7, 2], 10) == 2  # frame 7 ≥ 10 − 3
    assert policy.stable([1, 2], [0, 1], 10) == 2
    with pytest.raises(ValueError, match="alignatt"):
        PolicyOptions(name="wait-k")  # type: ignore[arg-type]


def test_word_boundary_backs_off_to_whole_words() -> None:
    starts = [False] * 10
    starts[1] = starts[4] = True  # tokens 1 and 4 begin words
    tokens = [1, 2, 4, 5, 1]
    assert word_boundary(tokens, 2, starts) == 2  # next token 4 starts a word
    assert word_boundary(tokens, 3, starts) == 2  # next token 5 continues "4 5"
    assert word_boundary(tokens, 5, starts) == 4  # the last word may still grow
    assert word_boundary(tokens, 1, starts) == 0
