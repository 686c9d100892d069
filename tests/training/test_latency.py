"""Latency metrics on hand-made event lists, with the expected numbers worked out by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from s2t_stream.streaming.events import Event, Final, Partial, Word
from s2t_stream.training.latency import (
    CommittedWord,
    Reference,
    average_lagging,
    commit_times,
    finalisation_latencies,
    first_partial_latencies,
    match_segments,
    plot_latencies,
    sentence_lagging,
    summarise,
)


def final(segment: int, text: str, start: float, end: float, audio: float, wall: float) -> Final:
    return Final(segment, text, start, end, audio, wall, (Word(text.split()[0], start, end),))


REFS = [Reference("one two three four", 1.0, 5.0), Reference("five six", 7.0, 8.0)]
EVENTS: list[Event] = [
    Partial(0, "", "one", 1.5, 1.6),  # first text for sentence 0 at wall 1.6
    Partial(0, "one", "two", 2.0, 2.1),
    Partial(0, "one two three", "", 4.0, 4.3),
    final(0, "one two three four", 1.1, 4.9, 5.5, 5.7),
    Partial(1, "", "", 7.5, 7.6),  # no text yet
    Partial(1, "five", "six", 8.0, 8.2),
    final(1, "five six", 7.0, 8.1, 8.5, 8.8),
    final(2, "noise", 20.0, 21.0, 21.5, 21.6),  # overlaps no sentence
]


def test_commit_times_take_the_first_event_that_commits_each_word() -> None:
    words = commit_times(EVENTS)
    assert words[:4] == [
        CommittedWord(0, 0, "one", 2.0, 2.1),
        CommittedWord(0, 1, "two", 4.0, 4.3),
        CommittedWord(0, 2, "three", 4.0, 4.3),
        CommittedWord(0, 3, "four", 5.5, 5.7),  # only in the final
    ]
    assert [(w.segment, w.word, w.wall_s) for w in words[4:]] == [
        (1, "five", 8.2),
        (1, "six", 8.8),
        (2, "noise", 21.6),
    ]


def test_segments_match_the_sentence_they_overlap_most() -> None:
    finals = [e for e in EVENTS if isinstance(e, Final)]
    assert match_segments(finals, REFS) == {0: 0, 1: 1}
    straddling = final(5, "x", 4.0, 7.6, 8.0, 8.0)  # 1.0 s over sentence 0, 0.6 s over 1
    assert match_segments([straddling], REFS) == {5: 0}


def test_finalisation_and_first_partial_latencies() -> None:
    assert finalisation_latencies(EVENTS, REFS) == pytest.approx([5.7 - 5.0, 8.8 - 8.0])
    assert finalisation_latencies(EVENTS, REFS, aware=False) == pytest.approx([0.5, 0.5])
    # sentence 0: first text at wall 1.6 (start 1.0); sentence 1: at 8.2 (start 7.0)
    assert first_partial_latencies(EVENTS, REFS) == pytest.approx([0.6, 1.2])


def test_average_lagging_by_hand() -> None:
    # source 4 s, 4 reference words, delays 1, 2, 3, 5: τ = 4 (5 ≥ 4), rate 1 s/word
    # AL = ((1 − 0) + (2 − 1) + (3 − 2) + (5 − 3)) / 4 = 1.25
    assert average_lagging([1, 2, 3, 5], 4.0, 4) == pytest.approx(1.25)
    # τ cuts at the first delay ≥ the source: delays 1, 4.5, 6 → τ = 2
    # AL = ((1 − 0) + (4.5 − 1)) / 2 = 2.25
    assert average_lagging([1, 4.5, 6], 4.0, 4) == pytest.approx(2.25)
    # a delay equal to the source counts as reached: delays 1, 4, 6 → τ = 2
    # AL = ((1 − 0) + (4 − 1)) / 2 = 2.0 (with τ = 3 it would be (1 + 3 + 4) / 3)
    assert average_lagging([1, 4, 6], 4.0, 4) == pytest.approx(2.0)
    # no delay reaches the source: τ = all 3 words; AL = ((1 − 0) + (2 − 1) + (3 − 2)) / 3 = 1
    assert average_lagging([1, 2, 3], 4.0, 4) == pytest.approx(1.0)
    # 8 hypothesis words for 4 reference words (τ = 8: only the last delay, 4.0, reaches 4 s)
    delays = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    # AL, rate 4/4 = 1: terms 0.5, 0, −0.5, −1, −1.5, −2, −2.5, −3 → −10 / 8 = −1.25
    assert average_lagging(delays, 4.0, 4) == pytest.approx(-1.25)
    # LAAL, rate 4/8 = 0.5: every term is 0.5 (i·0.5 + 0.5 − i·0.5) → 0.5
    assert average_lagging(delays, 4.0, 4, length_adaptive=True) == pytest.approx(0.5)
    # a hypothesis no longer than the reference: LAAL = AL
    assert average_lagging([1, 2, 3, 5], 4.0, 4, length_adaptive=True) == pytest.approx(1.25)


def test_average_lagging_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one emitted word"):
        average_lagging([], 4.0, 4)
    with pytest.raises(ValueError, match=r"got 0\.0 s and 4 words"):
        average_lagging([1.0], 0.0, 4)
    with pytest.raises(ValueError, match=r"got 4\.0 s and 0 words"):
        average_lagging([1.0], 4.0, 0)


def test_sentence_lagging_uses_wall_or_audio_times() -> None:
    # sentence 0 (start 1, 4 s, 4 words): wall delays 1.1, 3.3, 3.3, 4.7 → τ = 4
    # AL = (1.1 + 2.3 + 1.3 + 1.7) / 4 = 1.6
    aware = sentence_lagging(EVENTS, REFS, aware=True, length_adaptive=False)
    assert aware[0] == pytest.approx(1.6)
    # audio delays 1.0, 3.0, 3.0, 4.5 → (1.0 + 2.0 + 1.0 + 1.5) / 4 = 1.375
    unaware = sentence_lagging(EVENTS, REFS, aware=False, length_adaptive=False)
    assert unaware[0] == pytest.approx(1.375)
    # sentence 1 (start 7, 1 s, 2 words): wall delays 1.2 (≥ 1 s: τ = 1) → AL = 1.2
    assert aware[1] == pytest.approx(1.2)
    assert len(aware) == 2  # the unmatched segment is not scored


def test_sentence_lagging_length_adaptive() -> None:
    # one 2-word sentence (0–4 s) hypothesised as 4 words committed at 1, 2, 3, 3.5 s (τ = 4)
    refs = [Reference("a b", 0.0, 4.0)]
    events: list[Event] = [
        Partial(0, "a", "", 1.0, 1.0),
        Partial(0, "a b", "", 2.0, 2.0),
        Partial(0, "a b c", "", 3.0, 3.0),
        final(0, "a b c d", 0.0, 4.0, 3.5, 3.5),
    ]
    # AL, rate 4/2 = 2: (1 − 0) + (2 − 2) + (3 − 4) + (3.5 − 6) = −2.5 → −0.625
    assert sentence_lagging(events, refs, aware=True, length_adaptive=False) == pytest.approx(
        [-0.625]
    )
    # LAAL, rate 4/4 = 1: (1 − 0) + (2 − 1) + (3 − 2) + (3.5 − 3) = 3.5 → 0.875
    assert sentence_lagging(events, refs, aware=True, length_adaptive=True) == pytest.approx(
        [0.875]
    )


def test_first_partial_skips_empty_events() -> None:
    refs = [Reference("a", 0.0, 2.0)]
    events: list[Event] = [
        Partial(0, "", "", 0.5, 0.6),
        Final(0, "", 0.0, 2.0, 0.8, 0.9, ()),  # an empty final says nothing either
        Partial(0, "", "a", 1.0, 1.4),
        final(0, "a", 0.0, 2.0, 2.2, 2.5),
    ]
    assert first_partial_latencies(events, refs) == pytest.approx([1.4])
    # the last final matched to the sentence counts
    assert finalisation_latencies(events, refs) == pytest.approx([0.5])


def test_summarise() -> None:
    stats = summarise([4.0, 1.0, 3.0, 2.0, 10.0])
    assert stats == {"count": 5, "mean": 4.0, "median": 3.0, "p90": 10.0, "max": 10.0}
    assert summarise([]) == {"count": 0}


def test_importing_latency_does_not_import_matplotlib() -> None:
    code = "import sys, s2t_stream.training.latency; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "latency.png"
    plot_latencies({"finalisation": [0.4, 0.5, 0.45], "empty": []}, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="empty"):
        plot_latencies({"none": []}, tmp_path / "x.png")
