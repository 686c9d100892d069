"""The streaming engine end to end on the bundled model and samples: finals equal offline
transcripts, committed text only grows, caches are rebuilt per re-encode, awkward input is
handled, memory stays bounded, batched streams equal separate ones."""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import s2t_stream.streaming.engine as engine_module
import s2t_stream.streaming.stream as stream_module
from s2t_stream.errors import AudioError
from s2t_stream.model.audio import resample
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import DecodingOptions, GenerationConfig
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.tokenizer import train_sentencepiece
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.streaming.engine import Engine, Stream, StreamOptions
from s2t_stream.streaming.events import Event, Final, Partial
from s2t_stream.streaming.policy import AlignAtt, Policy, PolicyOptions
from tests.helpers import TINY, reference_pair

RATE = 16000

pytestmark = pytest.mark.model


def silence(seconds: float) -> np.ndarray:
    noise = np.random.default_rng(0).standard_normal(round(seconds * RATE)) * 1e-4
    return noise.astype(np.float32)


def feed(
    engine: Engine, audio: np.ndarray, chunk: int = 1600, stream: Stream | None = None
) -> list[Event]:
    live = stream or engine.open()
    events: list[Event] = []
    for i in range(0, len(audio), chunk):
        live.accept(audio[i : i + chunk])
        engine.step([live])
        events += live.events()
    live.end_input()
    engine.step([live])
    assert live.complete
    return events + live.events()


def finals(events: list[Event]) -> list[Final]:
    return [e for e in events if isinstance(e, Final)]


def offline(bundle: Bundle, wave: np.ndarray, ctc_weight: float | None = None) -> str:
    decoding = DecodingOptions(num_beams=1, ctc_weight=ctc_weight)
    return Transcriber(bundle, TranscribeOptions(decoding)).transcribe([wave])[0].text


def test_single_utterance_final_is_the_offline_transcript(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    # With nothing committed early (a border wider than the utterance), the final decodes the
    # whole utterance once: features, CMVN, encoder and search must equal the offline path.
    options = StreamOptions(policy=PolicyOptions(border_s=100.0))
    rng = np.random.default_rng(0)
    for wave in waves:
        chunk = int(rng.integers(1, 4000))
        result = finals(feed(Engine(bundle, options), wave, chunk))
        assert [f.text for f in result] == [offline(bundle, wave)]


def test_joint_ctc_final_is_the_joint_offline_transcript(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    """With the model's CTC head, the engine's search (its prefix state fed the last update's
    draft) ends where joint greedy search over the whole utterance ends; a weight high enough
    to change some transcript shows the head was used."""
    assert bundle.ctc is not None, "the bundled model ships a CTC head"
    options = StreamOptions(policy=PolicyOptions(border_s=100.0), ctc_weight=0.5)
    streamed = [[f.text for f in finals(feed(Engine(bundle, options), wave))] for wave in waves]
    assert streamed == [[offline(bundle, wave, 0.5)] for wave in waves]
    assert streamed != [[offline(bundle, wave)] for wave in waves]


def check_commits_grow(events: list[Event]) -> None:
    """Per segment: committed words only grow, and the final starts with them."""
    committed: dict[int, list[str]] = {}
    for event in events:
        before = committed.get(event.segment, [])
        now = (event.committed if isinstance(event, Partial) else event.text).split()
        assert now[: len(before)] == before, f"segment {event.segment} retracted {before}"
        committed[event.segment] = now if isinstance(event, Final) else event.committed.split()


@pytest.mark.parametrize("policy", ["alignatt", "local-agreement"])
def test_committed_text_only_grows(bundle: Bundle, waves: list[np.ndarray], policy: str) -> None:
    audio = np.concatenate([x for w in waves for x in (silence(0.8), w)] + [silence(1.0)])
    options = StreamOptions(policy=PolicyOptions(name=policy), step_s=0.3)  # type: ignore[arg-type]
    events = feed(Engine(bundle, options), audio)
    check_commits_grow(events)
    assert any(isinstance(e, Partial) and e.committed for e in events)
    result = finals(events)
    assert len(result) == len(waves)  # one final per sentence, found by the endpointer
    assert [f.segment for f in result] == list(range(len(waves)))
    for final in result:
        assert final.words and final.start_s <= final.words[0].start_s
        assert all(
            a.end_s <= b.start_s + 1e-9 for a, b in zip(final.words, final.words[1:], strict=False)
        )
        assert " ".join(w.word for w in final.words) == final.text
    audio_s = [e.audio_s for e in events]
    assert audio_s == sorted(audio_s)


def test_a_segments_first_commit_holds_tokens_the_model_doubts(
    bundle: Bundle, waves: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stream hands AlignAtt each new token's log-probability; until the segment's first
    # commit, in its onset, nothing from the first token under the onset confidence on may be
    # committed.
    calls: list[tuple[list[int], list[float], int, bool]] = []  # tokens, log-probs, count, onset
    stable = AlignAtt.stable

    def spy(self: AlignAtt, tokens, frames, window_frames, log_probs):  # type: ignore[no-untyped-def]
        onset = not self.started and window_frames < self.onset_frames
        count = stable(self, tokens, frames, window_frames, log_probs)
        calls.append((list(tokens), list(log_probs), count, onset))
        return count

    monkeypatch.setattr(AlignAtt, "stable", spy)
    audio = np.concatenate([x for w in waves for x in (silence(0.8), w)] + [silence(1.0)])
    options = StreamOptions(step_s=0.3, policy=PolicyOptions(onset_confidence=0.9))
    check_commits_grow(feed(Engine(bundle, options), audio))
    onset = [c for c in calls if c[3]]
    assert onset and all(len(tokens) == len(lps) for tokens, lps, _, _ in calls)
    assert all(all(lp <= 0 for lp in lps) for _, lps, _, _ in calls)
    for _, lps, count, _ in onset:
        assert all(lp >= math.log(0.9) for lp in lps[:count])
    assert any(any(lp < math.log(0.9) for lp in lps) for _, lps, _, _ in onset)  # it was tried


def test_caches_are_rebuilt_for_every_encoder_output(
    bundle: Bundle, waves: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = bundle.model
    encoded: list[object] = []
    cached: list[object] = []  # the encoder output each cache was built from
    fresh: list[bool] = []  # built from the latest encoder output?
    encode, new_cache = model.encode, model.new_cache

    def spy_encode(*args: object, **kwargs: object) -> object:
        encoded.append(encode(*args, **kwargs))  # type: ignore[arg-type]
        return encoded[-1]

    def spy_cache(output: object) -> object:
        cached.append(output)
        fresh.append(output is encoded[-1])
        return new_cache(output)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "encode", spy_encode)
    monkeypatch.setattr(model, "new_cache", spy_cache)
    # compute_factor 0: an update every 0.3 s however long each takes (a loaded machine's
    # slow updates would otherwise space them out)
    options = StreamOptions(step_s=0.3, compute_factor=0)
    feed(Engine(bundle, options), np.concatenate([waves[2], silence(0.6)]))
    assert len(encoded) >= 4
    assert all(fresh)  # never a cache of an older encoding
    assert all(any(c is e for c in cached) for e in encoded)  # every encoding decoded


def test_silence_and_faint_noise_say_nothing(bundle: Bundle) -> None:
    engine = Engine(bundle)
    assert feed(engine, np.zeros(5 * RATE, dtype=np.float32)) == []
    assert feed(engine, silence(5.0)) == []


def test_loud_noise_and_clipping_are_handled(bundle: Bundle, waves: list[np.ndarray]) -> None:
    engine = Engine(bundle)
    noise = np.random.default_rng(1).standard_normal(3 * RATE).astype(np.float32) * 0.3
    events = feed(engine, np.clip(noise, -1, 1))
    check_commits_grow(events)
    clipped = np.clip(waves[0] * 20, -1.0, 1.0)
    result = finals(feed(engine, np.concatenate([silence(0.5), clipped, silence(1.0)])))
    assert len(result) == 1 and result[0].text


def test_zero_length_and_huge_chunks(bundle: Bundle, waves: list[np.ndarray]) -> None:
    engine = Engine(bundle)
    live = engine.open()
    for _ in range(10):
        live.accept(np.zeros(0, dtype=np.float32))
        assert engine.step([live]) == 0
    audio = np.concatenate([x for w in waves[:3] for x in (silence(0.8), w)] + [silence(1.0)])
    events = feed(engine, audio, chunk=len(audio), stream=live)  # all of it in one chunk
    assert len(finals(events)) == 3
    long_speech = np.concatenate([waves[4]] * 6)  # ~30 s without a pause, in one chunk
    options = replace(StreamOptions(), max_segment_s=6.0)
    result = finals(feed(Engine(bundle, options), long_speech, chunk=len(long_speech)))
    assert len(result) >= 5  # cut into ≤ 6 s windows
    assert all(f.end_s - f.start_s <= 6.0 + 1e-6 for f in result)


def test_bad_samples_raise_clear_errors(bundle: Bundle) -> None:
    live = Engine(bundle).open()
    with pytest.raises(AudioError, match="NaN"):
        live.accept(np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(AudioError, match="inf"):
        live.accept(np.array([np.inf], dtype=np.float32))
    with pytest.raises(AudioError, match="int16"):
        live.accept(np.zeros(10, dtype=np.int16))
    with pytest.raises(AudioError, match="mono"):
        live.accept(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="positive int"):
        Engine(bundle).open(sample_rate=0)


def test_other_sample_rates_are_resampled(bundle: Bundle, waves: list[np.ndarray]) -> None:
    audio = np.concatenate([silence(0.5), waves[1], silence(1.0)])
    native = finals(feed(Engine(bundle), audio))
    engine = Engine(bundle)
    resampled = finals(feed(engine, resample(audio, RATE, 44100), 4410, engine.open(44100)))
    assert len(native) == len(resampled) == 1
    assert abs(native[0].start_s - resampled[0].start_s) < 0.1
    assert abs(resampled[0].audio_s - native[0].audio_s) < 0.1  # seconds, not samples


def test_memory_stays_bounded_on_a_long_stream(bundle: Bundle, waves: list[np.ndarray]) -> None:
    # No endpointing: one endless segment, cut every ≤ 4 s; the buffers must not grow.
    options = StreamOptions(endpoint=None, max_segment_s=4.0, step_s=1.0)
    engine = Engine(bundle, options)
    live = engine.open()
    piece = np.concatenate([x for w in waves for x in (w, silence(0.3))])
    held = []
    for _ in range(8):  # about 100 s of audio
        for i in range(0, len(piece), 3200):
            live.accept(piece[i : i + 3200])
            engine.step([live])
            live.events()
            held.append(len(live.raw))
    assert max(held) <= 4.0 / 0.01 + 60  # one window plus a margin, not 100 s of frames
    assert max(held[len(held) // 2 :]) <= max(held[: len(held) // 2]) + 60


def update_times(engine: Engine, audio: np.ndarray) -> list[float]:
    """Seconds of audio in the stream at each update of its open segment."""
    live, times = engine.open(), []
    for i in range(0, len(audio), 1600):
        live.accept(audio[i : i + 1600])
        if engine.step([live]):
            times.append(live.available / 100)
    return times


@pytest.mark.parametrize("growth", [0.0, 0.4])
def test_the_step_grows_with_the_segment(
    bundle: Bundle, waves: list[np.ndarray], growth: float
) -> None:
    # One open segment of 12 s of speech: updates every 1 s, or every 0.4 × its length.
    speech = np.concatenate(waves * 4)[: 12 * RATE]
    options = StreamOptions(endpoint=None, compute_factor=0.0, step_growth=growth)
    times = update_times(Engine(bundle, options), speech)
    gaps = np.diff(times)
    due = np.maximum(1.0, growth * np.array(times[1:]))
    assert np.all(gaps >= due - 0.011) and np.all(gaps < due + 0.1 + 0.011)
    assert len(times) == (11 if growth == 0 else 5)  # 0.4: at 1.1, 2.1, 3.5, 5.9 and 9.9 s


def test_streams_stepped_together_equal_streams_alone(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    # the second stream starts speaking 1 s after the first: their updates fall in the same steps
    # with windows of different lengths, encoded apart and joined for one search
    audios = [
        np.concatenate([silence(0.5), waves[0], silence(0.9), waves[3], silence(1.0)]),
        np.concatenate([silence(1.5), waves[2], silence(1.0)]),
    ]
    # float64 so that batching's round-off cannot flip a near-tie between two tokens; steps
    # must not depend on measured compute either
    bundle = replace(bundle, model=copy.deepcopy(bundle.model).double())
    fixed = StreamOptions(compute_factor=0.0)
    alone = [[e.to_json() | {"wall_s": 0} for e in feed(Engine(bundle, fixed), a)] for a in audios]
    engine = Engine(bundle, fixed)
    lives = [engine.open(), engine.open()]
    together: list[list[dict[str, object]]] = [[], []]
    longest = max(len(a) for a in audios)
    for i in range(0, longest + 1600, 1600):
        for live, audio in zip(lives, audios, strict=True):
            if i < len(audio):
                live.accept(audio[i : i + 1600])
            elif not live.input_ended:
                live.end_input()
        engine.step(lives)
        for out, live in zip(together, lives, strict=True):
            out += [e.to_json() | {"wall_s": 0} for e in live.events()]
    assert together == alone


def test_translation_forces_the_target_language(
    tmp_path: Path, waves: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    sentences = ["the quick brown fox jumps over the lazy dog", "she sells sea shells"] * 10
    tokenizer = train_sentencepiece(sentences, tmp_path, 36, lang_codes=["de", "fr"])
    _, model = reference_pair(
        {**TINY, "vocab_size": tokenizer.vocab_size}, eos_bias=0.75, tie_word_embeddings=False
    )
    multilingual = Bundle(model, tokenizer, GenerationConfig(), FeatureOptions(), "tiny")
    prefixes: list[list[int]] = []
    original = engine_module.continue_greedy

    def spy(*args: object, **kwargs: object) -> object:
        prefixes.extend(args[2])  # type: ignore[arg-type]
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "continue_greedy", spy)
    flags: list[bool] = []
    make_policy = stream_module.make_policy

    def policy_spy(options: PolicyOptions, frame_s: float, *, translating: bool) -> Policy:
        flags.append(translating)
        return make_policy(options, frame_s, translating=translating)

    monkeypatch.setattr(stream_module, "make_policy", policy_spy)
    french = tokenizer.lang_code_to_id["fr"]
    events = feed(
        Engine(multilingual, StreamOptions(tgt_lang="fr")),
        np.concatenate([silence(0.5), waves[0], silence(1.0)]),
    )
    assert prefixes and all(p[:2] == [2, french] for p in prefixes)
    assert flags and all(flags)  # a translation's segments have no onset confidence
    assert all("<lang" not in (e.text if isinstance(e, Final) else e.tentative) for e in events)
    with pytest.raises(ValueError, match="de, fr"):
        Engine(multilingual, StreamOptions(tgt_lang="es"))


def test_target_language_needs_a_multilingual_model(bundle: Bundle) -> None:
    with pytest.raises(ValueError, match="no language tags"):
        Engine(bundle, StreamOptions(tgt_lang="fr"))


def test_finalize_closes_the_open_segment_now(bundle: Bundle, waves: list[np.ndarray]) -> None:
    engine = Engine(bundle)
    live = engine.open()
    audio = np.concatenate([silence(0.3), waves[4]])  # ~5 s of speech, no pause
    half = len(audio) // 2
    for i in range(0, half, 1600):
        live.accept(audio[i : i + 1600])
        engine.step([live])
    live.finalize()
    engine.step([live])
    first = [e for e in live.events() if isinstance(e, Final)]
    assert len(first) == 1 and first[0].audio_s == pytest.approx(half / RATE, abs=0.1)
    events = feed(engine, audio[half:], stream=live)
    later = finals(events)
    assert later and all(f.segment == 1 for f in later)  # speech resumed in a new segment
