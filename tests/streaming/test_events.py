"""Typed events and their JSON form."""

from __future__ import annotations

import pytest

from s2t_stream.streaming.events import Final, Partial, Word, event_from_json


def test_events_round_trip_through_json() -> None:
    partial = Partial(3, "hello there", "gen", 1.25, 1.5)
    final = Final(3, "hello there general", 0.5, 2.0, 2.5, 2.75, (Word("hello", 0.5, 0.9),))
    for event in (partial, final):
        assert event_from_json(event.to_json()) == event
    assert partial.to_json()["type"] == "partial" and final.to_json()["words"][0]["word"] == "hello"
    with pytest.raises(ValueError, match="'partial' or 'final'"):
        event_from_json({"type": "result"})


def test_a_finals_translation_is_in_its_json_only_when_it_has_one() -> None:
    plain = Final(0, "the cat", 0.5, 1.0, 1.5, 1.5, (Word("the", 0.5, 0.7),))
    translated = Final(0, "the cat", 0.5, 1.0, 1.5, 1.5, (), translation="el gato")
    assert "translation" not in plain.to_json()
    assert translated.to_json()["translation"] == "el gato"
    assert event_from_json(translated.to_json()) == translated
    assert event_from_json(plain.to_json()).translation is None  # type: ignore[union-attr]
