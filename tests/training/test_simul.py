"""SimulEval's speech-input latency on target words (AL, LAAL; computation-aware and -unaware)
and the stream's translations for BLEU, on hand-made delays and events whose expected numbers
are worked out by hand (or in closed form) here."""

from __future__ import annotations

import random

import pytest

from s2t_stream.streaming.events import Event, Final, Partial, Word
from s2t_stream.training.latency import Reference, average_lagging, sentence_lagging
from s2t_stream.training.simul import simul_lagging, stream_hypotheses, translation_quality


def final(segment: int, text: str, start: float, end: float, audio: float, wall: float) -> Final:
    words = tuple(Word(w, start, end) for w in text.split())
    return Final(segment, text, start, end, audio, wall, words)


def wait_k(k: int, units: int, unit_s: float, lag_s: float = 0.0) -> list[float]:
    """Wait-k on a source of `units` equal pieces of `unit_s` seconds, one target word per
    reference word: word i (1-based) is written once min(k + i − 1, units) pieces are read,
    `lag_s` later (compute)."""
    return [min(k + i - 1, units) * unit_s + lag_s for i in range(1, units + 1)]


def test_wait_k_lags_k_pieces_behind_the_ideal_translator() -> None:
    # Ma et al. 2019: wait-k's AL is k source pieces. With |X| = n·u and |Y| = n, the terms are
    # (k + i − 1)·u − (i − 1)·u = k·u up to τ = n − k + 1, the first word written after the
    # whole source was read (d = n·u = |X|), whose term is n·u − (n − k)·u = k·u too.
    delays = wait_k(3, 10, 0.3)
    assert delays[7] == pytest.approx(3.0) and delays[6] < 3.0  # τ = 8
    assert average_lagging(delays, 3.0, 10) == pytest.approx(0.9)  # 3 × 0.3 s
    assert average_lagging(wait_k(1, 10, 0.3), 3.0, 10) == pytest.approx(0.3)
    assert average_lagging(wait_k(5, 8, 0.25), 2.0, 8) == pytest.approx(1.25)
    # SimulEval counts in ms: the same schedule scores 900 ms
    assert average_lagging([d * 1000 for d in delays], 3000.0, 10) == pytest.approx(900.0)
    # as long as the hypothesis, LAAL is AL
    assert average_lagging(delays, 3.0, 10, length_adaptive=True) == pytest.approx(0.9)


def test_words_after_tau_do_not_count() -> None:
    # delays 1, 2, 3.5, 9 on a 3 s source with 4 reference words (rate 0.75 s/word): τ = 3
    # AL = ((1 − 0) + (2 − 0.75) + (3.5 − 1.5)) / 3 = 4.25 / 3; the 9 s word is left out
    assert average_lagging([1.0, 2.0, 3.5, 9.0], 3.0, 4) == pytest.approx(4.25 / 3)
    # SimulEval: a first word written after the whole source scores its own delay
    assert average_lagging([4.0, 4.5], 3.0, 2) == pytest.approx(4.0)


def test_computation_aware_lags_by_the_compute_time() -> None:
    # wait-3 as above with every word 0.25 s later: τ stays 8 (word 7 at 2.7 + 0.25 < 3),
    # so each term, and AL, grows by 0.25 s
    unaware = average_lagging(wait_k(3, 10, 0.3), 3.0, 10)
    aware = average_lagging(wait_k(3, 10, 0.3, lag_s=0.25), 3.0, 10)
    assert aware == pytest.approx(1.15) and unaware == pytest.approx(0.9)
    assert aware >= unaware


def test_laal_does_not_reward_over_generation() -> None:
    # Papi et al. 2022's case: a 2 s source, a 2-word reference, 4 words written at 0.5 s steps
    delays = [0.5, 1.0, 1.5, 2.0]
    # AL, rate 2/2 = 1 s/word: 0.5 + 0 − 0.5 − 1 = −1 → −0.25 (less than no lag at all)
    assert average_lagging(delays, 2.0, 2) == pytest.approx(-0.25)
    # LAAL, rate 2/max(2, 4) = 0.5: every term 0.5 → 0.5
    assert average_lagging(delays, 2.0, 2, length_adaptive=True) == pytest.approx(0.5)


def test_laal_is_at_least_al_and_equal_without_over_generation() -> None:
    # the rate |X|/max(|Y|, |Y*|) ≤ |X|/|Y| with τ unchanged: no term of LAAL is below AL's
    rng = random.Random(7)
    for _ in range(200):
        source = rng.uniform(1.0, 8.0)
        words = rng.randint(1, 12)
        delays = sorted(rng.uniform(0.0, source * 1.3) for _ in range(words))
        reference = rng.randint(1, 12)
        al = average_lagging(delays, source, reference)
        laal = average_lagging(delays, source, reference, length_adaptive=True)
        if words > reference:
            assert laal > al - 1e-12
        else:
            assert laal == pytest.approx(al)


# One sentence: its file lies at 2.0–5.0 s of the stream (|X| = 3 s), its English speech at
# 2.2–4.8 s; its reference translation has 6 words.
SOURCES = [Reference("uno dos tres cuatro cinco seis", 2.0, 5.0)]
EVENTS: list[Event] = [
    Partial(0, "", "uno", 2.5, 2.6),  # tentative only: nothing emitted yet
    Partial(0, "uno", "dos", 3.0, 3.2),  # uno: audio 1.0 s, wall 1.2 s after the file began
    Partial(0, "uno dos tres", "", 4.0, 4.3),  # dos, tres: 2.0 s, 2.3 s
    Partial(0, "uno dos tres cuatro", "", 4.5, 4.9),  # cuatro: 2.5 s, 2.9 s
    final(0, "uno dos tres cuatro cinco seis", 2.1, 4.9, 5.5, 5.8),  # cinco, seis: 3.5 s, 3.8 s
]


def test_sentence_lagging_counts_from_the_file_start_in_reference_translation_words() -> None:
    # unaware delays 1.0, 2.0, 2.0, 2.5, 3.5, 3.5; |X| = 3, |Y| = 6: rate 0.5, τ = 5 (3.5 ≥ 3)
    # AL = (1.0 + 1.5 + 1.0 + 1.0 + 1.5) / 5 = 1.2
    assert sentence_lagging(EVENTS, SOURCES, aware=False, length_adaptive=False) == pytest.approx(
        [1.2]
    )
    # aware delays 1.2, 2.3, 2.3, 2.9, 3.8, 3.8: τ = 5
    # AL = (1.2 + 1.8 + 1.3 + 1.4 + 1.8) / 5 = 1.5
    assert sentence_lagging(EVENTS, SOURCES, aware=True, length_adaptive=False) == pytest.approx(
        [1.5]
    )
    # as long as the reference: LAAL = AL
    assert simul_lagging(EVENTS, SOURCES) == {
        "al_unaware_s": pytest.approx([1.2]),
        "al_aware_s": pytest.approx([1.5]),
        "laal_unaware_s": pytest.approx([1.2]),
        "laal_aware_s": pytest.approx([1.5]),
    }


def test_sentence_lagging_of_an_over_long_translation() -> None:
    # a 2-word reference over a 2 s file at 10–12 s, 4 words committed at 10.5, 11, 11.5, 12 s
    sources = [Reference("hola mundo", 10.0, 12.0)]
    events: list[Event] = [
        Partial(0, "hola", "", 10.5, 10.5),
        Partial(0, "hola a", "", 11.0, 11.0),
        Partial(0, "hola a todo", "", 11.5, 11.5),
        final(0, "hola a todo mundo", 10.1, 11.9, 12.0, 12.0),
    ]
    lagging = simul_lagging(events, sources)
    assert lagging["al_unaware_s"] == pytest.approx([-0.25])  # as in the over-generation case
    assert lagging["laal_unaware_s"] == pytest.approx([0.5])


def test_a_sentence_without_target_words_is_not_scored() -> None:
    sources = [*SOURCES, Reference("siete ocho", 8.0, 9.0)]
    assert len(sentence_lagging(EVENTS, sources, aware=True, length_adaptive=True)) == 1


def test_stream_hypotheses_gather_each_sentences_finals() -> None:
    sources = [Reference("a", 0.0, 2.0), Reference("b", 3.0, 5.0)]
    events: list[Event] = [
        Partial(0, "hola", "", 1.0, 1.1),
        final(0, "hola", 0.2, 1.8, 2.3, 2.4),
        Final(1, "", 2.0, 2.2, 2.5, 2.5, ()),  # said nothing
        final(2, "mundo", 2.3, 2.6, 2.9, 3.0),  # in the pause: 0.3 s from the first, 0.4 s
        final(3, "adiós", 3.1, 4.9, 5.4, 5.5),
        final(4, "ruido", 9.0, 9.5, 9.9, 10.0),  # after the last sentence: nearest is "b"
    ]
    assert stream_hypotheses(events, sources) == ["hola mundo", "adiós ruido"]
    assert stream_hypotheses(events[:1], sources) == ["", ""]  # partials are not finals


def test_translation_quality_and_the_bleu_ratio() -> None:
    references = ["A b c d e f g h."]
    # one substitution among 8 words: n-gram precisions 7/8, 5/7, 3/6, 1/5, whose product is
    # 1/16; no brevity penalty: BLEU = 100 · (1/16)^(1/4) = 50
    quality = translation_quality(references, ["a b c d x f g h"], ["a b c d e f g h"])
    assert quality["bleu_streaming"] == pytest.approx(50.0)
    assert quality["bleu_offline"] == pytest.approx(100.0)
    assert quality["bleu_ratio"] == pytest.approx(0.5)
    assert quality["chrf_offline"] == pytest.approx(100.0)
    chrf = quality["chrf_streaming"]
    assert chrf is not None and 0 < chrf < 100
    # the ratio is streaming over offline, not the other way round
    assert translation_quality(references, ["a b c d e f g h"], ["a b c d x f g h"])[
        "bleu_ratio"
    ] == pytest.approx(2.0)
    # an offline run that scores nothing has no ratio
    assert translation_quality(references, ["a b c d e f g h"], ["z"])["bleu_ratio"] is None
