"""The rule every transport applies before a model decodes (`check_target`): a speech-translation
model needs a target language it has, the cascade needs a speech recognition model; and how a
refusal lists what is on offer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s2t_stream.errors import OptionsError
from s2t_stream.translation.languages import asked, check_target, describe_offer


def test_a_speech_recognition_model_transcribes_and_feeds_the_cascade() -> None:
    check_target("asr", (), None)
    check_target("asr", (), None, mt="apertium")
    check_target("asr", (), "es", mt="apertium")  # the language is the translation's
    with pytest.raises(OptionsError, match=r"^--tgt-lang es: asr is a speech recognition model$"):
        check_target("asr", (), "es")


def test_a_speech_translation_model_needs_one_of_its_languages() -> None:
    check_target("st", ("es", "ca"), "ca")
    with pytest.raises(OptionsError) as none:
        check_target("model 'st'", ("es", "ca"), None, field="tgt_lang")
    assert str(none.value) == (
        "model 'st' translates speech into es, ca: choose one with tgt_lang (without it the "
        "model picks a language by itself)"
    )
    with pytest.raises(OptionsError, match=r"^tgt_lang 'fr': st translates into es, ca only$"):
        check_target("st", ("es", "ca"), "fr", field="tgt_lang")


def test_the_cascade_refuses_a_model_that_does_not_write_english() -> None:
    for tgt_lang in (None, "es", "gl"):
        with pytest.raises(OptionsError) as refused:
            check_target("--model st", ("es", "ca"), tgt_lang, mt="apertium")
        assert str(refused.value) == (
            "--mt apertium translates English text, so the cascade needs a speech recognition "
            "model; --model st is a speech-translation model (into es, ca): give --mt an ASR "
            "model, or drop --mt and choose one of its languages with --tgt-lang"
        )


def test_an_offer_lists_each_way_that_has_languages() -> None:
    assert describe_offer([(["es", "ca"], "end to end"), (["gl"], "with mt")]) == (
        "es, ca (end to end) and gl (with mt)"
    )
    assert describe_offer([([], "end to end"), (["gl"], "with mt")]) == "gl (with mt)"
    assert describe_offer([([], "end to end")]) == ""
    assert asked("--tgt-lang", "fr") == "--tgt-lang fr"
    assert asked("tgt_lang", "fr") == "tgt_lang 'fr'"


def test_the_desktop_apps_local_model_follows_the_same_rule(tmp_path: Path) -> None:
    """A speech-translation model without a language is refused there too (the window shows
    the error), with one of its languages it captions."""
    from gui.backends import LocalBackend, backend
    from s2t_stream.model.checkpoint import Bundle, save_bundle
    from s2t_stream.model.config import GenerationConfig, ModelConfig
    from s2t_stream.model.features import FeatureOptions
    from s2t_stream.model.network import Speech2Text
    from s2t_stream.model.tokenizer import train_sentencepiece
    from tests.helpers import TINY

    sentences = ["el gato se sentó en la alfombra", "el gat seia a l'estora", "nos gusta el té"] * 8
    tokenizer = train_sentencepiece(sentences, tmp_path / "spm", 30, lang_codes=["es", "ca"])
    torch.manual_seed(0)
    model = Speech2Text(ModelConfig(**{**TINY, "vocab_size": tokenizer.vocab_size})).eval()
    bundle = Bundle(model, tokenizer, GenerationConfig(max_length=12), FeatureOptions(), "st")
    save_bundle(bundle, tmp_path / "tiny-st")
    with pytest.raises(OptionsError, match=r"^tiny-st translates speech into es, ca: choose one"):
        backend(str(tmp_path / "tiny-st"), None)
    assert isinstance(backend(str(tmp_path / "tiny-st"), "es"), LocalBackend)
