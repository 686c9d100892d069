"""Recordings of people -> manifests: the real-voice evaluation sets (LJ Speech clips, the Free
Spoken Digit Dataset's test split) that `s2t-stream eval` scores like the synthesised splits, and
the training split `train-real` (FSDD's training takes of some of its speakers, as given and
augmented as the synthesised training utterances are: FSDD's clips are cut close around the
digit, which a microphone's segment never is, and a model trained on them alone mishears a digit
with a few tenths of a second of silence around it).

The recordings are not part of the repository; the manifests point at them where they lie
(absolute audio paths), so they work from any folder; the augmented copies are written into the
corpus (`audio/train-real/`, relative paths).
"""

from __future__ import annotations

import csv
import logging
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import load_audio
from s2t_stream.training.augment import AugmentOptions, apply_augment, draw_augment
from s2t_stream.training.manifest import Utterance, write_audio, write_manifest
from s2t_stream.training.textnorm import normalize_text

logger = logging.getLogger(__name__)

RATE = 16000
"""The sample rate augmented recordings are written at (the models' input rate)."""
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


def augment_recording(
    utterance: Utterance, out_dir: Path, options: AugmentOptions, seed: int = 0
) -> Utterance:
    """`utterance`'s recording through an augmentation drawn from `options` (babble off: a
    recording has no other talkers at hand) by a generator seeded with `seed` and the clip's
    name, written at 16 kHz to `out_dir/audio/{REAL_TRAIN_SPLIT}/{name}-{plan}.flac`, `plan` a
    checksum of the drawn plan's labels, unless that file is there already: the draw is the
    same every time, so a rerun resumes, and another draw writes another file. Returns the
    utterance pointing at it (relative to `out_dir`), with its labels and duration."""
    name = utterance.audio.stem
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    plan = draw_augment(rng, replace(options, babble_prob=0.0))
    labels = tuple(plan.labels())
    stem = f"audio/{REAL_TRAIN_SPLIT}/{name}-{zlib.crc32(' '.join(labels).encode()):08x}"
    done = [path for path in out_dir.glob(f"{stem}.*") if path.suffix in (".flac", ".wav")]
    if done:
        relative, duration = done[0].relative_to(out_dir), float(sf.info(done[0]).duration)
    else:
        samples = apply_augment(load_audio(utterance.audio, RATE), plan, rng)
        relative, duration = write_audio(out_dir, stem, samples, RATE), len(samples) / RATE
    return replace(utterance, audio=relative, augment=labels, duration=round(duration, 3))


def write_fsdd_training_manifest(
    recordings: Path,
    out_dir: Path,
    held_out_speakers: Sequence[str] = FSDD_HELD_OUT_SPEAKERS,
    *,
    augment: AugmentOptions | None = None,
    seed: int = 0,
) -> int:
    """Write `train-real.jsonl` into `out_dir` (`fsdd_training_utterances`); with `augment`,
    every clip as given, then an augmented copy of each (`augment_recording`) whose draw is not
    clean (a clean copy would repeat the clip): the copies teach the silence, rooms and noise a
    microphone puts around a word, the clips as given keep what the close-cut recordings are
    (measured both ways: README, "Stage-19 trials"). Returns its utterance count. Raises
    S2TError as `fsdd_training_utterances`, or for a missing folder."""
    if not recordings.is_dir():
        raise S2TError(f"{recordings}: not a folder (expected FSDD's recordings/)")
    utterances = fsdd_training_utterances(recordings, held_out_speakers)
    out_dir.mkdir(parents=True, exist_ok=True)
    if augment is not None:
        augmented = []
        for done, utterance in enumerate(utterances, 1):
            copy = augment_recording(utterance, out_dir, augment, seed)
            if copy.augment:
                augmented.append(copy)
            if done % 500 == 0 or done == len(utterances):
                logger.info(
                    "%s: %d/%d recordings augmented", REAL_TRAIN_SPLIT, done, len(utterances)
                )
        utterances = [*utterances, *augmented]
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
