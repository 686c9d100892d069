"""Tokens → words with times and confidences: pieces grouped into words, each word timed from the
fbank frames its tokens attended to in the decoder's cross-attention and scored by the least
probable of its pieces."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from s2t_stream.streaming.events import Word

FBANK_FRAME_S = 0.01  # one fbank frame (10 ms shift)
WORD_START = "\u2581"  # SentencePiece's mark of a piece that begins a word


@dataclass(frozen=True)
class Vocabulary:
    """What a stream needs of the model's tokenizer and shape to turn tokens into events:
    `decode` (token ids → text), `starts_word[id]` (the piece begins a word), the encoder's
    time `subsampling` (fbank frames per encoder frame) and `prefix_length` (start token and
    forced language tag: the tokens decoding starts from)."""

    decode: Callable[[Sequence[int]], str]
    starts_word: Sequence[bool]
    subsampling: int
    prefix_length: int

    def encoder_frames(self, fbank_frames: int) -> int:
        return -(-fbank_frames // self.subsampling)

    @classmethod
    def of(
        cls, id_to_piece: Callable[[int], str], decode: Callable[[Sequence[int]], str],
        vocab_size: int, subsampling: int, prefix_length: int,
    ) -> Vocabulary:  # fmt: skip
        """From a tokenizer's piece lookup and decoder."""
        starts = tuple(id_to_piece(i).startswith(WORD_START) for i in range(vocab_size))
        return cls(decode, starts, subsampling, prefix_length)


LOW_CONFIDENCE = 0.5  # below it, the GUI and the web page mark a word as doubtful


def word_confidence(log_probs: Sequence[float]) -> float:
    """A word's confidence in [0, 1]: the probability the decoder gave the least probable of
    its pieces, exp(min log p) — a word is wrong as soon as one of its pieces is. On the demo
    model's held-out tests, ranking words by it separates wrong words from right ones better
    than the pieces' mean log-probability (bench/bench_confidence.py reports both AUCs)."""
    return math.exp(min(log_probs))


@dataclass
class _Group:
    """The pieces of one word: ids, log-probabilities, first and last anchor frame."""

    ids: list[int]
    log_probs: list[float]
    first: int
    last: int


def timed_words(
    tokens: Sequence[int],
    anchors: Sequence[int],
    start: int,
    end: int,
    vocabulary: Vocabulary,
    log_probs: Sequence[float] | None = None,
) -> list[Word]:
    """Group `tokens` into words; `anchors[i]` is token i's absolute fbank frame, `start` and
    `end` the segment's, `log_probs[i]` (if given) token i's natural-log probability, which
    gives each word its `conf` (`word_confidence`). A word spans from midway after the previous
    word's last token to midway before the next word's first one; the first and last words
    reach at most two encoder frames beyond their tokens."""
    scores = [math.nan] * len(tokens) if log_probs is None else log_probs
    groups: list[_Group] = []
    latest = start
    for token, anchor, score in zip(tokens, anchors, scores, strict=True):
        latest = max(latest, min(anchor, end))  # anchors made monotonic
        if not groups or vocabulary.starts_word[token]:
            groups.append(_Group([token], [score], latest, latest))
        else:
            groups[-1].ids.append(token)
            groups[-1].log_probs.append(score)
            groups[-1].last = latest
    words = []
    edge = vocabulary.subsampling * 2
    for i, group in enumerate(groups):
        text = vocabulary.decode(group.ids).strip()
        if not text:
            continue
        first, last = group.first, group.last
        begin = (groups[i - 1].last + first) / 2 if i else max(start, first - edge)
        finish = (last + groups[i + 1].first) / 2 if i + 1 < len(groups) else min(end, last + edge)
        conf = None if log_probs is None else word_confidence(group.log_probs)
        words.append(Word(text, begin * FBANK_FRAME_S, max(finish, begin) * FBANK_FRAME_S, conf))
    return words
