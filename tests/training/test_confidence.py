"""Word confidences: labelling words right or wrong, the AUC, and that the demo model's
confidences rank its wrong words below its right ones."""

from __future__ import annotations

import numpy as np
import pytest

from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.streaming.events import Word
from s2t_stream.training.confidence import confidence_auc, labelled_words
from tests.helpers import REPO_ROOT, synthesise


def words(*pairs: tuple[str, float]) -> list[Word]:
    return [Word(text, 0.0, 0.0, conf) for text, conf in pairs]


def test_hypothesis_words_are_labelled_by_their_alignment() -> None:
    # "the" deleted, "cat" substituted by "bat", "now" inserted; "42" is "forty two"
    hypothesis = words(("bat", 0.2), ("sat", 0.8), ("on", 0.7), ("the", 0.9), ("mat", 0.6))
    assert labelled_words("the cat sat on the mat", [*hypothesis, *words(("now", 0.1))]) == [
        (0.2, False),
        (0.8, True),
        (0.7, True),
        (0.9, True),
        (0.6, True),
        (0.1, False),
    ]
    assert labelled_words("forty two", words(("42", 0.5))) == [(0.5, True), (0.5, True)]
    assert labelled_words("", words(("oh", 0.3))) == [(0.3, False)]
    with pytest.raises(ValueError, match="with a confidence"):
        labelled_words("a", [Word("a", 0.0, 0.1)])


def test_auc_counts_right_words_ranked_above_wrong_ones() -> None:
    # right 0.9 and 0.5 against wrong 0.1 and 0.6: three of the four pairs in order
    assert confidence_auc([(0.9, True), (0.1, False), (0.5, True), (0.6, False)]) == 0.75
    with pytest.raises(ValueError, match="both right and wrong"):
        confidence_auc([(0.9, True), (0.5, True)])


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.audio("espeak-ng")
def test_wrong_words_get_lower_confidence_than_right_ones(bundle: Bundle) -> None:
    """30 sentences in white noise at 5 dB SNR (enough wrong words to rank): the words the
    model gets wrong must be clearly less confident than those it gets right (0.83 measured
    with the demo model; 0.5 would say nothing)."""
    lines = (REPO_ROOT / "data/text/vctk_prompts.txt").read_text().splitlines()
    texts = [t for t in lines if 5 <= len(t.split()) <= 12][-30:]
    rng = np.random.default_rng(0)
    waves = []
    for n, text in enumerate(texts):
        clean = synthesise(text, voice=["en-us", "en-gb", "en-gb-scotland"][n % 3])
        noise = rng.standard_normal(len(clean)).astype(np.float32)
        noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (5 / 10))
        waves.append(clean + noise)
    transcriber = Transcriber(bundle, TranscribeOptions(DecodingOptions(num_beams=1)))
    labelled = [
        pair
        for text, result in zip(texts, transcriber.transcribe(waves), strict=True)
        for pair in labelled_words(text, [w for s in result.segments for w in s.words])
    ]
    wrong = sum(not ok for _, ok in labelled)
    assert wrong >= 15, f"too few wrong words to rank: {wrong} of {len(labelled)}"
    assert confidence_auc(labelled) >= 0.7
