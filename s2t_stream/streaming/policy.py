"""Commit policies: which tokens of the newest hypothesis (beyond the committed prefix) are
stable enough to show as committed text, which is never retracted."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

PolicyName = Literal["alignatt", "local-agreement"]


@dataclass(frozen=True)
class PolicyOptions:
    name: PolicyName = "alignatt"
    agreement: int = 2  # LocalAgreement-n
    border_s: float = 0.4  # AlignAtt
    lookahead: int = 2  # AlignAtt: tokens decoded past the border (shown as tentative)
    onset_confidence: float = 0.5  # AlignAtt, transcribing: a first commit needs this probability
    onset_s: float = 2.0  # ... while the segment's window is shorter than this (seconds)

    def __post_init__(self) -> None:
        if self.name not in ("alignatt", "local-agreement"):
            raise ValueError(f"policy must be 'alignatt' or 'local-agreement', got {self.name!r}")
        if self.agreement < 1:
            raise ValueError(f"LocalAgreement needs n ≥ 1, got {self.agreement}")
        if self.border_s < 0:
            raise ValueError(f"AlignAtt border must be ≥ 0 s, got {self.border_s}")
        if self.lookahead < 0:
            raise ValueError(f"AlignAtt lookahead must be ≥ 0 tokens, got {self.lookahead}")
        if not self.onset_s >= 0:
            raise ValueError(f"AlignAtt onset must be ≥ 0 s, got {self.onset_s}")
        if not 0 <= self.onset_confidence <= 1:
            raise ValueError(
                f"AlignAtt onset confidence must be a probability in [0, 1], "
                f"got {self.onset_confidence}"
            )


class Policy(Protocol):
    """A segment's commit rule. It answers a token count; the stream then backs off to a word
    boundary (`word_boundary`)."""

    def border(self, window_frames: int) -> int | None:
        """The encoder frame from which decoding may stop early (None: decode to the end)."""
        ...

    def stable(
        self,
        tokens: Sequence[int],
        frames: Sequence[int],
        window_frames: int,
        log_probs: Sequence[float],
    ) -> int:
        """How many leading `tokens` (generated after the committed prefix) may be committed;
        `frames[i]` is token i's most attended encoder frame, of `window_frames`, and
        `log_probs[i]` the natural log of the probability the model gave it."""
        ...

    def committed(self, count: int) -> None:
        """The engine committed `count` more tokens (they joined the prefix)."""
        ...


class LocalAgreement:
    """LocalAgreement-n (Macháček et al. 2023, whisper_streaming): commit what the last n
    hypotheses agree on."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.history: list[tuple[int, ...]] = []

    def border(self, window_frames: int) -> int | None:
        return None  # agreement needs whole hypotheses

    def stable(
        self,
        tokens: Sequence[int],
        frames: Sequence[int],
        window_frames: int,
        log_probs: Sequence[float],
    ) -> int:
        self.history = [*self.history, tuple(tokens)][-self.n :]
        if len(self.history) < self.n:
            return 0
        count = 0
        for column in zip(*self.history, strict=False):
            if len(set(column)) > 1:
                break
            count += 1
        return count

    def committed(self, count: int) -> None:
        self.history = [h[count:] for h in self.history]


class AlignAtt:
    """AlignAtt (Papi et al. 2023, SimulStreaming): commit tokens whose cross-attention points
    at audio older than the border before the window's end; the first token that looks at the
    border and everything after it wait for more audio.

    Onset confidence (ours): until the segment's first commit, and while its window is shorter
    than `onset_frames`, a token the model gives a probability below `onset_confidence` waits
    too. A segment's first update sees a second of audio or less, and its guesses at the first
    words were the largest source of streaming's extra errors over offline decoding ("cant
    equort was…" committed for "the county court was…"). With 0.5 and 2 s, on a 60-minute test
    stream, the WER ratio to offline went from 1.070 to 1.036 and the median Average Lagging
    from 0.99 to 1.06 s, the longest staying 2.7 s; held until the first commit however long
    the segment, 1.011, but the longest lag grew to 7.3 s (README, Streaming performance)."""

    def __init__(
        self, border_frames: int, onset_confidence: float = 0.0, onset_frames: int = 0
    ) -> None:
        self.border_frames = border_frames
        self.onset_log_prob = math.log(onset_confidence) if onset_confidence > 0 else -math.inf
        self.onset_frames = onset_frames
        self.started = False  # committed anything yet

    def border(self, window_frames: int) -> int | None:
        return window_frames - self.border_frames

    def stable(
        self,
        tokens: Sequence[int],
        frames: Sequence[int],
        window_frames: int,
        log_probs: Sequence[float],
    ) -> int:
        limit = window_frames - self.border_frames
        count = next((i for i, frame in enumerate(frames) if frame >= limit), len(tokens))
        if self.started or window_frames >= self.onset_frames:
            return count
        unsure = (i for i, lp in enumerate(log_probs[:count]) if lp < self.onset_log_prob)
        return next(unsure, count)

    def committed(self, count: int) -> None:
        self.started = self.started or count > 0


def make_policy(options: PolicyOptions, frame_s: float, *, translating: bool = False) -> Policy:
    """A fresh policy state for one segment; `frame_s` is one encoder frame in seconds. A
    translating segment has no onset confidence: the translation model is less sure of every
    token, and on a 20-minute English→Spanish stream the rule (with no time limit) raised the
    median Average Lagging from 1.00 to 1.29 s and the mean from 1.05 to 1.93 s for a BLEU
    ratio of 0.996 against 0.990 without it."""
    if options.name == "local-agreement":
        return LocalAgreement(options.agreement)
    onset = 0.0 if translating else options.onset_confidence
    return AlignAtt(round(options.border_s / frame_s), onset, round(options.onset_s / frame_s))


def word_boundary(tokens: Sequence[int], count: int, starts_word: Sequence[bool]) -> int:
    """The largest k ≤ count such that tokens[:k] ends with a whole word: the token after it
    starts a new word. The hypothesis's last word always waits (even when the model ended
    there, more audio may extend it: "it" → "it's")."""
    for k in range(min(count, len(tokens) - 1), 0, -1):
        if starts_word[tokens[k]]:
            return k
    return 0
