"""Every error s2t-stream raises on bad input, as `S2TError` subclasses: each message says what
was expected and what arrived, so the command line prints it as one line."""

from __future__ import annotations


class S2TError(Exception):
    """Base class for every error this library raises on bad input."""


class AudioError(S2TError):
    """Audio could not be read, or is empty, too short, or not finite."""


class CheckpointError(S2TError):
    """A model directory or checkpoint file is missing, corrupt, or not a Speech2Text model."""


class TokenizerError(S2TError):
    """Tokenizer files are missing or inconsistent."""


class OptionsError(S2TError, ValueError):
    """An option or an options file (e.g. CMVN statistics) is out of range or unreadable (also a
    ValueError, as Python's own argument errors are)."""


class CaptureError(S2TError):
    """An audio input device cannot be opened or read (PortAudio, PulseAudio)."""


class DeviceLost(CaptureError):
    """The input device went away mid-stream (unplugged, the sound server stopped)."""


class Unauthorized(S2TError):
    """A server refused the connection for its token (HTTP 401 or 403): none was given, or not
    the one it wants."""


class TranslationError(S2TError):
    """Machine translation cannot run: its program or language pair is not installed, or its
    process failed or timed out."""


class MissingExtra(S2TError):
    """A command needs an optional dependency group that is not installed."""

    def __init__(self, extra: str, purpose: str, error: ImportError) -> None:
        super().__init__(
            f"{purpose} needs the '{extra}' extra: pip install 's2t-stream[{extra}]' "
            f"(missing module: {error.name or error})"
        )
        self.extra = extra


class ProtocolError(S2TError):
    """A client's protocol mistake or an exceeded limit: sent to the client as
    `{"type": "error", "code", "message"}`, then the websocket closes with `close_code`
    (RFC 6455; 1008 policy violation unless said otherwise)."""

    def __init__(self, code: str, message: str, close_code: int = 1008) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code

    def to_json(self) -> dict[str, str]:
        return {"type": "error", "code": self.code, "message": self.message}
