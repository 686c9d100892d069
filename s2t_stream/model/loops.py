"""Hallucination guards: what a decoder says when the audio ends mid-word or holds nothing it
knows — repetition loops ("…before the end of the end of the end of…"), text invented after
the audio ran out, the audio read again from the start, the last words said twice from the same
sound ("…in the park in the park") — found and cut back."""

from __future__ import annotations

import math
from collections.abc import Sequence

REPEATS = 3  # a run of this many copies of an n-gram is a loop ("very very" is speech)
MAX_PERIOD = 32  # longest repeated n-gram looked for, in tokens (several words)
TOKENS_PER_S = 8.0  # a generous ceiling on speech: ~3 words/s at ≤ 2.5 tokens per word
SLACK_TOKENS = 10  # the start of any utterance may exceed the rate (language tag, short words)
TAIL_FRAMES = 5  # encoder frames at the end of the audio (0.2 s at the usual 4× subsampling)
TAIL_TOKENS = 3  # tokens that may attend there: the last word's pieces when speech is cut off
REREAD_FRAMES = 8  # attention going back this far (0.32 s), and staying, is reading it again
REREAD_TOKENS = 4  # for this many tokens in a row (fewer is attention noise)
ECHO_TOKENS = 2  # shortest n-gram whose second copy from the same sound is an echo


def loop_period(tokens: Sequence[int], *, max_period: int = MAX_PERIOD) -> int:
    """The length n of the n-gram whose `REPEATS` consecutive copies `tokens` ends with
    (n ≤ `max_period`; the shortest, so "a a a" is 1 whatever longer pattern also fits), or 0."""
    size = len(tokens)
    for period in range(1, min(max_period, size // REPEATS) + 1):
        if tokens[-1] != tokens[-1 - period]:  # cheap test first: most periods fail here
            continue
        last = tokens[size - period :]
        if all(
            tokens[size - (k + 1) * period : size - k * period] == last for k in range(1, REPEATS)
        ):
            return period
    return 0


def loop_at_end(tokens: Sequence[int], *, max_period: int = MAX_PERIOD) -> int:
    """The length of `tokens` to keep: up to the end of the first copy of the loop it ends
    with (`loop_period`), or all of it."""
    period = loop_period(tokens, max_period=max_period)
    return len(tokens) - (REPEATS - 1) * period


def collapse_repeats(tokens: Sequence[int], *, fixed: int = 0) -> list[int]:
    """The indices of `tokens` to keep so that no n-gram occurs `REPEATS` times in a row: each
    such run is cut back to one copy, however long it goes on, and what follows it is kept (a
    stutter — "crisisis hospital" — loses only its extra copies). The first `fixed` tokens
    (committed text) are always kept."""
    kept: list[int] = []
    values: list[int] = []
    cycle: list[int] = []  # the loop just cut, while the tokens go on repeating it
    for index, token in enumerate(tokens):
        if cycle and token == cycle[0] and index >= fixed:
            cycle = [*cycle[1:], token]
            continue
        kept.append(index)
        values.append(token)
        period = loop_period(values)
        if period:
            keep = max(len(values) - (REPEATS - 1) * period, min(fixed, len(kept)))
            del kept[keep:], values[keep:]
            cycle = values[-period:]
        else:
            cycle = []
    return kept


def cut_stuck_tail(frames: Sequence[int], encoder_frames: int) -> int:
    """How many tokens to keep when the hypothesis goes on after the audio has run out.
    `frames[i]` is the encoder frame token i attended most, of `encoder_frames`. Speech holds
    about one token per encoder frame; when more than `TAIL_TOKENS` tokens attend the last
    `TAIL_FRAMES` frames, the decoder is inventing text from the last sound it heard
    ("…the week queak weak weak"), and everything from the first of them is cut."""
    edge = encoder_frames - TAIL_FRAMES
    at_end = [i for i, frame in enumerate(frames) if frame >= edge]
    return at_end[0] if len(at_end) > TAIL_TOKENS else len(frames)


def cut_reread(frames: Sequence[int]) -> int:
    """How many tokens to keep before the decoder starts reading the audio again ("…before the
    end of we need to finish…"). Speech is aligned left to right: the reading position is the
    median of the last five tokens' frames, and `REREAD_TOKENS` tokens in a row attending
    more than `REREAD_FRAMES` before the furthest position reached begin a second reading
    (argmax attention is noisy: a token or two going back is not one)."""
    furthest = -1
    for i in range(len(frames)):
        back = furthest - REREAD_FRAMES
        run = frames[i : i + REREAD_TOKENS]
        if len(run) == REREAD_TOKENS and all(f < back for f in run):
            return i
        recent = sorted(frames[max(0, i - 4) : i + 1])
        furthest = max(furthest, recent[len(recent) // 2])
    return len(frames)


def cut_echo(tokens: Sequence[int], frames: Sequence[int], *, max_period: int = MAX_PERIOD) -> int:
    """How many tokens to keep before the decoder says again what it has just said, reading the
    same sound ("…walk in the park in the park" from audio that ends in "park"): an n-gram
    (`ECHO_TOKENS` ≤ n ≤ `max_period` tokens) followed at once by a copy of itself whose
    attended frames (`frames[i]` for token i) reach no later than the first copy's. Said twice,
    the words would take twice the time: a real repeat ("bye bye") attends later frames. The
    copy may be cut short by the end of the hypothesis ("…in the park in the par") if it holds
    more than half of the n-gram's tokens and, beside the rule above, at least half of its
    tokens attend the sound of the part they copy (no later than the latest frame that part
    attends): the end of the audio draws the attention of the others."""
    for start in range(ECHO_TOKENS, len(tokens)):
        for n in range(ECHO_TOKENS, min(max_period, start) + 1):
            if _echoes(tokens, frames, start, n):
                return start
    return len(tokens)


def _echoes(tokens: Sequence[int], frames: Sequence[int], start: int, n: int) -> bool:
    """Whether `tokens[start:]` begins with an echo of the n tokens before `start` (`cut_echo`)."""
    size = min(n, len(tokens) - start)  # less than n: a copy that runs to the end
    if 2 * size <= n:  # so size >= ECHO_TOKENS too, as n >= ECHO_TOKENS
        return False
    copied, copy = range(start - n, start - n + size), range(start, start + size)
    if any(tokens[i] != tokens[j] for i, j in zip(copied, copy, strict=True)):
        return False
    if max(frames[j] for j in copy) > max(frames[start - n : start]):
        return False
    if size == n:
        return True
    heard_end = max(frames[i] for i in copied)
    return 2 * sum(frames[j] <= heard_end for j in copy) >= size


def heard(tokens: Sequence[int], frames: Sequence[int], encoder_frames: int) -> int:
    """How many tokens of a finished hypothesis the audio supports (`cut_stuck_tail`,
    `cut_reread`, `cut_echo`); `frames[i]` is the encoder frame token i attended most."""
    return min(cut_stuck_tail(frames, encoder_frames), cut_reread(frames), cut_echo(tokens, frames))


def token_budget(seconds: float, tokens_per_s: float = TOKENS_PER_S) -> int:
    """The most tokens `seconds` of audio can plausibly hold (more is a loop or a hallucination)."""
    return SLACK_TOKENS + math.ceil(seconds * tokens_per_s)
