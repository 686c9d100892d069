"""Decoder pretraining on text pairs: the ASR model's encoder reads English tokens and stays
as it was; the decoder learns to translate (an overfit run reaches the dev translations); the
run resumes; and a speech-translation run started from the export keeps every weight and the
vocabulary."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from s2t_stream.errors import S2TError
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.training.manifest import read_manifest, write_manifest
from s2t_stream.training.options import TextPretrainOptions
from s2t_stream.training.text_pretrain import TextPretrainer
from s2t_stream.training.train import Trainer, export
from tests.training.test_train_st import ROWS, corpus, tiny

__all__ = ["corpus"]  # the fixture, shared


@pytest.fixture(scope="module")
def asr_model(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("asr")
    trainer = Trainer(tiny(corpus, out / "run", tgt_langs="", vocab_size=28, max_steps=2))
    trainer.run()
    return export(trainer, out / "model", average=1)


def pairs_file(folder: Path) -> Path:
    path = folder / "text-train.jsonl"
    with path.open("w") as f:
        for text, es, ca in ROWS:
            entry = {
                "text": text,
                "caption": text,
                "style": "t",
                "translations": {"es": es, "ca": ca},
            }
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return path


def options(corpus: Path, asr: Path, out: Path, **changes: object) -> TextPretrainOptions:
    fields: dict[str, object] = {
        "pairs": str(pairs_file(out.parent)),
        "dev": str(corpus / "dev.jsonl"),
        "init_from": str(asr),
        "out": str(out),
        "vocab_size": 50,
        "max_tokens": 200,
        "max_minutes": 10.0,
        "max_steps": 120,
        "warmup_steps": 5,
        "lr": 5e-3,
        "eval_every": 60,
        "threads": 1,
    }
    return TextPretrainOptions(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_decoder_learns_to_translate_text_through_the_unchanged_asr_encoder(
    corpus: Path, asr_model: Path, tmp_path: Path
) -> None:
    run = TextPretrainer(options(corpus, asr_model, tmp_path / "text", max_steps=60))
    run.run()
    assert run.step == 60 and [h["step"] for h in run.history] == [60]
    resumed = TextPretrainer(options(corpus, asr_model, tmp_path / "text"))
    exported = resumed.run()
    assert resumed.step == 120 and [h["step"] for h in resumed.history] == [60, 120]
    assert min(resumed.history[-1]["dev_bleu"].values()) > 50  # type: ignore[union-attr]

    asr, model = load_bundle(asr_model).model.state_dict(), load_bundle(exported)
    assert model.tokenizer.lang_code_to_id == {"es": 4, "ca": 5}
    for name, value in model.model.state_dict().items():
        if name.startswith("model.encoder."):
            assert torch.equal(value, asr[name]), name
        elif name.startswith("model.decoder.layers."):
            assert not torch.equal(value, asr[name]), name

    st = Trainer(tiny(corpus, tmp_path / "st", init_from=str(exported)))
    assert st.tokenizer.pieces() == model.tokenizer.pieces()
    for name, value in model.model.state_dict().items():
        assert torch.equal(st.model.state_dict()[name], value.float()), name


def test_a_run_needs_target_languages() -> None:
    with pytest.raises(ValueError, match="tgt_langs"):
        TextPretrainOptions(tgt_langs=" , ")


def test_a_dev_manifest_without_translations_is_refused(
    corpus: Path, asr_model: Path, tmp_path: Path
) -> None:
    dev = tmp_path / "dev.jsonl"
    write_manifest(dev, [replace(u, translations={}) for u in read_manifest(corpus / "dev.jsonl")])
    with pytest.raises(S2TError, match=r"dev.jsonl: no sentence translated into es, expected"):
        TextPretrainer(options(corpus, asr_model, tmp_path / "text", dev=str(dev)))
