"""Speech-translation training on a tiny corpus: targets `[<lang:xx>, pieces…, </s>]` per language,
a tokenizer with the language tags as ids 4, 5, … (the multilingual MuST-C layout), a start from
an ASR model that keeps every weight but the token embeddings (carried over by piece between runs
of the same languages), dev BLEU, and the exported model translating into the language asked
for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from s2t_stream.errors import S2TError
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.training.targets import normalize_translation
from s2t_stream.training.train import TOKEN_WEIGHTS, Trainer, TrainOptions, export
from tests.helpers import bare_corpus, tiny_train_options

ROWS = [
    ("the cat sat on the mat", "El gato se sentó en la alfombra.", "El gat seia a l'estora."),
    ("a dog ran in the park", "Un perro corrió en el parque.", "Un gos corria al parc."),
    ("the sun is hot today", "El sol está caliente hoy.", "El sol és calent avui."),
    ("we like green tea", "Nos gusta el té verde.", "Ens agrada el te verd."),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 'utterances' of distinct tones, with their texts and translations (dev = train)."""
    root = tmp_path_factory.mktemp("st-corpus")
    (root / "audio").mkdir()
    rng = np.random.default_rng(0)
    waves = [
        (np.sin(np.arange(12000) * (0.05 + 0.1 * i)) * 0.3 + 0.02 * rng.standard_normal(12000))
        for i in range(len(ROWS))
    ]
    for split in ("train", "dev"):
        with (root / f"{split}.jsonl").open("w") as f:
            for i, (text, es, ca) in enumerate(ROWS):
                name = f"audio/{split}{i}.wav"
                sf.write(root / name, waves[i].astype(np.float32), 16000)
                row = {"audio": name, "text": text, "translations": {"es": es, "ca": ca}}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return root


def tiny(corpus: Path, out: Path, **changes: object) -> TrainOptions:
    defaults: dict[str, object] = {"vocab_size": 50, "max_frames": 2000, "max_steps": 4}
    return tiny_train_options(corpus, out, **(defaults | {"tgt_langs": "es,ca"} | changes))


def test_targets_are_each_translation_after_its_language_tag(corpus: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny(corpus, tmp_path / "st"))
    tokenizer = trainer.tokenizer
    assert tokenizer.lang_code_to_id == {"es": 4, "ca": 5}
    assert len(trainer.examples) == 2 * len(ROWS)
    for example in trainer.examples:
        lang = "es" if example.target[0] == 4 else "ca"
        expected = ROWS[example.utterance][1 if lang == "es" else 2]
        assert example.target[-1] == tokenizer.eos_id
        assert tokenizer.decode(example.target) == normalize_translation(expected)
    saved = json.loads((tmp_path / "st" / "tokenizer" / "tokenizer_config.json").read_text())
    assert saved["additional_special_tokens"] == ["<lang:es>", "<lang:ca>"]


def test_a_translation_run_starts_from_an_asr_model_but_its_token_embeddings(
    corpus: Path, tmp_path: Path
) -> None:
    asr = Trainer(tiny(corpus, tmp_path / "asr", tgt_langs="", vocab_size=28, max_steps=2))
    asr.run()
    st = Trainer(tiny(corpus, tmp_path / "st", init_from=str(tmp_path / "asr")))
    ours, theirs = st.model.state_dict(), asr.model.state_dict()
    assert set(ours) == set(theirs)
    fresh = Trainer(tiny(corpus, tmp_path / "fresh")).model.state_dict()  # the same seed
    for name, value in theirs.items():
        if name in TOKEN_WEIGHTS:  # English pieces say nothing of Spanish ones: a fresh start
            assert ours[name].shape[0] == 50 and value.shape[0] == 28
            assert torch.equal(ours[name], fresh[name]), name
        else:
            assert torch.equal(ours[name], value), name
    st.run()  # a trained run to start from (its embeddings move away from the seeded start)
    swapped = Trainer(
        tiny(corpus, tmp_path / "ca-es", init_from=str(tmp_path / "st"), tgt_langs="ca,es")
    )
    assert swapped.tokenizer.lang_code_to_id == {"ca": 4, "es": 5}
    trained = st.model.state_dict()
    for name, value in trained.items():  # the same size, other ids: embeddings moved by piece
        same = torch.equal(swapped.model.state_dict()[name], value)
        assert same != (name in TOKEN_WEIGHTS), name
    embeddings = swapped.model.state_dict()["model.decoder.embed_tokens.weight"]
    theirs = trained["model.decoder.embed_tokens.weight"]
    assert torch.equal(embeddings[4], theirs[5]) and torch.equal(embeddings[5], theirs[4])
    with pytest.raises(ValueError, match=r"differs from this run's model options in \['d_model'"):
        Trainer(tiny(corpus, tmp_path / "wide", init_from=str(tmp_path / "asr"), d_model=64))


def test_a_corpus_without_translations_is_refused(tmp_path: Path) -> None:
    bare_corpus(tmp_path)
    with pytest.raises(S2TError, match=r"corpus --tgt-langs es,ca"):
        Trainer(tiny(tmp_path, tmp_path / "st", vocab_size=8))


@pytest.mark.slow
def test_an_overfit_model_translates_into_the_language_asked_for(
    corpus: Path, tmp_path: Path
) -> None:
    trainer = Trainer(tiny(corpus, tmp_path / "st", max_steps=150, eval_every=75, lr=5e-3))
    trainer.run()
    assert set(trainer.history[-1]["dev_bleu"]) == {"es", "ca"}
    assert min(trainer.history[-1]["dev_bleu"].values()) > 50
    bundle = load_bundle(export(trainer, tmp_path / "model", average=1))
    assert bundle.ctc is None  # a CTC head over translations is not exported
    audio = str(corpus / "audio" / "train0.wav")
    for lang, column in (("es", 1), ("ca", 2)):
        options = TranscribeOptions(tgt_lang=lang, vad=False, loop_guard=False)
        (result,) = Transcriber(bundle, options).transcribe_files([audio])
        assert result.text == normalize_translation(ROWS[0][column])
