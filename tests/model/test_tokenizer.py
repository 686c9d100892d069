"""Tokenizer tests: parity with HF Speech2TextTokenizer on tiny trained SentencePiece models."""

import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from s2t_stream.errors import TokenizerError
from s2t_stream.model.tokenizer import (
    MUSTC_LANGS,
    SPM_FILE,
    VOCAB_FILE,
    Tokenizer,
    train_sentencepiece,
)

transformers = pytest.importorskip(
    "transformers", reason="transformers (dev extra) is the reference for tokenizer parity"
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A chain fixed to staples at his back passed round his chest.",
    "Mister Quilter is the apostle of the middle classes, and we are glad to welcome his gospel.",
    "Nor is Mister Quilter's manner less interesting than his matter.",
    "He tells us that at this festive season of the year, with Christmas and roast beef looming.",
    "The prisoners were taken to the court house early in the morning.",
    "She sells sea shells by the sea shore, or so they say.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow.",
    "The rainbow is a division of white light into many beautiful colors.",
    "These take the shape of a long round arch, with its path high above.",
    "There is, according to legend, a boiling pot of gold at one end.",
    "People look, but no one ever finds it.",
    "Streaming speech recognition turns audio into text while the speaker is still talking.",
    "The model listens to short chunks and commits words once they stop changing.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
    "Numbers like one, two, three and four hundred appear in many sentences.",
    "Don't worry, it's only a test; nothing here is real.",
]
# Repeated in varied order so SentencePiece sees enough text for a ~150-piece vocabulary.
CORPUS = SENTENCES * 3 + [s.lower() for s in SENTENCES]

TEXTS = [
    "the quick brown fox",
    "Mister Quilter is the apostle of the middle classes.",
    "  leading and trailing spaces  ",
    "",
    "   ",
    "zebra xylophone jazz",  # rare letters: pieces may be missing from the vocabulary
    "naïve café, 日本語 ü",  # characters never seen in training
    "a<unk>b</s>c <s> d <pad>",  # special token strings inside text
    "before <lang:fr> after<lang:de>",  # lang tags: special only with lang codes
    "UPPER lower MiXeD",
]


@dataclass(frozen=True)
class Pair:
    """Our tokenizer and HF's, loaded from the same directory."""

    path: Path
    ours: Tokenizer
    hf: Any


def _load_pair(path: Path) -> Pair:
    hf = transformers.Speech2TextTokenizer.from_pretrained(str(path))
    return Pair(path, Tokenizer.from_dir(path), hf)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("spm")
    train_sentencepiece(CORPUS, root / "asr", 150)
    train_sentencepiece(CORPUS, root / "asr_upper", 150, do_upper_case=True)
    train_sentencepiece(CORPUS, root / "mustc", 150, lang_codes=MUSTC_LANGS)
    train_sentencepiece(CORPUS, root / "bpe", 150, model_type="bpe", do_upper_case=True)
    return {p.name: p for p in root.iterdir()}


@pytest.fixture(scope="session")
def pairs(trained: dict[str, Path]) -> dict[str, Pair]:
    return {name: _load_pair(path) for name, path in trained.items()}


@pytest.fixture
def mustc_copy(trained: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the multilingual directory for tests that corrupt it."""
    return Path(shutil.copytree(trained["mustc"], tmp_path / "mustc"))


def _edit_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def _pieces(tokenizer: Tokenizer) -> list[str]:
    return [tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size)]


def _decode_cases(pair: Pair) -> list[list[int]]:
    """Hand-made id sequences with specials in the middle, plus seeded random ones."""
    ours = pair.ours
    words = ours.encode("the quick brown fox jumps", add_eos=False)
    words = [i for i in words if i not in ours.lang_code_to_id.values()]
    lang = next(iter(ours.lang_code_to_id.values()), 4)
    n = ours.vocab_size
    cases = [
        [],
        [2, *words, 2],
        [2, lang, *words, 2],
        [*words[:2], 2, *words[2:], 1, 1],
        [0, *words[:1], 3, *words[1:], 3, 2],
        [*words[:2], lang, *words[2:]],
        [*words, n, n + 7, -1],  # ids outside the vocabulary decode to <unk>
        [3, 3, 1, 0, 2],
    ]
    rng = random.Random(1234)
    cases += [[rng.randrange(-2, n + 3) for _ in range(rng.randrange(30))] for _ in range(200)]
    return cases


# ------------------------------------------------------------------- parity with HF


@pytest.mark.parametrize("name", ["asr", "asr_upper", "mustc", "bpe"])
@pytest.mark.parametrize("text", TEXTS)
def test_encode_matches_hf(pairs: dict[str, Pair], name: str, text: str) -> None:
    pair = pairs[name]
    assert pair.ours.encode(text) == pair.hf(text).input_ids


@pytest.mark.parametrize("text", TEXTS)
def test_encode_with_tgt_lang_matches_hf(trained: dict[str, Path], text: str) -> None:
    ours = Tokenizer.from_dir(trained["mustc"])
    hf = transformers.Speech2TextTokenizer.from_pretrained(str(trained["mustc"]))
    for code in ("fr", "de", "pt"):
        hf.tgt_lang = code
        expected = hf(text).input_ids
        assert ours.encode(text, tgt_lang=code) == expected
        assert expected[0] == ours.lang_code_to_id[code]


def test_encode_add_eos(pairs: dict[str, Pair]) -> None:
    ours = pairs["mustc"].ours
    with_eos = ours.encode("the quick brown fox", tgt_lang="es")
    assert with_eos[-1] == ours.eos_id == 2
    assert ours.encode("the quick brown fox", tgt_lang="es", add_eos=False) == with_eos[:-1]


def test_encode_maps_missing_pieces_to_unk(pairs: dict[str, Pair]) -> None:
    ours = pairs["asr"].ours
    ids = ours.encode("日本語", add_eos=False)
    assert ours.unk_id in ids
    assert ids == pairs["asr"].hf("日本語", add_special_tokens=False).input_ids


@pytest.mark.parametrize("name", ["asr", "asr_upper", "mustc", "bpe"])
@pytest.mark.parametrize("skip", [True, False])
def test_decode_matches_hf(pairs: dict[str, Pair], name: str, skip: bool) -> None:
    pair = pairs[name]
    for ids in _decode_cases(pair):
        expected = pair.hf.decode(ids, skip_special_tokens=skip)
        assert pair.ours.decode(ids, skip_special_tokens=skip) == expected, ids


def test_decode_spec_example(pairs: dict[str, Pair]) -> None:
    ours = pairs["mustc"].ours
    ids = [2, *ours.encode("the quick fox", tgt_lang="es")]
    assert ours.decode(ids) == "the quick fox"
    assert ours.decode(ids, skip_special_tokens=False) == "</s> <lang:es> the quick fox</s>"


def test_decode_upper_case(pairs: dict[str, Pair]) -> None:
    pair = pairs["asr_upper"]
    assert pair.ours.do_upper_case and pair.hf.do_upper_case
    ids = pair.ours.encode("the quick brown fox")
    assert pair.ours.decode(ids) == "THE QUICK BROWN FOX"
    assert not pairs["asr"].ours.do_upper_case
    assert pairs["asr"].ours.decode(pairs["asr"].ours.encode("the fox")) == "the fox"


def test_lang_code_to_id(pairs: dict[str, Pair]) -> None:
    mustc = pairs["mustc"]
    expected = {"pt": 4, "fr": 5, "ru": 6, "nl": 7, "ro": 8, "it": 9, "es": 10, "de": 11}
    assert mustc.ours.lang_code_to_id == expected == mustc.hf.lang_code_to_id
    assert mustc.ours.tgt_lang == "pt"
    assert pairs["asr"].ours.lang_code_to_id == {} == pairs["asr"].hf.lang_code_to_id


@pytest.mark.parametrize("name", ["asr", "mustc"])
def test_special_ids_match_hf(pairs: dict[str, Pair], name: str) -> None:
    pair = pairs[name]
    ours = pair.ours
    assert (ours.bos_id, ours.pad_id, ours.eos_id, ours.unk_id) == (0, 1, 2, 3)
    assert ours.all_special_ids == pair.hf.all_special_ids
    assert ours.vocab_size == pair.hf.vocab_size == 150
    assert _pieces(ours) == [pair.hf.convert_ids_to_tokens(i) for i in range(ours.vocab_size)]


def test_lang_tags_are_plain_pieces_without_lang_codes(mustc_copy: Path) -> None:
    _edit_json(mustc_copy / "tokenizer_config.json", lang_codes=None, additional_special_tokens=[])
    (mustc_copy / "special_tokens_map.json").unlink()
    pair = _load_pair(mustc_copy)
    assert pair.ours.lang_code_to_id == {}
    ids = [2, 5, *pair.ours.encode("the fox", add_eos=False), 2]
    assert (
        pair.ours.decode(ids)
        == pair.hf.decode(ids, skip_special_tokens=True)
        == "<lang:fr> the fox"
    )
    text = "x <lang:de> y"
    assert pair.ours.encode(text) == pair.hf(text).input_ids


# ------------------------------------------------------------------- save / load


def test_save_round_trip(pairs: dict[str, Pair], tmp_path: Path) -> None:
    original = pairs["mustc"].ours
    original.save(tmp_path / "copy")
    reloaded = _load_pair(tmp_path / "copy")
    assert _pieces(reloaded.ours) == _pieces(original)
    assert reloaded.ours.lang_code_to_id == original.lang_code_to_id
    assert (tmp_path / "copy" / SPM_FILE).read_bytes() == original.sp.serialized_model_proto()
    for text in TEXTS:
        assert reloaded.ours.encode(text, tgt_lang="it") == original.encode(text, tgt_lang="it")
        assert reloaded.hf(text).input_ids == original.encode(text)


def test_custom_lang_codes_round_trip(tmp_path: Path) -> None:
    custom = train_sentencepiece(CORPUS, tmp_path / "custom", 150, lang_codes=["en", "de"])
    assert custom.lang_code_to_id == {"en": 4, "de": 5}
    custom_de = Tokenizer(
        custom.sp,
        {piece: i for i, piece in enumerate(_pieces(custom))},
        lang_codes=["en", "de"],
        tgt_lang="de",
    )
    custom_de.save(tmp_path / "custom_de")
    pair = _load_pair(tmp_path / "custom_de")
    assert pair.ours.lang_codes == ("en", "de")
    assert pair.ours.tgt_lang == "de"
    assert pair.ours.encode("the fox")[0] == 5
    # HF has no such lang_codes, but loads the directory and skips the tags as special tokens.
    ids = [2, 5, *pair.ours.encode("the fox", add_eos=False), 2]
    assert pair.ours.decode(ids) == pair.hf.decode(ids, skip_special_tokens=True) == "the fox"
    assert pair.ours.all_special_ids == pair.hf.all_special_ids


def test_explicit_lang_code_list_in_config(mustc_copy: Path) -> None:
    _edit_json(mustc_copy / "tokenizer_config.json", lang_codes=["de", "fr"], tgt_lang="fr")
    ours = Tokenizer.from_dir(mustc_copy)
    assert ours.lang_code_to_id == {"de": 11, "fr": 5}
    assert ours.encode("the fox")[0] == 5


def test_from_dir_reads_hf_saved_directory(pairs: dict[str, Pair], tmp_path: Path) -> None:
    pairs["mustc"].hf.save_pretrained(str(tmp_path / "hf"))
    ours = Tokenizer.from_dir(tmp_path / "hf")
    assert ours.lang_code_to_id == pairs["mustc"].ours.lang_code_to_id
    assert ours.all_special_ids == pairs["mustc"].hf.all_special_ids


# ------------------------------------------------------------------- fairseq


def _write_fairseq_dict(tokenizer: Tokenizer, path: Path) -> None:
    lines = [f"{piece} 1\n" for piece in _pieces(tokenizer)[4:]]  # as fairseq's gen_vocab
    path.write_text("".join(lines), encoding="utf-8")


def test_from_fairseq_matches_from_dir(trained: dict[str, Path], tmp_path: Path) -> None:
    from_dir = Tokenizer.from_dir(trained["mustc"])
    _write_fairseq_dict(from_dir, tmp_path / "spm.txt")
    model = trained["mustc"] / SPM_FILE
    fairseq = Tokenizer.from_fairseq(model, tmp_path / "spm.txt", lang_tags=True)
    assert _pieces(fairseq) == _pieces(from_dir)
    assert fairseq.lang_code_to_id == from_dir.lang_code_to_id
    assert fairseq.all_special_ids == from_dir.all_special_ids
    for text in TEXTS:
        assert fairseq.encode(text, tgt_lang="ru") == from_dir.encode(text, tgt_lang="ru")
    plain = Tokenizer.from_fairseq(model, tmp_path / "spm.txt", lang_tags=False)
    assert plain.lang_code_to_id == {}
    assert plain.encode("the fox") == from_dir.encode("the fox")[1:]


def test_from_fairseq_bad_dictionary(trained: dict[str, Path], tmp_path: Path) -> None:
    model = trained["asr"] / SPM_FILE
    bad = tmp_path / "bad.txt"
    bad.write_text("▁the 1\nnocount\n", encoding="utf-8")
    with pytest.raises(TokenizerError, match=r"bad\.txt:2"):
        Tokenizer.from_fairseq(model, bad, lang_tags=False)
    bad.write_text("▁the 1\n▁the 1\n", encoding="utf-8")
    with pytest.raises(TokenizerError, match=r"bad\.txt:2: duplicate"):
        Tokenizer.from_fairseq(model, bad, lang_tags=False)
    _write_fairseq_dict(Tokenizer.from_dir(trained["asr"]), bad)
    with pytest.raises(TokenizerError, match=r"bad\.txt.*no <lang:xx>"):
        Tokenizer.from_fairseq(model, bad, lang_tags=True)
    with pytest.raises(TokenizerError, match=r"missing\.txt not found"):
        Tokenizer.from_fairseq(model, tmp_path / "missing.txt", lang_tags=False)


# ------------------------------------------------------------------- errors


def test_missing_vocab(mustc_copy: Path) -> None:
    (mustc_copy / VOCAB_FILE).unlink()
    with pytest.raises(TokenizerError, match=r"vocab\.json: file not found"):
        Tokenizer.from_dir(mustc_copy)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="does not exist"):
        Tokenizer.from_dir(tmp_path / "nope")


@pytest.mark.parametrize("name", [VOCAB_FILE, "tokenizer_config.json", "special_tokens_map.json"])
def test_corrupt_json(mustc_copy: Path, name: str) -> None:
    (mustc_copy / name).write_text('{"<s>": 0,', encoding="utf-8")
    with pytest.raises(TokenizerError, match=re.escape(name) + ": not valid JSON"):
        Tokenizer.from_dir(mustc_copy)


def test_corrupt_spm(mustc_copy: Path) -> None:
    (mustc_copy / SPM_FILE).write_bytes(b"\x00not a sentencepiece model")
    with pytest.raises(TokenizerError, match=r"sentencepiece\.bpe\.model is not a valid"):
        Tokenizer.from_dir(mustc_copy)


def test_non_contiguous_ids(mustc_copy: Path) -> None:
    vocab = json.loads((mustc_copy / VOCAB_FILE).read_text(encoding="utf-8"))
    vocab["▁the"] = len(vocab) + 5
    (mustc_copy / VOCAB_FILE).write_text(json.dumps(vocab), encoding="utf-8")
    with pytest.raises(TokenizerError, match=r"vocab\.json: ids must be contiguous.*'▁the'"):
        Tokenizer.from_dir(mustc_copy)


def test_vocab_disagrees_with_spm_on_lang_tag(mustc_copy: Path) -> None:
    vocab = json.loads((mustc_copy / VOCAB_FILE).read_text(encoding="utf-8"))
    vocab["<lang:pt>"], vocab["<lang:fr>"] = vocab["<lang:fr>"], vocab["<lang:pt>"]
    (mustc_copy / VOCAB_FILE).write_text(json.dumps(vocab), encoding="utf-8")
    with pytest.raises(TokenizerError, match=r"vocab\.json maps '<lang:pt>' to id 5 .*gives id 4"):
        Tokenizer.from_dir(mustc_copy)


def test_lang_code_missing_from_spm(mustc_copy: Path) -> None:
    _edit_json(mustc_copy / "tokenizer_config.json", lang_codes=["pt", "xx"])
    with pytest.raises(TokenizerError, match=r"'<lang:xx>' is missing"):
        Tokenizer.from_dir(mustc_copy)


def test_bad_lang_codes_value(mustc_copy: Path) -> None:
    _edit_json(mustc_copy / "tokenizer_config.json", lang_codes="covost")
    with pytest.raises(TokenizerError, match=r"tokenizer_config\.json: key 'lang_codes'"):
        Tokenizer.from_dir(mustc_copy)


def test_bad_tgt_lang_in_config(mustc_copy: Path) -> None:
    _edit_json(mustc_copy / "tokenizer_config.json", tgt_lang="en")
    with pytest.raises(TokenizerError, match=r"tokenizer_config\.json: key 'tgt_lang'"):
        Tokenizer.from_dir(mustc_copy)


def test_missing_special_token(mustc_copy: Path) -> None:
    # special_tokens_map.json wins over tokenizer_config.json (as in HF when the config has no
    # added_tokens_decoder), so the bad token goes there.
    _edit_json(mustc_copy / "special_tokens_map.json", pad_token="<blank>")
    with pytest.raises(TokenizerError, match=r"vocab\.json: special token '<blank>' is missing"):
        Tokenizer.from_dir(mustc_copy)


def test_unknown_tgt_lang_on_encode(pairs: dict[str, Pair]) -> None:
    with pytest.raises(TokenizerError, match="'en' is not one of"):
        pairs["mustc"].ours.encode("the fox", tgt_lang="en")
    with pytest.raises(TokenizerError, match="no lang codes"):
        pairs["asr"].ours.encode("the fox", tgt_lang="fr")


def test_training_vocab_too_large(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="vocab_size=100000"):
        train_sentencepiece(SENTENCES, tmp_path / "big", 100_000)
