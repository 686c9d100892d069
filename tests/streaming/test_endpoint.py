"""Endpoint rules: frame labels → segment starts and ends."""

from __future__ import annotations

import numpy as np
import pytest

from s2t_stream.streaming.endpoint import Boundary, Endpointer, EndpointOptions, split_at_pauses

FRAME_S = 0.03  # the WebRTC detector's frame


def labels(pattern: str) -> list[bool]:
    """'s' = a 30 ms speech frame, '.' = non-speech."""
    return [c == "s" for c in pattern]


def test_endpointer_starts_with_pre_roll_and_ends_after_silence() -> None:
    options = EndpointOptions(min_speech_s=0.09, pre_roll_s=0.3, end_silence_s=0.3)
    endpointer = Endpointer(options, FRAME_S)
    found = endpointer.accept(labels("." * 20 + "s" * 10 + "." * 12))
    # speech starts at frame 20 (0.6 s); the 3rd speech frame confirms it; pre-roll 0.3 s
    assert found[0] == Boundary("start", pytest.approx(0.3))
    # last speech frame ends at 30 · 30 ms = 0.9 s; 10 silent frames later (0.3 s) it ends
    assert found[1] == Boundary("end", pytest.approx(1.2))
    assert len(found) == 2


def test_endpointer_ignores_blips_and_short_pauses() -> None:
    endpointer = Endpointer(EndpointOptions(min_speech_s=0.09, end_silence_s=0.3), FRAME_S)
    assert endpointer.accept(labels("..ss..s..ss....")) == []  # never 3 speech frames in a row
    found = endpointer.accept(labels("sss" + ".." * 4 + "sss" + "." * 5))
    assert [b.kind for b in found] == ["start"]  # pauses of 0.24 s and 0.15 s do not end it


def test_next_segment_never_starts_before_the_last_ended() -> None:
    endpointer = Endpointer(
        EndpointOptions(min_speech_s=0.09, pre_roll_s=1.0, end_silence_s=0.3), FRAME_S
    )
    found = endpointer.accept(labels("sss" + "." * 10 + "sss"))
    assert [b.kind for b in found] == ["start", "end", "start"]
    assert found[2].time_s == pytest.approx(found[1].time_s)


def test_long_stretches_are_cut_in_their_longest_pause() -> None:
    # speech, a 2-frame pause at 4–5, speech, a 4-frame pause at 12–15, speech
    speech = labels("ssss..ssssss....ssssssss")
    loudness = np.ones(len(speech))
    pieces = split_at_pauses(0, len(speech), speech, loudness, longest=16)
    assert pieces == [(0, 14), (14, len(speech))]  # the middle of the longer pause


def test_without_a_pause_the_quietest_frame_is_cut_and_every_piece_fits() -> None:
    speech = labels("s" * 40)
    loudness = np.full(len(speech), 1.0)
    loudness[13] = 0.1
    pieces = split_at_pauses(0, 40, speech, loudness, longest=16)
    assert pieces[0] == (0, 13)
    assert all(0 < b - a <= 16 for a, b in pieces)
    assert [a for a, _ in pieces[1:]] == [b for _, b in pieces[:-1]] and pieces[-1][1] == 40
    assert len(split_at_pauses(0, 10, labels("s" * 10), np.ones(10), longest=1)) == 10
