"""The latency/accuracy harness: test streams with known sentence times, the simulated
real-time replay, and the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s2t_stream.errors import S2TError
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.streaming.engine import Engine, StreamOptions
from s2t_stream.streaming.events import Final
from s2t_stream.training.harness import (
    Offline,
    SimulatedClock,
    build_stream,
    replay,
    score,
    speech_span,
    transcribe_offline,
)
from tests.helpers import SAMPLES

MANIFEST = SAMPLES / "samples.jsonl"


def test_speech_span_finds_the_loud_part() -> None:
    audio = np.zeros(16000, dtype=np.float32)
    audio[4000:12000] = 0.5
    assert speech_span(audio, 16000) == (0.25, 0.75)
    assert speech_span(np.zeros(800, dtype=np.float32), 16000) == (0.0, 0.05)


def test_build_stream_places_sentences_at_their_times() -> None:
    stream = build_stream(MANIFEST, minutes=0.5, seed=3, pause_s=(0.5, 1.0))
    assert len(stream.audio) / stream.sample_rate >= 30
    assert len(stream.references) == len(stream.sources) >= 5  # the 5 samples, repeated
    for ref, source in zip(stream.references, stream.sources, strict=True):
        begin = round(ref.start_s * stream.sample_rate)
        width = round((ref.end_s - ref.start_s) * stream.sample_rate)
        loud = np.abs(stream.audio[begin : begin + width]).max()
        assert loud > 0.05 and ref.text
        before = stream.audio[max(0, begin - 4000) : begin - 10]
        assert np.abs(before).max() < 0.02  # the pause before it is (near) silent
        assert np.abs(source).max() == pytest.approx(loud, rel=0.05, abs=0.01)
    rate = stream.sample_rate
    for (begin, end), ref, source, heard in zip(
        stream.spans, stream.references, stream.sources, stream.heard(), strict=True
    ):
        assert end - begin == len(heard) == len(source)  # the file's stretch of the stream
        assert begin / rate <= ref.start_s < ref.end_s <= end / rate
        np.testing.assert_allclose(heard, source, atol=3e-3)  # plus the faint noise floor
        assert not np.array_equal(heard, source)
    starts = [r.start_s for r in stream.references]
    assert starts == sorted(starts)
    again = build_stream(MANIFEST, minutes=0.5, seed=3, pause_s=(0.5, 1.0))
    np.testing.assert_array_equal(again.audio, stream.audio)  # deterministic with a seed


def test_simulated_clock_adds_compute_to_the_arrival_time() -> None:
    clock = SimulatedClock()
    clock.start(5.0)
    assert 5.0 <= clock() < 5.5


def test_build_stream_names_a_bad_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "a.wav"}\n')
    with pytest.raises(S2TError, match=r"m\.jsonl:1: expected a JSON object"):
        build_stream(manifest, minutes=0.1)
    manifest.write_text("\n")
    with pytest.raises(ValueError, match="found none"):
        build_stream(manifest, minutes=0.1)


@pytest.mark.model
@pytest.mark.slow
def test_replay_and_score_report_every_metric(bundle: Bundle) -> None:
    stream = build_stream(MANIFEST, minutes=0.4, seed=1)
    run = replay(Engine(bundle, StreamOptions()), stream)
    finals = [e for e in run.events if isinstance(e, Final)]
    assert len(finals) >= len(stream.references) - 1
    for event in run.events:
        assert event.wall_s >= event.audio_s - 0.1 - 1e-6  # arrives after its last chunk
    greedy = Transcriber(bundle, TranscribeOptions(DecodingOptions(num_beams=1)))
    offline = transcribe_offline(greedy, stream.heard())
    silent = Offline([""] * len(stream.sources), 1.0)  # a clean run that heard nothing
    report = score(stream, run, offline, default=offline, clean=silent)
    assert report["wer_offline_clean_files"] == 1.0  # scored on the clean run's own texts
    assert report["wer_offline"] < 1.0
    for key in (
        "wer_streaming",
        "wer_offline",
        "wer_ratio",
        "finalisation_latency_s",
        "first_partial_latency_s",
        "al_aware_s",
        "al_unaware_s",
        "laal_aware_s",
        "compute_ratio",
        "real_time_factor",
        "flatness",
        "wer_offline_clean_files",
    ):
        assert key in report
    assert report["finalisation_latency_s"]["count"] >= len(stream.references) - 1
    assert 0.2 < report["finalisation_latency_s"]["median"] < 2.0  # ≥ the 0.35 s of silence
    assert report["al_aware_s"]["median"] >= report["al_unaware_s"]["median"] - 1e-9
    assert report["compute_ratio"] > 0 and report["memory_mib"]
    assert report["compute_ratio_vs_default_search"] == report["compute_ratio"]
    assert report["wer_offline_default_search"] == report["wer_offline"]
