"""Corpus manifests: JSON lines of `audio` (a path relative to the manifest), `text`, `voice` and
optional `duration` and `augment`; the one entry type and the one reader of every stage."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2t_stream.errors import S2TError

UNKNOWN_VOICE = "?"


@dataclass(frozen=True)
class Utterance:
    """One manifest line. `audio` is as written (relative to the manifest's folder) in what the
    corpus writes, and joined to that folder in what `read_manifest` returns."""

    audio: Path
    text: str
    voice: str = UNKNOWN_VOICE
    duration: float | None = None  # seconds
    augment: tuple[str, ...] = ()  # augmentation labels, e.g. "speed1.05"

    def to_json(self) -> dict[str, Any]:
        return {
            "audio": self.audio.as_posix(),
            "text": self.text,
            "duration": self.duration,
            "voice": self.voice,
            "augment": list(self.augment),
        }

    @classmethod
    def from_json(cls, entry: Mapping[str, Any], folder: Path = Path()) -> Utterance:
        """The utterance of one parsed line, its audio joined to `folder`. Raises KeyError,
        TypeError or ValueError for a line that is not a manifest entry."""
        audio, text = entry["audio"], entry["text"]
        voice = entry.get("voice", UNKNOWN_VOICE)
        duration = entry.get("duration")
        augment = entry.get("augment", [])
        if not all(isinstance(v, str) for v in (audio, text, voice)):
            raise TypeError("'audio', 'text' and 'voice' must be strings")
        if duration is not None and not isinstance(duration, int | float):
            raise TypeError(f"'duration' must be a number of seconds, got {duration!r}")
        if not isinstance(augment, list) or not all(isinstance(a, str) for a in augment):
            raise TypeError(f"'augment' must be a list of labels, got {augment!r}")
        return cls(
            audio=folder / audio,
            text=text,
            voice=voice,
            duration=None if duration is None else float(duration),
            augment=tuple(augment),
        )


def read_manifest(path: Path, limit: int | None = None) -> list[Utterance]:
    """Every utterance of the manifest at `path` in file order (the first `limit` if given),
    blank lines skipped. Raises S2TError naming the file, and the line, for what is not a
    manifest (on any line, also past `limit`)."""
    if not path.is_file():
        raise S2TError(f"{path}: manifest not found")
    utterances: list[Utterance] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                utterances.append(Utterance.from_json(json.loads(line), path.parent))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise S2TError(
                    f"{path}:{number}: expected a JSON object with 'audio' and 'text' ({e})"
                ) from e
    return utterances[:limit] if limit else utterances
