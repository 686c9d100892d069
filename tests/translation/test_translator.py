"""The cascade's plumbing with a stand-in translator: finals get their translation in order,
partials stay as they are, a wrapped captioner keeps its verbs, options are checked, and a
translation gets word times for subtitles; an engine names the languages its table of pairs
offers."""

from __future__ import annotations

import numpy as np
import pytest

from s2t_stream.errors import OptionsError
from s2t_stream.streaming.events import Event, Final, Partial, Word
from s2t_stream.translation.apertium import PAIRS
from s2t_stream.translation.translator import (
    MtOptions,
    Translating,
    as_translation,
    offered_languages,
    spread_words,
    translate_finals,
)


class Shouting:
    """A translator that writes text in capitals and counts its calls."""

    name = "shouting"
    version = "1"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def translate(self, text: str) -> str:
        self.calls.append(text)
        return text.upper()

    def close(self) -> None:
        pass


def final(segment: int, text: str, start_s: float = 0.0) -> Final:
    words = tuple(Word(w, start_s + i, start_s + i + 0.5) for i, w in enumerate(text.split()))
    return Final(segment, text, start_s, start_s + len(words), 9.0, 9.0, words)


def test_finals_get_their_translation_in_order_and_partials_stay() -> None:
    partial = Partial(2, "so", "far", 1.0, 1.0)
    events: list[Event] = [final(0, "one two"), final(1, "three"), partial]
    out = translate_finals(events, Shouting())
    assert [e.translation for e in out if isinstance(e, Final)] == ["ONE TWO", "THREE"]
    assert [e.text for e in out if isinstance(e, Final)] == ["one two", "three"]
    assert out[2] is partial


class Recorded:
    """A captioner that answers each push with the events it was given."""

    def __init__(self, answers: list[list[Event]]) -> None:
        self.answers = answers

    def push(self, audio: np.ndarray) -> list[Event]:
        return self.answers.pop(0)

    def end(self) -> list[Event]:
        return [final(9, "the end")]


def test_a_wrapped_captioner_translates_pushes_and_end() -> None:
    translator = Shouting()
    answers: list[list[Event]] = [[Partial(0, "", "hi", 0.1, 0.1)], [final(0, "hi there")]]
    wrapped = Translating(Recorded(answers), translator)
    first = wrapped.push(np.zeros(10, np.float32))
    assert isinstance(first[0], Partial) and translator.calls == []  # partials: no call
    (second,) = wrapped.push(np.zeros(10, np.float32))
    assert isinstance(second, Final) and second.translation == "HI THERE"
    (last,) = wrapped.end()
    assert isinstance(last, Final) and last.translation == "THE END"


def test_options_name_the_field_and_value() -> None:
    assert MtOptions("es").engine == "apertium"
    with pytest.raises(OptionsError, match="engine must be one of"):
        MtOptions("es", engine="google")  # type: ignore[arg-type]
    with pytest.raises(OptionsError, match="tgt_lang"):
        MtOptions("")
    with pytest.raises(OptionsError, match="timeout_s must be > 0, got 0"):
        MtOptions("es", timeout_s=0)


def test_translated_words_share_the_final_span_by_length() -> None:
    words = spread_words("El gato", 1.0, 3.0)  # weights 3 and 5 (a space each)
    assert [w.word for w in words] == ["El", "gato"]
    assert words[0].start_s == 1.0 and words[-1].end_s == pytest.approx(3.0)
    assert words[0].end_s == pytest.approx(1.0 + 2.0 * 3 / 8) == words[1].start_s
    assert spread_words("", 1.0, 3.0) == ()


def test_a_final_as_its_translation() -> None:
    translated = translate_finals([final(0, "the cat", 2.0)], Shouting())[0]
    assert isinstance(translated, Final)
    shown = as_translation(translated)
    assert shown.text == "THE CAT" and [w.word for w in shown.words] == ["THE", "CAT"]
    assert (shown.start_s, shown.end_s) == (translated.start_s, translated.end_s)
    untranslated = final(1, "as it was")
    assert as_translation(untranslated) is untranslated


def test_an_engine_offers_the_languages_of_its_table_of_pairs() -> None:
    """What help texts and errors list: Apertium's own table, Galician included."""
    assert offered_languages("apertium") == tuple(PAIRS) == ("es", "ca", "gl")
    with pytest.raises(OptionsError, match="apertium; got 'deepl'"):
        offered_languages("deepl")
