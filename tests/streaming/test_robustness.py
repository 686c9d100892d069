"""The streaming engine on what users really feed it: long non-speech says nothing, noise between
two sentences leaves exactly the two sentences, audio cut off mid-word gives no loop, and audio
from a lower rate reaches the model on the 16-bit grid."""

from __future__ import annotations

import numpy as np
import pytest

from s2t_stream.model.audio import quantize16, resample
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.features import fbank
from s2t_stream.streaming.drive import StreamDriver, drive
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Event, Final
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.training.augment import colored_noise, hum
from s2t_stream.training.wer import word_errors
from tests.helpers import silence, synthesise
from tests.offline.test_transcriber import CUT_OFF, repeated_ngram, two_minutes_of

pytestmark = pytest.mark.model
RATE = 16000


def pad(speech: np.ndarray) -> np.ndarray:
    return np.concatenate([silence(0.5), speech, silence(1.0)])


def finals(engine: Engine, audio: np.ndarray, rate: int = RATE) -> list[Final]:
    chunk = rate // 10
    pieces = (audio[i : i + chunk] for i in range(0, len(audio), chunk))
    events: list[Event] = [e for step in drive(StreamDriver(engine, rate), pieces) for e in step]
    return [e for e in events if isinstance(e, Final)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["silence", "white", "pink", "brown", "hum"])
def test_two_minutes_of_non_speech_give_no_finals(bundle: Bundle, kind: str) -> None:
    assert finals(Engine(bundle), two_minutes_of(kind)) == []


@pytest.mark.audio("espeak-ng")
@pytest.mark.parametrize("noise", ["brown", "hum"])
def test_speech_noise_speech_gives_both_sentences(bundle: Bundle, noise: str) -> None:
    first, second = synthesise(CUT_OFF[0]), synthesise(CUT_OFF[2], voice="en-gb")
    rng = np.random.default_rng(1)
    wave = hum(30 * RATE, rng) if noise == "hum" else colored_noise(30 * RATE, noise, rng)
    audio = np.concatenate([silence(0.5), first, (wave * 0.05).astype(np.float32), second])
    got = finals(Engine(bundle), np.concatenate([audio, silence(1.0)]))
    # the noise adds no final: each sentence's final has the words it gets streamed on its
    # own, none lost and at most two misheard or added (the hum fills the second sentence's
    # 0.3 s pre-roll; demo models have misread its first word after it, "for whether", or
    # heard one more word in it, "for the weather")
    alone = [f.text for s in (first, second) for f in finals(Engine(bundle), pad(s))]
    assert len(got) == len(alone) == 2, [f.text for f in got]
    for heard, expected in zip(got, alone, strict=True):
        errors = word_errors([expected], [heard.text])
        assert errors.deletions == 0, (heard.text, expected)
        assert errors.substitutions + errors.insertions <= 2, (heard.text, expected)
    assert got[0].end_s < 5.0 and got[1].start_s > 30.0


@pytest.mark.audio("espeak-ng")
@pytest.mark.parametrize("keep", [0.5, 0.6, 0.75, 0.9])
def test_speech_cut_off_mid_word_gives_no_loop(bundle: Bundle, keep: float) -> None:
    engine = Engine(bundle)
    for sentence in CUT_OFF:
        speech = synthesise(sentence)
        for final in finals(engine, speech[: round(len(speech) * keep)]):
            words = final.text.split()
            assert all(repeated_ngram(words, n) <= 2 for n in range(1, 6)), final.text
            assert len(words) <= len(sentence.split()) + 2, final.text


def test_audio_from_a_lower_rate_reaches_the_model_on_the_16_bit_grid(bundle: Bundle) -> None:
    """8 kHz input is resampled, then rounded to 16 bits (`quantize16`) before the fbank, as
    offline files are: the stream's frames equal those of the rounded one-shot resampling."""
    narrow = (np.random.default_rng(0).standard_normal(8000) * 0.1).astype(np.float32)
    stream = Engine(bundle, StreamOptions(endpoint=None)).open(8000)
    stream.accept(narrow)
    stream.end_input()
    expected = fbank(quantize16(resample(narrow, 8000, RATE)))
    np.testing.assert_array_equal(stream.frames(0, stream.available), expected)
    assert not np.array_equal(expected, fbank(resample(narrow, 8000, RATE)))
