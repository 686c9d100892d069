"""Lossless reconnection's bookkeeping (io/resume.py): which audio a new session must hear, and
how its events land on the whole stream's clock and segment numbering."""

from __future__ import annotations

import numpy as np
import pytest

from s2t_stream.io.resume import Resumption
from s2t_stream.streaming.events import Final, Partial, Word

RATE = 16000


def final(segment: int, start_s: float, end_s: float) -> Final:
    return Final(segment, "w", start_s, end_s, end_s + 0.5, 9.0, (Word("w", start_s, end_s),))


def test_a_final_settles_the_audio_before_its_end() -> None:
    resumption = Resumption(RATE)
    audio = np.arange(3 * RATE, dtype=np.float32)  # each sample its own index
    for chunk in np.split(audio, 6):  # sent in 0.5 s messages
        resumption.sent(chunk)
    resumption.place(final(0, 0.2, 1.25))
    pending = resumption.pending()
    assert resumption.kept_from_s == 1.25
    assert pending[0] == 1.25 * RATE and len(pending) == 1.75 * RATE  # from the final's end on
    resumption.place(Partial(1, "x", "", 2.0, 2.0))  # partials settle nothing
    assert len(resumption.pending()) == 1.75 * RATE


def test_a_new_sessions_events_continue_the_stream() -> None:
    resumption = Resumption(RATE)
    resumption.sent(np.zeros(4 * RATE, np.float32))
    resumption.place(final(0, 0.1, 1.0))
    resumption.place(final(1, 1.5, 2.5))
    audio = resumption.restart()  # the old session is lost 4 s in
    assert len(audio) == 1.5 * RATE and resumption.offset_s == 2.5
    # the new session counts from 0 again: its events move 2.5 s on, to segment 2
    moved = resumption.place(final(0, 0.3, 1.0))
    assert isinstance(moved, Final)
    assert (moved.segment, moved.start_s, moved.end_s) == (2, 2.8, 3.5)
    assert moved.words[0].start_s == pytest.approx(2.8) and moved.audio_s == 4.0
    partial = resumption.place(Partial(1, "a", "b", 1.2, 1.2))
    assert (partial.segment, partial.audio_s) == (3, pytest.approx(3.7))
    assert resumption.kept_from_s == 3.5  # the new final settles on the stream's clock
    resumption.restart()  # lost again: the next session's segment 0 is the stream's 3
    assert resumption.segment_base == 3 and resumption.offset_s == 3.5


def test_nothing_kept_after_a_final_at_the_end() -> None:
    resumption = Resumption(RATE)
    resumption.sent(np.zeros(RATE, np.float32))
    resumption.place(final(0, 0.1, 1.0))
    assert len(resumption.pending()) == 0 and resumption.kept == []
