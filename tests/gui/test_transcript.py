"""The window's transcript (no Qt): two labelled sources interleaved by time, times that keep
counting across Stop/Start, and the exports (SRT, WebVTT, text, JSON) with speaker labels."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from gui.transcript import Transcript
from s2t_stream.streaming.events import Final, Partial, Word


def final(text: str, start_s: float, end_s: float, source: str | None = None) -> Final:
    words = text.split()
    step = (end_s - start_s) / len(words)
    timed = tuple(
        Word(w, start_s + i * step, start_s + (i + 1) * step) for i, w in enumerate(words)
    )
    return Final(0, text, start_s, end_s, end_s + 0.4, end_s + 0.6, timed, source=source)


def partial(committed: str, tentative: str, audio_s: float, source: str | None = None) -> Partial:
    return Partial(0, committed, tentative, audio_s, audio_s, source=source)


def test_two_sources_interleave_by_time_with_their_labels(tmp_path: Path) -> None:
    transcript = Transcript()
    transcript.start_run()
    # finals arrive in the order they were finalised, not spoken: Others' first words were
    # earlier than You's but were closed later
    transcript.add(final("hello there", 2.0, 3.0, "You"))
    transcript.add(partial("can you", "hear", 4.2, "Others"))
    transcript.add(final("can you hear me", 1.0, 4.0, "Others"))
    transcript.add(final("yes I can", 5.0, 6.0, "You"))
    transcript.add(partial("good", "", 6.5, "Others"))
    assert transcript.lines() == [
        "[00:00:01] Others: can you hear me",
        "[00:00:02] You: hello there",
        "[00:00:05] You: yes I can",
    ]
    assert [p.text for p in transcript.open_segments()] == ["good"]
    transcript.save(tmp_path / "t.srt")
    srt = (tmp_path / "t.srt").read_text()
    assert srt.index("Others: can you hear me") < srt.index("You: hello there")
    assert srt.index("You: hello there") < srt.index("You: yes I can")
    transcript.save(tmp_path / "t.json")
    events = json.loads((tmp_path / "t.json").read_text())
    assert [(e["source"], e["text"], e["start_s"]) for e in events] == [
        ("Others", "can you hear me", 1.0),
        ("You", "hello there", 2.0),
        ("You", "yes I can", 5.0),
    ]
    transcript.save(tmp_path / "t.vtt")
    assert "<v Others>can you hear me" in (tmp_path / "t.vtt").read_text()
    assert transcript.saved


def test_times_keep_counting_across_stop_and_start(tmp_path: Path) -> None:
    transcript = Transcript()
    for _run in range(3):  # each Start opens streams whose times begin at 0 again
        transcript.start_run()
        transcript.add(partial("one", "two", 0.5))
        transcript.add(final("one two", 0.3, 1.2))
        transcript.add(final("three four", 2.0, 2.8))
        transcript.add(partial("", "", 4.0))  # silence after: the run went on to 4 s
        transcript.extend_run(3.0)  # its wall time (silence makes no events)
    starts = [f.start_s for f in transcript.finals]
    assert starts == sorted(starts) and starts[3] >= 4.0 and starts[5] >= 8.0
    assert all(a.end_s <= b.start_s for a, b in pairwise(transcript.finals))
    words = [w for f in transcript.finals for w in f.words]
    assert all(a.start_s <= b.start_s for a, b in pairwise(words))
    transcript.save(tmp_path / "t.srt")
    cue_starts = [
        line.split(" --> ")[0]
        for line in (tmp_path / "t.srt").read_text().splitlines()
        if " --> " in line
    ]
    assert cue_starts == sorted(cue_starts) and len(cue_starts) == 6


def test_a_long_silent_run_still_moves_time_on() -> None:
    transcript = Transcript()
    transcript.start_run()
    transcript.add(final("hello", 0.5, 1.0))
    transcript.extend_run(60.0)  # a minute of silence before Stop
    transcript.start_run()
    transcript.add(final("again", 0.5, 1.0))
    assert transcript.finals[1].start_s == 60.5


def test_unsaved_text_and_clear() -> None:
    transcript = Transcript()
    transcript.start_run()
    assert not transcript.unsaved
    transcript.add(final("hello", 0.5, 1.0))
    assert transcript.unsaved
    transcript.clear()
    assert not transcript.unsaved and transcript.finals == []
