"""s2t-stream: streaming speech transcription and translation with Speech2Text models. The
public API is imported on first use, so `import s2t_stream` stays fast and torch-free."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_bundle": "s2t_stream.model.checkpoint",
    "Bundle": "s2t_stream.model.checkpoint",
    "LoadOptions": "s2t_stream.model.checkpoint",
    "DecodingOptions": "s2t_stream.model.config",
    "Transcriber": "s2t_stream.offline.transcriber",
    "TranscribeOptions": "s2t_stream.offline.options",
    "Engine": "s2t_stream.streaming.engine",
    "Stream": "s2t_stream.streaming.stream",
    "StreamOptions": "s2t_stream.streaming.stream",
    "StreamDriver": "s2t_stream.streaming.drive",
    "Partial": "s2t_stream.streaming.events",
    "Final": "s2t_stream.streaming.events",
    "Word": "s2t_stream.streaming.events",
    "Event": "s2t_stream.streaming.events",
    "S2TError": "s2t_stream.errors",
}
__all__ = [
    "Bundle",
    "DecodingOptions",
    "Engine",
    "Event",
    "Final",
    "LoadOptions",
    "Partial",
    "S2TError",
    "Stream",
    "StreamDriver",
    "StreamOptions",
    "TranscribeOptions",
    "Transcriber",
    "Word",
    "load_bundle",
]

if TYPE_CHECKING:
    from s2t_stream.errors import S2TError
    from s2t_stream.model.checkpoint import Bundle, LoadOptions, load_bundle
    from s2t_stream.model.config import DecodingOptions
    from s2t_stream.offline.options import TranscribeOptions
    from s2t_stream.offline.transcriber import Transcriber
    from s2t_stream.streaming.drive import StreamDriver
    from s2t_stream.streaming.engine import Engine
    from s2t_stream.streaming.events import Event, Final, Partial, Word
    from s2t_stream.streaming.stream import Stream, StreamOptions


def __getattr__(name: str) -> Any:
    """PEP 562: the public names, each imported from its module when first used."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 's2t_stream' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
