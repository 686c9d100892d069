"""JSON files of model directories (configs, vocabularies): read with errors that name the file,
written the way the published checkpoints are (2-space indent, UTF-8, trailing newline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s2t_stream.errors import CheckpointError, S2TError


def read_json(path: Path, error: type[S2TError] = CheckpointError) -> Any:
    """The parsed content of `path`; raises `error` naming the file when it is missing,
    unreadable or not valid JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: could not be read ({e})") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{path}: not valid JSON ({e})") from e


def read_json_object(path: Path, error: type[S2TError] = CheckpointError) -> dict[str, Any]:
    """`read_json` of a file that must hold a JSON object."""
    data = read_json(path, error)
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def write_json(path: Path, data: Any, *, sort_keys: bool = False) -> None:
    path.write_text(
        json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n", encoding="utf-8"
    )
