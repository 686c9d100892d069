"""Text pairs for decoder pretraining: the corpus's training-style sentences only (never a test,
dev or held-out-style sentence), in its training order, each with its translations from the
corpus's cache; a sentence the translator fails on is left out, not the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2t_stream.errors import S2TError, TranslationError
from s2t_stream.training.corpus import CorpusOptions, split_sentences
from s2t_stream.training.manifest import Utterance, read_manifest, write_manifest
from s2t_stream.training.text_pairs import TEXT_PAIRS_FILE, read_text_pairs, write_text_pairs
from s2t_stream.training.texts import TextSource, read_styled_sentences
from s2t_stream.training.translations import translate_corpus

WORDS = ["red", "green", "blue", "cat", "dog", "sun", "moon", "tree", "road", "lake"]


class Fake:
    """Prefixes its language; fails on sentences containing 'moon'."""

    def __init__(self, lang: str) -> None:
        self.lang, self.version, self.name = lang, "fake 1", f"fake {lang}"

    def translate(self, text: str) -> str:
        if "moon" in text.lower():
            raise TranslationError(f"{self.name} gave no answer within 5 s")
        return f"[{self.lang}] {text}"

    def close(self) -> None:
        pass


def options(tmp_path: Path) -> CorpusOptions:
    texts = []
    for style in ("chat", "news", "dictionary"):
        path = tmp_path / f"{style}.txt"
        lines = [f"the {a} {b} of {style}" for a in WORDS for b in WORDS if a != b]
        path.write_text("\n".join(lines) + "\n")
        texts.append(TextSource(str(path), style, "test"))
    return CorpusOptions(
        texts=tuple(texts),
        out_dir=tmp_path / "corpus",
        dev_sentences=5,
        test_sentences_per_style=4,
        style_shares=(("chat", 0.5), ("news", 0.5)),
        held_out_styles=("dictionary",),
        style_test_sentences=6,
        jobs=1,
    )


def test_pairs_are_training_sentences_in_order_with_their_translations(tmp_path: Path) -> None:
    o = options(tmp_path)
    o.out_dir.mkdir()
    path = write_text_pairs(o, 60, ("es", "ca"), Fake)
    assert path == o.out_dir / TEXT_PAIRS_FILE
    pairs = read_text_pairs(path)
    splits = split_sentences(read_styled_sentences(o.texts, o.text_dir), o)
    train = [s for s in splits["train"][:60] if "moon" not in s.words]
    assert [p.text for p in pairs] == [s.words for s in train]
    assert 40 < len(pairs) < 60  # the 'moon' sentences are left out
    held = {s.words for name in ("test", "dev", "test-style") for s in splits[name]}
    assert held and not held & {p.text for p in pairs}
    assert {p.style for p in pairs} == {"chat", "news"}
    first = pairs[0]
    assert first.translations == {"es": f"[es] {first.caption}", "ca": f"[ca] {first.caption}"}
    cached = (o.out_dir / "translations" / "es.jsonl").read_text().splitlines()
    assert len(cached) == len(pairs)  # the cache keeps what was made, not the failures


def test_pairs_need_a_language_and_a_readable_file(tmp_path: Path) -> None:
    with pytest.raises(S2TError, match="target languages"):
        write_text_pairs(options(tmp_path), 10, (), Fake)
    with pytest.raises(S2TError, match="corpus --text-pairs"):
        read_text_pairs(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a", "caption": "A."}) + "\n")
    with pytest.raises(S2TError, match=r"bad.jsonl:1: not a text pair"):
        read_text_pairs(bad)


def test_a_later_corpus_run_translates_its_manifests_beside_the_pairs(tmp_path: Path) -> None:
    o = options(tmp_path)
    o.out_dir.mkdir()
    pairs = write_text_pairs(o, 20, ("es",), Fake)
    before = pairs.read_bytes()
    manifest = o.out_dir / "train.jsonl"
    write_manifest(
        manifest, [Utterance(Path("audio/train/000000.flac"), "a cat", caption="A cat.")]
    )
    assert translate_corpus(o.out_dir, ("es",), Fake) == {"es": 1}  # the pairs are no manifest
    assert read_manifest(manifest)[0].translations == {"es": "[es] A cat."}
    assert pairs.read_bytes() == before
