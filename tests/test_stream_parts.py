"""The streaming engine's parts on their own: endpoint rules, running CMVN, commit policies,
events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s2t_stream.cmvn import CmvnOptions, Moments, Normaliser
from s2t_stream.endpoint import FRAME_S, Boundary, Endpointer, EndpointOptions, VoiceActivity
from s2t_stream.events import Final, Partial, Word, event_from_json
from s2t_stream.features import FeatureOptions, guarded_cmvn
from s2t_stream.policy import AlignAtt, LocalAgreement, PolicyOptions, word_boundary

FEATURES = FeatureOptions()


# --- endpointing --------------------------------------------------------------------------------


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
    assert FRAME_S == 0.03


def test_vad_rejects_unsupported_rates() -> None:
    with pytest.raises(ValueError, match="8, 16, 32 or 48 kHz"):
        VoiceActivity(22050, EndpointOptions())


# --- CMVN ---------------------------------------------------------------------------------------


def test_segment_cmvn_is_utterance_cmvn() -> None:
    window = np.random.default_rng(0).normal(3.0, 2.0, (120, 80)).astype(np.float32)
    normaliser = Normaliser(CmvnOptions("segment"), FEATURES)
    np.testing.assert_array_equal(normaliser(window), guarded_cmvn(window))


def test_prior_cmvn_pools_earlier_speech() -> None:
    rng = np.random.default_rng(1)
    earlier = rng.normal(5.0, 1.0, (1000, 80)).astype(np.float32)
    window = rng.normal(1.0, 1.0, (100, 80)).astype(np.float32)
    normaliser = Normaliser(CmvnOptions("prior", prior_frames=100), FEATURES)
    np.testing.assert_array_equal(normaliser(window), guarded_cmvn(window))  # no prior yet
    normaliser.learn(earlier)
    pooled = np.concatenate([window, earlier[:100]])  # the prior counts as 100 frames
    mean = pooled.mean(0)
    out = normaliser(window)
    # pooled mean ≈ (1 + 5) / 2 = 3, so the window sits ≈ 2 below it
    np.testing.assert_allclose(out.mean(0) * pooled.std(0), window.mean(0) - mean, atol=0.2)
    assert out.mean() < -0.5


def test_moments_scale_and_merge() -> None:
    a = Moments.of(np.ones((4, 2), dtype=np.float32))
    b = Moments.of(np.full((6, 2), 3.0, dtype=np.float32))
    mean, std = (a.scaled_to(2) + b).mean_std()
    np.testing.assert_allclose(mean, (2 * 1 + 6 * 3) / 8)
    assert np.all(std > 0.5)


def test_global_cmvn_from_file(tmp_path: Path) -> None:
    path = tmp_path / "global_cmvn.npz"
    np.savez(path, mean=np.full(80, 2.0), std=np.full(80, 4.0))
    normaliser = Normaliser(CmvnOptions("global", stats_path=str(path)), FEATURES)
    np.testing.assert_allclose(normaliser(np.full((5, 80), 10.0, dtype=np.float32)), 2.0)
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu=np.zeros(80))
    with pytest.raises(ValueError, match="'mean' and 'std'"):
        Normaliser(CmvnOptions("global", stats_path=str(bad)), FEATURES)
    with pytest.raises(ValueError, match="needs a statistics file"):
        CmvnOptions("global")


# --- policies -----------------------------------------------------------------------------------


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


# --- events -------------------------------------------------------------------------------------


def test_events_round_trip_through_json() -> None:
    partial = Partial(3, "hello there", "gen", 1.25, 1.5)
    final = Final(3, "hello there general", 0.5, 2.0, 2.5, 2.75, (Word("hello", 0.5, 0.9),))
    for event in (partial, final):
        assert event_from_json(event.to_json()) == event
    assert partial.to_json()["type"] == "partial" and final.to_json()["words"][0]["word"] == "hello"
    with pytest.raises(ValueError, match="'partial' or 'final'"):
        event_from_json({"type": "result"})
