"""The websocket protocols (docs/protocol.md), sans I/O, both halves: messages ⇄ typed values,
errors as `ProtocolError` (stable code, human message, websocket close code)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from s2t_stream.errors import ProtocolError
from s2t_stream.model.audio import PCM16_SCALE
from s2t_stream.streaming.events import Event, Final, Partial, event_from_json

PROTOCOL_VERSION = 1
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
ENCODINGS: dict[str, np.dtype[Any]] = {"pcm_s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}

# websocket close codes (RFC 6455)
NORMAL = 1000
GOING_AWAY = 1001
UNSUPPORTED = 1003
POLICY = 1008
TOO_BIG = 1009
INTERNAL = 1011
TRY_AGAIN_LATER = 1013


# --- native protocol, server half ---------------------------------------------------------------
# A client sends a JSON `start`, binary audio, JSON `finalize` / `keepalive` / `end`; the
# server answers `ready`, `partial`, `final`, `error`, `end`.


@dataclass(frozen=True)
class Start:
    sample_rate: int = 16000
    encoding: Literal["pcm_s16le", "f32le"] = "pcm_s16le"
    channels: int = 1
    task: Literal["transcribe", "translate"] = "transcribe"
    tgt_lang: str | None = None
    partials: bool = True
    mt: str | None = None  # translate finals with this engine into tgt_lang (the cascade)


@dataclass(frozen=True)
class Control:
    """`finalize` (end the current segment now), `keepalive`, or `end` (of the audio)."""

    kind: Literal["finalize", "keepalive", "end"]


ClientMessage = Start | Control

START_FIELDS: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "sample_rate": (int,),
    "encoding": (str,),
    "channels": (int,),
    "task": (str,),
    "tgt_lang": (str, type(None)),
    "partials": (bool,),
    "mt": (str, type(None)),
}


def _json_object(text: str | bytes) -> dict[str, Any]:
    """A JSON object, or ProtocolError `bad_json` — also for what the parser refuses beyond the
    grammar: integers past Python's digit limit (ValueError), nesting past the recursion limit
    (RecursionError), bytes that are not UTF-8."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        reason = str(error) if isinstance(error, json.JSONDecodeError) else type(error).__name__
        message = f"expected a JSON object, got invalid JSON ({reason[:200]})"
        raise ProtocolError("bad_json", message) from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_json", f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_text(text: str) -> ClientMessage:
    """A native protocol text message."""
    data = _json_object(text)
    kind = data.get("type")
    if kind in ("finalize", "keepalive", "end"):
        extra = sorted(set(data) - {"type"})
        if extra:
            raise ProtocolError("unknown_field", f"'{kind}' takes no fields, got {extra}")
        return Control(kind)
    if kind != "start":
        raise ProtocolError(
            "unknown_type",
            f"expected type 'start', 'finalize', 'keepalive' or 'end', got {kind!r}",
        )
    unknown = sorted(set(data) - set(START_FIELDS))
    if unknown:
        raise ProtocolError(
            "unknown_field", f"unknown field(s) {unknown}; known: {sorted(START_FIELDS)}"
        )
    for name, types in START_FIELDS.items():
        value = data.get(name)
        if name in data and (
            not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        ):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ProtocolError(
                "bad_field", f"field {name!r} must be {expected}, got {json.dumps(value)}"
            )
    start = Start(**{k: v for k, v in data.items() if k != "type"})
    check_start(start)
    return start


def check_start(start: Start) -> None:
    if start.sample_rate not in SAMPLE_RATES:
        raise ProtocolError(
            "bad_sample_rate",
            f"sample_rate must be one of {list(SAMPLE_RATES)}, got {start.sample_rate}",
            UNSUPPORTED,
        )
    if start.encoding not in ENCODINGS:
        raise ProtocolError(
            "bad_field", f"encoding must be 'pcm_s16le' or 'f32le', got {start.encoding!r}"
        )
    if start.channels not in (1, 2):
        raise ProtocolError("bad_field", f"channels must be 1 or 2, got {start.channels}")
    if start.task not in ("transcribe", "translate"):
        raise ProtocolError(
            "bad_field", f"task must be 'transcribe' or 'translate', got {start.task!r}"
        )
    if start.task == "translate" and not start.tgt_lang:
        raise ProtocolError("bad_field", "task 'translate' needs tgt_lang")
    if start.mt is not None and not start.tgt_lang:
        raise ProtocolError(
            "bad_field", f"mt {start.mt!r} needs tgt_lang, the language to translate into"
        )


def decode_audio(data: bytes, start: Start) -> np.ndarray:
    """Binary frame → mono float32 in [-1, 1] at `start.sample_rate`, shape (n,).

    f32le samples outside [-1, 1] are clipped to it (the rule a sound card applies on output,
    and the Web Audio API's range): a client's wrong scale gives clipped audio, never an
    overflow inside the model. Raises ProtocolError `bad_audio` for a length that is not a
    whole number of sample frames and for NaN or inf samples."""
    dtype = ENCODINGS[start.encoding]
    frame = dtype.itemsize * start.channels
    if len(data) % frame:
        raise ProtocolError(
            "bad_audio",
            f"{start.encoding} × {start.channels} channel(s) needs a multiple of {frame} bytes "
            f"per message, got {len(data)}",
            UNSUPPORTED,
        )
    samples = np.frombuffer(data, dtype=dtype).reshape(-1, start.channels)
    if start.encoding == "pcm_s16le":
        audio = samples.astype(np.float32) / PCM16_SCALE
    else:
        audio = samples.astype(np.float32)
        if not np.isfinite(audio).all():
            raise ProtocolError("bad_audio", "f32le audio holds NaN or inf samples", UNSUPPORTED)
        np.clip(audio, -1.0, 1.0, out=audio)
    return audio.mean(axis=1) if start.channels > 1 else audio[:, 0]


def ready_message(session: str, model: str, start: Start, model_rate: int) -> dict[str, Any]:
    return {
        "type": "ready",
        "session": session,
        "protocol": PROTOCOL_VERSION,
        "model": model,
        "sample_rate": start.sample_rate,
        "model_sample_rate": model_rate,
        "task": start.task,
        "tgt_lang": start.tgt_lang,
        **({"mt": start.mt} if start.mt is not None else {}),
    }


def draining_message() -> dict[str, Any]:
    return {"type": "draining"}


def end_message(audio_s: float) -> dict[str, Any]:
    return {"type": "end", "audio_s": round(audio_s, 3)}


# --- native protocol, client half ---------------------------------------------------------------


def start_message(start: Start) -> str:
    """The `start` message a client sends (validated as the server will)."""
    check_start(start)
    fields = {k: v for k, v in asdict(start).items() if v != getattr(Start(), k)}
    return json.dumps({"type": "start", **fields})


def control_message(kind: Literal["finalize", "keepalive", "end"]) -> str:
    return json.dumps({"type": kind})


@dataclass(frozen=True)
class Ready:
    """The server accepted a `start`: the session id, model and rates it will use."""

    session: str
    model: str
    sample_rate: int
    model_sample_rate: int
    task: str
    tgt_lang: str | None
    protocol: int = PROTOCOL_VERSION
    mt: str | None = None  # the engine translating the finals, when the client asked for one


@dataclass(frozen=True)
class End:
    """Every final was sent; the server closes the session."""

    audio_s: float


@dataclass(frozen=True)
class Draining:
    """The server is shutting down: it ends this session's input now, sends the finals of what
    it has, then `end`. Finals after this message may be cut mid-utterance; a client that
    resumes in a new session re-sends the audio since the last final before it."""


@dataclass(frozen=True)
class ServerError:
    """The server refused something and closes the session (`code` as in docs/protocol.md)."""

    code: str
    message: str


ServerMessage = Ready | Partial | Final | Draining | End | ServerError


def parse_server_message(text: str | bytes) -> ServerMessage:
    """A server's text message → its typed value. Raises ProtocolError (`bad_message`) for
    anything that is not a message of this protocol."""
    if isinstance(text, bytes):
        raise ProtocolError("bad_message", "the server sent a binary message")
    data = _json_object(text)
    kind = data.get("type")
    try:
        if kind == "ready":
            known = {f.name for f in fields(Ready)}  # newer servers may add fields
            return Ready(**{k: v for k, v in data.items() if k in known})
        if kind in ("partial", "final"):
            return event_from_json(data)
        if kind == "end":
            return End(float(data["audio_s"]))
        if kind == "draining":
            return Draining()
        if kind == "error":
            return ServerError(str(data["code"]), str(data["message"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ProtocolError("bad_message", f"malformed {kind!r} message: {error}") from None
    raise ProtocolError("bad_message", f"unknown server message type {kind!r}")


# --- Vosk protocol, server half ------------------------------------------------------------------
# vosk-server's clients, unchanged: an optional `{"config": {"sample_rate": N}}`, binary 16-bit
# PCM, `{"eof" : 1}`; exactly one reply per client message.


@dataclass(frozen=True)
class VoskConfig:
    sample_rate: int


@dataclass(frozen=True)
class VoskEof:
    pass


def is_vosk_eof(data: bytes) -> bool:
    """Whether a binary frame is `{"eof" : 1}` sent as bytes (as some clients do) rather than
    audio: a short frame that parses as a JSON object with `eof`."""
    if len(data) > 64 or not data.lstrip().startswith(b"{"):
        return False
    try:
        return isinstance(parse_vosk_text(data), VoskEof)
    except ProtocolError:
        return False


class PcmCarry:
    """16-bit PCM split anywhere: each frame's odd trailing byte waits for the next one (Vosk
    clients read pipes in fixed byte counts, which need not be even)."""

    def __init__(self) -> None:
        self.pending = b""

    def take(self, data: bytes) -> bytes:
        """The whole samples so far, in order; an odd last byte is kept for the next frame."""
        data = self.pending + data
        whole = len(data) - len(data) % 2
        self.pending = data[whole:]
        return data[:whole]


def parse_vosk_text(text: str | bytes) -> VoskConfig | VoskEof:
    """A Vosk control message (text, or the eof some clients send as a binary frame)."""
    data = _json_object(text)
    if "eof" in data:
        return VoskEof()
    config = data.get("config")
    if not isinstance(config, dict):
        raise ProtocolError("bad_json", 'expected {"config": {...}} or {"eof": 1}')
    rate = config.get("sample_rate", 16000)
    if isinstance(rate, float) and rate.is_integer():
        rate = int(rate)  # some clients send 16000.0
    if not isinstance(rate, int) or isinstance(rate, bool) or rate not in SAMPLE_RATES:
        raise ProtocolError(
            "bad_sample_rate",
            f"sample_rate must be one of {list(SAMPLE_RATES)}, got {rate!r}",
            UNSUPPORTED,
        )
    return VoskConfig(rate)


def vosk_result(final: Final) -> dict[str, Any]:
    """Vosk's final result: each word with its confidence `conf` (1.0 where none was computed),
    `start` and `end` in seconds."""
    return {
        "result": [
            {
                "conf": 1.0 if w.conf is None else round(w.conf, 6),
                "start": round(w.start_s, 3),
                "end": round(w.end_s, 3),
                "word": w.word,
            }
            for w in final.words
        ],
        "text": final.text,
    }


class VoskReplies:
    """Turns a session's events into Vosk's one reply per message: a pending final's result
    if there is one, else the current partial text."""

    def __init__(self) -> None:
        self.finals: list[Final] = []
        self.partial = ""

    def add(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Final):
                self.finals.append(event)
                self.partial = ""
            else:
                self.partial = event.text

    def reply(self) -> dict[str, Any]:
        if self.finals:
            return vosk_result(self.finals.pop(0))
        return {"partial": self.partial}

    def last(self) -> dict[str, Any]:
        """The reply to eof: every remaining final, joined."""
        if not self.finals:
            return {"text": "", "result": []}
        finals, self.finals = self.finals, []
        merged = [vosk_result(f) for f in finals]
        return {
            "result": [w for m in merged for w in m["result"]],
            "text": " ".join(m["text"] for m in merged if m["text"]),
        }
