"""The REST API's answers in OpenAI's shapes (sans I/O): a `Transcription` as json, text, srt,
vtt or verbose_json; the error object; the model list."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from s2t_stream.io.subtitles import to_srt, to_vtt
from s2t_stream.offline.transcription import TimedText, Transcription
from s2t_stream.streaming.events import Word

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("word", "segment")
ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
# verbose_json names the language (as OpenAI's API does); the models' and Apertium's languages
LANGUAGE_NAMES = {"en": "english", "es": "spanish", "ca": "catalan", "de": "german",
                  "fr": "french", "it": "italian", "nl": "dutch", "pt": "portuguese",
                  "ro": "romanian", "ru": "russian"}  # fmt: skip
MEDIA_TYPES = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "text/plain; charset=utf-8",  # OpenAI's type for SubRip too (there is no registered one)
    "vtt": "text/vtt; charset=utf-8",
}


@dataclass
class ApiError(Exception):  # not frozen: raising sets attributes
    """An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`
    with HTTP `status`; `retry_after_s` adds a `Retry-After` header (503)."""

    status: HTTPStatus
    message: str
    param: str | None = None
    code: str | None = None
    retry_after_s: int | None = None

    def __str__(self) -> str:
        return f"{int(self.status)} {self.message}"

    @property
    def type(self) -> str:
        """OpenAI's error type: the client's fault or the server's."""
        return "server_error" if self.status >= 500 else "invalid_request_error"

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def language_name(code: str) -> str:
    """OpenAI's name for a language ("en" → "english"); the code itself when not known."""
    return LANGUAGE_NAMES.get(code, code)


def compression_ratio(text: str) -> float:
    """UTF-8 bytes ÷ zlib-compressed bytes, as whisper reports it (high: a repetition loop)."""
    data = text.encode()
    return round(len(data) / len(zlib.compress(data)), 3) if data else 0.0


def word_json(word: Word) -> dict[str, Any]:
    """A word with its times, seconds; `probability` when the model gave a confidence."""
    data: dict[str, Any] = {
        "word": word.word,
        "start": round(word.start_s, 3),
        "end": round(word.end_s, 3),
    }
    confidence = getattr(word, "conf", None)
    if confidence is not None:
        data["probability"] = round(float(confidence), 4)
    return data


def segment_json(index: int, segment: TimedText, temperature: float) -> dict[str, Any]:
    """A segment as whisper's verbose_json has it, with the fields this model can tell: `seek`
    is its start in 10 ms frames; `avg_logprob` and `no_speech_prob` are left out (the search
    does not keep them, and voice activity detection chose the segment)."""
    return {
        "id": index,
        "seek": round(segment.start_s * 100),
        "start": round(segment.start_s, 3),
        "end": round(segment.end_s, 3),
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": temperature,
        "compression_ratio": compression_ratio(segment.text),
    }


@dataclass(frozen=True)
class Rendering:
    """How to answer: the format, the timestamps verbose_json carries, the task and language."""

    form: ResponseFormat = "json"
    granularities: tuple[str, ...] = ()
    task: Literal["transcribe", "translate"] = "transcribe"
    language: str = "en"
    temperature: float = 0.0


def render(result: Transcription, how: Rendering) -> tuple[str | dict[str, Any], str]:
    """The answer's body (a JSON value, or text) and its media type."""
    media = MEDIA_TYPES[how.form]
    segments: Sequence[TimedText] = result.segments
    if how.form == "json":
        return {"text": result.text}, media
    if how.form == "text":
        return result.text + "\n", media
    if how.form == "srt":
        return to_srt(segments), media
    if how.form == "vtt":
        return to_vtt(segments), media
    body: dict[str, Any] = {
        "task": how.task,
        "language": language_name(how.language),
        "duration": round(result.duration_s, 3),
        "text": result.text,
    }
    if "segment" in how.granularities or not how.granularities:
        body["segments"] = [segment_json(i, s, how.temperature) for i, s in enumerate(segments)]
    if "word" in how.granularities:
        body["words"] = [word_json(w) for s in segments for w in s.words]
    return body, media


def model_list(names: Sequence[str], created_s: int) -> dict[str, Any]:
    """`GET /v1/models`: the loaded models in OpenAI's list shape."""
    return {"object": "list", "data": [model_json(name, created_s) for name in names]}


def model_json(name: str, created_s: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created_s, "owned_by": "s2t-stream"}
