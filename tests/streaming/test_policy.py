"""Commit policies (LocalAgreement, AlignAtt) and the whole-word boundary."""

from __future__ import annotations

import math

import pytest

from s2t_stream.streaming.policy import (
    AlignAtt,
    LocalAgreement,
    PolicyOptions,
    make_policy,
    word_boundary,
)

SURE = [0.0] * 8  # log-probabilities of tokens the model is certain of


def test_local_agreement_commits_the_common_prefix_of_the_last_n() -> None:
    policy = LocalAgreement(2)
    assert policy.stable([5, 6, 7], [0, 1, 2], 10, SURE) == 0  # one hypothesis: none agreed yet
    assert policy.stable([5, 6, 8, 9], [0, 1, 2, 3], 10, SURE) == 2
    policy.committed(2)
    assert policy.stable([8, 9, 4], [2, 3, 4], 10, SURE) == 2  # history re-based on the prefix
    three = LocalAgreement(3)
    three.stable([1, 2], [0, 0], 5, SURE)
    three.stable([1, 2], [0, 0], 5, SURE)
    assert three.stable([1, 3], [0, 0], 5, SURE) == 1


def test_alignatt_stops_at_the_first_token_looking_at_the_border() -> None:
    policy = AlignAtt(border_frames=3)
    assert policy.stable([1, 2, 3, 4], [1, 4, 7, 2], 10, SURE) == 2  # frame 7 ≥ 10 − 3
    assert policy.stable([1, 2], [0, 1], 10, SURE) == 2
    with pytest.raises(ValueError, match="alignatt"):
        PolicyOptions(name="wait-k")  # type: ignore[arg-type]


def test_alignatt_holds_unsure_tokens_until_the_segments_first_commit() -> None:
    policy = AlignAtt(border_frames=3, onset_confidence=0.5, onset_frames=50)
    doubtful = [math.log(0.9), math.log(0.3), math.log(0.9), math.log(0.2)]
    # before any commit: the 0.3 token waits, and so does everything after it
    assert policy.stable([1, 2, 3, 4], [1, 2, 3, 4], 10, doubtful) == 1
    assert policy.stable([2, 3, 4], [2, 3, 4], 10, doubtful[1:]) == 0
    policy.committed(0)  # nothing committed: the rule still holds
    assert policy.stable([2, 3, 4], [2, 3, 4], 10, doubtful[1:]) == 0
    policy.committed(1)  # after the first commit only the border counts
    assert policy.stable([2, 3, 4], [2, 3, 4], 10, doubtful[1:]) == 3
    assert policy.stable([2, 3, 4], [2, 3, 9], 10, doubtful[1:]) == 2  # frame 9 ≥ 10 − 3
    # nor once the window has outgrown the onset, committed or not
    assert AlignAtt(3, 0.5, 50).stable([1, 2, 3, 4], [1, 2, 3, 4], 50, doubtful) == 4
    # the border still binds before the first commit, and 0 turns the rule off
    assert AlignAtt(3, 0.5, 50).stable([1, 2], [8, 1], 10, SURE[:2]) == 0
    assert AlignAtt(3, 0.0, 50).stable([1, 2, 3, 4], [1, 2, 3, 4], 10, doubtful) == 4
    with pytest.raises(ValueError, match="onset confidence"):
        PolicyOptions(onset_confidence=1.5)
    with pytest.raises(ValueError, match="onset must be"):
        PolicyOptions(onset_s=-1)


def test_only_transcription_holds_a_doubted_onset() -> None:
    options = PolicyOptions(border_s=0.12, onset_confidence=0.5, onset_s=2.0)
    doubted = [math.log(0.3), 0.0]
    transcribing = make_policy(options, frame_s=0.04)
    translating = make_policy(options, frame_s=0.04, translating=True)
    assert transcribing.stable([1, 2], [0, 1], 10, doubted) == 0
    assert translating.stable([1, 2], [0, 1], 10, doubted) == 2


def test_word_boundary_backs_off_to_whole_words() -> None:
    starts = [False] * 10
    starts[1] = starts[4] = True  # tokens 1 and 4 begin words
    tokens = [1, 2, 4, 5, 1]
    assert word_boundary(tokens, 2, starts) == 2  # next token 4 starts a word
    assert word_boundary(tokens, 3, starts) == 2  # next token 5 continues "4 5"
    assert word_boundary(tokens, 5, starts) == 4  # the last word may still grow
    assert word_boundary(tokens, 1, starts) == 0
