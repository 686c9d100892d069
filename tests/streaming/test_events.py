"""Typed events and their JSON form."""

from __future__ import annotations

import math

import pytest

from s2t_stream.streaming.events import Final, Partial, Word, event_from_json
from s2t_stream.streaming.words import Vocabulary, timed_words


def test_events_round_trip_through_json() -> None:
    partial = Partial(3, "hello there", "gen", 1.25, 1.5)
    words = (Word("hello", 0.5, 0.9, conf=0.25), Word("there", 0.9, 1.2))
    final = Final(3, "hello there general", 0.5, 2.0, 2.5, 2.75, words)
    for event in (partial, final):
        assert event_from_json(event.to_json()) == event
    assert partial.to_json()["type"] == "partial" and final.to_json()["words"][0]["word"] == "hello"
    assert final.to_json()["words"][0]["conf"] == 0.25
    assert "conf" not in final.to_json()["words"][1]  # none computed: absent, not made up
    with pytest.raises(ValueError, match="'partial' or 'final'"):
        event_from_json({"type": "result"})


def test_a_finals_translation_is_in_its_json_only_when_it_has_one() -> None:
    plain = Final(0, "the cat", 0.5, 1.0, 1.5, 1.5, (Word("the", 0.5, 0.7),))
    translated = Final(0, "the cat", 0.5, 1.0, 1.5, 1.5, (), translation="el gato")
    assert "translation" not in plain.to_json()
    assert translated.to_json()["translation"] == "el gato"
    assert event_from_json(translated.to_json()) == translated
    assert event_from_json(plain.to_json()).translation is None  # type: ignore[union-attr]


def test_a_words_confidence_is_its_least_probable_piece() -> None:
    pieces = ["\u2581the", "\u2581ca", "t", "\u2581sat"]
    vocabulary = Vocabulary(
        decode=lambda ids: "".join(pieces[i] for i in ids).replace("\u2581", " ").strip(),
        starts_word=[p.startswith("\u2581") for p in pieces],
        subsampling=4,
        prefix_length=1,
    )
    log_probs = [math.log(0.9), math.log(0.8), math.log(0.1), math.log(0.6)]
    words = timed_words([0, 1, 2, 3], [10, 20, 30, 40], 0, 50, vocabulary, log_probs)
    assert [w.word for w in words] == ["the", "cat", "sat"]
    assert [w.conf for w in words] == pytest.approx([0.9, 0.1, 0.6])  # "cat": its weaker "t"
    assert all(w.conf is None for w in timed_words([0, 3], [10, 40], 0, 50, vocabulary))
