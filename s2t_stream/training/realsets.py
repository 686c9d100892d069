"""Real-voice evaluation sets: recordings of people (LJ Speech clips, the Free Spoken Digit
Dataset) -> manifests that `s2t-stream eval` scores like the synthesised splits.

The recordings are not part of the repository; `write_real_manifests` points at them where they
lie (absolute audio paths), so the manifests work from any folder.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from s2t_stream.errors import S2TError
from s2t_stream.training.manifest import Utterance, write_manifest
from s2t_stream.training.textnorm import normalize_text

logger = logging.getLogger(__name__)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
REAL_SETS = ("real-lj", "real-fsdd")
"""Manifest names written by `write_real_manifests`, `{name}.jsonl`."""


def lj_utterances(folder: Path) -> Iterator[Utterance]:
    """LJ Speech clips: `transcripts.tsv` (id TAB transcript) beside `{id}.flac`.

    One reader (voice `real:lj`); style `read`. Raises S2TError if the table is missing or
    names a clip that is not there."""
    table = folder / "transcripts.tsv"
    if not table.is_file():
        raise S2TError(f"{table}: not found (expected 'id<TAB>transcript' lines of LJ Speech)")
    with table.open(encoding="utf-8", newline="") as rows:
        for number, row in enumerate(csv.reader(rows, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if len(row) != 2:
                raise S2TError(f"{table}:{number}: expected 'id<TAB>transcript', got {row!r}")
            audio = folder / f"{row[0]}.flac"
            if not audio.is_file():
                raise S2TError(f"{table}:{number}: {audio} not found")
            text = normalize_text(row[1])
            if text is None:
                logger.warning("%s:%d: transcript cannot be normalised: skipped", table, number)
                continue
            yield Utterance(audio.resolve(), text, "real:lj", style="read")


def fsdd_utterances(folder: Path) -> Iterator[Utterance]:
    """Free Spoken Digit Dataset clips `{digit}_{speaker}_{take}.flac`: one spoken digit each.

    Voice `real:fsdd:{speaker}`; style `digits`. Raises S2TError if there is no clip."""
    clips = sorted(folder.glob("*.flac"))
    if not clips:
        raise S2TError(f"{folder}: no FSDD clips (expected files like 0_george_0.flac)")
    for clip in clips:
        name = re.fullmatch(r"(\d)_([^_]+)_(\d+)", clip.stem)
        if name is None:
            raise S2TError(f"{clip}: expected a name '<digit>_<speaker>_<take>.flac'")
        text = DIGIT_WORDS[int(name[1])]
        yield Utterance(clip.resolve(), text, f"real:fsdd:{name[2]}", style="digits")


def write_real_manifests(real_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write `real-lj.jsonl` and `real-fsdd.jsonl` into `out_dir` from `real_dir/ljspeech` and
    `real_dir/fsdd`; returns utterances per manifest. Raises S2TError for a missing folder."""
    sources = {"real-lj": (real_dir / "ljspeech", lj_utterances),
               "real-fsdd": (real_dir / "fsdd", fsdd_utterances)}  # fmt: skip
    counts = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (folder, read) in sources.items():
        if not folder.is_dir():
            raise S2TError(f"{folder}: not a folder (expected {real_dir} to hold ljspeech/, fsdd/)")
        utterances = list(read(folder))
        write_manifest(out_dir / f"{name}.jsonl", utterances)
        counts[name] = len(utterances)
    return counts
