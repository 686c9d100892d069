"""Latency metrics of a stream's events against reference sentences with known times (all times
in seconds; see `commit_times` for when a word counts as emitted)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from s2t_stream.streaming.events import Event, Final, Partial


@dataclass(frozen=True)
class Reference:
    """One spoken sentence: normalised text and its span in the stream (s)."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class CommittedWord:
    """A committed word: its segment, position in that segment (0-based), and the `audio_s` /
    `wall_s` (s) of the first event that committed it."""

    segment: int
    index: int  # position in its segment
    word: str
    audio_s: float
    wall_s: float


def commit_times(events: Sequence[Event]) -> list[CommittedWord]:
    """Each committed word with the times (s) of the first event that committed it (a partial's
    committed text, or the final for words committed only there), ordered by segment then
    position. `events` are in emission order; committed text only grows, so a word is new when
    its position is past the words already seen for its segment.

    A word's emission time is `wall_s` (computation-aware: what a live user sees) or `audio_s`
    (computation-unaware: audio consumed) of that first event."""
    words: dict[int, list[CommittedWord]] = {}
    for event in events:
        text = event.committed if isinstance(event, Partial) else event.text
        known = words.setdefault(event.segment, [])
        for index, word in enumerate(text.split()[len(known) :], start=len(known)):
            known.append(CommittedWord(event.segment, index, word, event.audio_s, event.wall_s))
    return [w for segment in sorted(words) for w in words[segment]]


def match_segments(finals: Sequence[Final], references: Sequence[Reference]) -> dict[int, int]:
    """Segment id → index of the reference its final overlaps most (none: left out)."""
    matched: dict[int, int] = {}
    for final in finals:
        overlaps = [
            min(final.end_s, ref.end_s) - max(final.start_s, ref.start_s) for ref in references
        ]
        if overlaps and max(overlaps) > 0:
            matched[final.segment] = max(range(len(overlaps)), key=overlaps.__getitem__)
    return matched


def _finals(events: Sequence[Event]) -> list[Final]:
    return [e for e in events if isinstance(e, Final)]


def finalisation_latencies(
    events: Sequence[Event], references: Sequence[Reference], *, aware: bool = True
) -> list[float]:
    """Per reference with a matched final: time of its last matched final − its end."""
    finals = _finals(events)
    matched = match_segments(finals, references)
    last: dict[int, float] = {}
    for final in finals:
        if final.segment in matched:
            last[matched[final.segment]] = final.wall_s if aware else final.audio_s
    return [last[i] - references[i].end_s for i in sorted(last)]


def first_partial_latencies(
    events: Sequence[Event], references: Sequence[Reference]
) -> list[float]:
    """Per reference: wall time of the first event with text in a segment matched to it − its
    start."""
    matched = match_segments(_finals(events), references)
    first: dict[int, float] = {}
    for event in events:
        said = event.text if isinstance(event, Final) else event.committed or event.tentative
        ref = matched.get(event.segment)
        if said and ref is not None and ref not in first:
            first[ref] = event.wall_s - references[ref].start_s
    return [first[i] for i in sorted(first)]


def average_lagging(
    delays: Sequence[float], source_s: float, reference_words: int, *, length_adaptive: bool = False
) -> float:
    """Average Lagging on words, in seconds, as SimulEval computes it. `delays[i]` is the time
    (s) from the source's start to the emission of word i + 1, `source_s` the source's duration
    |X| (s), `reference_words` the reference length |Y| in words. With τ the 1-based position
    of the first delay ≥ |X| (all words if none reaches it),

        AL = 1/τ · Σ_{i=1..τ} (d_i − (i − 1)·|X|/|Y|)

    (Ma et al. 2019, "STACL", arXiv:1810.08398, with τ = argmin_i {d_i = |X|}; in time units
    for speech input as in Ma et al. 2020, "SimulMT to SimulST", arXiv:2011.02048, and
    SimulEval's `ALScorer`, simuleval/evaluator/scorers/latency_scorer.py, which takes |Y| from
    the reference when there is one; its early return d_1 when d_1 > |X| is this sum with
    τ = 1). `length_adaptive`: LAAL (Papi et al. 2022, "Over-Generation Cannot Be Rewarded:
    Length-Adaptive Average Lagging for Simultaneous Speech Translation", arXiv:2206.05807;
    SimulEval's `LAALScorer`): the same with |X|/max(|Y|, |Y*|), |Y*| = len(delays) the
    hypothesis length, so that a hypothesis longer than the reference does not lower its lag.
    AL and LAAL scale with the time unit: SimulEval's, in ms, are these × 1000."""
    if not delays:
        raise ValueError("average_lagging needs at least one emitted word, got none")
    if source_s <= 0 or reference_words <= 0:
        raise ValueError(
            f"average_lagging needs a positive source length and reference length, got "
            f"{source_s} s and {reference_words} words"
        )
    length = max(len(delays), reference_words) if length_adaptive else reference_words
    rate = source_s / length
    tau = next((i + 1 for i, d in enumerate(delays) if d >= source_s), len(delays))
    return sum(delays[i] - i * rate for i in range(tau)) / tau


def sentence_lagging(
    events: Sequence[Event],
    references: Sequence[Reference],
    *,
    aware: bool,
    length_adaptive: bool,
) -> list[float]:
    """AL (or LAAL) per reference, over the committed words of the segments matched to it."""
    matched = match_segments(_finals(events), references)
    delays: dict[int, list[float]] = {}
    for word in commit_times(events):
        index = matched.get(word.segment)
        if index is not None:
            emitted = word.wall_s if aware else word.audio_s
            delays.setdefault(index, []).append(emitted - references[index].start_s)
    return [
        average_lagging(
            delays[i],
            references[i].end_s - references[i].start_s,
            max(1, len(references[i].text.split())),
            length_adaptive=length_adaptive,
        )
        for i in sorted(delays)
    ]


def summarise(values: Sequence[float]) -> dict[str, float | int]:
    """count, mean, median, p90 and max (count only when empty)."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 4),
        "median": round(statistics.median(values), 4),
        "p90": round(p90, 4),
        "max": round(ordered[-1], 4),
    }


def plot_latencies(series: dict[str, list[float]], path: str | Path) -> None:
    """One histogram panel per series, a line at each median, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, values in series.items() if values]
    if not names:
        raise ValueError("plot_latencies: every series is empty")
    figure, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=True):
        values = series[name]
        median = statistics.median(values)
        axis.hist(values, bins=40, color="#4c72b0")
        axis.axvline(median, color="#c44e52", label=f"median {median:.2f} s")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("seconds")
        axis.set_ylabel("sentences")
        axis.legend(fontsize=8)
    figure.suptitle("s2t-stream latency distributions")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
