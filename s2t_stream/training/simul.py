"""Simultaneous speech translation scored as SimulEval scores speech input, on a stream's target
words: Average Lagging and Length-Adaptive Average Lagging, computation-unaware and -aware,
per sentence (`latency.average_lagging` has the formulas and their sources), and the stream's
BLEU beside the offline model's.

SimulEval (Ma et al. 2020, arXiv:2011.02048; github.com/facebookresearch/SimulEval,
simuleval/evaluator/instance.py and scorers/latency_scorer.py) scores one instance per source
audio file. Here a sentence of the test stream is that instance:

- source X: the sentence's audio file as the stream carries it (`TestStream.spans`, silences
  at its edges included, as SimulEval reads the whole file); |X| its duration in seconds
  (SimulEval: ms — AL and LAAL scale with the unit);
- delay d_i, computation-unaware: the audio consumed (`audio_s`) when target word i was first
  emitted (committed, `latency.commit_times`) minus the file's start (SimulEval's `delays`:
  the source read when the word was written);
- delay d_i, computation-aware: that event's `wall_s` minus the file's start, on the replay's
  simulated real-time clock (a chunk's update starts when it has arrived and the previous one
  is done, and takes its measured compute time; `harness.replay`): what a live listener sees.
  SimulEval's `elapsed` instead adds all compute time since the instance began to the source
  read, as if no compute overlapped the arrival of audio: never below this delay when the
  engine was idle as the file began;
- |Y|: the reference translation's words, normalised as the model's targets are
  (`targets.normalize_translation`); SimulEval splits the raw reference at spaces (its
  default latency unit, `word`);
- the hypothesis: the target words committed in the stream's segments matched to the sentence
  (those whose final overlaps its file most: `latency.match_segments`); a sentence with none
  is not scored, as SimulEval skips an instance without delays.

One difference is the long form: SimulEval feeds one file, then tells the system the source has
ended, so a word written after it has read the whole file has delay |X|. The engine hears one
long stream and finds each sentence's end itself, so a word it emits after the file ended has
its true delay (> |X|); AL's τ stops at the first such word, so the wait for the endpoint counts
once per sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

from s2t_stream.streaming.events import Event, Final
from s2t_stream.training.bleu import corpus_bleu, corpus_chrf
from s2t_stream.training.latency import Reference, match_segments, sentence_lagging

LAGGING = {
    "al_unaware_s": (False, False),  # (computation-aware, length-adaptive)
    "al_aware_s": (True, False),
    "laal_unaware_s": (False, True),
    "laal_aware_s": (True, True),
}


def simul_lagging(events: Sequence[Event], sources: Sequence[Reference]) -> dict[str, list[float]]:
    """AL and LAAL in seconds of each scored sentence, in source order, computation-aware
    (delays from `wall_s`) and unaware (from `audio_s`), keyed as the harness reports them
    (see `LAGGING`). `sources`: each sentence's normalised reference translation over its
    file's span in the stream (s)."""
    return {
        key: sentence_lagging(events, sources, aware=aware, length_adaptive=adaptive)
        for key, (aware, adaptive) in LAGGING.items()
    }


def stream_hypotheses(events: Sequence[Event], sources: Sequence[Reference]) -> list[str]:
    """Each sentence's streaming translation, for corpus BLEU against its reference: the texts
    of the finals given to it, in emission order, joined by spaces ("" when none). A final goes
    to the sentence it overlaps most (`latency.match_segments`), one that overlaps none (said
    in a pause) to the nearest, so nothing the stream said is left out of the score."""
    finals = [e for e in events if isinstance(e, Final) and e.text.strip()]
    if not sources:
        return []
    matched = match_segments(finals, sources)
    texts: list[list[str]] = [[] for _ in sources]
    for final in finals:
        index = matched.get(final.segment)
        if index is None:
            index = min(range(len(sources)), key=lambda i: _gap(final, sources[i]))
        texts[index].append(final.text.strip())
    return [" ".join(parts) for parts in texts]


def _gap(final: Final, source: Reference) -> float:
    """Seconds between a final's span and a source's (0 when they touch or overlap)."""
    return max(source.start_s - final.end_s, final.start_s - source.end_s, 0.0)


def translation_quality(
    references: Sequence[str], streaming: Sequence[str], offline: Sequence[str]
) -> dict[str, float | None]:
    """Corpus BLEU and chrF (`bleu.corpus_bleu`, `bleu.corpus_chrf`: sacrebleu on normalised
    texts) of the stream's and of the offline run's translations against the same references,
    and `bleu_ratio`, streaming BLEU / offline BLEU (None when offline BLEU is 0)."""
    streaming_bleu = corpus_bleu(references, streaming)
    offline_bleu = corpus_bleu(references, offline)
    return {
        "bleu_streaming": round(streaming_bleu, 2),
        "bleu_offline": round(offline_bleu, 2),
        "bleu_ratio": round(streaming_bleu / offline_bleu, 3) if offline_bleu > 0 else None,
        "chrf_streaming": round(corpus_chrf(references, streaming), 2),
        "chrf_offline": round(corpus_chrf(references, offline), 2),
    }
