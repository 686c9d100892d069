"""Translation targets: what a speech-translation model learns and is scored on, made from a
translation as the machine translator wrote it.

Like the English targets (`textnorm.normalize_text`), the targets are lower case without
punctuation: the bundled models write captions that way, and BLEU/chrF of the end-to-end model
and of the cascade are then computed on the same footing. Within a word, apostrophes
(Catalan "l'home", "m'agradaria"), hyphens ("dona-li") and the Catalan middle dot ("col·lecció")
are letters; elsewhere every character that is not a letter or a digit separates words.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "‐": "-", "‑": "-"})
# a word: letters/digits, joined by single apostrophes, hyphens or middle dots
_WORD = re.compile(r"[^\W_]+(?:['\-·][^\W_]+)*")


def normalize_translation(text: str) -> str:
    """`text` in NFC, lower case, as its words separated by single spaces ("" when it has none).

    >>> normalize_translation("¿Qué tal?  M’agradaria la col·lecció — sí.")
    "qué tal m'agradaria la col·lecció sí"
    """
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES).lower()
    return " ".join(_WORD.findall(text))
