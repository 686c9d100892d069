"""Subtitles from finals: SRT and WebVTT structure, times, wrapping and cue splitting, and two
labelled inputs interleaved by time with their speakers (SRT, WebVTT, text, JSON)."""

from __future__ import annotations

import json
import re

import pytest

from s2t_stream.cli import main
from s2t_stream.io.subtitles import cues, timestamp, to_json, to_srt, to_text, to_vtt
from s2t_stream.streaming.events import Final, Word, event_from_json
from tests.helpers import SAMPLES


def final(segment: int, words: list[tuple[str, float, float]], source: str | None = None) -> Final:
    ws = tuple(Word(w, a, b) for w, a, b in words)
    text = " ".join(w for w, _, _ in words)
    return Final(segment, text, ws[0].start_s, ws[-1].end_s, 0, 0, ws, source=source)


HELLO = final(0, [("hello", 1.0, 1.4), ("world", 1.4, 1.9)])
LONG = final(1, [(f"word{i:02d}", 3600 + i * 0.5, 3600 + i * 0.5 + 0.4) for i in range(20)])


def test_timestamps() -> None:
    assert timestamp(0) == "00:00:00,000"
    assert timestamp(3723.4567) == "01:02:03,457"
    assert timestamp(59.9996, ".") == "00:01:00.000"


def test_srt_blocks_are_numbered_and_timed() -> None:
    srt = to_srt([HELLO, LONG])
    blocks = srt.strip().split("\n\n")
    assert blocks[0] == "1\n00:00:01,000 --> 00:00:01,900\nhello world"
    pattern = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+)$", re.S)
    previous_end = ""
    for n, block in enumerate(blocks, start=1):
        match = pattern.match(block)
        assert match, block
        assert int(match[1]) == n and match[2] < match[3] and match[2] >= previous_end
        assert all(len(line) <= 42 for line in match[4].split("\n"))
        assert len(match[4].split("\n")) <= 2
        previous_end = match[3]
    # 20 words of 6 letters: 6 per 42-character line, 12 per two-line cue → 2 cues
    assert len(blocks) == 3
    assert blocks[1].split("\n")[1] == "01:00:00,000 --> 01:00:05,900"


def test_vtt_has_its_header_and_dot_times() -> None:
    vtt = to_vtt([HELLO])
    assert vtt.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:01.900\nhello world\n")


def test_short_cues_are_stretched_without_overlapping() -> None:
    quick = final(0, [("hi", 1.0, 1.1)])
    nxt = final(1, [("there", 1.3, 1.8)])
    first, second = cues([quick, nxt])
    assert first.end_s == pytest.approx(1.3) and second.end_s == pytest.approx(1.8)
    (alone,) = cues([quick])
    assert alone.end_s == pytest.approx(1.5)


def test_text_lists_finals_with_times() -> None:
    assert to_text([HELLO]) == "[00:00:01] hello world\n"


@pytest.mark.model
def test_stream_writes_srt(capsys: pytest.CaptureFixture[str]) -> None:
    wav = SAMPLES / "sample5-flite-rms.wav"
    assert main(["stream", str(wav), "--pace", "fast", "--format", "srt"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1\n00:00:") and " --> " in out


# Two inputs' finals as a `SourcesDriver` emits them: each input's in order, the inputs not.
YOU = [
    final(0, [("hello", 0.5, 0.9), ("there", 0.9, 1.3)], "You"),
    final(1, [("fine", 6.0, 6.4), ("thanks", 6.4, 7.0)], "You"),
]
OTHERS = [final(0, [("how", 2.0, 2.3), ("are", 2.3, 2.5), ("you", 2.5, 3.0)], "Others")]
TWO = [YOU[0], YOU[1], OTHERS[0]]  # "You" spoke last but came first


def test_srt_interleaves_two_inputs_by_time_with_speaker_labels() -> None:
    blocks = to_srt(TWO).strip().split("\n\n")
    assert [b.split("\n", 2)[2] for b in blocks] == [
        "You: hello there",
        "Others: how are you",
        "You: fine thanks",
    ]
    assert blocks[1].split("\n")[:2] == ["2", "00:00:02,000 --> 00:00:03,000"]


def test_a_long_labelled_final_labels_each_of_its_cues() -> None:
    words = [(f"word{i:02d}", i * 0.5, i * 0.5 + 0.4) for i in range(20)]
    texts = [cue.lines for cue in cues([final(0, words, "Others")])]
    assert len(texts) == 2 and all(lines[0].startswith("Others: ") for lines in texts)
    assert all(len(line) <= 42 for lines in texts for line in lines)


def test_vtt_marks_speakers_with_voice_spans() -> None:
    vtt = to_vtt(TWO)
    assert "00:00:02.000 --> 00:00:03.000\n<v Others>how are you\n" in vtt
    assert vtt.index("<v You>hello there") < vtt.index("<v Others>") < vtt.index("<v You>fine")


def test_text_and_json_carry_the_source_in_time_order() -> None:
    assert to_text(TWO) == (
        "[00:00:00] You: hello there\n[00:00:02] Others: how are you\n[00:00:06] You: fine thanks\n"
    )
    events = json.loads(to_json(TWO))
    assert [(e["source"], e["text"]) for e in events] == [
        ("You", "hello there"),
        ("Others", "how are you"),
        ("You", "fine thanks"),
    ]
    assert [event_from_json(e) for e in events] == [YOU[0], OTHERS[0], YOU[1]]
    assert "source" not in json.loads(to_json([HELLO]))[0]  # an unlabelled input: no field
