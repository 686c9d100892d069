"""Manifests: the entry type, the reader (paths joined to the manifest's folder, defaults for
the optional fields) and its errors, which name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2t_stream.errors import S2TError
from s2t_stream.training.manifest import Utterance, read_manifest

FULL = {
    "audio": "audio/test/000000.flac",
    "text": "they play together",
    "duration": 1.5,
    "voice": "espeak:en-us+f5",
    "augment": ["speed1.05", "gain-3.0"],
}


def test_reader_joins_paths_and_fills_the_optional_fields(tmp_path: Path) -> None:
    manifest = tmp_path / "test.jsonl"
    minimal = {"audio": "b.wav", "text": "hi", "duration": 2}
    manifest.write_text(f"{json.dumps(FULL)}\n\n{json.dumps(minimal)}\n", encoding="utf-8")
    assert read_manifest(manifest) == [
        Utterance(
            audio=tmp_path / "audio" / "test" / "000000.flac",
            text="they play together",
            voice="espeak:en-us+f5",
            duration=1.5,
            augment=("speed1.05", "gain-3.0"),
        ),
        Utterance(audio=tmp_path / "b.wav", text="hi", voice="?", duration=2.0, augment=()),
    ]
    assert read_manifest(manifest, limit=1) == read_manifest(manifest)[:1]


def test_an_entry_writes_the_line_it_was_read_from() -> None:
    utterance = Utterance.from_json(FULL)
    assert utterance.audio == Path("audio/test/000000.flac")
    assert utterance.to_json() == FULL
    assert list(utterance.to_json()) == ["audio", "text", "duration", "voice", "augment"]


@pytest.mark.parametrize(
    "line",
    [
        '{"audio": "b.wav"}',  # no text
        '{"audio": "b.wav", "text": "hi"',  # cut short
        '["b.wav", "hi"]',  # not an object
        '{"audio": "b.wav", "text": 7}',
        '{"audio": "b.wav", "text": "hi", "augment": "speed"}',
        '{"audio": "b.wav", "text": "hi", "duration": "long"}',
    ],
)
def test_bad_lines_are_named_by_file_and_line(tmp_path: Path, line: str) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "a.wav", "text": "hi"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(S2TError, match=r"m\.jsonl:3: expected a JSON object with 'audio'"):
        read_manifest(manifest)


def test_a_missing_manifest_is_named_with_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(S2TError, match=r"missing\.jsonl: manifest not found") as info:
        read_manifest(tmp_path / "missing.jsonl")
    assert "`s2t-stream corpus --out DIR`" in str(info.value)
    assert "assets/samples/samples.jsonl" in str(info.value)
