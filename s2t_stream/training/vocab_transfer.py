"""Token embeddings carried across a change of vocabulary: a run that starts from a model with
other SentencePiece pieces (lower-case words → cased, punctuated captions) keeps what the model
learned about each word instead of starting its embeddings from noise.

Each new piece takes the embedding of the old piece with the same text, or of the same text in
lower case, or else the mean of the old pieces its lower-case text is split into — the simplest
form of the subword-mapping initialisation used when a pretrained model's vocabulary is
replaced (e.g. WECHSEL, Minixhofer et al. 2022, and FOCUS, Dobler & de Melo 2023, which weight
the old embeddings by similarity instead of taking their mean). Pieces without a letter or digit
(".", "?", "▁,") and pieces the old vocabulary cannot spell keep their fresh initialisation.
"""

from __future__ import annotations

import torch

from s2t_stream.model.tokenizer import Tokenizer
from s2t_stream.streaming.words import WORD_START


def source_pieces(piece: str, source: Tokenizer) -> list[int]:
    """The ids of `source`'s pieces whose embeddings make `piece`'s ([] when none): the same
    piece, the piece in lower case, or the pieces of its lower-case text without punctuation
    (a word-internal piece: without the word-start mark SentencePiece adds)."""

    def known(candidate: str) -> bool:
        return source.piece_to_id(candidate) != source.unk_id or candidate == source.unk_token

    for candidate in (piece, piece.lower()):
        if known(candidate):
            return [source.piece_to_id(candidate)]
    text = "".join(ch for ch in piece.lower() if ch.isalnum() or ch in "'" + WORD_START)
    if not any(ch.isalnum() for ch in text):
        return []
    pieces = source.tokenize(text.replace(WORD_START, " ").strip())
    if not piece.startswith(WORD_START) and pieces and pieces[0].startswith(WORD_START):
        inner = pieces[0][1:]  # SentencePiece starts every text with a word
        pieces = ([inner] if inner else []) + pieces[1:]
    return [source.piece_to_id(p) for p in pieces] if all(map(known, pieces)) else []


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
            ids = source_pieces(piece, source)
            if ids:
                target_weight[token_id] = source_weight[ids].mean(0).to(target_weight.dtype)
                moved += 1
    return moved
