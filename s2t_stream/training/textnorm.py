"""Text normalisation: raw sentence text -> the lower-case word sequence used both as training
target and for WER scoring (and the same words with pauses, for the synthesiser)."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from s2t_stream.errors import S2TError

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Text normalisation (one function for training targets and WER scoring)
# ---------------------------------------------------------------------------------------------

# fmt: off
_UNICODE_PUNCT = str.maketrans({
    "‘": "'", "’": "'", "‛": "'", "`": "'", "“": '"', "”": '"', "„": '"',
    "–": " - ", "—": " - ", "―": " - ", "…": "...", "\u00a0": " ",
})
# fmt: on
_STRIP = '.,;:!?"()[]{}<>*_~^|'
"""Punctuation removed from tokens; anything else non-alphabetic makes the sentence fail."""
_PAUSES = {".": ".", "?": "?", "!": "!", ",": ",", ";": ",", ":": ","}
"""Token-final punctuation kept in the text given to the synthesiser, for natural pauses."""

# Conservative: only abbreviations whose reading is unambiguous in front of a name.
_ABBREVIATIONS = (
    (re.compile(r"\bMrs\b\.?"), "missus"),
    (re.compile(r"\bMr\b\.?"), "mister"),
    (re.compile(r"\bMessrs\b\.?"), "messieurs"),
    (re.compile(r"\bDrs\b\.?"), "doctors"),
    (re.compile(r"\bDr\b\.?"), "doctor"),
    (re.compile(r"\bSt\b\.?(?=\s+[A-Z])"), "saint"),
    (re.compile(r"\bJr\."), "junior"),
    (re.compile(r"\bLt\."), "lieutenant"),
    (re.compile(r"\bSgt\."), "sergeant"),
    (re.compile(r"\bCapt\."), "captain"),
)
_STREET_OR_SAINT = re.compile(r"\bSt\b")
_STRIP_RUN = re.compile(f"[{re.escape(_STRIP)}]+")
_DIGIT = re.compile(r"\d")
_TARGET = re.compile(r"[a-z' ]*[a-z][a-z' ]*")
_INITIAL = re.compile(r"\b([A-Z])\.")

# A hand-written speller: integers below a million, years and ordinals are all the corpus
# needs, so no dependency (num2words is not installed and not worth adding for this).
# fmt: off
_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                  "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
# fmt: on
_INTEGER = re.compile(r"[1-9]\d*|0")
_GROUPED = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+")
_ORDINAL = re.compile(r"([1-9]\d*)(st|nd|rd|th)")
_DECADES = re.compile(r"'?([1-9]\d*0)'?s")


def _cardinal(n: int) -> str:
    """0 <= n < 1e6 as words, American style ("one hundred five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    head, rest, unit = (*divmod(n, 100), "hundred") if n < 1000 else (*divmod(n, 1000), "thousand")
    return f"{_cardinal(head)} {unit}" + ("" if rest == 0 else " " + _cardinal(rest))


def _year_or_cardinal(n: int) -> str:
    """Plain four-digit numbers 1100-1999 and 2010-2099 read as years ("eighteen sixty three")."""
    if not (1100 <= n <= 1999 or 2010 <= n <= 2099):
        return _cardinal(n)
    century, rest = divmod(n, 100)
    if rest == 0:
        return f"{_cardinal(century)} hundred"
    if rest < 10:
        return f"{_cardinal(century)} oh {_ONES[rest]}"
    return f"{_cardinal(century)} {_cardinal(rest)}"


def _ordinal_suffix(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _last_word(words: str, transform: dict[str, str], y_ending: str, default: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in transform:
        last = transform[last]
    elif last.endswith("y"):
        last = last[:-1] + y_ending
    else:
        last += default
    return f"{head} {last}".strip()


def spell_number(token: str) -> str | None:
    """Spell one digit token ("1863", "1,500", "22nd", "1860s") in words; None if unsupported."""
    if _INTEGER.fullmatch(token) or _GROUPED.fullmatch(token):
        n = int(token.replace(",", ""))
        if n >= 1_000_000:
            return None
        return _year_or_cardinal(n) if len(token) == 4 else _cardinal(n)
    if match := _ORDINAL.fullmatch(token):
        n = int(match.group(1))
        if n >= 1_000_000 or match.group(2) != _ordinal_suffix(n):
            return None
        return _last_word(_cardinal(n), _ORDINAL_WORDS, "ieth", "th")
    if match := _DECADES.fullmatch(token):
        n = int(match.group(1))
        if n >= 10_000:
            return None
        words = _year_or_cardinal(n) if len(match.group(1)) == 4 else _cardinal(n)
        return _last_word(words, {}, "ies", "s")
    return None


def _prepare(text: str) -> str | None:
    """Unicode -> ASCII, abbreviations, initials and symbols, before tokenising."""
    text = unicodedata.normalize("NFKD", text.translate(_UNICODE_PUNCT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    for pattern, words in _ABBREVIATIONS:
        text = pattern.sub(words, text)
    if _STREET_OR_SAINT.search(text):
        return None  # "St" not before a name: street or saint, cannot tell
    text = _INITIAL.sub(r"\1 ", text)  # "U.S." -> "U S", "J. Smith" -> "J  Smith"
    text = text.replace("&", " and ").replace("%", " percent ")
    return re.sub(r"[-/\s]+", " ", text).strip()


def _split_token(token: str) -> tuple[str | None, str]:
    """A raw token -> (lower-case words, "" or None if unspellable; pause mark or "")."""
    core = token.strip(_STRIP)
    trailing = token[len(token.rstrip(_STRIP + "'")) :]
    pause = next((_PAUSES[ch] for ch in "?!.;:," if ch in trailing), "")
    if _DIGIT.search(core):
        return spell_number(core.strip("'")), pause
    word = _STRIP_RUN.sub(" ", core.lower())
    parts = (part.strip("'") for part in word.split())  # apostrophes inside words only
    word = " ".join(part for part in parts if part)
    return word, pause


def _words_and_pauses(text: str) -> list[tuple[str, str]] | None:
    prepared = _prepare(text)
    if prepared is None:
        return None
    tokens: list[tuple[str, str]] = []
    for raw in prepared.split():
        word, pause = _split_token(raw)
        if word is None:
            return None  # a number we cannot spell: drop the sentence
        if word:
            tokens.append((word, pause))
        elif pause and tokens:
            tokens[-1] = (tokens[-1][0], tokens[-1][1] or pause)
    if not _TARGET.fullmatch(" ".join(word for word, _ in tokens)):
        return None  # empty, or characters that ASCII folding could not map
    return tokens


def normalize_text(text: str) -> str | None:
    """The one normaliser for training targets and WER: lower-case words, apostrophes, spaces.

    Returns None when the sentence cannot be normalised safely (a number that cannot be
    spelled, an ambiguous "St", characters outside [a-z' ] after ASCII folding) or is empty.
    """
    tokens = _words_and_pauses(text)
    return None if tokens is None else " ".join(word for word, _ in tokens)


def speech_text(text: str) -> str | None:
    """The words of `normalize_text`, keeping sentence punctuation so synthesis pauses."""
    tokens = _words_and_pauses(text)
    return None if tokens is None else " ".join(word + pause for word, pause in tokens)


def normalize_pair(text: str) -> tuple[str, str] | None:
    """(`normalize_text`, `speech_text`) of one sentence, normalising once."""
    tokens = _words_and_pauses(text)
    if tokens is None:
        return None
    return " ".join(w for w, _ in tokens), " ".join(w + pause for w, pause in tokens)


def _read_lines(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        if not path.is_file():
            raise S2TError(f"{path}: text file not found (expected one sentence per line)")
        with path.open(encoding="utf-8") as lines:
            yield from lines


def read_spoken_sentences(paths: Iterable[str | Path]) -> dict[str, str]:
    """Read text files (one sentence per line) -> {normalised text: text to synthesise}.

    De-duplicated on the normalised text (the first spelling wins), in file order.
    """
    sentences: dict[str, str] = {}
    for line in _read_lines(Path(p) for p in paths):
        pair = normalize_pair(line)
        if pair is not None:
            sentences.setdefault(*pair)
    return sentences


def read_sentences(paths: Iterable[str | Path]) -> list[str]:
    """Read text files (one sentence per line) -> normalised, de-duplicated, in file order."""
    return list(read_spoken_sentences(paths))
