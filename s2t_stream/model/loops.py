"""Repetition loops — what a decoder says when the audio ends mid-word or holds nothing it knows
("…before the end of the end of the end of…") — found and cut back to where they began."""

from __future__ import annotations

import math
from collections.abc import Sequence

REPEATS = 3  # a run of this many copies of an n-gram is a loop ("very very" is speech)
MAX_PERIOD = 32  # longest repeated n-gram looked for, in tokens (several words)
TOKENS_PER_S = 8.0  # a generous ceiling on speech: ~3 words/s at ≤ 2.5 tokens per word
SLACK_TOKENS = 10  # the start of any utterance may exceed the rate (language tag, short words)


def loop_at_end(tokens: Sequence[int], *, max_period: int = MAX_PERIOD) -> int:
    """If `tokens` ends with `REPEATS` consecutive copies of one n-gram (n ≤ `max_period`), the
    length to keep — up to the end of the first copy; else `len(tokens)`. The shortest period
    wins, so "a a a" keeps "a" whatever longer pattern also fits."""
    size = len(tokens)
    for period in range(1, min(max_period, size // REPEATS) + 1):
        last = tokens[size - period :]
        if all(
            tokens[size - (k + 1) * period : size - k * period] == last for k in range(1, REPEATS)
        ):
            return size - (REPEATS - 1) * period
    return size


def cut_loop(tokens: Sequence[int], *, max_period: int = MAX_PERIOD) -> int:
    """The length of `tokens` to keep: up to the end of the first copy of the earliest loop (as
    if the loop had been caught while decoding, token by token); `len(tokens)` if none."""
    for end in range(REPEATS, len(tokens) + 1):
        keep = loop_at_end(tokens[:end], max_period=max_period)
        if keep < end:
            return keep
    return len(tokens)


def token_budget(seconds: float, tokens_per_s: float = TOKENS_PER_S) -> int:
    """The most tokens `seconds` of audio can plausibly hold (more is a loop or a hallucination)."""
    return SLACK_TOKENS + math.ceil(seconds * tokens_per_s)


TAIL_FRAMES = 5  # encoder frames at the end of the audio (0.2 s at the usual 4× subsampling)
TAIL_TOKENS = 3  # tokens that may attend there: the last word's pieces when speech is cut off


def cut_stuck_tail(frames: Sequence[int], encoder_frames: int) -> int:
    """How many tokens to keep when the hypothesis goes on after the audio has run out.
    `frames[i]` is the encoder frame token i attended most, of `encoder_frames`. Speech holds
    about one token per encoder frame; when more than `TAIL_TOKENS` tokens attend the last
    `TAIL_FRAMES` frames, the decoder is inventing text from the last sound it heard
    ("…the week queak weak weak"), and everything from the first of them is cut."""
    edge = encoder_frames - TAIL_FRAMES
    at_end = [i for i, frame in enumerate(frames) if frame >= edge]
    return at_end[0] if len(at_end) > TAIL_TOKENS else len(frames)
