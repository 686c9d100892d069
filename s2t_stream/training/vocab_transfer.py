"""Token embeddings carried across a change of vocabulary: a run that starts from a model with
other SentencePiece pieces (lower-case words → cased, punctuated captions) keeps what the model
learned about each word instead of starting its embeddings from noise.

Each new piece takes the embedding of the old piece with the same text, or of the same text in
lower case, or else the mean of the old pieces that spell its lower-case letters — the simplest
form of the subword-mapping initialisation used when a pretrained model's vocabulary is
replaced (e.g. WECHSEL, Minixhofer et al. 2022, and FOCUS, Dobler & de Melo 2023, which weight
the old embeddings by similarity instead of taking their mean). Special tokens (<s>, </s>,
language tags) take only their own old embedding. Pieces without a letter or digit (".", "?",
"▁,") and pieces the old pieces cannot spell keep their fresh initialisation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from s2t_stream.model.tokenizer import Tokenizer
from s2t_stream.streaming.words import WORD_START


def source_pieces(piece: str, source: Tokenizer, target: Tokenizer) -> list[int]:
    """The ids of `source`'s pieces whose embeddings make `target`'s `piece` ([] when none): the
    same piece; for a special token of `target` nothing else; the piece in lower case; or the
    old pieces that spell its lower-case letters, digits and apostrophes (a word-start piece
    as SentencePiece splits the word; a word-internal one by the longest old word-internal
    pieces, left to right)."""

    def known(candidate: str) -> bool:
        return source.piece_to_id(candidate) != source.unk_id or candidate == source.unk_token

    if known(piece):
        return [source.piece_to_id(piece)]
    if piece in target.all_special_tokens:
        return []
    if known(piece.lower()):
        return [source.piece_to_id(piece.lower())]
    text = "".join(ch for ch in piece.lower() if ch.isalnum() or ch == "'")
    if not any(ch.isalnum() for ch in text):
        return []
    if piece.startswith(WORD_START):
        pieces = source.tokenize(text)
    else:
        pieces = _longest_inside_pieces(text, known)
    return [source.piece_to_id(p) for p in pieces] if pieces and all(map(known, pieces)) else []


def _longest_inside_pieces(text: str, known: Callable[[str], bool]) -> list[str]:
    """`text` as the longest known pieces without the word-start mark, left to right ([] when
    a character has none). SentencePiece cannot encode without starting a word, hence this."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = next((e for e in range(len(text), start, -1) if known(text[start:e])), None)
        if end is None:
            return []
        pieces.append(text[start:end])
        start = end
    return pieces


def transfer_embeddings(
    source: Tokenizer, source_weight: torch.Tensor, target: Tokenizer, target_weight: torch.Tensor
) -> int:
    """In place: each row of `target_weight` (target vocabulary, d_model) whose piece `source`
    can spell becomes the mean of `source_weight`'s rows (source vocabulary, d_model) for it.
    Returns the number of rows set. Raises ValueError when the widths differ."""
    if source_weight.shape[1] != target_weight.shape[1]:
        raise ValueError(
            f"embedding widths differ: {source_weight.shape[1]} (source) and "
            f"{target_weight.shape[1]} (target)"
        )
    moved = 0
    with torch.no_grad():
        for token_id, piece in enumerate(target.pieces()):
            ids = source_pieces(piece, source, target)
            if ids:
                target_weight[token_id] = source_weight[ids].mean(0).to(target_weight.dtype)
                moved += 1
    return moved
