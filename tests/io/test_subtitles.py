"""Subtitles from finals: SRT and WebVTT structure, times, wrapping and cue splitting."""

from __future__ import annotations

import re

import pytest

from s2t_stream.cli import main
from s2t_stream.io.subtitles import cues, timestamp, to_srt, to_text, to_vtt
from s2t_stream.streaming.events import Final, Word
from tests.helpers import SAMPLES


def final(segment: int, words: list[tuple[str, float, float]]) -> Final:
    ws = tuple(Word(w, a, b) for w, a, b in words)
    return Final(segment, " ".join(w for w, _, _ in words), ws[0].start_s, ws[-1].end_s, 0, 0, ws)


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
