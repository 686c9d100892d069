"""Real-voice evaluation manifests: LJ Speech clips and FSDD digits, built from small folders
laid out as ../shared/data/real is."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2t_stream.errors import S2TError
from s2t_stream.training.augment import AugmentOptions
from s2t_stream.training.manifest import read_manifest
from s2t_stream.training.realsets import write_fsdd_training_manifest, write_real_manifests


def _clip(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(1600, dtype=np.float32), 16000)


def _real_folder(root: Path) -> Path:
    _clip(root / "ljspeech" / "LJ001-0001.flac")
    _clip(root / "ljspeech" / "LJ001-0002.flac")
    (root / "ljspeech" / "transcripts.tsv").write_text(
        "LJ001-0001\tPrinting, in the only sense\nLJ001-0002\tin 1863 it was modern.\n"
    )
    for name in ("0_george_0", "7_theo_3"):
        _clip(root / "fsdd" / f"{name}.flac")
    return root


def test_real_manifests_give_normalised_text_voice_and_style(tmp_path: Path) -> None:
    real = _real_folder(tmp_path / "real")
    counts = write_real_manifests(real, tmp_path / "out")
    assert counts == {"real-lj": 2, "real-fsdd": 2}
    lj = read_manifest(tmp_path / "out" / "real-lj.jsonl")
    assert [u.text for u in lj] == [
        "printing in the only sense",
        "in eighteen sixty three it was modern",
    ]
    assert {(u.voice, u.style) for u in lj} == {("real:lj", "read")}
    assert lj[0].audio == (real / "ljspeech" / "LJ001-0001.flac").resolve()
    fsdd = read_manifest(tmp_path / "out" / "real-fsdd.jsonl")
    assert [(u.text, u.voice, u.style) for u in fsdd] == [
        ("zero", "real:fsdd:george", "digits"),
        ("seven", "real:fsdd:theo", "digits"),
    ]


def test_real_manifests_name_what_is_missing(tmp_path: Path) -> None:
    real = _real_folder(tmp_path / "real")
    (real / "ljspeech" / "LJ001-0002.flac").unlink()
    with pytest.raises(S2TError, match=r"transcripts.tsv:2: .*LJ001-0002.flac not found"):
        write_real_manifests(real, tmp_path / "out")
    _clip(real / "ljspeech" / "LJ001-0002.flac")
    _clip(real / "fsdd" / "0_george.flac")
    with pytest.raises(S2TError, match=r"0_george.flac: expected a name '<digit>_<speaker>_<take>"):
        write_real_manifests(real, tmp_path / "out")
    with pytest.raises(S2TError, match="not a folder"):
        write_real_manifests(tmp_path / "nowhere", tmp_path / "out")


def test_fsdd_training_manifest_has_the_training_takes_of_the_speakers_not_held_out(
    tmp_path: Path,
) -> None:
    recordings = tmp_path / "recordings"
    names = ("3_george_4", "3_george_5", "9_george_49", "1_jackson_7", "2_theo_6", "0_lucas_12")
    for name in names:  # the whole dataset: WAV at 8 kHz
        recordings.mkdir(exist_ok=True)
        sf.write(recordings / f"{name}.wav", np.zeros(800, dtype=np.float32), 8000)
    count = write_fsdd_training_manifest(recordings, tmp_path / "out", ("theo", "lucas"))
    train = read_manifest(tmp_path / "out" / "train-real.jsonl")
    # take 4 is in FSDD's test split (takes 0-4), theo and lucas are held out
    assert count == 3
    assert [(u.audio.name, u.text, u.voice, u.style) for u in train] == [
        ("1_jackson_7.wav", "one", "real:fsdd:jackson", "digits"),
        ("3_george_5.wav", "three", "real:fsdd:george", "digits"),
        ("9_george_49.wav", "nine", "real:fsdd:george", "digits"),
    ]
    with pytest.raises(S2TError, match=r"held-out speakers among .*'george'.*got \['theodore'\]"):
        write_fsdd_training_manifest(recordings, tmp_path / "out", ("theodore",))
    with pytest.raises(S2TError, match="not a folder"):
        write_fsdd_training_manifest(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(S2TError, match=r"no FSDD clips \(expected files like 0_george_0.wav\)"):
        write_fsdd_training_manifest(tmp_path / "out", tmp_path / "out")


def test_training_recordings_are_augmented_at_16_khz_deterministically_and_resumed(
    tmp_path: Path,
) -> None:
    """With augmentation, each training take is written through its own drawn plan (here
    always silence pads, so the written length is the clip's plus the two pads), at the
    models' 16 kHz, and the manifest lists the takes as given, then the copies; a rerun draws
    the same plans and leaves the files already written as they are."""
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    tone = (0.3 * np.sin(np.arange(4000) * 0.3)).astype(np.float32)  # 0.5 s at 8 kHz
    for name in ("1_jackson_7", "3_george_5"):
        sf.write(recordings / f"{name}.wav", tone, 8000)
    pads_only = replace(AugmentOptions.off(), pad_prob=1.0)
    out = tmp_path / "out"
    assert write_fsdd_training_manifest(recordings, out, (), augment=pads_only, seed=3) == 4
    listed = read_manifest(out / "train-real.jsonl")
    given, first = listed[:2], listed[2:]  # each take as given too, then the augmented copies
    assert [(u.audio, u.augment) for u in given] == [
        ((recordings / f"{name}.wav").resolve(), ()) for name in ("1_jackson_7", "3_george_5")
    ]
    assert [u.text for u in first] == [u.text for u in given] == ["one", "three"]
    for utterance in first:
        assert utterance.audio.parent == (out / "audio" / "train-real")
        (label,) = utterance.augment
        lead, trail = (float(x) for x in re.fullmatch(r"pad([\d.]+)\+([\d.]+)", label).groups())
        samples, rate = sf.read(utterance.audio)
        assert rate == 16000 and len(samples) == 8000 + round(lead * 16000) + round(trail * 16000)
        assert utterance.duration == pytest.approx(len(samples) / 16000, abs=1e-3)
    assert first[0].augment != first[1].augment  # each clip its own draw
    written = {u.audio: u.audio.stat().st_mtime_ns for u in first}
    write_fsdd_training_manifest(recordings, out, (), augment=pads_only, seed=3)
    again = read_manifest(out / "train-real.jsonl")[2:]
    assert again == first and {u.audio: u.audio.stat().st_mtime_ns for u in again} == written
    # a clean draw would only repeat the take as given: no copy is listed for it
    clean = out / "clean"
    assert write_fsdd_training_manifest(recordings, clean, (), augment=AugmentOptions.off()) == 2
    assert all(not u.augment for u in read_manifest(clean / "train-real.jsonl"))
