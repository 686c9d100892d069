"""Tokenizer stage: text <-> model token ids (vocab.json + SentencePiece), as HF Speech2Text."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sentencepiece as spm

from s2t_stream.errors import TokenizerError
from s2t_stream.model.jsonfile import read_json, read_json_object, write_json

VOCAB_FILE = "vocab.json"
SPM_FILE = "sentencepiece.bpe.model"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"

# HF's order for `lang_codes="mustc"`; ids are always looked up, never derived from this order.
MUSTC_LANGS = ("pt", "fr", "ru", "nl", "ro", "it", "es", "de")
# Our extension key: HF only understands `lang_codes` null or "mustc", so other code lists are
# saved under this key (with `lang_codes` null) to keep the directory loadable by HF.
LANG_CODES_KEY = "s2t_stream_lang_codes"
# fairseq's Dictionary puts these four first: <s>=0 <pad>=1 </s>=2 <unk>=3.
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
SPM_MODEL_TYPES = ("unigram", "bpe", "char", "word")

_LANG_TAG_RE = re.compile(r"<lang:(.+)>")


def lang_tag(code: str) -> str:
    """The piece for a target-language code, e.g. "fr" -> "<lang:fr>"."""
    return f"<lang:{code}>"


class Tokenizer:
    """Encodes text to model ids and decodes ids to text exactly as HF `Speech2TextTokenizer` v5.

    Model ids are vocab.json ids; the SentencePiece model only splits text into pieces and joins
    pieces back into text. Language-tag ids come from the SentencePiece model (as in HF) and must
    agree with vocab.json.
    """

    def __init__(
        self,
        sp: spm.SentencePieceProcessor,
        vocab: Mapping[str, int],
        *,
        do_upper_case: bool = False,
        lang_codes: Sequence[str] = (),
        tgt_lang: str | None = None,
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
        extra_special_tokens: Sequence[str] = (),
        vocab_source: str = "vocab",
        spm_source: str = "SentencePiece model",
    ) -> None:
        """`vocab_source`/`spm_source` name where the parts came from, for error messages."""
        self.sp = sp
        self._pieces = _pieces_by_id(vocab, vocab_source)
        self._vocab = dict(vocab)
        self.do_upper_case = do_upper_case
        self.bos_token, self.eos_token = bos_token, eos_token
        self.pad_token, self.unk_token = pad_token, unk_token
        self.bos_id = self._checked_id(bos_token, vocab_source, spm_source)
        self.eos_id = self._checked_id(eos_token, vocab_source, spm_source)
        self.pad_id = self._checked_id(pad_token, vocab_source, spm_source)
        self.unk_id = self._checked_id(unk_token, vocab_source, spm_source)
        self.lang_codes: tuple[str, ...] = tuple(dict.fromkeys(lang_codes))
        self.lang_code_to_id: dict[str, int] = {
            code: self._checked_id(lang_tag(code), vocab_source, spm_source)
            for code in self.lang_codes
        }
        self.tgt_lang = self._default_tgt_lang(tgt_lang)
        self.extra_special_tokens = tuple(extra_special_tokens)
        for token in self.extra_special_tokens:
            self._vocab_id(token, vocab_source)
        # HF's order: bos, eos, unk, pad, then the additional special tokens (lang tags first).
        named = (bos_token, eos_token, unk_token, pad_token)
        tags = tuple(lang_tag(code) for code in self.lang_codes)
        self.all_special_tokens: list[str] = list(
            dict.fromkeys(named + tags + self.extra_special_tokens)
        )
        self.all_special_ids: list[int] = [self._vocab[t] for t in self.all_special_tokens]
        self._special_token_set = frozenset(self.all_special_tokens)
        self._special_id_set = frozenset(self.all_special_ids)
        by_length = sorted(self.all_special_tokens, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(map(re.escape, by_length)) + ")")

    # ----------------------------------------------------------------- construction helpers

    def _vocab_id(self, piece: str, vocab_source: str) -> int:
        if piece not in self._vocab:
            raise TokenizerError(f"{vocab_source}: special token {piece!r} is missing")
        return self._vocab[piece]

    def _checked_id(self, piece: str, vocab_source: str, spm_source: str) -> int:
        """The vocab id of a special/lang piece, asserted equal to its SentencePiece id."""
        vocab_id = self._vocab_id(piece, vocab_source)
        spm_id = int(self.sp.PieceToId(piece))
        unknown_to_spm = spm_id == self.sp.unk_id() and piece != self.sp.IdToPiece(spm_id)
        if unknown_to_spm or spm_id != vocab_id:
            found = "has no such piece" if unknown_to_spm else f"gives id {spm_id}"
            raise TokenizerError(
                f"{vocab_source} maps {piece!r} to id {vocab_id} but {spm_source} {found}"
            )
        return vocab_id

    def _default_tgt_lang(self, tgt_lang: str | None) -> str | None:
        if not self.lang_codes:
            return None
        if tgt_lang is None:
            return self.lang_codes[0]  # HF's default
        if tgt_lang not in self.lang_code_to_id:
            raise TokenizerError(f"tgt_lang {tgt_lang!r} is not one of {list(self.lang_codes)}")
        return tgt_lang

    # ----------------------------------------------------------------- loading

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """Load a HF checkpoint dir (vocab.json, sentencepiece.bpe.model, tokenizer_config.json)."""
        root = Path(path)
        if not root.is_dir():
            raise TokenizerError(f"tokenizer directory {root} does not exist")
        vocab = _vocab_from_json(read_json(root / VOCAB_FILE, TokenizerError), root / VOCAB_FILE)
        sp = _load_spm(root / SPM_FILE)
        config = read_json_object(root / CONFIG_FILE, TokenizerError)
        special_map_path = root / SPECIAL_TOKENS_FILE
        special_map = (
            read_json_object(special_map_path, TokenizerError) if special_map_path.is_file() else {}
        )
        # HF (v5) reads special_tokens_map.json only when the config has no added_tokens_decoder.
        tokens = config if "added_tokens_decoder" in config else {**config, **special_map}
        lang_codes = _config_lang_codes(config, root / CONFIG_FILE)
        tags = {lang_tag(code) for code in lang_codes}
        extras = [t for t in _config_extra_tokens(tokens) if t not in tags]
        tgt_lang = config.get("tgt_lang")
        if tgt_lang is not None and lang_codes and tgt_lang not in lang_codes:
            raise TokenizerError(
                f"{root / CONFIG_FILE}: key 'tgt_lang' is {tgt_lang!r}, not one of {lang_codes}"
            )
        return cls(
            sp,
            vocab,
            do_upper_case=bool(config.get("do_upper_case", False)),
            lang_codes=lang_codes,
            tgt_lang=tgt_lang if lang_codes else None,
            bos_token=_token_text(tokens, "bos_token", "<s>"),
            eos_token=_token_text(tokens, "eos_token", "</s>"),
            pad_token=_token_text(tokens, "pad_token", "<pad>"),
            unk_token=_token_text(tokens, "unk_token", "<unk>"),
            extra_special_tokens=extras,
            vocab_source=str(root / VOCAB_FILE),
            spm_source=str(root / SPM_FILE),
        )

    @classmethod
    def from_fairseq(
        cls,
        spm_model: str | os.PathLike[str],
        dictionary: str | os.PathLike[str],
        *,
        lang_tags: bool,
        do_upper_case: bool = False,
    ) -> Tokenizer:
        """Load fairseq's SentencePiece model (`spm_*.model`) and dictionary (`spm_*.txt`).

        `lang_tags` is `prepend_tgt_lang_tag` from fairseq's data config.yaml; the language codes
        are then the `<lang:xx>` pieces of the dictionary, in dictionary order.
        """
        vocab = _read_fairseq_dict(Path(dictionary))
        codes = [m.group(1) for p in vocab if (m := _LANG_TAG_RE.fullmatch(p)) is not None]
        if lang_tags and not codes:
            raise TokenizerError(
                f"{dictionary}: lang_tags is set but there are no <lang:xx> pieces"
            )
        return cls(
            _load_spm(Path(spm_model)),
            vocab,
            do_upper_case=do_upper_case,
            lang_codes=codes if lang_tags else (),
            vocab_source=str(dictionary),
            spm_source=str(spm_model),
        )

    # ----------------------------------------------------------------- ids and pieces

    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    def pieces(self) -> tuple[str, ...]:
        """Every piece, indexed by model id."""
        return tuple(self._pieces)

    def id_to_piece(self, token_id: int) -> str:
        """The piece for a model id; ids outside the vocabulary give the unk token (as HF)."""
        if 0 <= token_id < len(self._pieces):
            return self._pieces[token_id]
        return self.unk_token

    def piece_to_id(self, piece: str) -> int:
        """The model id for a piece; pieces outside the vocabulary give the unk id (as HF)."""
        return self._vocab.get(piece, self.unk_id)

    # ----------------------------------------------------------------- encode / decode

    def encode(self, text: str, *, tgt_lang: str | None = None, add_eos: bool = True) -> list[int]:
        """`[<lang:tgt>]? + piece ids + [</s>]?`, as HF `tokenizer(text).input_ids`.

        With language codes, the prefix is always present: `tgt_lang=None` means the tokenizer's
        default (`self.tgt_lang`, HF: tokenizer_config's tgt_lang, else the first code). Special
        token strings inside `text` (e.g. "</s>") become their ids, as in HF. No lower-casing
        (transformers v5 dropped it).
        """
        ids = self._prefix(tgt_lang)
        ids.extend(self.piece_to_id(piece) for piece in self.tokenize(text))
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def tokenize(self, text: str) -> list[str]:
        """Pieces of `text`: special token strings stay whole, SentencePiece splits the rest."""
        pieces: list[str] = []
        for segment in self._special_split.split(text):
            if segment in self._special_token_set:
                pieces.append(segment)
            elif segment:
                pieces.extend(self.sp.encode(segment, out_type=str))
        return pieces

    def _prefix(self, tgt_lang: str | None) -> list[int]:
        if not self.lang_codes:
            if tgt_lang is not None:
                raise TokenizerError(
                    f"tgt_lang {tgt_lang!r} given but the tokenizer has no lang codes"
                )
            return []
        code = self.tgt_lang if tgt_lang is None else tgt_lang
        if code not in self.lang_code_to_id:
            raise TokenizerError(f"tgt_lang {code!r} is not one of {list(self.lang_codes)}")
        return [self.lang_code_to_id[code]]

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        """Text for model ids, as HF `tokenizer.decode` (spec §5.5).

        Skipping drops every special id, `<unk>` included; ids outside the vocabulary still decode
        to `<unk>`. Kept special tokens are written as-is, each followed by a space.
        """
        pieces = [
            self.id_to_piece(int(i))
            for i in ids
            if not (skip_special_tokens and int(i) in self._special_id_set)
        ]
        return self._pieces_to_text(pieces)

    def _pieces_to_text(self, pieces: Iterable[str]) -> str:
        out: list[str] = []
        span: list[str] = []
        for piece in pieces:
            if piece in self._special_token_set:
                # Special pieces never go through SentencePiece (it would drop or mangle them).
                out.extend((self._decode_span(span), piece, " "))
                span = []
            else:
                span.append(piece)
        out.append(self._decode_span(span))
        return "".join(out).strip()

    def _decode_span(self, pieces: list[str]) -> str:
        text: str = self.sp.decode(pieces)
        return text.upper() if self.do_upper_case else text

    # ----------------------------------------------------------------- saving

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write HF files, loadable by `Speech2TextTokenizer.from_pretrained` and `from_dir`."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        vocab = {piece: i for i, piece in enumerate(self._pieces)}
        write_json(root / VOCAB_FILE, vocab)
        (root / SPM_FILE).write_bytes(self.sp.serialized_model_proto())
        write_json(root / CONFIG_FILE, self._config_json())
        write_json(root / SPECIAL_TOKENS_FILE, self._special_tokens_json())

    def _named_tokens_json(self) -> dict[str, str]:
        return {
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "unk_token": self.unk_token,
            "pad_token": self.pad_token,
        }

    def _additional_tokens(self) -> list[str]:
        tags = [lang_tag(code) for code in self.lang_codes]
        return list(dict.fromkeys(tags + list(self.extra_special_tokens)))

    def _config_json(self) -> dict[str, Any]:
        is_mustc = self.lang_codes == MUSTC_LANGS
        config: dict[str, Any] = {
            "tokenizer_class": "Speech2TextTokenizer",
            **self._named_tokens_json(),
            "do_upper_case": self.do_upper_case,
            "do_lower_case": False,
            "lang_codes": "mustc" if is_mustc else None,
            # HF ignores tgt_lang when lang_codes is null; from_dir reads it with LANG_CODES_KEY.
            "tgt_lang": self.tgt_lang,
        }
        if self.lang_codes and not is_mustc:
            config[LANG_CODES_KEY] = list(self.lang_codes)
        if self._additional_tokens():
            config["additional_special_tokens"] = self._additional_tokens()
        return config

    def _special_tokens_json(self) -> dict[str, Any]:
        special: dict[str, Any] = dict(self._named_tokens_json())
        if self._additional_tokens():
            special["additional_special_tokens"] = self._additional_tokens()
        return special


# --------------------------------------------------------------------- file helpers


def _load_spm(path: Path) -> spm.SentencePieceProcessor:
    try:
        proto = path.read_bytes()
    except FileNotFoundError as e:
        raise TokenizerError(f"{path} not found") from e
    except OSError as e:
        raise TokenizerError(f"{path} could not be read: {e}") from e
    sp = spm.SentencePieceProcessor()
    try:
        sp.LoadFromSerializedProto(proto)
    except RuntimeError as e:
        raise TokenizerError(f"{path} is not a valid SentencePiece model: {e}") from e
    return sp


def _vocab_from_json(data: Any, path: Path) -> dict[str, int]:
    if not isinstance(data, dict):
        raise TokenizerError(
            f"{path}: expected a JSON object {{piece: id}}, got {type(data).__name__}"
        )
    for piece, token_id in data.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool):
            raise TokenizerError(f"{path}: key {piece!r} has id {token_id!r}, expected an integer")
    return data


def _pieces_by_id(vocab: Mapping[str, int], source: str) -> list[str]:
    """Pieces indexed by id; the ids must be exactly 0..n-1."""
    pieces: list[str | None] = [None] * len(vocab)
    for piece, token_id in vocab.items():
        if not 0 <= token_id < len(vocab) or pieces[token_id] is not None:
            raise TokenizerError(
                f"{source}: ids must be contiguous 0..{len(vocab) - 1}; "
                f"key {piece!r} has id {token_id} (duplicate or out of range)"
            )
        pieces[token_id] = piece
    return [p for p in pieces if p is not None]


def _config_lang_codes(config: Mapping[str, Any], path: Path) -> list[str]:
    value = config.get("lang_codes")
    extension = config.get(LANG_CODES_KEY)
    if value is not None and extension is not None:
        raise TokenizerError(f"{path}: keys 'lang_codes' and {LANG_CODES_KEY!r} are both set")
    if value is None:
        value, key = extension, LANG_CODES_KEY
    else:
        key = "lang_codes"
    if value is None:
        return []
    if value == "mustc":
        return list(MUSTC_LANGS)
    if isinstance(value, list) and value and all(isinstance(c, str) and c for c in value):
        return list(value)
    raise TokenizerError(
        f'{path}: key {key!r} is {value!r}; expected null, "mustc" or a list of language codes'
    )


def _token_text(tokens: Mapping[str, Any], key: str, default: str) -> str:
    """A special token from tokenizer_config / special_tokens_map: a string or {"content": ...}."""
    value = tokens.get(key)
    if value is None:
        return default
    if isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str):
        raise TokenizerError(f"special token {key!r} is {value!r}, expected a string")
    return value


def _config_extra_tokens(tokens: Mapping[str, Any]) -> list[str]:
    """HF's additional (v4 name) / extra (v5 name) special tokens, as strings."""
    found: list[str] = []
    for key in ("additional_special_tokens", "extra_special_tokens"):
        value = tokens.get(key) or []
        if isinstance(value, dict):  # v5 named extras {"name": token}
            value = list(value.values())
        found.extend(_token_text({"t": item}, "t", "") for item in value)
    return [t for t in dict.fromkeys(found) if t]


def _read_fairseq_dict(path: Path) -> dict[str, int]:
    """As fairseq `Dictionary.load`: <s> <pad> </s> <unk>, then one `piece count` line per id."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise TokenizerError(f"{path} not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{path} could not be read: {e}") from e
    vocab = {piece: i for i, piece in enumerate(FAIRSEQ_SPECIALS)}
    for number, line in enumerate(lines, start=1):
        piece = _fairseq_dict_piece(line, path, number)
        if piece in vocab:
            raise TokenizerError(f"{path}:{number}: duplicate piece {piece!r}")
        vocab[piece] = len(vocab)
    return vocab


def _fairseq_dict_piece(line: str, path: Path, number: int) -> str:
    parts = line.rstrip().rsplit(" ", 1)
    if len(parts) == 2 and parts[1] == "#fairseq:overwrite":
        parts = parts[0].rsplit(" ", 1)
    if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
        raise TokenizerError(f"{path}:{number}: expected '<piece> <count>', got {line!r}")
    return parts[0]


# --------------------------------------------------------------------- training


def train_sentencepiece(
    texts: Iterable[str],
    out_dir: str | os.PathLike[str],
    vocab_size: int,
    *,
    model_type: str = "unigram",
    lang_codes: Sequence[str] = (),
    do_upper_case: bool = False,
) -> Tokenizer:
    """Train a SentencePiece model with fairseq's ids and save it in the HF layout under `out_dir`.

    As fairseq's `gen_vocab`: <s>=0 <pad>=1 </s>=2 <unk>=3, character coverage 1.0, and the
    `<lang:xx>` tags as user-defined symbols (ids 4, 5, … in `lang_codes` order); vocab.json is the
    model's own piece order, so vocab id == SentencePiece id.
    """
    if model_type not in SPM_MODEL_TYPES:
        raise TokenizerError(f"model_type {model_type!r} is not one of {SPM_MODEL_TYPES}")
    proto = io.BytesIO()
    try:
        spm.SentencePieceTrainer.Train(
            sentence_iterator=iter(texts),
            model_writer=proto,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            unk_id=3,
            bos_id=0,
            eos_id=2,
            pad_id=1,
            user_defined_symbols=[lang_tag(code) for code in lang_codes],
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as e:
        raise TokenizerError(f"SentencePiece training failed (vocab_size={vocab_size}): {e}") from e
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(proto.getvalue())
    vocab = {sp.IdToPiece(i): i for i in range(sp.GetPieceSize())}
    tokenizer = Tokenizer(sp, vocab, do_upper_case=do_upper_case, lang_codes=lang_codes)
    tokenizer.save(out_dir)
    return tokenizer
