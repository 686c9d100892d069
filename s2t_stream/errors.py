"""Error types raised at the library's edges: each says what was expected and what arrived."""


class S2TError(Exception):
    """Base class for every error this library raises on bad input."""


class AudioError(S2TError):
    """Audio could not be read, or is empty, too short, or not finite."""


class CheckpointError(S2TError):
    """A model directory or checkpoint file is missing, corrupt, or not a Speech2Text model."""


class TokenizerError(S2TError):
    """Tokenizer files are missing or inconsistent."""
