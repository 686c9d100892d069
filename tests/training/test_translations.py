"""Corpus translations: every manifest gains each language's translation of its captions, the
cache makes a rerun translate nothing, a new translator version rebuilds the cache, audio paths
stay as the corpus wrote them; and the target text the model learns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2t_stream.training.manifest import Utterance, read_manifest, write_manifest
from s2t_stream.training.targets import normalize_translation
from s2t_stream.training.translations import translate_corpus


class FakeTranslator:
    """Upper-cases with a language prefix, and counts what it was asked."""

    def __init__(self, lang: str, version: str, asked: list[str]) -> None:
        self.lang, self.version, self.asked = lang, version, asked
        self.name = f"fake {lang}"
        self.closed = False

    def translate(self, text: str) -> str:
        self.asked.append(text)
        return f"{self.lang}: {text.upper()}"

    def close(self) -> None:
        self.closed = True


def corpus(root: Path) -> Path:
    write_manifest(
        root / "train.jsonl",
        [
            Utterance(Path("audio/train/000000.flac"), "hello there", caption="Hello there!"),
            Utterance(Path("audio/train/000001.flac"), "hello there", caption="Hello there!"),
            Utterance(Path("audio/train/000002.flac"), "no caption"),
        ],
    )
    write_manifest(root / "real-lj.jsonl", [Utterance(Path("/abs/lj.flac"), "a real one")])
    return root


def test_manifests_gain_translations_of_their_captions(tmp_path: Path) -> None:
    asked: list[str] = []
    made = translate_corpus(
        corpus(tmp_path), ("es", "ca"), lambda lang: FakeTranslator(lang, "v1", asked)
    )
    assert made == {"es": 3, "ca": 3}  # two captions alike: translated once
    assert sorted(asked) == sorted(["Hello there!", "no caption", "a real one"] * 2)
    lines = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert lines[0]["audio"] == "audio/train/000000.flac"  # still relative to the manifest
    assert lines[0]["translations"] == {"es": "es: HELLO THERE!", "ca": "ca: HELLO THERE!"}
    assert lines[2]["translations"]["es"] == "es: NO CAPTION"
    (real,) = read_manifest(tmp_path / "real-lj.jsonl")
    assert real.audio == Path("/abs/lj.flac")
    assert real.translations == {"es": "es: A REAL ONE", "ca": "ca: A REAL ONE"}
    assert json.loads((tmp_path / "translations" / "es.version.json").read_text()) == {
        "lang": "es",
        "version": "v1",
    }


def test_a_rerun_translates_nothing_and_keeps_other_languages(tmp_path: Path) -> None:
    asked: list[str] = []
    translate_corpus(corpus(tmp_path), ("es", "ca"), lambda lang: FakeTranslator(lang, "v1", asked))
    asked.clear()
    made = translate_corpus(tmp_path, ("es",), lambda lang: FakeTranslator(lang, "v1", asked))
    assert made == {"es": 0} and asked == []
    (first, *_) = read_manifest(tmp_path / "train.jsonl")
    assert set(first.translations) == {"es", "ca"}


def test_a_new_translator_version_rebuilds_the_cache(tmp_path: Path) -> None:
    asked: list[str] = []
    translate_corpus(corpus(tmp_path), ("es",), lambda lang: FakeTranslator(lang, "v1", asked))
    made = translate_corpus(tmp_path, ("es",), lambda lang: FakeTranslator(lang, "v2", asked))
    assert made == {"es": 3}
    assert (tmp_path / "translations" / "es.jsonl.stale").is_file()
    assert json.loads((tmp_path / "translations" / "es.version.json").read_text())["version"] == "v2"


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("¿Qué tal?  Muy bien.", "qué tal muy bien"),
        ("M’agradaria la col·lecció, dona-li-ho!", "m'agradaria la col·lecció dona-li-ho"),
        ("«Hola» — dijo 'ella'...", "hola dijo ella"),
        ("ÀÉÎ Ñandú", "àéî ñandú"),
        ("", ""),
    ],
)
def test_targets_are_lower_case_words_without_punctuation(text: str, target: str) -> None:
    assert normalize_translation(text) == target
