"""The bundled speech-translation model (English speech → Spanish or Catalan text): a complete
export in the multilingual S2T layout — language tags in the vocabulary, the language chosen by
forcing its tag as the first generated token — that the reference loads and translates exactly as
we do. (Its quality is measured by `s2t-stream eval --tgt-lang`, in its card.)"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from transformers import (
    Speech2TextFeatureExtractor,
    Speech2TextForConditionalGeneration,
    Speech2TextTokenizer,
)

from s2t_stream.defaults import BUNDLED_ST_LANGUAGES, BUNDLED_ST_MODEL
from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from tests.helpers import SAMPLES

MAX_BYTES = 40 * 1024 * 1024  # the bound on fp16 weights plus the tokenizer

pytestmark = pytest.mark.st_model


@pytest.fixture(scope="module")
def samples() -> list[dict[str, str]]:
    with (SAMPLES / "samples.jsonl").open() as f:
        return [json.loads(line) for line in f]


def test_export_is_small_complete_and_names_its_languages() -> None:
    files = {p.name: p.stat().st_size for p in BUNDLED_ST_MODEL.iterdir()}
    for name in ("config.json", "generation_config.json", "preprocessor_config.json",
                 "model.safetensors", "sentencepiece.bpe.model", "vocab.json",
                 "tokenizer_config.json", "special_tokens_map.json", "README.md"):  # fmt: skip
        assert name in files, name
    assert sum(files.values()) <= MAX_BYTES
    vocab = json.loads((BUNDLED_ST_MODEL / "vocab.json").read_text())
    assert (vocab["<lang:es>"], vocab["<lang:ca>"]) == (4, 5)  # right after the four specials
    special = json.loads((BUNDLED_ST_MODEL / "special_tokens_map.json").read_text())
    assert special["additional_special_tokens"] == ["<lang:es>", "<lang:ca>"]
    config = json.loads((BUNDLED_ST_MODEL / "tokenizer_config.json").read_text())
    assert tuple(config["s2t_stream_lang_codes"]) == BUNDLED_ST_LANGUAGES  # what --tgt-lang picks


@dataclass
class Reference:
    """The reference's model, feature extractor and tokenizer for the bundled ST model."""

    model: Speech2TextForConditionalGeneration
    extractor: Speech2TextFeatureExtractor
    tokenizer: Speech2TextTokenizer


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference(
        Speech2TextForConditionalGeneration.from_pretrained(
            BUNDLED_ST_MODEL, dtype=torch.float32
        ).eval(),
        Speech2TextFeatureExtractor.from_pretrained(BUNDLED_ST_MODEL),
        Speech2TextTokenizer.from_pretrained(BUNDLED_ST_MODEL),
    )


@pytest.mark.parametrize(("lang", "beams"), [("es", 1), ("ca", 1), ("es", 5)])
def test_reference_translations_equal_ours(
    samples: list[dict[str, str]], reference: Reference, lang: str, beams: int
) -> None:
    """The reference end to end (its feature extractor, `generate` with the language tag forced
    first, its tokenizer) against ours asked for `lang`."""
    forced = reference.tokenizer.convert_tokens_to_ids(f"<lang:{lang}>")
    options = TranscribeOptions(
        decoding=DecodingOptions(num_beams=beams), tgt_lang=lang, vad=False, loop_guard=False
    )
    ours = Transcriber(load_bundle(BUNDLED_ST_MODEL), options)
    for sample in samples:
        wave = load_audio(SAMPLES / sample["audio"])
        feats = reference.extractor(wave, sampling_rate=16000, return_tensors="pt").input_features
        with torch.no_grad():
            tokens = reference.model.generate(
                feats, num_beams=beams, max_length=200, forced_bos_token_id=forced
            )
        assert tokens[0, 1].item() == forced
        expected = reference.tokenizer.decode(tokens[0], skip_special_tokens=True)
        assert expected  # a translation, not an empty string
        assert ours.transcribe([wave])[0].text == expected
