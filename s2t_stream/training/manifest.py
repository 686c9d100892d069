"""Corpus manifests: JSON lines of `audio` (a path relative to the manifest, or absolute),
`text`, `voice` and optional `duration`, `augment`, `style`, `caption` and `translations`; the
one entry type, the one reader and the one writer of every stage, and the writer of the audio
files they point at."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from s2t_stream.errors import S2TError

logger = logging.getLogger(__name__)

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
    style: str | None = None  # the text style, e.g. "dialogue" (None: not known)
    caption: str | None = None  # the text cased and punctuated, numbers in words (None: not known)
    # target language code -> the caption's machine translation, as the translator wrote it
    translations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        entry = {
            "audio": self.audio.as_posix(),
            "text": self.text,
            "duration": self.duration,
            "voice": self.voice,
            "augment": list(self.augment),
        }
        optional = {"style": self.style, "caption": self.caption}
        entry |= {key: value for key, value in optional.items() if value is not None}
        return entry | ({"translations": dict(self.translations)} if self.translations else {})

    @classmethod
    def from_json(cls, entry: Mapping[str, Any], folder: Path = Path()) -> Utterance:
        """The utterance of one parsed line, its audio joined to `folder`. Raises KeyError,
        TypeError or ValueError for a line that is not a manifest entry."""
        audio, text = entry["audio"], entry["text"]
        voice = entry.get("voice", UNKNOWN_VOICE)
        duration = entry.get("duration")
        augment = entry.get("augment", [])
        style, caption = entry.get("style"), entry.get("caption")
        translations = entry.get("translations", {})
        if not all(isinstance(v, str) for v in (audio, text, voice)):
            raise TypeError("'audio', 'text' and 'voice' must be strings")
        if not all(v is None or isinstance(v, str) for v in (style, caption)):
            raise TypeError(f"'style' and 'caption' must be strings, got {style!r}, {caption!r}")
        if duration is not None and not isinstance(duration, int | float):
            raise TypeError(f"'duration' must be a number of seconds, got {duration!r}")
        if not isinstance(augment, list) or not all(isinstance(a, str) for a in augment):
            raise TypeError(f"'augment' must be a list of labels, got {augment!r}")
        if not isinstance(translations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in translations.items()
        ):
            raise TypeError(f"'translations' must map language codes to text, got {translations!r}")
        return cls(
            audio=folder / audio,
            text=text,
            voice=voice,
            duration=None if duration is None else float(duration),
            augment=tuple(augment),
            style=style,
            caption=caption,
            translations=translations,
        )


def write_manifest(path: Path, utterances: Iterable[Utterance]) -> None:
    """Write one JSON line per utterance, atomically (a `.part` file renamed into place)."""
    part = path.with_name(path.name + ".part")
    with part.open("w", encoding="utf-8") as f:
        for utterance in utterances:
            f.write(json.dumps(utterance.to_json(), ensure_ascii=False) + "\n")
    part.replace(path)


def read_manifest(path: Path, limit: int | None = None) -> list[Utterance]:
    """Every utterance of the manifest at `path` in file order (the first `limit` if given),
    blank lines skipped. Raises S2TError naming the file, and the line, for what is not a
    manifest (on any line, also past `limit`); for a missing file, it says how to make one."""
    if not path.is_file():
        raise S2TError(
            f"{path}: manifest not found; `s2t-stream corpus --out DIR` makes the corpus's sets "
            "(DIR/test.jsonl and the others; DIR is data/corpus by default), and the repository "
            "comes with one, assets/samples/samples.jsonl (README, eval)"
        )
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


def write_audio(out_dir: Path, stem: str, samples: np.ndarray, sample_rate: int) -> Path:
    """Write (n,) float `samples` to `out_dir/{stem}.flac`, 16-bit (`.wav` where this
    libsndfile cannot write FLAC), atomically (a `.part` file renamed); returns the path
    relative to `out_dir`. Raises S2TError when neither format can be written."""
    (out_dir / stem).parent.mkdir(parents=True, exist_ok=True)
    for suffix, fmt in ((".flac", "FLAC"), (".wav", "WAV")):
        relative = f"{stem}{suffix}"
        part = out_dir / (relative + ".part")
        try:
            sf.write(part, samples, sample_rate, format=fmt, subtype="PCM_16")
        except (sf.SoundFileError, RuntimeError) as e:
            logger.warning("cannot write %s (%s): trying the next format", relative, e)
            part.unlink(missing_ok=True)
            continue
        part.replace(out_dir / relative)
        return Path(relative)
    raise S2TError(f"could not write {out_dir / stem} as FLAC or WAV")
