"""Tokens → words with times: pieces grouped into words, each word timed from the fbank frames
its tokens attended to in the decoder's cross-attention."""

from __future__ import annotations

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


def timed_words(
    tokens: Sequence[int], anchors: Sequence[int], start: int, end: int, vocabulary: Vocabulary
) -> list[Word]:
    """Group `tokens` into words; `anchors[i]` is token i's absolute fbank frame, `start` and
    `end` the segment's. A word spans from midway after the previous word's last token to
    midway before the next word's first one; the first and last words reach at most two
    encoder frames beyond their tokens."""
    groups: list[tuple[list[int], int, int]] = []
    latest = start
    for token, anchor in zip(tokens, anchors, strict=True):
        latest = max(latest, min(anchor, end))  # anchors made monotonic
        if not groups or vocabulary.starts_word[token]:
            groups.append(([token], latest, latest))
        else:
            groups[-1][0].append(token)
            groups[-1] = (groups[-1][0], groups[-1][1], latest)
    words = []
    edge = vocabulary.subsampling * 2
    for i, (ids, first, last) in enumerate(groups):
        text = vocabulary.decode(ids).strip()
        if not text:
            continue
        begin = (groups[i - 1][2] + first) / 2 if i else max(start, first - edge)
        finish = (last + groups[i + 1][1]) / 2 if i + 1 < len(groups) else min(end, last + edge)
        words.append(Word(text, begin * FBANK_FRAME_S, max(finish, begin) * FBANK_FRAME_S))
    return words
