"""Write data/text/digit_strings.txt: spoken digit strings for the corpus's `digits` style.

The other text sources have almost no utterance of one to a few words, and none that is a bare
digit string, so the model never heard isolated digits ("seven"), PINs or phone numbers read
digit by digit. This writes such lines, in words (so no number-reading rule is involved),
reproducibly (a fixed seed): the ten single digits, then strings of 2-10 digits, a third of
them grouped like phone numbers with a comma pause. (The corpus speaks a line of one or two
words in many voices: `CorpusOptions.short_sentence_voices`.)

    python scripts/make_digit_text.py [--lines 4000] [--out data/text/digit_strings.txt]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digit_line(rng: np.random.Generator) -> str:
    """One line: a phone-like 3+4 or 3+3+4 grouping (1/3), or a string of 2-10 digits."""
    phone = rng.random() < 1 / 3
    groups = [[3, 4], [3, 3, 4]][int(rng.integers(2))] if phone else [int(rng.integers(2, 11))]
    spoken = [" ".join(DIGITS[int(d)] for d in rng.integers(0, 10, size)) for size in groups]
    line = ", ".join(spoken)
    return line[0].upper() + line[1:] + "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/text/digit_strings.txt"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    singles = [f"{d.capitalize()}." for d in DIGITS]
    lines = dict.fromkeys(singles)
    while len(lines) < args.lines:
        lines.setdefault(digit_line(rng))
    text = list(lines)
    args.out.write_text("".join(line + "\n" for line in text), encoding="utf-8")
    print(f"{args.out}: {len(text)} lines")


if __name__ == "__main__":
    main()
