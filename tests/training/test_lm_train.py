"""Training the fusion LM (`training/lm_train.py`): what text it may learn, and a short run that
learns, checkpoints, resumes and exports an LM the model loads."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from s2t_stream.model.addons import vocabulary_fingerprint
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.lm import load_lm
from s2t_stream.training.corpus import CorpusOptions, split_sentences
from s2t_stream.training.lm_train import LMTrainer, lm_sentences
from s2t_stream.training.options import LMOptions
from s2t_stream.training.texts import TextSource, read_styled_sentences
from tests.helpers import BUNDLED_MODEL

SUBJECTS = ["the cat", "a dog", "my friend", "the teacher", "our neighbour", "the child"]
VERBS = ["sees", "likes", "finds", "calls", "helps"]
OBJECTS = ["the ball", "a house", "the river", "her brother", "the garden", "a letter"]


def text_corpus(root: Path) -> CorpusOptions:
    """Three small styles: read and dialogue to train on, dictionary held out."""
    lines = [" ".join(t) for t in itertools.product(SUBJECTS, VERBS, OBJECTS)]  # 180
    files = {"read.txt": lines[:80], "talk.txt": lines[80:160], "dict.txt": lines[160:]}
    for name, text in files.items():
        (root / name).write_text("\n".join(text) + "\n", encoding="utf-8")
    return CorpusOptions(
        texts=(TextSource("read.txt", "read", "-"), TextSource("talk.txt", "dialogue", "-"),
               TextSource("dict.txt", "dictionary", "-")),
        text_dir=root, style_shares=(("read", 0.5), ("dialogue", 0.5)),
        held_out_styles=("dictionary",), dev_sentences=10, test_sentences_per_style=5,
        style_test_sentences=10,
    )  # fmt: skip


def test_the_lm_learns_only_what_the_corpus_may_train_on(tmp_path: Path) -> None:
    options = text_corpus(tmp_path)
    split = split_sentences(read_styled_sentences(options.texts, options.text_dir), options)
    excluded = split["train"][0].words
    manifest = tmp_path / "real.jsonl"
    manifest.write_text(json.dumps({"audio": "a.wav", "text": excluded}) + "\n")
    text = lm_sentences([manifest], options)
    assert excluded not in text["train"]
    assert set(text["train"]) == {s.words for s in split["train"]} - {excluded}
    assert text["dev"] == [s.words for s in split["dev"]]
    never = {s.words for name in ("test", "dev", "test-style") for s in split[name]}
    assert never and not never & set(text["train"])


def test_domain_text_replaces_the_corpus_text_and_keeps_a_dev_share(tmp_path: Path) -> None:
    lines = [" ".join(t) for t in itertools.product(SUBJECTS, VERBS, OBJECTS)]  # 180
    domain = tmp_path / "domain.txt"
    domain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = tmp_path / "test.jsonl"
    manifest.write_text(json.dumps({"audio": "a.wav", "text": lines[5]}) + "\n")
    text = lm_sentences([manifest], text_corpus(tmp_path), [domain])
    assert len(text["dev"]) == 17  # a tenth of the 179 left, under DOMAIN_DEV_SENTENCES
    assert sorted(text["train"] + text["dev"]) == sorted(set(lines) - {lines[5]})
    assert text == lm_sentences([manifest], None, [domain])  # the corpus is not read


@pytest.mark.skipif(
    not (BUNDLED_MODEL / "config.json").is_file(), reason=f"no bundled model at {BUNDLED_MODEL}"
)
def test_a_short_run_learns_resumes_and_exports_a_loadable_lm(tmp_path: Path) -> None:
    corpus = text_corpus(tmp_path)
    options = LMOptions(
        model=str(BUNDLED_MODEL), out=str(tmp_path / "run"), embed_dim=32, hidden_dim=64,
        max_steps=60, max_minutes=10, eval_every=30, lr=0.01, warmup_steps=5, max_tokens=400,
        threads=1, device="cpu", weight=0.3,
    )  # fmt: skip
    LMTrainer(options, corpus).run()
    history = _history(tmp_path / "run")
    assert [h["step"] for h in history] == [30, 60]
    # an untrained LM is near the vocabulary's 500; the dev sentences share the training words
    assert history[1]["dev_perplexity"] < history[0]["dev_perplexity"] < 10
    pieces = load_bundle(BUNDLED_MODEL).tokenizer.pieces()
    lm = load_lm(tmp_path / "run" / "export", 500, pieces)
    assert lm is not None and lm.config.weight == 0.3 and lm.config.hidden_dim == 64
    assert lm.config.vocabulary == vocabulary_fingerprint(pieces)
    trainer = LMTrainer(options.__class__(**{**options.__dict__, "max_steps": 90}), corpus)
    steps = 0
    train_step = trainer.train_step

    def counted(indices: list[int]) -> float:
        nonlocal steps
        steps += 1
        return train_step(indices)

    trainer.train_step = counted  # type: ignore[method-assign]
    trainer.run()
    assert steps == 30  # resumed at step 60: only the last 30 updates were run
    resumed = _history(tmp_path / "run")
    assert resumed[:2] == history and [h["step"] for h in resumed] == [30, 60, 90]


def _history(run: Path) -> list[dict[str, float]]:
    import torch

    state = torch.load(run / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    return list(state["history"])
