"""The inputs the window offers (no Qt): the default microphone, each input the sound server
lists (by its description), desktop audio, microphone + desktop audio as two labelled streams,
and a recording replayed in real time; and opening the chosen one as the worker's source(s)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import soundfile

from gui.worker import FileSource, Source
from s2t_stream.errors import AudioError, CaptureError
from s2t_stream.io.capture import InputSource, desktop_source, list_sources, open_source
from s2t_stream.streaming.drive import DEFAULT_LABELS

Kind = Literal["default", "device", "desktop", "both", "file"]
KINDS: tuple[Kind, ...] = ("default", "device", "desktop", "both", "file")
Opened = Source | Mapping[str, Source]  # one source, or label → source


@dataclass(frozen=True)
class InputChoice:
    """One entry of the input picker. `name`: the sound server's source name (`device`) or the
    recording's path (`file`); `labels`: the two streams' labels (`both`: mic, desktop)."""

    kind: Kind
    name: str = ""
    text: str = ""  # what the picker shows
    tip: str = ""  # its tooltip
    labels: tuple[str, str] = DEFAULT_LABELS

    @property
    def key(self) -> str:
        """What the settings remember: `kind:name`."""
        return f"{self.kind}:{self.name}"

    @property
    def labelled(self) -> bool:
        """Two labelled streams (microphone and desktop audio)."""
        return self.kind == "both"


def both(labels: tuple[str, str] = DEFAULT_LABELS) -> InputChoice:
    """The microphone + desktop audio entry, with its two labels."""
    return InputChoice(
        "both",
        text=f"Microphone + desktop audio ({labels[0]} / {labels[1]})",
        tip="two labelled streams: your microphone and what this computer plays (a call)",
        labels=labels,
    )


def input_choices(sources: list[InputSource]) -> list[InputChoice]:
    """The picker's entries: the defaults first, then every listed source once, by its
    description (its name in the tooltip)."""
    choices = [
        InputChoice("default", text="Default microphone", tip="the system's default input"),
        InputChoice("desktop", text="Desktop audio", tip="what this computer plays"),
        both(),
    ]
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            continue
        seen.add(source.name)
        text = f"{source.description or source.name} ({source.kind})"
        choices.append(InputChoice("device", source.name, text, tip=source.name))
    return choices


def file_choice(path: Path) -> InputChoice:
    """The entry of a recording replayed as the input."""
    return InputChoice("file", str(path), f"File: {path.name}", tip=f"{path} (replayed live)")


def choice_from_key(key: str, choices: list[InputChoice]) -> InputChoice:
    """The remembered entry; one that is gone (an unplugged device) comes back by name."""
    for choice in choices:
        if choice.key == key:
            return choice
    kind, _, name = key.partition(":")
    if kind == "file" and name:
        return file_choice(Path(name))
    if kind == "device" and name:
        return InputChoice("device", name, f"{name} (not found now)", tip=name)
    return choices[0]


def available_sources() -> list[InputSource]:
    """What the sound server (or PortAudio) lists; none when neither answers (the reason
    shows when capture starts)."""
    try:
        return list_sources()
    except CaptureError:
        return []


def duration_s(path: Path) -> float:
    """A recording's length in seconds."""
    try:
        return float(soundfile.info(str(path)).duration)
    except (RuntimeError, OSError) as error:  # libsndfile's errors are RuntimeErrors
        raise AudioError(f"cannot read {path}: {error}") from None


def open_input(choice: InputChoice, rate: int) -> Opened:
    """Start capturing `choice` as mono audio at `rate` (in the worker's thread)."""
    if choice.kind == "file":
        return FileSource.from_path(Path(choice.name), rate)
    if choice.kind == "both":
        mic = open_source(None, rate)
        try:
            desktop = open_source(desktop_source(), rate)
        except CaptureError:
            mic.close()
            raise
        return {choice.labels[0]: mic, choice.labels[1]: desktop}
    if choice.kind == "desktop":
        return open_source(desktop_source(), rate)
    return open_source(choice.name or None, rate)


SourceFactory = Callable[[InputChoice, int], Opened]
