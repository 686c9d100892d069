"""Apertium through one persistent pipeline: real translations into Spanish and Catalan, the
stream format's special characters, thread safety, a dead or hung pipeline, and the errors that
say what to install."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from s2t_stream.errors import TranslationError
from s2t_stream.translation.apertium import ApertiumTranslator, from_stream, to_stream
from tests.helpers import needs_apertium


@pytest.fixture(scope="module")
def spanish() -> Iterator[ApertiumTranslator]:
    """One pipeline for the module (the tests that use it are marked `needs_apertium`, which
    skips them before this runs)."""
    with ApertiumTranslator("es") as translator:
        yield translator


@needs_apertium
def test_english_becomes_spanish_and_catalan(spanish: ApertiumTranslator) -> None:
    assert spanish.translate("the cat is black") == "El gato es negro"
    with ApertiumTranslator("ca") as catalan:
        assert catalan.translate("the cat is black") == "el gat és negre"
    assert spanish.name == "apertium eng-spa"
    assert spanish.version.startswith("apertium ") and "apertium-eng-spa " in spanish.version


@needs_apertium
def test_lowercase_asr_text_reads_as_english(spanish: ApertiumTranslator) -> None:
    # ASR writes the pronoun "i" in lower case; Apertium would keep it as an unknown word
    out = spanish.translate("i would like a cup of coffee")
    assert "gustaría" in out and "taza" in out and not out.startswith("i ")


@needs_apertium
def test_reserved_characters_and_blanks_come_through(spanish: ApertiumTranslator) -> None:
    out = spanish.translate("it costs $5 <x> {y} [really]\n\tok\x00")
    for kept in ("$5", "<x>", "{y}", "[realmente]"):
        assert kept in out
    assert "\\" not in out and "\n" not in out and "\x00" not in out
    assert spanish.translate("") == spanish.translate("  \n ") == ""


@needs_apertium
def test_threads_share_one_pipeline_and_each_gets_its_own_answer(
    spanish: ApertiumTranslator,
) -> None:
    texts = ["the cat is black", "the dog is white", "it is raining", "good morning"] * 6
    alone = [spanish.translate(text) for text in texts]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(spanish.translate, texts))
    assert together == alone
    assert alone[0] != alone[1]


@needs_apertium
def test_a_pipeline_that_died_is_started_again() -> None:
    with ApertiumTranslator("es") as translator:
        assert translator.translate("the cat is black") == "El gato es negro"
        dead = translator.process
        assert dead is not None
        os.killpg(dead.pid, signal.SIGKILL)
        dead.wait()
        assert translator.translate("the cat is black") == "El gato es negro"
        assert translator.process is not dead


@needs_apertium
def test_a_pipeline_that_hangs_or_always_dies_raises_a_clear_error() -> None:
    with ApertiumTranslator("es", timeout_s=0.3) as translator:
        translator.command = "cat >/dev/null"  # reads, never answers
        translator._restart()
        with pytest.raises(TranslationError, match=r"no answer within 0\.3 s"):
            translator.translate("the cat is black")
        translator.command = "echo 'lt-proc: broken data' >&2; exit 3"
        with pytest.raises(TranslationError, match="failed: lt-proc: broken data"):
            translator.translate("the cat is black")
    with pytest.raises(TranslationError, match="closed"):
        translator.translate("the cat is black")


def test_a_missing_pair_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "modes").mkdir()
    monkeypatch.setenv("APERTIUM_DATADIR", str(tmp_path))  # Apertium's data, without pairs
    with pytest.raises(TranslationError) as error:
        ApertiumTranslator("es")
    message = str(error.value)
    assert "eng-spa" in message and "apt-get install" in message
    assert "apertium-eng-spa" in message and "\n" not in message


def test_no_apertium_at_all_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    expected = r"Apertium is not installed .*: apt-get install apertium apertium-eng-cat$"
    with pytest.raises(TranslationError, match=expected):
        ApertiumTranslator("ca")


def test_a_language_apertium_does_not_offer_is_refused() -> None:
    with pytest.raises(TranslationError, match=r"into es, ca, gl; got target language 'de'$"):
        ApertiumTranslator("de")


def test_the_stream_format_is_escaped_and_unescaped() -> None:
    message = to_stream("i paid $5 for [it]\nok")
    assert message == b"I paid \\$5 for \\[it\\] ok.[]\x00"
    assert from_stream(b" Pagu\xc3\xa9 \\$5 por \\[\xc3\xa9l\\] ok.[]") == "Pagué $5 por [él] ok"
    assert from_stream(b"Hola[]") == "Hola"
