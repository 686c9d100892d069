"""The bundled demo model: a complete export in the published layout that the reference loads
and decodes exactly as we do. (Its accuracy is measured by `s2t-stream eval`, in its card.)"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import (
    Speech2TextFeatureExtractor,
    Speech2TextForConditionalGeneration,
    Speech2TextTokenizer,
)

from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from tests.helpers import BUNDLED_MODEL, SAMPLES

MAX_BYTES = 25 * 1024 * 1024

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def samples() -> list[dict[str, str]]:
    with (SAMPLES / "samples.jsonl").open() as f:
        return [json.loads(line) for line in f]


def test_export_is_small_and_complete() -> None:
    files = {p.name: p.stat().st_size for p in BUNDLED_MODEL.iterdir()}
    for name in (
        "config.json",
        "generation_config.json",
        "preprocessor_config.json",
        "model.safetensors",
        "sentencepiece.bpe.model",
        "vocab.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "README.md",
    ):
        assert name in files, name
    assert sum(files.values()) <= MAX_BYTES


def test_reference_greedy_transcripts_equal_ours(samples: list[dict[str, str]]) -> None:
    """The reference end to end (its feature extractor, `generate`, its tokenizer) against ours,
    without the CTC head the reference does not have."""
    reference = Speech2TextForConditionalGeneration.from_pretrained(
        BUNDLED_MODEL, dtype=torch.float32
    ).eval()
    extractor = Speech2TextFeatureExtractor.from_pretrained(BUNDLED_MODEL)
    tokenizer = Speech2TextTokenizer.from_pretrained(BUNDLED_MODEL)
    ours = Transcriber(
        load_bundle(BUNDLED_MODEL),
        TranscribeOptions(decoding=DecodingOptions(num_beams=1, ctc_weight=0.0)),
    )
    for sample in samples:
        wave = load_audio(SAMPLES / sample["audio"])
        feats = extractor(wave, sampling_rate=16000, return_tensors="pt").input_features
        with torch.no_grad():
            tokens = reference.generate(feats, num_beams=1, max_length=200)
        expected = tokenizer.decode(tokens[0], skip_special_tokens=True)
        assert ours.transcribe([wave])[0].text == expected


def test_offline_search_uses_the_ctc_head_and_the_samples_still_come_out(
    samples: list[dict[str, str]],
) -> None:
    """The bundled CTC head is joint decoding's default (README, Joint CTC/attention decoding),
    and with it, at beam 5, the samples are transcribed as well as without it: at most the two
    word errors in their 44 words the decoder alone makes."""
    from s2t_stream.training.wer import word_errors

    bundle = load_bundle(BUNDLED_MODEL)
    assert bundle.ctc is not None
    transcriber = Transcriber(bundle)
    assert (transcriber.settings.num_beams, transcriber.settings.ctc_weight) == (5, 0.1)
    waves = [load_audio(SAMPLES / sample["audio"]) for sample in samples]
    hypotheses = [t.text for t in transcriber.transcribe(waves)]
    errors = word_errors([sample["text"] for sample in samples], hypotheses)
    assert errors.words == 44
    assert errors.substitutions + errors.deletions + errors.insertions <= 2
