"""Recordings of people -> manifests: the real-voice evaluation sets (LJ Speech clips, the Free
Spoken Digit Dataset's test split) that `s2t-stream eval` scores like the synthesised splits, and
the training split `train-real` (FSDD's training takes of some of its speakers).

The recordings are not part of the repository; the manifests point at them where they lie
(absolute audio paths), so they work from any folder.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from s2t_stream.errors import S2TError
from s2t_stream.training.manifest import Utterance, write_manifest
from s2t_stream.training.textnorm import normalize_text

logger = logging.getLogger(__name__)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
REAL_SETS = ("real-lj", "real-fsdd")
"""Manifest names written by `write_real_manifests`, `{name}.jsonl`."""
REAL_TRAIN_SPLIT = "train-real"
"""Manifest name written by `write_fsdd_training_manifest`."""
FSDD_TEST_TAKES = 5
"""FSDD's official split (its README): takes 0-4 of every digit and speaker are the test set,
takes 5-49 the training set."""
FSDD_HELD_OUT_SPEAKERS = ("theo", "yweweler")
"""FSDD speakers whose training takes are left out too (the last two in alphabetical order), so
that the test split has speakers no model heard."""


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


def fsdd_clips(folder: Path, suffix: str = ".flac") -> Iterator[tuple[Path, int, str, int]]:
    """The Free Spoken Digit Dataset clips `{digit}_{speaker}_{take}{suffix}` of `folder`, in name
    order, as (path, digit, speaker, take). Raises S2TError if there is none, or for a clip
    named otherwise."""
    clips = sorted(folder.glob(f"*{suffix}"))
    if not clips:
        raise S2TError(f"{folder}: no FSDD clips (expected files like 0_george_0{suffix})")
    for clip in clips:
        name = re.fullmatch(r"(\d)_([^_]+)_(\d+)", clip.stem)
        if name is None:
            raise S2TError(f"{clip}: expected a name '<digit>_<speaker>_<take>{suffix}'")
        yield clip.resolve(), int(name[1]), name[2], int(name[3])


def _fsdd_utterance(clip: Path, digit: int, speaker: str) -> Utterance:
    return Utterance(clip, DIGIT_WORDS[digit], f"real:fsdd:{speaker}", style="digits")


def fsdd_utterances(folder: Path) -> Iterator[Utterance]:
    """FSDD clips (`fsdd_clips`, FLAC): one spoken digit each, voice `real:fsdd:{speaker}`,
    style `digits`. Raises S2TError as `fsdd_clips`."""
    for clip, digit, speaker, _take in fsdd_clips(folder):
        yield _fsdd_utterance(clip, digit, speaker)


def fsdd_training_utterances(
    recordings: Path, held_out_speakers: Sequence[str] = FSDD_HELD_OUT_SPEAKERS
) -> list[Utterance]:
    """The training takes (`FSDD_TEST_TAKES` and later) of the whole dataset's `recordings/`
    folder (`{digit}_{speaker}_{take}.wav`, 8 kHz), but those of `held_out_speakers`.

    Raises S2TError as `fsdd_clips`, or if a held-out speaker is not in the folder (a
    misspelt name would leave that speaker in training)."""
    clips = list(fsdd_clips(recordings, ".wav"))
    speakers = {speaker for _clip, _digit, speaker, _take in clips}
    if unknown := sorted(set(held_out_speakers) - speakers):
        raise S2TError(
            f"{recordings}: expected held-out speakers among {sorted(speakers)}, got {unknown}"
        )
    return [
        _fsdd_utterance(clip, digit, speaker)
        for clip, digit, speaker, take in clips
        if take >= FSDD_TEST_TAKES and speaker not in held_out_speakers
    ]


def write_fsdd_training_manifest(
    recordings: Path, out_dir: Path, held_out_speakers: Sequence[str] = FSDD_HELD_OUT_SPEAKERS
) -> int:
    """Write `train-real.jsonl` into `out_dir` (`fsdd_training_utterances`); returns its
    utterance count. Raises S2TError as `fsdd_training_utterances`, or for a missing folder."""
    if not recordings.is_dir():
        raise S2TError(f"{recordings}: not a folder (expected FSDD's recordings/)")
    utterances = fsdd_training_utterances(recordings, held_out_speakers)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(out_dir / f"{REAL_TRAIN_SPLIT}.jsonl", utterances)
    return len(utterances)


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
