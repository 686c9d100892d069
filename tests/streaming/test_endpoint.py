"""Endpoint rules and the voice-activity detector."""

from __future__ import annotations

import numpy as np
import pytest

from s2t_stream.streaming.endpoint import (
    VAD_FRAME_S,
    Boundary,
    Endpointer,
    EndpointOptions,
    VoiceActivity,
)


def labels(pattern: str) -> list[bool]:
    """'s' = a 30 ms speech frame, '.' = non-speech."""
    return [c == "s" for c in pattern]


def test_endpointer_starts_with_pre_roll_and_ends_after_silence() -> None:
    options = EndpointOptions(min_speech_s=0.09, pre_roll_s=0.3, end_silence_s=0.3)
    endpointer = Endpointer(options)
    found = endpointer.accept(labels("." * 20 + "s" * 10 + "." * 12))
    # speech starts at frame 20 (0.6 s); the 3rd speech frame confirms it; pre-roll 0.3 s
    assert found[0] == Boundary("start", pytest.approx(0.3))
    # last speech frame ends at 30 · 30 ms = 0.9 s; 10 silent frames later (0.3 s) it ends
    assert found[1] == Boundary("end", pytest.approx(1.2))
    assert len(found) == 2


def test_endpointer_ignores_blips_and_short_pauses() -> None:
    endpointer = Endpointer(EndpointOptions(min_speech_s=0.09, end_silence_s=0.3))
    assert endpointer.accept(labels("..ss..s..ss....")) == []  # never 3 speech frames in a row
    found = endpointer.accept(labels("sss" + ".." * 4 + "sss" + "." * 5))
    assert [b.kind for b in found] == ["start"]  # pauses of 0.24 s and 0.15 s do not end it


def test_next_segment_never_starts_before_the_last_ended() -> None:
    endpointer = Endpointer(EndpointOptions(min_speech_s=0.09, pre_roll_s=1.0, end_silence_s=0.3))
    found = endpointer.accept(labels("sss" + "." * 10 + "sss"))
    assert [b.kind for b in found] == ["start", "end", "start"]
    assert found[2].time_s == pytest.approx(found[1].time_s)


def test_vad_labels_speech_but_not_silence_or_faint_noise() -> None:
    rate = 16000
    vad = VoiceActivity(rate, EndpointOptions())
    t = np.arange(rate) / rate
    voiced = (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )
    faint = (np.random.default_rng(0).standard_normal(rate) * 1e-4).astype(np.float32)
    assert sum(vad.accept(voiced)) > 20
    assert sum(VoiceActivity(rate, EndpointOptions()).accept(faint)) == 0
    assert sum(VoiceActivity(rate, EndpointOptions()).accept(np.zeros(rate, np.float32))) == 0
    # chunking does not change the labels: 33 frames of 30 ms per second
    chunked = VoiceActivity(rate, EndpointOptions())
    pieces = [chunked.accept(voiced[i : i + 777]) for i in range(0, rate, 777)]
    assert [x for p in pieces for x in p] == VoiceActivity(rate, EndpointOptions()).accept(voiced)
    assert VAD_FRAME_S == 0.03


def test_vad_rejects_unsupported_rates() -> None:
    with pytest.raises(ValueError, match="8, 16, 32 or 48 kHz"):
        VoiceActivity(22050, EndpointOptions())
