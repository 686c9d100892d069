"""Text normalisation: raw sentence text -> three forms of the same spoken words.

* `normalize_text`: lower-case words, apostrophes and spaces: the training target AND the form
  WER is scored on (one normaliser for both);
* `speech_text`: the same words with sentence punctuation kept, so the synthesiser pauses;
* `caption_text`: the sentence as people read it (case and . , ? ! ' : ; - kept, quotes and
  brackets dropped, first letter capitalised), with numbers and symbols spelled out in words
  exactly as `normalize_text` spells them, so `normalize_text(caption_text(x)) ==
  normalize_text(x)`.

`spell` makes all three from one pass: `_spell_symbols` rewrites digits and symbols into words on
the cased text (which is the caption), then `_words_and_pauses` reads the words off the caption.
Numbers are spelled with num2words (American style, no "and": "one hundred five") plus the rules
below, each written for what the dialogue and assistant text contains (times, money, phone
numbers, addresses, ratings). A sentence with anything that cannot be spelled reliably is dropped
(None); `spell_or_reason` says why.
"""

from __future__ import annotations

import gzip
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from s2t_stream.errors import S2TError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spelled:
    """The three forms of one sentence (see the module docstring)."""

    words: str
    """Lower-case words, apostrophes, single spaces: training target and WER reference."""
    speech: str
    """`words` with token-final . ? ! , kept (; and : read as ,): text for the synthesiser."""
    caption: str
    """Cased, punctuated (. , ? ! ' : ; - only), numbers in words, first letter capitalised."""


class _Unspellable(Exception):
    """Raised inside the spelling rules: the sentence is dropped. The message is "kind: detail"
    (the kind without ": ", the detail quotes the text that could not be spelled)."""


# ---------------------------------------------------------------------------------------------
# Numbers in words
# ---------------------------------------------------------------------------------------------

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MAX_PLAIN_DIGITS = 6
"""Longer ungrouped digit runs are identifiers (account, flight, order numbers): dropped."""


def _clean_num2words(words: str) -> str:
    """num2words' British-leaning output -> American reading: no "and", no commas or hyphens."""
    words = words.replace("-", " ").replace(",", " ")
    return " ".join(word for word in words.split() if word != "and")


def _num2words(n: int, to: str) -> str:
    """num2words, imported on first use (it loads every language: ~40 ms the CLI need not pay
    for `--help`)."""
    from num2words import num2words

    return _clean_num2words(num2words(n, lang="en", to=to))


def cardinal(n: int) -> str:
    """n >= 0 in words: 105 -> "one hundred five", 1500 -> "one thousand five hundred"."""
    return _num2words(n, "cardinal")


def ordinal(n: int) -> str:
    """n >= 1 as an ordinal: 22 -> "twenty second", 100 -> "one hundredth"."""
    return _num2words(n, "ordinal")


def digits(run: str) -> str:
    """Digit by digit ("0865" -> "zero eight six five"): phone numbers, postcodes."""
    return " ".join(_DIGIT_WORDS[int(ch)] for ch in run)


def _pair(n: int) -> str:
    """Two digits read as a pair ("05" -> "oh five", "30" -> "thirty"); 0 -> "hundred" reading
    is the caller's job."""
    return f"oh {_DIGIT_WORDS[n]}" if n < 10 else cardinal(n)


def year(n: int) -> str:
    """Four-digit 1100-1999 and 2010-2099 read as years ("eighteen sixty three", "eighteen oh
    five", "nineteen hundred", "twenty twenty four"); any other n as a cardinal (so 2005 is "two
    thousand five", as it is said)."""
    if not (1100 <= n <= 1999 or 2010 <= n <= 2099):
        return cardinal(n)
    century, rest = divmod(n, 100)
    return f"{cardinal(century)} {'hundred' if rest == 0 else _pair(rest)}"


def house_number(run: str) -> str:
    """A street number read the way addresses are said: 630 -> "six thirty", 105 -> "one oh
    five", 1227 -> "twelve twenty seven", 2001 -> "twenty oh one", 18300 -> "eighteen three
    hundred"; up to two digits and round thousands as cardinals ("two thousand")."""
    n = int(run)
    if n < 100 or (len(run) >= 4 and n % 1000 == 0):
        return cardinal(n)
    head, rest = (run[:-2], int(run[-2:])) if len(run) <= 4 else (run[:2], int(run[2:]))
    if len(run) == 5:  # 12045 -> "twelve oh forty five", 10005 -> "ten oh oh five"
        tail = run[2:]
        if tail[0] != "0":
            spoken = house_number(tail)
        else:
            spoken = f"oh {cardinal(rest)}" if tail[1] != "0" else f"oh oh {digits(tail[2])}"
        return f"{cardinal(int(head))} {spoken}"
    return f"{cardinal(int(head))} {'hundred' if rest == 0 else _pair(rest)}"


def _integer(run: str) -> int:
    """A digit run as an int; leading zeros ("007", "0500") have no single reading: dropped."""
    if len(run) > 1 and run[0] == "0":
        raise _Unspellable(f"leading zero: {run!r}")
    return int(run)


def _plain_number(run: str) -> str:
    """An ungrouped integer: four digits by the year rule, others as cardinals."""
    if len(run) > _MAX_PLAIN_DIGITS:
        raise _Unspellable(f"over {_MAX_PLAIN_DIGITS} digits (an identifier?): {run!r}")
    n = _integer(run)
    return year(n) if len(run) == 4 else cardinal(n)


def _decimal(whole: str, fraction: str) -> str:
    """A decimal: "2.5" -> "two point five", "0.75" -> "zero point seven five"."""
    return f"{cardinal(_integer(whole))} point {digits(fraction)}"


def _amount(run: str) -> int:
    """An amount: "1,500" or "1500" -> 1500 (grouped or not, no year reading: an amount)."""
    return _integer(run.replace(",", ""))


# ---------------------------------------------------------------------------------------------
# Spelling rules: (pattern, replacement) applied in order on the cased text
# ---------------------------------------------------------------------------------------------

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]
_NUM_START = r"(?<![\w.,$#'])"
"""A number starts here: not inside a word, a decimal, a grouped number, money or a '99."""


def _phone(match: re.Match[str]) -> str:
    """A North American phone number, digit by digit, a pause between groups: "+1 858-539-8666"
    -> "plus one, eight five eight, five three nine, eight six six six"."""
    country, *groups = match.groups()
    spoken = ", ".join(digits(g) for g in groups if g)
    return f"plus {digits(country)}, {spoken}" if country else spoken


def _phone_groups(*groups: str) -> str:
    """Digit groups read digit by digit, a comma (a pause) between groups."""
    return ", ".join(digits(g) for g in groups)


def _international_phone(match: re.Match[str]) -> str:
    """An international phone number, digit by digit: "+44 20 8563 8692" -> "plus four four,
    two zero, eight five six three, eight six nine two"."""
    groups = re.split(r"[\s-]+", match.group(2).strip())
    return f"plus {digits(match.group(1))}, " + ", ".join(digits(g) for g in groups)


_SCALES = {"k": "thousand", "m": "million", "bn": "billion"}


def _money(match: re.Match[str]) -> str:
    """Money: "$42.50" -> "forty two dollars fifty cents", "$5" -> "five dollars", "$1.5 million" ->
    "one point five million dollars", "$0.99" -> "ninety nine cents"; cents must be two digits."""
    whole, fraction, scale = match.groups()
    if scale:
        scale = _SCALES.get(scale.lower(), scale.lower())
        amount = _decimal(whole, fraction) if fraction else cardinal(_amount(whole))
        return f"{amount} {scale} dollars"
    dollars = _amount(whole)
    if fraction is not None and len(fraction) != 2:
        raise _Unspellable(f"money with cents not in two digits: {match.group(0)!r}")
    cents = int(fraction or 0)
    parts = [f"{cardinal(dollars)} dollar{'s' * (dollars != 1)}"] if dollars or not cents else []
    if cents:
        parts.append(f"{cardinal(cents)} cent{'s' * (cents != 1)}")
    return " ".join(parts)


def _minutes(minute: str, hour: int, suffix: str) -> str:
    """The minutes of a time: "" for :00 with a.m./p.m., "o'clock"/"hundred" without."""
    m = int(minute)
    if m > 59:
        raise _Unspellable(f"minute over 59: {minute!r}")
    if m:
        return " " + _pair(m)
    if suffix:
        return ""
    return " o'clock" if hour <= 12 else " hundred"


def _clock_ampm(match: re.Match[str]) -> str:
    """A time with a.m./p.m.: "7:30 pm" -> "seven thirty p.m.", "7pm"/"7 p.m." -> "seven
    p.m.", "7:05 am" -> "seven oh five a.m.", "7:00 PM" -> "seven p.m." (the caption keeps
    "p.m."; the words are "p m"). Hours outside 1-12 are dropped."""
    hour, minute, half = match.group(1), match.group(2), match.group(3).lower()
    h = _integer(hour)
    if not 1 <= h <= 12:
        raise _Unspellable(f"hour not 1-12 before a.m./p.m.: {match.group(0)!r}")
    return f"{cardinal(h)}{_minutes(minute or '00', h, half)} {half}.m."


def _clock(match: re.Match[str]) -> str:
    """A time without a.m./p.m.: "7:30" -> "seven thirty", "7:00" -> "seven o'clock", "14:30"
    -> "fourteen thirty", "14:00" -> "fourteen hundred"; hour 0 has no common reading: dropped."""
    h = int(match.group(1))
    if not 1 <= h <= 23:
        raise _Unspellable(f"hour not 1-23: {match.group(0)!r}")
    return cardinal(h) + _minutes(match.group(2), h, "")


_UNITS = {
    "mph": ("mile per hour", "miles per hour"),
    "oz": ("ounce", "ounces"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "kg": ("kilogram", "kilograms"),
    "km": ("kilometer", "kilometers"),
    "ft": ("foot", "feet"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "F": ("degree Fahrenheit", "degrees Fahrenheit"),
}


def _unit(match: re.Match[str]) -> str:
    """A unit: "5 oz" -> "5 ounces", "1 mph" -> "1 mile per hour", "84 F" -> "84 degrees Fahrenheit"
    (the number is spelled by the later rules)."""
    number, unit = match.groups()
    singular, plural = _UNITS[unit]
    return f"{number} {singular if number == '1' else plural}"


_STREET_WORDS = {
    "Street": "Street", "St": "Street", "Avenue": "Avenue", "Ave": "Avenue",
    "Boulevard": "Boulevard", "Blvd": "Boulevard", "Road": "Road", "Rd": "Road",
    "Drive": "Drive", "Dr": "Drive", "Lane": "Lane", "Ln": "Lane", "Way": "Way",
    "Court": "Court", "Ct": "Court", "Place": "Place", "Pl": "Place", "Parkway": "Parkway",
    "Pkwy": "Parkway", "Highway": "Highway", "Hwy": "Highway", "Circle": "Circle",
    "Terrace": "Terrace", "Square": "Square", "Plaza": "Plaza", "Expressway": "Expressway",
    "Freeway": "Freeway", "Alley": "Alley", "Loop": "Loop", "Trail": "Trail", "Pike": "Pike",
    "Commons": "Commons", "Common": "Common", "Crescent": "Crescent",
}  # fmt: skip
"""Street types an address ends with, and the word an abbreviation is read as (only here, after
a house number, is "St" surely "Street" and "Dr" surely "Drive")."""


def _address(match: re.Match[str]) -> str:
    """An address: "1227 Hampshire Street" -> "twelve twenty seven Hampshire Street", "8339
    Church St. The" -> "eighty three thirty nine Church Street. The" (the abbreviation's dot
    kept only before a capital or at the end, where it also ended the sentence)."""
    number, name, street, dot, after = match.groups()
    if len(number) > 1 and number[0] == "0":
        raise _Unspellable(f"leading zero: {number!r}")
    end = "." if dot and (not after or after[:1].isupper()) else ""
    return f"{house_number(number)}{name} {_STREET_WORDS[street]}{end}"


def _postcode(match: re.Match[str]) -> str:
    """A postcode: "California 92037" -> "California nine two zero three seven"."""
    return match.group(1) + digits(match.group(2))


def _ordinal(match: re.Match[str]) -> str:
    """An ordinal: "22nd" -> "twenty second"; a wrong suffix ("1th", "2st") is dropped."""
    n = _integer(match.group(1))
    suffix = match.group(2).lower()
    expected = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    if n == 0 or suffix != expected:
        raise _Unspellable(f"ordinal with a wrong suffix: {match.group(0)!r}")
    return ordinal(n)


def _plural(words: str) -> str:
    """Plural: "eighteen sixty" -> "eighteen sixties", "two thousand" -> "two thousands"."""
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _decade(match: re.Match[str]) -> str:
    """A decade: "1860s"/"1990's" -> "eighteen sixties"/"nineteen nineties", "'90s" ->
    "nineties"; a plural number not ending in 0 ("747s") is dropped."""
    run = match.group(1)
    if run[-1] != "0":
        raise _Unspellable(f"plural of a number that is no decade: {match.group(0)!r}")
    n = _integer(run)
    return _plural(year(n) if len(run) == 4 else cardinal(n))


def _short_year(match: re.Match[str]) -> str:
    """A short year: "'99" -> "ninety nine", "'05" -> "oh five" (a year, as in "from '15")."""
    return _pair(int(match.group(1)))


_RULES: tuple[_Rule, ...] = (
    # phone numbers first: their hyphens are not ranges, their groups not amounts
    (re.compile(r"(?<![\w+])\+(\d{1,3})((?:[\s-]\d{1,5}){1,6})(?![\d-])"), _international_phone),
    (re.compile(r"(?<![\w+])(?:\+(1)[\s.-]?)?\(?\b(\d{3})\)?[\s.-]?(\d{3})[\s.-](\d{4})(?!\d)"),
     _phone),
    (re.compile(r"(?<![\w-])(\d{3})-(\d{4})(?![\d-])"), lambda m: _phone_groups(m[1], m[2])),
    # a few fixed readings
    (re.compile(r"\b401\s?\(?k\)?(?!\w)"), lambda m: "four oh one k"),
    (re.compile(r"\b24/7\b"), lambda m: "twenty four seven"),
    (re.compile(r"\b9/11\b"), lambda m: "nine eleven"),
    (re.compile(r"\d\s?/\s?\d"), lambda m: _raise("a date or fraction (slash)", m)),
    # ranges "5-10" -> "5 to 10", "9:30-10:30pm", "$5-$10"; then a minus sign
    (re.compile(r"(?<=\d)(?:-| - )(?=\d+\s+(?![AaPp]\.?[Mm]\b)[A-Z])"),
     lambda m: _raise("hyphenated number before a name (Queens address?)", m)),
    (re.compile(r"(?<=\d)(?:-| - )(?=\$?\d)"), lambda m: " to "),
    (re.compile(r"(?<![\w.])-(?=\d)"), lambda m: "minus "),
    (re.compile(r"\$[\d.,]+\s?(?:-|to)\s?\$?[\d.,]+\s?(?:thousand|million|billion|[kKmM]|bn)\b"),
     lambda m: _raise("money range with a scale (whose scale?)", m)),
    (re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
                r"(?:\s?(thousand|million|billion|trillion|[kKmM]|bn)\b)?"
                r"(?:\s+dollars?\b)?"), _money),
    (re.compile(_NUM_START + r"(\d{1,2})(?:[:.](\d{2}))?\s?([AaPp])\.?\s?[Mm]\b\.?"), _clock_ampm),
    (re.compile(_NUM_START + r"(\d{1,2}):(\d{2})\b(?!:\d)"), _clock),
    (re.compile(r"#\s?(?=\d|[A-Za-z]\d*\b)|\bNo\.(?=\d)"), lambda m: "number "),
    (re.compile(r"(?<=\d)\s?\+\s?(?=\d)"), lambda m: " plus "),
    (re.compile(r"(?<=\d)\s?[x×]\s?(?=\d)"), lambda m: " times "),
    (re.compile(r"(?<=\d)\s?=\s?(?=\d)"), lambda m: " equals "),
    # addresses: a house number, a capitalised name of up to four words, a street type
    (re.compile(_NUM_START + r"(\d{1,5})((?:\s+(?:[A-Z][A-Za-z'-]*\.?|\d{1,3}(?:st|nd|rd|th)))"
                r"{1,4}?)\s+(" + "|".join(_STREET_WORDS) + r")\b(\.?)(?=\s*(\S?))"), _address),
    (re.compile(_NUM_START + r"(\d{1,3}(?:\.\d+)?)\s?(" + "|".join(_UNITS) + r")\b"), _unit),
    (re.compile(r"\b([A-Z][A-Za-z]+,?\s|zip\s?code\s|zip\s|postal\scode\s)(\d{5})\b(?![.,]\d)",
                re.IGNORECASE), _postcode),
    (re.compile(r"(?<![\w.,$#])'?(\d{2,4})'?s\b"), _decade),
    # letters glued to a number: "A8" -> "A 8", "3d" -> "3 d" (lower-case "a4" is dropped)
    (re.compile(r"\b([A-Z]{1,3})(\d{1,3})\b"), lambda m: f"{m[1]} {m[2]}"),
    (re.compile(r"\b(\d{1,3})([A-Za-z])\b"), lambda m: f"{m[1]} {m[2]}"),
    (re.compile(_NUM_START + r"(\d+)(st|nd|rd|th)\b", re.IGNORECASE), _ordinal),
    (re.compile(r"(?<![\w'])'(\d{2})\b(?!')"), _short_year),
    (re.compile(_NUM_START + r"(\d+)\.(\d+)\b(?![.,]\d)"), lambda m: _decimal(m[1], m[2])),
    (re.compile(_NUM_START + r"(\d{1,3}(?:,\d{3})+)\b(?![.,]\d)"),
     lambda m: cardinal(_amount(m[1]))),
    (re.compile(_NUM_START + r"(\d+)\b(?![.,:]\d)"), lambda m: _plain_number(m[1])),
)  # fmt: skip
"""Each rule rewrites its match in words (numbers the later rules still spell stay as digits);
the order matters: phone numbers before ranges, money and times before plain numbers."""


def _raise(reason: str, match: re.Match[str]) -> str:
    raise _Unspellable(f"{reason}: {match.group(0)!r}")


# ---------------------------------------------------------------------------------------------
# The caption: ASCII, symbols and numbers spelled, case and sentence punctuation kept
# ---------------------------------------------------------------------------------------------

# fmt: off
_UNICODE_PUNCT = str.maketrans({
    "‘": "'", "’": "'", "‛": "'", "`": "'", "“": '"', "”": '"', "„": '"',
    "–": " - ", "—": " - ", "―": " - ", "…": "...", "\u00a0": " ",
})
# fmt: on
_DROPPED = '"()[]{}<>*_~^|'
"""Quotes, brackets and markup: not in captions; a space where they join two words."""
_DROPPED_INSIDE = re.compile(f"(?<=\\w)[{re.escape(_DROPPED)}]+(?=\\w)")
_DROPPED_RUN = re.compile(f"[{re.escape(_DROPPED)}]+")
_ANNOTATION = re.compile(r"\[\w+\s*:\s*([^][]*)\]")
"""A slot label left in an assistant command: "How many [currency_source : dollars] ..."."""
_SPEAKER_MARK = re.compile(r"\s*\[[A-Z]\]\s*")
"""A speaker change inside a dialogue line: "... tonight. [A]OK. And in what city?"."""
_TRADEMARK = re.compile(r"[\u00ae\u2122\u00a9]|(?<=\w)\((?:r|tm|c)\)", re.IGNORECASE)
_ESCAPED_SPACE = re.compile(r"\\[nt]")
"""A line break or tab written out as an escape in the dialogue text ("\\nHow about ...")."""
_GLUED_SENTENCE = re.compile(r"(?<=[a-z]{2})\.(?=[A-Z])|\.(?=\$\d)")
"""Two sentences joined without a space in the dialogue text ("good.The", "you.$99.99")."""
_DIGIT = re.compile(r"\d")


def _fold(text: str) -> str:
    """Unicode -> ASCII (curly quotes, dashes, accents), dataset markup off (slot labels,
    speaker marks, trademark signs), quotes and brackets dropped, "&" and "%" in words."""
    text = _SPEAKER_MARK.sub(" ", _ANNOTATION.sub(r"\1", _TRADEMARK.sub("", text)))
    text = _ESCAPED_SPACE.sub(" ", text)
    text = unicodedata.normalize("NFKD", text.translate(_UNICODE_PUNCT))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _GLUED_SENTENCE.sub(". ", text)
    text = _DROPPED_RUN.sub("", _DROPPED_INSIDE.sub(" ", text))
    return text.replace("&", " and ").replace("%", " percent ")


_SENTENCE_END = re.compile(r"(?<![a-z]\.[a-z])[.?!]\s+$")
"""Text before a sentence start: nothing, or a full stop (not that of "a.m.") and a space."""


def _sentence_case(match: re.Match[str], spell: Callable[[re.Match[str]], str]) -> str:
    """A rule's words, capitalised where the number began a sentence ("... coffees. One latte")."""
    words = spell(match)
    before = match.string[max(0, match.start() - 8) : match.start()]
    starts_sentence = match.start() == 0 or _SENTENCE_END.search(before) is not None
    return _capitalise(words) if starts_sentence and match.group(0)[:1].isdigit() else words


def _capitalise(text: str) -> str:
    """Upper-case the first letter (after any leading punctuation: "'tis" -> "'Tis")."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :]
    return text


def _spell_symbols(text: str) -> str:
    """Raw text -> the caption: every digit and symbol rule applied, first letter capitalised.

    Raises `_Unspellable` when a rule cannot spell its match or a digit is left over.
    Idempotent on its own output (no rule matches words), which makes the caption round-trip."""
    text = _fold(text)
    if _DIGIT.search(text):  # every rule spells a number
        for pattern, spell in _RULES:
            text = pattern.sub(partial(_sentence_case, spell=spell), text)
    if leftover := _DIGIT.search(text):
        start = max(0, leftover.start() - 12)
        raise _Unspellable(f"digits left: {text[start : leftover.end() + 12]!r}")
    text = _GLUED_SENTENCE.sub(". ", text.replace("/", " "))  # again: "eighteen thirty.I"
    return _capitalise(" ".join(text.split()))


# ---------------------------------------------------------------------------------------------
# The words: abbreviations read out, punctuation off, lower case
# ---------------------------------------------------------------------------------------------

_STRIP = '.,;:!?"()[]{}<>*_~^|-/'
"""Punctuation removed from tokens; anything else non-alphabetic makes the sentence fail."""
_PAUSES = {".": ".", "?": "?", "!": "!", ",": ",", ";": ",", ":": ","}
"""Token-final punctuation kept in the text given to the synthesiser, for natural pauses."""

# Conservative: only abbreviations whose reading is unambiguous where they match. "St" is "Saint"
# before a name (an address "123 Main St" was already read as "Street" by the spelling rules).
_ABBREVIATIONS = (
    (re.compile(r"\bMrs\b\.?"), "missus"),
    (re.compile(r"\bMr\b\.?"), "mister"),
    (re.compile(r"\bMs\b\.?(?=\s+[A-Z])"), "miz"),
    (re.compile(r"\bMessrs\b\.?"), "messieurs"),
    (re.compile(r"\bDrs\b\.?"), "doctors"),
    (re.compile(r"\bDr\b\.?"), "doctor"),
    (re.compile(r"\bSt\b\.?(?=\s+[A-Z])"), "saint"),
    (re.compile(r"\bMt\.(?=\s+[A-Z])"), "mount"),
    (re.compile(r"\bJr\."), "junior"),
    (re.compile(r"\bSr\."), "senior"),
    (re.compile(r"\bLt\."), "lieutenant"),
    (re.compile(r"\bSgt\."), "sergeant"),
    (re.compile(r"\bCapt\."), "captain"),
    (re.compile(r"\bCol\.(?=\s+[A-Z])"), "colonel"),
    (re.compile(r"\bMaj\.(?=\s+[A-Z])"), "major"),
    (re.compile(r"\bGen\.(?=\s+[A-Z])"), "general"),
    (re.compile(r"\bGov\.(?=\s+[A-Z])"), "governor"),
    (re.compile(r"\bProf\.(?=\s+[A-Z])"), "professor"),
    (re.compile(r"\bRev\.(?=\s+[A-Z])"), "reverend"),
    (re.compile(r"\bHon\.(?=\s+[A-Z])"), "honorable"),
    (re.compile(r"\bSte\b\.?(?=\s+[A-Za-z])"), "suite"),
    (re.compile(r"\bAve\."), "avenue"),
    (re.compile(r"\bBlvd\b\.?"), "boulevard"),
    (re.compile(r"\bCo\.(?=\s|$)"), "company"),
    (re.compile(r"\bvs\b\.?", re.IGNORECASE), "versus"),
    (re.compile(r"\betc\.", re.IGNORECASE), "et cetera"),
    (re.compile(r"\bapprox\b\.?", re.IGNORECASE), "approximately"),
)
_ANY_ABBREVIATION = re.compile("|".join(p.pattern for p, _ in _ABBREVIATIONS), re.IGNORECASE)
"""One search that gates the loop (most sentences have no abbreviation)."""
_STREET_OR_SAINT = re.compile(r"\bSt\b")
_STRIP_RUN = re.compile(f"[{re.escape(_STRIP)}]+")
_TARGET = re.compile(r"[a-z' ]*[a-z][a-z' ]*")
_INITIAL = re.compile(r"\b([A-Z])\.")
_LOWER_INITIALS = re.compile(r"(?:[a-z]\.){2,}")
""""a.m.", "p.m.", "e.g.": their last dot is a full stop only at the end or before a capital."""


def _expand(caption: str) -> str:
    """Abbreviations and initials read out ("Mr." -> "mister", "U.S." -> "U S")."""
    if _ANY_ABBREVIATION.search(caption):
        for pattern, words in _ABBREVIATIONS:
            caption = pattern.sub(words, caption)
    if _STREET_OR_SAINT.search(caption):
        raise _Unspellable(f"St not before a name (street or saint?): {caption[:60]!r}")
    return _INITIAL.sub(r"\1 ", caption)  # "U.S." -> "U S", "J. Smith" -> "J  Smith"


def _split_token(token: str, next_token: str) -> tuple[str, str]:
    """A caption token -> (lower-case words or "", pause mark or "")."""
    core = token.strip(_STRIP)
    trailing = token[len(token.rstrip(_STRIP + "'")) :]
    if abbreviation := _LOWER_INITIALS.match(token):  # "p.m.": its dot is not a full stop
        trailing = token[abbreviation.end() :]
        if not trailing and not next_token[:1].islower():
            trailing = "."  # ... unless it ends the sentence
    pause = next((_PAUSES[ch] for ch in "?!.;:," if ch in trailing), "")
    word = _STRIP_RUN.sub(" ", core.lower())
    parts = (part.strip("'") for part in word.split())  # apostrophes inside words only
    return " ".join(part for part in parts if part), pause


def _words_and_pauses(caption: str) -> list[tuple[str, str]]:
    """The caption's words with their pause marks; raises `_Unspellable` if not [a-z' ]."""
    raw = _expand(caption).split()
    tokens: list[tuple[str, str]] = []
    for i, token in enumerate(raw):
        word, pause = _split_token(token, raw[i + 1] if i + 1 < len(raw) else "")
        if word:
            tokens.append((word, pause))
        elif pause and tokens:
            tokens[-1] = (tokens[-1][0], tokens[-1][1] or pause)
    text = " ".join(word for word, _ in tokens)
    if not _TARGET.fullmatch(text):
        odd = sorted(set(re.sub(r"[a-z' ]", "", text)))
        kind = "characters outside a-z and apostrophe" if odd else "no words"
        raise _Unspellable(f"{kind}: {''.join(odd)!r}")
    return tokens


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def spell_or_reason(text: str) -> Spelled | str:
    """`spell`, or the reason the sentence is dropped (for corpus statistics)."""
    try:
        caption = _spell_symbols(text)
        tokens = _words_and_pauses(caption)
    except _Unspellable as dropped:
        return str(dropped)
    words = " ".join(word for word, _ in tokens)
    speech = " ".join(word + pause for word, pause in tokens)
    return Spelled(words, speech, caption)


def spell(text: str) -> Spelled | None:
    """The three forms of one sentence from one pass, or None when it cannot be normalised
    safely (a number or symbol that cannot be spelled, an ambiguous "St", characters outside
    [a-z' ] after ASCII folding, no words)."""
    spelled = spell_or_reason(text)
    return spelled if isinstance(spelled, Spelled) else None


def normalize_text(text: str) -> str | None:
    """The one normaliser for training targets and WER: lower-case words, apostrophes, spaces.

    Returns None when the sentence cannot be normalised safely (see `spell`)."""
    spelled = spell(text)
    return None if spelled is None else spelled.words


def speech_text(text: str) -> str | None:
    """The words of `normalize_text`, keeping sentence punctuation so synthesis pauses."""
    spelled = spell(text)
    return None if spelled is None else spelled.speech


def caption_text(text: str) -> str | None:
    """The sentence as people read it, numbers in words: `normalize_text` of it is
    `normalize_text(text)`. "It's $42.50 at 7pm." -> "It's forty two dollars fifty cents at
    seven p.m."."""
    spelled = spell(text)
    return None if spelled is None else spelled.caption


# ---------------------------------------------------------------------------------------------
# Reading sentence files
# ---------------------------------------------------------------------------------------------


def read_text_lines(path: str | Path) -> Iterator[str]:
    """The lines of one UTF-8 text file, plain or gzip-compressed (name ending ".gz"), without
    line ends. Raises S2TError if the file is missing or not UTF-8 (gzip)."""
    path = Path(path)
    if not path.is_file():
        raise S2TError(f"{path}: text file not found (expected one sentence per line)")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                yield from (line.rstrip("\r\n") for line in lines)
        else:
            with path.open(encoding="utf-8") as lines:
                yield from (line.rstrip("\r\n") for line in lines)
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise S2TError(f"{path}: expected UTF-8 text (gzip if named .gz), got {error}") from error
