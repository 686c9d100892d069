"""s2t-stream: streaming speech transcription and translation with Speech2Text models."""

__version__ = "0.1.0"
