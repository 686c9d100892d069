"""Token embeddings carried from a lower-case vocabulary to a cased, punctuated one: the same
piece, the piece in lower case, else the mean of the pieces of its lower-case text; punctuation
and pieces the old vocabulary cannot spell keep their initialisation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s2t_stream.model.tokenizer import Tokenizer, train_sentencepiece
from s2t_stream.training.vocab_transfer import source_pieces, transfer_embeddings

WORDS = ["the cat sat on the mat", "a dog ran in the park", "we like green tea"]
CAPTIONS = ["The cat sat on the mat.", "A dog ran in the park!", "We like green tea, Zoe?"]


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    """A character vocabulary of the lower-case words: "▁" and single letters only."""
    return train_sentencepiece(WORDS, tmp_path_factory.mktemp("chars"), 23, model_type="char")


def ids(tokenizer: Tokenizer, pieces: str) -> list[int]:
    return [tokenizer.piece_to_id(piece) for piece in pieces.split()]


def test_a_piece_maps_to_itself_its_lower_case_or_its_letters(letters: Tokenizer) -> None:
    assert source_pieces("t", letters, letters) == ids(letters, "t")
    assert source_pieces("T", letters, letters) == ids(letters, "t")
    assert source_pieces("<unk>", letters, letters) == [letters.unk_id]
    assert source_pieces("▁The", letters, letters) == ids(letters, "▁ t h e")
    assert source_pieces("Cat", letters, letters) == ids(letters, "c a t")  # no word start
    assert source_pieces("▁mat.", letters, letters) == ids(letters, "▁ m a t")  # "." dropped


def test_punctuation_and_what_the_old_vocabulary_cannot_spell_map_to_nothing(
    letters: Tokenizer,
) -> None:
    for piece in (".", "▁,", "?", "▁-", "▁zebra", "x"):
        assert source_pieces(piece, letters, letters) == [], piece


def test_a_special_token_maps_only_to_itself(letters: Tokenizer, tmp_path: Path) -> None:
    tagged = train_sentencepiece(WORDS, tmp_path, 25, model_type="char", lang_codes=["es"])
    assert source_pieces("<lang:es>", letters, tagged) == []  # not the letters of "langes"
    assert source_pieces("<lang:es>", tagged, tagged) == [tagged.piece_to_id("<lang:es>")]
    assert source_pieces("</s>", letters, tagged) == [letters.eos_id]


def test_a_word_internal_piece_takes_the_longest_old_pieces_inside_words(tmp_path: Path) -> None:
    merged = train_sentencepiece(WORDS * 30, tmp_path, 45, model_type="bpe")
    inside = {p for p in merged.pieces() if p.isalpha()}  # no "▁", no specials
    assert any(len(p) > 1 for p in inside), merged.pieces()
    for word in ("park", "green", "mat", "dogs"):
        pieces = [merged.id_to_piece(i) for i in source_pieces(word, merged, merged)]
        assert "".join(pieces) == word and set(pieces) <= inside, (word, pieces)
        rest = word
        for piece in pieces:  # each the longest known prefix of what is left
            assert not any(rest[:n] in inside for n in range(len(piece) + 1, len(rest) + 1))
            rest = rest[len(piece) :]


def test_rows_become_the_mean_of_their_source_rows_and_the_rest_stay(
    letters: Tokenizer, tmp_path: Path
) -> None:
    cased = train_sentencepiece(CAPTIONS, tmp_path, 40, model_type="char")
    source = torch.arange(letters.vocab_size * 4, dtype=torch.float32).reshape(-1, 4)
    target = torch.full((cased.vocab_size, 4), -1.0)
    moved = transfer_embeddings(letters, source, cased, target)
    untouched = {p for i, p in enumerate(cased.pieces()) if torch.equal(target[i], -torch.ones(4))}
    assert untouched == {".", "!", ",", "?", "Z"}  # no "z" in the words
    assert moved == cased.vocab_size - len(untouched)
    for upper, lower in (("T", "t"), ("W", "w"), ("a", "a"), ("</s>", "</s>")):
        assert torch.equal(target[cased.piece_to_id(upper)], source[letters.piece_to_id(lower)])
    with pytest.raises(ValueError, match=r"embedding widths differ: 4 \(source\) and 3"):
        transfer_embeddings(letters, source, cased, torch.zeros(cased.vocab_size, 3))


def test_a_word_piece_takes_the_mean_of_its_letters(letters: Tokenizer, tmp_path: Path) -> None:
    cased = train_sentencepiece(CAPTIONS, tmp_path, 16, model_type="word")
    source = torch.randn(letters.vocab_size, 8, generator=torch.Generator().manual_seed(0))
    target = torch.zeros(cased.vocab_size, 8)
    transfer_embeddings(letters, source, cased, target)
    words = [p for p in cased.pieces() if p[0] == "▁" and len(p) >= 3 and p[1:].isalpha()]
    assert "▁The" in words, cased.pieces()
    for piece in words:  # "▁The" -> the rows of "▁", "t", "h", "e"
        rows = ids(letters, "▁ " + " ".join(piece[1:].lower()))
        assert torch.allclose(target[cased.piece_to_id(piece)], source[rows].mean(0)), piece
