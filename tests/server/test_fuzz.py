"""Fuzzing the websocket server (issue 21): random and mutated messages of both protocols, drawn
from a fixed seed and sent by real websocket clients over loopback, while control sessions
stream a real sample on the same server.

Every fuzzed connection must end in a way the protocol allows: a JSON error whose code is
documented (docs/protocol.md), then the close code the table gives that code; or a session that
goes on to its normal end. Which of the two each message calls for is decided by a small model
of the documented protocols (`native_expect`, `vosk_expect`), written from docs/protocol.md and
not from the server's code; where the documents leave a choice (a `tgt_lang` this model may not
know, a Vosk config's float rate or fields vosk-server ignores) either answer is accepted, and
the websockets layer's own refusals (a frame past its size limit, a text frame that is not
UTF-8) may close with their RFC 6455 codes, the first even before earlier messages are answered.
Nothing
may hang (every receive has a timeout), be an `internal` error or leave an error in the server's
log; finals come in the audio's order, numbered 0, 1, 2, …; a Vosk client gets one reply per
message; the control sessions get exactly the finals they get on a quiet server. Afterwards the
server takes a new session, answers /healthz, counts no open session and holds no connection."""

from __future__ import annotations

import contextlib
import copy
import gc
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeAlias, TypeVar

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import ServerError, parse_server_message
from s2t_stream.model.audio import resample, to_pcm16
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.server.options import Limits
from s2t_stream.streaming.events import Final
from s2t_stream.streaming.policy import PolicyOptions
from tests.helpers import BUNDLED_MODEL, Running, running

if not (BUNDLED_MODEL / "config.json").is_file():
    pytest.skip(f"no bundled model at {BUNDLED_MODEL}", allow_module_level=True)

pytestmark = [pytest.mark.network, pytest.mark.model]

SEED = 21  # the number; each protocol draws from its own stream of it
CASES = 120  # fuzzed connections per protocol
FUZZERS = 4  # fuzzed connections at a time
RECV_TIMEOUT_S = 20.0  # the longest any answer may take (a hang fails the case, not the run)
LIMIT = 1 << 18  # max_message_bytes: room for a 100,000-deep JSON array (200 kB) below it

# docs/protocol.md, not the server's code: the oracle is the documentation.
RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
CLOSE_CODES = {
    "bad_json": 1008,
    "unknown_type": 1008,
    "unknown_field": 1008,
    "bad_field": 1008,
    "bad_sample_rate": 1003,
    "bad_audio": 1003,
    "not_started": 1008,
    "already_started": 1008,
    "too_large": 1009,
    "idle_timeout": 1000,
    "session_too_long": 1008,
    "not_reading": 1008,
    "shutting_down": 1013,
    "internal": 1011,
}
START_TYPES: dict[str, Callable[[Any], bool]] = {
    "type": lambda v: isinstance(v, str),
    "sample_rate": lambda v: type(v) is int,
    "encoding": lambda v: isinstance(v, str),
    "channels": lambda v: type(v) is int,
    "task": lambda v: isinstance(v, str),
    "tgt_lang": lambda v: v is None or isinstance(v, str),
    "partials": lambda v: type(v) is bool,
}
CONTROLS = ("finalize", "keepalive", "end")
TEXT_CODES = frozenset({"bad_json", "unknown_type", "unknown_field", "bad_field",
                        "bad_sample_rate", "not_started", "already_started"})  # fmt: skip
VOSK_TEXT_CODES = frozenset({"bad_json", "unknown_type", "unknown_field", "bad_field"})
VOSK_RATE_CODES = frozenset({"bad_sample_rate", "bad_field"})
ROUNDING_S = 0.011  # times are sent rounded; fbank frames are 10 ms
NOT_UTF8 = 1007  # RFC 6455: the websockets layer refuses a text frame that is not UTF-8
TOO_BIG = 1009  # RFC 6455: a frame past websockets' own size limit, refused before any handler

T = TypeVar("T")
CLIENTS = logging.getLogger("tests.fuzz.clients")  # the clients' log (the server's is checked)


# --- what a fuzzed client does ----------------------------------------------------------------


class Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


UNPARSED = Marker("UNPARSED")  # the value of a text is found by parsing it
INVALID = Marker("INVALID")  # not JSON
UNREADABLE = Marker("UNREADABLE")  # JSON that Python's parser refuses (digits, depth)


@dataclass(frozen=True)
class Text:
    """A text message, and the JSON value it holds when the generator knows it (values Python
    cannot parse back, such as 5,000-digit integers and 100,000-deep arrays, are built aside)."""

    raw: str
    value: Any = field(default=UNPARSED, repr=False)


@dataclass(frozen=True)
class NotUtf8:
    """Bytes that are not UTF-8, sent in a text frame."""

    data: bytes


@dataclass(frozen=True)
class Hangup:
    """The client goes away: `drop` (TCP closed, no close frame), `half` (half a frame, then
    dropped) or `close` (a close handshake in mid-session)."""

    how: str = "drop"


Action: TypeAlias = Text | bytes | NotUtf8 | Hangup


@dataclass(frozen=True)
class Case:
    name: str
    actions: tuple[Action, ...]
    pipelined: bool = True  # Vosk: send everything, then read (else one reply per message)


def value_of(text: Text) -> Any:
    if text.value is not UNPARSED:
        return text.value
    try:
        return json.loads(text.raw)
    except json.JSONDecodeError:
        return INVALID
    except (ValueError, RecursionError):
        return UNREADABLE


def describe(action: Action) -> str:
    if isinstance(action, Text):
        raw = action.raw
        return repr(raw) if len(raw) <= 100 else f"{raw[:60]!r}…[{len(raw)} chars]…{raw[-12:]!r}"
    if isinstance(action, bytes):
        return f"<binary {len(action)} B {action[:8].hex()}{'…' if len(action) > 8 else ''}>"
    if isinstance(action, NotUtf8):
        return f"<text frame of non-UTF-8 bytes {action.data.hex()}>"
    return f"<hang up: {action.how}>"


def beyond_parsers(raw: str) -> bool:
    """Whether `raw` holds an integer of more than 4,300 digits or nests deeper than 1,000
    (Python's recursion limit): JSON the server refuses as `bad_json`, as documented."""
    if len(raw) < 2000:
        return False
    if re.search(r"\d{4301}", raw):
        return True
    depth = deepest = 0
    quoted = escaped = False
    for char in raw:
        if escaped:
            escaped = False
        elif quoted:
            escaped, quoted = char == "\\", char != '"'
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest > 1000


def size_of(action: Text | bytes) -> int:
    return len(action.raw.encode()) if isinstance(action, Text) else len(action)


# --- the documented protocols, as an oracle -------------------------------------------------------


@dataclass
class Verdict:
    """What the protocol says of one message: `refused` (it must get an error with one of
    `codes`), else it is taken, though `codes` may still be refused where the documents leave
    the choice; `start` is an accepted start, `ends` an accepted end of input."""

    codes: set[str] = field(default_factory=set)
    refused: bool = False
    start: dict[str, Any] | None = None
    ends: bool = False


@dataclass
class Expect:
    """How a native conversation may end: an error with one of `codes` (then its close code);
    a bare close with one of `bare` (the websockets layer's own refusals); a normal end if
    `works`; nothing to check if the client hangs up."""

    codes: set[str] = field(default_factory=set)
    works: bool = False
    bare: set[int] = field(default_factory=set)
    hangup: bool = False


def native_text(value: Any, start: dict[str, Any] | None) -> Verdict:
    """A native text message's verdict, the session having accepted `start` (None: not yet)."""
    if value is UNREADABLE:
        return Verdict(set(TEXT_CODES), True)
    if not isinstance(value, dict):
        return Verdict({"bad_json"}, True)
    kind = value.get("type")
    if kind in CONTROLS:
        codes = {"unknown_field"} if set(value) - {"type"} else set()
        if start is None and kind != "keepalive":
            codes.add("not_started")
        return Verdict(codes, bool(codes), ends=kind == "end")
    if kind != "start":
        return Verdict({"unknown_type"}, True)
    codes, maybe = set(), set()
    if set(value) - set(START_TYPES):
        codes.add("unknown_field")
    typed = {k: v for k, v in value.items() if k in START_TYPES and START_TYPES[k](v)}
    if len(typed) < len(set(value) & set(START_TYPES)):
        codes.add("bad_field")
    if typed.get("sample_rate", 16000) not in RATES:
        codes.add("bad_sample_rate")
    if typed.get("encoding", "pcm_s16le") not in ("pcm_s16le", "f32le"):
        codes.add("bad_field")
    if typed.get("channels", 1) not in (1, 2):
        codes.add("bad_field")
    if typed.get("task", "transcribe") not in ("transcribe", "translate"):
        codes.add("bad_field")
    if typed.get("task") == "translate" and not typed.get("tgt_lang"):
        codes.add("bad_field")
    if typed.get("tgt_lang") is not None:
        maybe.add("bad_field")  # a language this English model may not have
    if start is not None:
        codes.add("already_started")
    if codes:
        return Verdict(codes | maybe, True)
    return Verdict(maybe, start=value)


def native_audio(data: bytes, start: dict[str, Any]) -> Verdict:
    f32 = start.get("encoding") == "f32le"
    if len(data) % ((4 if f32 else 2) * start.get("channels", 1)):
        return Verdict({"bad_audio"}, True)
    if f32:
        samples = np.frombuffer(data, "<f4")
        if not np.isfinite(samples).all():
            return Verdict({"bad_audio"}, True)
    return Verdict()  # finite samples beyond [-1, 1] are clipped


def transport(action: Action) -> tuple[frozenset[str], frozenset[int]] | None:
    """The refusal of a frame the websockets layer refuses itself (codes, bare close codes), or
    None. A frame over the size limit may be refused before the messages sent ahead of it are
    answered (from its header: the layer reads ahead); a text frame that is not UTF-8 is refused
    in its turn (tests/server/test_hostile.py)."""
    if isinstance(action, NotUtf8):
        return frozenset({"bad_json"}), frozenset({NOT_UTF8})
    if isinstance(action, Text | bytes) and size_of(action) > LIMIT:
        return frozenset({"too_large"}), frozenset({TOO_BIG})
    return None


def native_expect(actions: Sequence[Action]) -> Expect:
    """How a native conversation of `actions` may end."""
    expect = Expect()
    start: dict[str, Any] | None = None
    rest: Sequence[Action] = ()
    for i, action in enumerate(actions):
        rest = actions[i + 1 :]
        if isinstance(action, Hangup):
            return Expect(hangup=True)
        if refusal := transport(action):
            expect.codes |= refusal[0]
            expect.bare |= refusal[1]
            break
        if isinstance(action, bytes):
            verdict = (
                Verdict({"not_started"}, True) if start is None else native_audio(action, start)
            )
        else:
            assert isinstance(action, Text)  # not NotUtf8: the transport refuses that
            if beyond_parsers(action.raw):  # documented: bad_json
                verdict = Verdict({"bad_json"}, True)
            else:
                verdict = native_text(value_of(action), start)
        expect.codes |= verdict.codes
        if verdict.refused:
            break
        start = verdict.start or start
        if verdict.ends:  # what follows `end` is never read
            expect.works = True
            break
    else:
        expect.works = True
    for later in rest:
        if refusal := transport(later):
            expect.codes |= refusal[0]
            expect.bare |= refusal[1]
    return expect


@dataclass
class VoskExpect:
    """How a Vosk conversation may end: after `replies` replies (the last one eof's), a close
    1000 if `clean`; or an error (or a bare close) at one of the `exits`, each `(replies before
    it, codes, bare close codes)`. `answered[i]`: whether action i gets an answer of its own."""

    replies: int = 0
    clean: bool = False
    exits: list[tuple[int, frozenset[str], frozenset[int]]] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)
    hangup: bool = False


def vosk_text(value: Any, audio: bool) -> tuple[str, frozenset[str]]:
    """A Vosk text message's kind ("eof", "config", "refused"; "config" may still be refused
    with the codes given) after `audio` was or was not sent."""
    if not isinstance(value, dict):
        return "refused", VOSK_TEXT_CODES
    if "eof" in value:
        return "eof", frozenset()
    config = value.get("config")
    if not isinstance(config, dict):
        return "refused", VOSK_TEXT_CODES
    codes: set[str] = set()
    maybe: set[str] = set()
    rate = config.get("sample_rate", 16000)
    if type(rate) is float and rate in RATES:
        maybe |= VOSK_RATE_CODES  # 16000.0: some clients send it, the documents are silent
    elif type(rate) is not int or rate not in RATES:
        codes |= VOSK_RATE_CODES
    if audio:
        codes.add("already_started")
    if set(value) != {"config"} or set(config) - {"sample_rate"}:
        maybe |= {"unknown_field", "bad_field"}  # vosk-server ignores what it does not use
    if codes:
        return "refused", frozenset(codes | maybe)
    return "config", frozenset(maybe)


def binary_eof(data: bytes) -> bool:
    """Whether a binary message is a Vosk eof, as some clients send it (documented)."""
    if len(data) > 1000 or not data.lstrip().startswith(b"{"):
        return False
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and "eof" in value


def vosk_expect(actions: Sequence[Action]) -> VoskExpect:
    """How a Vosk conversation of `actions` may end (see VoskExpect)."""
    expect = VoskExpect()
    audio = False
    rest: Sequence[Action] = ()
    for i, action in enumerate(actions):
        rest = actions[i + 1 :]
        if isinstance(action, Hangup):
            expect.hangup = True
            break
        if refusal := transport(action):
            expect.exits.append((expect.replies, *refusal))
            expect.answered.append(True)
            break
        if isinstance(action, bytes):  # 16-bit PCM split anywhere: every frame is audio
            expect.replies += 1
            expect.answered.append(True)
            if binary_eof(action):  # but for `{"eof" : 1}` sent as a binary message
                expect.clean = True
                break
            audio = True
            continue
        assert isinstance(action, Text)  # not NotUtf8: the transport refuses that
        if beyond_parsers(action.raw):  # documented: bad_json
            kind, codes = "refused", frozenset({"bad_json"})
        else:
            kind, codes = vosk_text(value_of(action), audio)
        if codes:
            expect.exits.append((expect.replies, codes, frozenset()))
        expect.answered.append(kind != "config")
        if kind == "refused":
            break
        if kind == "eof":
            expect.replies += 1
            expect.clean = True
            break
    for later in rest:  # sent by a pipelining client
        if refusal := transport(later):
            expect.exits.append((expect.replies, *refusal))
    return expect


# --- fuzzed messages ----------------------------------------------------------------------------

# code points for random text (no surrogates: they cannot be UTF-8)
RANGES = ((0x20, 0x7F), (0x00, 0x20), (0xA0, 0x800), (0x800, 0xD800), (0xE000, 0x10000),
          (0x10000, 0x110000))  # fmt: skip
# random text in the protocols' own words, to get past the JSON parser more often
TOKENS = (*'{}[]:," \n', '"type"', '"start"', '"end"', '"finalize"', '"keepalive"',
          '"sample_rate"', '"encoding"', '"f32le"', '"config"', '"eof"', "16000", "1", "-1",
          "1e999", "null", "true", "NaN", '"\\u0000"', '"\\ud800"')  # fmt: skip
# f32le samples beyond [-1, 1], and odd ones inside it
FLOATS = (float("nan"), float("inf"), float("-inf"), 3.4e38, -3.4e38, 3.4028235e38, 1e30,
          -1e10, 1.0000001, -1.5, 2.0, 1e-45, -0.0)  # fmt: skip
END = Text('{"type": "end"}')
EOF = Text('{"eof" : 1}')


def nested(depth: int, kind: str) -> tuple[str, Any]:
    """`depth`-deep JSON (arrays or objects) and its value, built without recursion."""
    value: Any = [] if kind == "[" else 1
    for _ in range(depth - 1 if kind == "[" else depth):
        value = [value] if kind == "[" else {"a": value}
    if kind == "[":
        return "[" * depth + "]" * depth, value
    return '{"a":' * depth + "1" + "}" * depth, value


def obj(*members: tuple[str, str, Any]) -> Text:
    """A JSON object from (key, raw JSON, value) members (raw: values json.dumps cannot make)."""
    raw = "{" + ", ".join(f"{json.dumps(k)}: {r}" for k, r, _ in members) + "}"
    return Text(raw, {k: v for k, _, v in members})


def pieces(data: bytes, size: int = 1 << 16) -> list[bytes]:
    """`data` in messages of `size` bytes (a multiple of every frame size)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def plain(value: dict[str, Any]) -> Text:
    return Text(json.dumps(value), value)


class Draw:
    """Every random choice of one protocol's cases, from one seeded generator."""

    def __init__(self, seed: Sequence[int], speech: np.ndarray) -> None:
        self.rng = np.random.default_rng(list(seed))
        self.speech = speech  # 16 kHz, other than the control's sample

    def integer(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options))]

    def length(self) -> int:
        """A binary frame's length: 0, tiny, odd, small, larger, or at the size limit."""
        r = self.rng.random()
        if r < 0.1:
            return 0
        if r < 0.2:
            return self.integer(1, 4)
        if r < 0.45:
            return 2 * self.integer(0, 200) + 1
        if r < 0.85:
            return self.integer(4, 6400)
        if r < 0.96:
            return self.integer(6400, 32000)
        return LIMIT + self.integer(-3, 3)

    def junk(self, size: int | None = None) -> bytes:
        return self.rng.bytes(self.length() if size is None else size)

    def text(self) -> str:
        if self.chance(0.5):
            return "".join(self.pick(TOKENS) for _ in range(self.integer(0, 30)))
        return "".join(chr(self.integer(*self.pick(RANGES))) for _ in range(self.integer(0, 200)))

    def digits(self) -> tuple[str, Any]:
        n = self.pick((4301, 5000, 20000))
        sign = self.pick(("", "-"))
        return sign + "1" + "0" * (n - 1), (-1 if sign else 1) * 10 ** (n - 1)

    def deep(self) -> tuple[str, Any]:
        kind = self.pick("[{")
        # not near 1,000, Python's recursion limit, where the oracle and the server may differ
        depths = (2, 100, 500, 10_000, 100_000) if kind == "[" else (2, 500, 40_000)
        return nested(self.pick(depths), kind)

    def weird(self) -> tuple[str, Any]:
        """A JSON value of a wrong type, huge, deep, or odd, as (raw JSON, value)."""
        fixed: tuple[tuple[str, Any], ...] = (
            ("null", None), ("true", True), ("false", False), ("0", 0), ("-1", -1),
            ("16000.0", 16000.0), ('"16000"', "16000"), ('""', ""), ("[]", []), ("{}", {}),
            ("[16000]", [16000]), ('{"sample_rate": 16000}', {"sample_rate": 16000}),
            ("1e400", float("inf")), ("-1e400", float("-inf")), ("NaN", float("nan")),
            ("Infinity", float("inf")), ("1.7976931348623157e308", 1.7976931348623157e308),
            ("5e-324", 5e-324), (str(2**63), 2**63), (str(-(2**63) - 1), -(2**63) - 1),
            (str(10**30), 10**30), ('"\\ud800"', "\ud800"), ('"\\u0000"', "\x00"),
        )  # fmt: skip
        r = self.integer(0, len(fixed) + 3)
        if r < len(fixed):
            return fixed[r]
        if r == len(fixed):
            return self.digits()
        if r == len(fixed) + 1:
            return self.deep()
        text = self.text()
        return json.dumps(text), text

    def key(self) -> str:
        return self.pick(("colour", "", "Type", "sampleRate", "type ", "\x00", "\ud800", "é"))

    def truncated(self, text: Text) -> Text:
        return Text(text.raw[: self.integer(0, len(text.raw))])

    def flipped(self, text: Text) -> Text | NotUtf8:
        data = bytearray(text.raw.encode())
        data[self.integer(0, len(data))] ^= self.pick(
            (1 << self.integer(0, 8), self.integer(1, 256))
        )
        try:
            return Text(data.decode())
        except UnicodeDecodeError:
            return Text(data.decode(errors="replace")) if self.chance(0.8) else NotUtf8(bytes(data))

    def not_utf8(self) -> NotUtf8:
        head = self.pick((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"))
        return NotUtf8(head + self.text().encode()[:40])

    def mutated(self, text: Text) -> Text | NotUtf8:
        return self.truncated(text) if self.chance(0.5) else self.flipped(text)

    def samples(self, seconds: float) -> np.ndarray:
        n = max(1, round(seconds * 16000))
        at = self.integer(0, len(self.speech) - n)
        return self.speech[at : at + n]

    def chunks(self, data: bytes, frame: int, pieces: int) -> list[bytes]:
        """`data` cut at `pieces - 1` random multiples of `frame` (empty pieces too)."""
        cuts = sorted(frame * self.integer(0, len(data) // frame + 1) for _ in range(pieces - 1))
        edges = [0, *cuts, len(data)]
        return [data[a:b] for a, b in itertools.pairwise(edges)]

    def hangup(self) -> Hangup:
        return Hangup(self.pick(("drop", "drop", "half", "close")))


class NativeDraw(Draw):
    """Native protocol cases (docs/protocol.md)."""

    FAMILIES = (
        "random_binary", "random_text", "wrong_json", "huge_numbers", "deep_nesting",
        "mutated_messages", "wrong_order", "f32_extremes", "sample_rates", "segments",
        "hangups", "too_large", "random_mix",
    )  # fmt: skip

    def cases(self, count: int) -> list[Case]:
        names = [self.pick(self.FAMILIES) for _ in range(count)]
        return [Case(name, tuple(getattr(self, name)())) for name in names]

    # --- valid parts

    def start(self, **fixed: Any) -> dict[str, Any]:
        start: dict[str, Any] = {"type": "start"}
        if self.chance(0.7):
            start["sample_rate"] = self.pick(RATES)
        if self.chance(0.4):
            start["encoding"] = self.pick(("pcm_s16le", "f32le"))
        if self.chance(0.3):
            start["channels"] = self.pick((1, 2))
        for name, value in (("partials", self.chance(0.5)), ("task", "transcribe")):
            if self.chance(0.3):
                start[name] = value
        return start | fixed

    def encode(self, samples: np.ndarray, start: dict[str, Any]) -> np.ndarray:
        """16 kHz samples at `start`'s rate and channels (interleaved), as floats."""
        rate = start.get("sample_rate", 16000)
        audio = resample(samples, 16000, rate) if rate != 16000 else samples
        return np.repeat(audio, start.get("channels", 1))

    def pack(self, audio: np.ndarray, start: dict[str, Any]) -> bytes:
        if start.get("encoding") == "f32le":
            return np.asarray(audio, "<f4").tobytes()
        return to_pcm16(audio)

    def frame(self, start: dict[str, Any]) -> int:
        return (4 if start.get("encoding") == "f32le" else 2) * start.get("channels", 1)

    def audio(self, start: dict[str, Any], seconds: float | None = None) -> list[bytes]:
        """0.05–0.6 s of speech in `start`'s format, in 1–4 frame-aligned pieces."""
        samples = self.samples(seconds or 0.05 + 0.55 * float(self.rng.random()))
        data = self.pack(self.encode(samples, start), start)
        return self.chunks(data, self.frame(start), self.integer(1, 5))

    def control(self) -> Text:
        return plain({"type": self.pick(("finalize", "keepalive"))})

    def session(self, start: dict[str, Any], *inserted: Action) -> list[Action]:
        """A valid session of `start`, with `inserted` at one random place after the start."""
        body: list[Action] = [*self.audio(start)]
        if self.chance(0.5):
            body += [self.control(), *self.audio(start)]
        at = self.integer(0, len(body) + 1)
        return [plain(start), *body[:at], *inserted, *body[at:], END]

    # --- families

    def random_binary(self) -> list[Action]:
        frames = [self.junk() for _ in range(self.integer(1, 5))]
        if self.chance(0.2):
            return [*frames, END]  # before start
        return [plain(self.start()), *frames, END]

    def random_text(self) -> list[Action]:
        text = Text(self.text()) if self.chance(0.85) else self.not_utf8()
        return self.session(self.start(), text) if self.chance(0.7) else [text, END]

    def wrong_json(self) -> list[Action]:
        start = self.start()
        r = self.integer(0, 5)
        if r == 0:  # a field of the wrong type (or an odd value)
            name = self.pick(list(START_TYPES))
            raw, value = self.weird()
            members = [(k, json.dumps(v), v) for k, v in start.items() if k != name]
            return [obj(*members, (name, raw, value)), END]
        if r == 1:  # an unknown field
            raw, value = self.weird()
            members = [(k, json.dumps(v), v) for k, v in start.items()]
            return [obj(*members, (self.key(), raw, value)), END]
        if r == 2:  # a control with a field
            raw, value = self.weird()
            kind = self.pick(CONTROLS)
            return self.session(
                start, obj(("type", json.dumps(kind), kind), (self.key(), raw, value))
            )
        if r == 3:  # a value that is not an object
            raw, value = self.pick(
                (("[]", []), ('"start"', "start"), ("42", 42), ("null", None), ("true", True),
                 ('[{"type": "start"}]', [{"type": "start"}]),
                 ('"{\\"type\\": \\"start\\"}"', '{"type": "start"}'))
            )  # fmt: skip
            text = Text(raw, value)
            return self.session(start, text) if self.chance(0.5) else [text, END]
        raw, value = self.weird()  # a weird type field
        return self.session(start, obj(("type", raw, value)))

    def huge_numbers(self) -> list[Action]:
        name = self.pick(("sample_rate", "channels"))
        raw, value = self.pick(
            (("1e400", float("inf")), ("-1e400", float("-inf")), ("1e308", 1e308),
             (str(2**63), 2**63), (str(2**64 + 16000), 2**64 + 16000), (str(-(10**30)), -(10**30)),
             self.digits())
        )  # fmt: skip
        start = self.start()
        members = [(k, json.dumps(v), v) for k, v in start.items() if k != name]
        return [obj(*members, (name, raw, value)), *self.audio(start), END]

    def deep_nesting(self) -> list[Action]:
        raw, value = self.deep()
        start = self.start()
        if self.chance(0.4):
            return self.session(start, Text(raw, value))
        if self.chance(0.5):
            name = self.pick(list(START_TYPES))
            members = [(k, json.dumps(v), v) for k, v in start.items() if k != name]
            return [obj(*members, (name, raw, value)), END]
        return self.session(start, obj(("type", '"keepalive"', "keepalive"), ("x", raw, value)))

    def mutated_messages(self) -> list[Action]:
        start = self.start()
        actions = self.session(start)
        texts = [i for i, a in enumerate(actions) if isinstance(a, Text)]
        i = self.pick(texts)
        victim = actions[i]
        assert isinstance(victim, Text)
        actions[i] = self.mutated(victim)
        if i == len(actions) - 1:
            actions.append(END)  # the end was mutated: a real one after it
        return actions

    def wrong_order(self) -> list[Action]:
        start = self.start()
        s = plain(start)
        a = self.audio(start)
        orders: list[list[Action]] = [
            [*a, s, *a, END],  # audio before start
            [plain({"type": "finalize"}), s, END],
            [END],  # end before start
            [plain({"type": "keepalive"}), plain({"type": "keepalive"}), s, *a, END],
            [s, plain(self.start()), *a, END],  # start twice
            [s, *a, plain(self.start()), END],
            [s, *a, END, *a, s, plain({"type": "finalize"}), Text(self.text()), END],
            [s, plain({"type": "finalize"}), plain({"type": "finalize"}), END],
            [s, END],
        ]
        return self.pick(orders)

    def f32_extremes(self) -> list[Action]:
        start = self.start(encoding="f32le")
        audio = self.encode(self.samples(0.1 + 0.4 * float(self.rng.random())), start)
        if self.chance(0.3):
            audio[:] = self.pick(FLOATS)  # every sample
        else:
            where = self.rng.integers(0, len(audio), self.integer(1, 8))
            audio[where] = [self.pick(FLOATS) for _ in where]
        pieces = self.chunks(self.pack(audio, start), self.frame(start), self.integer(1, 4))
        return [plain(start), *self.audio(start), *pieces, *self.audio(start), END]

    def sample_rates(self) -> list[Action]:
        if self.chance(0.5):
            rate = self.pick((0, -1, 1, 7999, 8001, 15999, 16001, 96000, 192000, 2**31 - 1,
                              2**31, 2**63, -(2**63), 10**30))  # fmt: skip
            start = self.start()
            return [plain(start | {"sample_rate": rate}), *self.audio(start), END]
        start = self.start(sample_rate=self.pick((8000, 11025, 44100, 48000)))
        data = self.pack(self.encode(self.samples(0.3), start), start)
        pieces = self.chunks(data, self.frame(start), 25)
        return [plain(start), *pieces, plain({"type": "finalize"}), *self.audio(start), END]

    def segments(self) -> list[Action]:
        """Segments that close in one step (a pause or `finalize` between two stretches of
        speech sent at once, then `end`): their finals must still come in the audio's order."""
        start = self.start()
        gap = np.zeros(round(16000 * self.pick((0.0, 0.5, 0.8))), np.float32)
        first = self.samples(0.6 + 0.9 * float(self.rng.random()))
        second = self.samples(0.2 + 0.5 * float(self.rng.random()))
        parts = [self.pack(self.encode(np.concatenate([s, gap]), start), start)
                 for s in (first, second)]  # fmt: skip
        middle = [plain({"type": "finalize"})] if self.chance(0.6) or not len(gap) else []
        return [plain(start), *pieces(parts[0]), *middle, *pieces(parts[1]), END]

    def hangups(self) -> list[Action]:
        start = self.start()
        if self.chance(0.2):
            return [self.hangup()]
        if self.chance(0.3):
            return [*self.session(start), self.hangup()]  # while the finals are on their way
        return [plain(start), *self.audio(start), self.hangup()]

    def too_large(self) -> list[Action]:
        start = self.start()
        frame = self.frame(start)
        big = self.pick((LIMIT + frame, LIMIT + 2048, 2 * LIMIT))
        r = self.integer(0, 3)
        if r == 0:
            return [plain(start), *self.audio(start), bytes(big), END]
        if r == 1:
            return [plain(start), plain({"type": "keepalive", "pad": "x" * big}), END]
        return [bytes(big), END]  # before start

    def random_mix(self) -> list[Action]:
        start = self.start()
        actions: list[Action] = [plain(start)] if self.chance(0.8) else []
        singles: list[Callable[[], Sequence[Action]]] = [
            lambda: [self.junk()],
            lambda: self.audio(start),
            lambda: [Text(self.text())],
            lambda: [self.control()],
            lambda: [self.mutated(self.control())],
            lambda: [plain(self.start())],
            lambda: [np.asarray(self.rng.normal(0, 2, self.integer(0, 800)), "<f4").tobytes()],
        ]
        for _ in range(self.integer(1, 9)):
            actions += self.pick(singles)()
        return [*actions, END]


class VoskDraw(Draw):
    """Vosk protocol cases (vosk-server's: optional config, 16-bit PCM, eof)."""

    FAMILIES = (
        "random_binary", "random_text", "config_values", "huge_and_deep", "mutated_messages",
        "wrong_order", "sample_rates", "segments", "hangups", "too_large", "random_mix",
    )  # fmt: skip

    def cases(self, count: int) -> list[Case]:
        out = []
        for _ in range(count):
            name = self.pick(self.FAMILIES)
            out.append(Case(name, tuple(getattr(self, name)()), pipelined=self.chance(0.3)))
        return out

    def config(self, rate: int | None = None) -> Text:
        rate = rate or self.pick(RATES)
        if self.chance(0.5):  # as vosk-server's example clients write it
            return Text(
                f'{{ "config" : {{ "sample_rate" : {rate} }} }}', {"config": {"sample_rate": rate}}
            )
        return plain({"config": {"sample_rate": rate}})

    def audio(self, rate: int = 16000, seconds: float | None = None) -> list[bytes]:
        """Speech as 16-bit PCM at `rate`, cut anywhere (odd lengths too) into 1–5 pieces."""
        samples = self.samples(seconds or 0.05 + 0.55 * float(self.rng.random()))
        data = to_pcm16(resample(samples, 16000, rate) if rate != 16000 else samples)
        return self.chunks(data, 1, self.integer(1, 6))

    def session(self, *inserted: Action) -> list[Action]:
        rate = self.pick(RATES)
        head: list[Action] = [self.config(rate)] if self.chance(0.7) or rate != 16000 else []
        body: list[Action] = [*self.audio(rate)]
        at = self.integer(0, len(body) + 1)
        eof = EOF if self.chance(0.8) else EOF.raw.encode()  # as some clients send it
        return [*head, *body[:at], *inserted, *body[at:], eof]

    def random_binary(self) -> list[Action]:
        head: list[Action] = [self.config()] if self.chance(0.5) else []
        return [*head, *(self.junk() for _ in range(self.integer(1, 6))), EOF]

    def random_text(self) -> list[Action]:
        return self.session(Text(self.text()) if self.chance(0.85) else self.not_utf8())

    def config_values(self) -> list[Action]:
        raw, value = self.weird()
        r = self.integer(0, 4)
        if r == 0:
            inner = obj(("sample_rate", raw, value))
            text = obj(("config", inner.raw, inner.value))
        elif r == 1:
            text = obj(("config", raw, value))
        elif r == 2:  # fields vosk-server's clients may send that this server does not use
            name = self.pick(("words", "max_alternatives", self.key()))
            inner = obj(("sample_rate", "16000", 16000), (name, raw, value))
            text = obj(("config", inner.raw, inner.value))
        else:  # not an object at all
            text = Text(raw, value)
        return [text, *self.audio(), EOF]

    def huge_and_deep(self) -> list[Action]:
        raw, value = self.pick((self.digits(), self.deep()))
        r = self.integer(0, 3)
        if r == 0:
            inner = obj(("sample_rate", raw, value))
            return [obj(("config", inner.raw, inner.value)), *self.audio(), EOF]
        if r == 1:
            return [*self.audio(), obj(("eof", raw, value))]
        return self.session(Text(raw, value))

    def mutated_messages(self) -> list[Action]:
        actions = self.session()
        texts = [i for i, a in enumerate(actions) if isinstance(a, Text)]
        i = self.pick(texts)
        victim = actions[i]
        assert isinstance(victim, Text)
        actions[i] = self.mutated(victim)
        if i == len(actions) - 1:
            actions.append(EOF)
        return actions

    def wrong_order(self) -> list[Action]:
        orders: list[list[Action]] = [
            [*self.audio(), self.config(), *self.audio(), EOF],  # config after audio
            [self.config(), self.config(16000), *self.audio(), EOF],  # config twice
            [EOF],
            [self.config(), EOF],
            [*self.audio(), EOF, *self.audio(), self.config(), EOF],  # after eof
            [*self.audio(), EOF, EOF],
        ]
        return self.pick(orders)

    def sample_rates(self) -> list[Action]:
        if self.chance(0.5):
            rate = self.pick((0, -1, 1, 7999, 96000, 2**31, 10**30))
            return [plain({"config": {"sample_rate": rate}}), *self.audio(), EOF]
        rate = self.pick((8000, 11025, 44100, 48000))
        data = b"".join(self.audio(rate, 0.3))
        return [self.config(rate), *self.chunks(data, 1, 25), EOF]

    def segments(self) -> list[Action]:
        """Segments that close in one step (speech, a pause, speech, a pause, in one
        message): their finals must still come in the audio's order."""
        rate = self.pick((8000, 16000, 22050, 32000))  # one message under the size limit
        gap = np.zeros(round(16000 * self.pick((0.4, 0.6))), np.float32)
        speech = [self.samples(0.6 + 0.6 * float(self.rng.random())), gap,
                  self.samples(0.2 + 0.4 * float(self.rng.random())), gap]  # fmt: skip
        audio = np.concatenate(speech)
        audio = resample(audio, 16000, rate) if rate != 16000 else audio
        return [self.config(rate), to_pcm16(audio), EOF]

    def hangups(self) -> list[Action]:
        if self.chance(0.2):
            return [self.hangup()]
        if self.chance(0.3):
            return [*self.audio(), EOF, self.hangup()]
        return [self.config(), *self.audio(), self.hangup()]

    def too_large(self) -> list[Action]:
        big = self.pick((LIMIT + 1, LIMIT + 2048, 2 * LIMIT))
        if self.chance(0.5):
            return [*self.audio(), bytes(big), EOF]
        return [*self.audio(), plain({"config": {"sample_rate": 16000}, "pad": "x" * big}), EOF]

    def random_mix(self) -> list[Action]:
        singles: list[Callable[[], Sequence[Action]]] = [
            lambda: [self.junk()],
            lambda: self.audio(),
            lambda: [Text(self.text())],
            lambda: [self.config()],
            lambda: [self.mutated(self.config())],
            lambda: [self.mutated(EOF)],
        ]
        actions: list[Action] = []
        for _ in range(self.integer(1, 9)):
            actions += self.pick(singles)()
        return [*actions, EOF]


# --- clients ------------------------------------------------------------------------------------


def send(ws: ClientConnection, action: Text | bytes | NotUtf8) -> None:
    if isinstance(action, Text):
        ws.send(action.raw)
    elif isinstance(action, NotUtf8):
        ws.send(action.data, text=True)
    else:
        ws.send(action)


def hang_up(ws: ClientConnection, how: str) -> None:
    if how == "half":
        with contextlib.suppress(OSError):  # the server may have closed already
            ws.socket.sendall(b"\x82\xfe\x10")  # a binary frame's header, cut short
    if how == "close":
        ws.close()
    ws.close_socket()


@dataclass
class Heard:
    """What a client heard: the server's messages, then its close code (None: no close frame);
    `problem`: what went wrong on the way (a hang)."""

    messages: list[str | bytes] = field(default_factory=list)
    close: int | None = None
    closed: bool = False
    problem: str | None = None

    def listen(self, ws: ClientConnection, until_close: bool = True) -> None:
        """Receive one message (`until_close` False) or every message until the close."""
        while self.problem is None and not self.closed:
            try:
                self.messages.append(ws.recv(timeout=RECV_TIMEOUT_S))
            except TimeoutError:
                self.problem = f"no message and no close within {RECV_TIMEOUT_S:.0f} s (a hang)"
            except ConnectionClosed as closed:
                self.closed = True
                self.close = closed.rcvd.code if closed.rcvd is not None else None
            if not until_close or len(self.messages) > 10_000:
                return


def talk(url: str, case: Case, expect_answer: Sequence[bool] = ()) -> Heard | None:
    """Play `case` on a fresh connection (None: the client hung up). Waits for an answer after
    action i where `expect_answer[i]` (pipelined cases: after all of them)."""
    heard = Heard()
    with connect(url, open_timeout=RECV_TIMEOUT_S, close_timeout=5, logger=CLIENTS) as ws:
        for i, action in enumerate(case.actions):
            if isinstance(action, Hangup):
                hang_up(ws, action.how)
                return None
            if not case.pipelined and i >= len(expect_answer):
                break  # the conversation is over (refused, or eof answered)
            try:
                send(ws, action)
            except (ConnectionClosed, OSError):
                break  # the server has closed; what it said is read below
            if not case.pipelined and expect_answer[i]:
                heard.listen(ws, until_close=False)
                if heard.closed or heard.problem or is_error(heard.messages[-1]):
                    break
        heard.listen(ws)
    return heard


def is_error(raw: str | bytes) -> bool:
    try:
        return json.loads(raw).get("type") == "error"
    except (ValueError, AttributeError):
        return False


def error_problems(
    raw: str | bytes, close: int | None, codes: set[str] | frozenset[str]
) -> list[str]:
    """Whether an error message and the close after it are documented and allowed."""
    data = json.loads(raw)
    code, message = data.get("code"), data.get("message")
    problems = []
    if set(data) != {"type", "code", "message"} or not isinstance(message, str):
        problems.append(f"malformed error message {raw!r}")
    if code not in CLOSE_CODES:
        problems.append(f"undocumented error code {code!r} ({message!r})")
    elif code not in codes:
        allowed = ", ".join(sorted(codes)) or "no error"
        problems.append(f"error {code!r} ({message!r}); the protocol allows {allowed}")
    elif close != CLOSE_CODES[code]:
        problems.append(f"close {close} after error {code!r}; documented: {CLOSE_CODES[code]}")
    return problems


def native_problems(expect: Expect, heard: Heard) -> list[str]:
    """Whether a native conversation kept the contract (see the module)."""
    if heard.problem:
        return [heard.problem]
    problems = []
    parsed = []
    for raw in heard.messages:
        try:
            parsed.append(parse_server_message(raw))
        except ProtocolError as error:
            problems.append(f"malformed server message {raw!r}: {error}")
    kinds = [type(m).__name__ for m in parsed]
    if "Ready" in kinds[1:]:
        problems.append(f"'ready' after other messages: {kinds}")
    finals = [m for m in parsed if isinstance(m, Final)]
    if [f.segment for f in finals] != list(range(len(finals))):
        problems.append(f"finals of segments {[f.segment for f in finals]}, not 0, 1, 2, …")
    for a, b in itertools.pairwise(finals):  # in audio order: segments do not overlap
        if b.start_s < a.end_s - ROUNDING_S:
            problems.append(
                f"finals out of order: segment {a.segment} ({a.start_s}-{a.end_s} s, "
                f"{a.text!r}), then segment {b.segment} ({b.start_s}-{b.end_s} s, {b.text!r})"
            )
    errors = [i for i, m in enumerate(parsed) if isinstance(m, ServerError)]
    if errors:
        if errors[0] != len(parsed) - 1:
            problems.append(f"messages after the error: {kinds}")
        problems += error_problems(heard.messages[errors[0]], heard.close, expect.codes)
    elif heard.close in expect.bare:
        pass
    elif heard.close == 1000 and kinds and kinds[-1] == "End" and kinds[0] == "Ready":
        if not expect.works:
            problems.append(f"a normal end; the protocol calls for {sorted(expect.codes)}")
    else:
        wanted = sorted(expect.codes) + sorted(map(str, expect.bare))
        wanted += ["a normal end"] if expect.works else []
        problems.append(f"{kinds} then close {heard.close}; the protocol calls for {wanted}")
    return problems


VOSK_WORD = {"conf", "start", "end", "word"}


def vosk_problems(expect: VoskExpect, heard: Heard) -> list[str]:
    """Whether a Vosk conversation kept the contract (see the module)."""
    if heard.problem:
        return [heard.problem]
    problems = []
    replies = []
    error = None
    for raw in heard.messages:
        try:
            data = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("type") == "error" and error is None:
            error = raw
        elif error is not None:
            problems.append(f"a message after the error: {raw!r}")
        elif not isinstance(data, dict) or not (
            (set(data) == {"partial"} and isinstance(data["partial"], str))
            or (
                set(data) == {"text", "result"}
                and isinstance(data["text"], str)
                and all(set(w) == VOSK_WORD for w in data["result"])
            )
        ):
            problems.append(f"malformed reply {raw!r}")
        else:
            replies.append(data)
    words = [w for reply in replies for w in reply.get("result", [])]
    for a, b in itertools.pairwise(words):  # finals in the audio's order
        if b["start"] < a["end"] - ROUNDING_S:
            problems.append(f"words out of order: {a} then {b}")
    # A refusal may overtake the replies still due to earlier messages (pipelined clients).
    n = len(replies)
    if error is not None:
        codes = set().union(*(codes for at, codes, _ in expect.exits if n <= at))
        problems += [f"after {n} replies: {p}" for p in error_problems(error, heard.close, codes)]
    elif any(n <= at and heard.close in bare for at, _, bare in expect.exits):
        pass
    elif not (expect.clean and heard.close == 1000 and n == expect.replies):
        wanted = [f"{expect.replies} replies and close 1000"] if expect.clean else []
        wanted += [
            f"≤ {at} replies and an error in {sorted(codes)}" for at, codes, _ in expect.exits
        ]
        problems.append(f"{n} replies then close {heard.close}; the protocol calls for {wanted}")
    elif "text" not in replies[-1]:
        problems.append(f"the reply to eof is {replies[-1]}")
    return problems


def play(url: str, protocol: str, case: Case) -> list[str]:
    """Play one fuzz case; what broke the contract."""
    try:
        if protocol == "native":
            expect = native_expect(case.actions)
            heard = talk(url, case)
            return [] if heard is None else native_problems(expect, heard)
        vosk = vosk_expect(case.actions)
        heard = talk(url, case, vosk.answered)
        return [] if heard is None else vosk_problems(vosk, heard)
    except Exception as error:  # the client's own failure is a finding too
        return [f"client failed: {error!r}"]


# --- control sessions ---------------------------------------------------------------------------


class ControlFailed(Exception):
    """A control session did not get a normal conversation."""


def gist(messages: Sequence[Any]) -> str:
    """Server messages in short: their types, an error in full."""
    return " ".join(
        f"{m}" if m.get("type") == "error" else str(m.get("type", sorted(m))) for m in messages
    )


def native_control(url: str, wave: np.ndarray) -> list[tuple[int, str]]:
    """A well-behaved native client: 100 ms messages, then `end`. Its finals."""
    heard = Heard()
    with connect(url, open_timeout=RECV_TIMEOUT_S, logger=CLIENTS) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        for i in range(0, len(wave), 1600):
            ws.send(to_pcm16(wave[i : i + 1600]))
            time.sleep(0.005)
        ws.send(json.dumps({"type": "end"}))
        heard.listen(ws)
    messages = [json.loads(m) for m in heard.messages]
    kinds = [m["type"] for m in messages]
    if heard.problem or heard.close != 1000 or kinds[:1] != ["ready"] or kinds[-1:] != ["end"]:
        raise ControlFailed(f"heard {gist(messages)}, then close {heard.close} {heard.problem}")
    return [(m["segment"], m["text"]) for m in messages if m["type"] == "final"]


def vosk_control(url: str, wave: np.ndarray) -> list[str]:
    """A well-behaved vosk-server client: config, 0.125 s messages with a reply each, eof."""
    data = to_pcm16(wave)
    replies: list[dict[str, Any]] = []
    with connect(url, open_timeout=RECV_TIMEOUT_S, logger=CLIENTS) as ws:
        ws.send('{ "config" : { "sample_rate" : 16000 } }')
        for i in [*range(0, len(data), 4000), len(data)]:
            ws.send(data[i : i + 4000] if i < len(data) else '{"eof" : 1}')
            replies.append(json.loads(ws.recv(timeout=RECV_TIMEOUT_S)))
            if set(replies[-1]) not in ({"partial"}, {"text", "result"}):
                raise ControlFailed(f"heard {gist(replies)}")
        heard = Heard()
        heard.listen(ws)
    if heard.close != 1000 or heard.messages:
        raise ControlFailed(f"heard {gist(replies)}, then {heard.messages}, close {heard.close}")
    return [r["text"] for r in replies if r.get("text")]


CONTROLS_BY_PATH: dict[str, tuple[str, Callable[[str, np.ndarray], Any]]] = {
    "native": ("/v1/stream", native_control),
    "vosk": ("", vosk_control),
}


def keep_controlling(
    server: Running, protocol: str, wave: np.ndarray, quiet: Any, stop: threading.Event
) -> tuple[int, list[str]]:
    """Control conversations back to back until `stop` (at least one): how many ran, and
    each one that did not get the quiet server's finals."""
    path, control = CONTROLS_BY_PATH[protocol]
    runs, problems = 0, []
    while runs == 0 or (not stop.is_set() and runs < 100):
        try:
            got = control(server.url(path), wave)
        except (ControlFailed, ConnectionClosed, TimeoutError, OSError) as error:
            problems.append(f"{protocol} control #{runs} failed: {error!r}")
        else:
            if got != quiet:
                problems.append(f"{protocol} control #{runs} heard {got}; when quiet: {quiet}")
        runs += 1
    return runs, problems


# --- the tests ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exact(bundle: Bundle) -> Bundle:
    """The model in float64: batch round-off cannot flip a near-tie (as in test_server's
    concurrent-clients test), so a control's finals do not depend on who it is batched with."""
    return replace(bundle, model=copy.deepcopy(bundle.model).double())


def serving(exact: Bundle) -> AbstractContextManager[Running]:
    # A wide AlignAtt border keeps commits (which depend on the rounds) out of the finals.
    return running(exact, Limits(max_message_bytes=LIMIT), workers=2,
                   policy=PolicyOptions(border_s=100.0))  # fmt: skip


@pytest.fixture(scope="module")
def quiet(exact: Bundle, waves: list[np.ndarray]) -> dict[str, Any]:
    """The control conversations' finals on a quiet server of the same settings."""
    with serving(exact) as server:
        heard = {p: c(server.url(path), waves[0]) for p, (path, c) in CONTROLS_BY_PATH.items()}
    assert all(heard.values()), f"the control sample gives no text: {heard}"
    return heard


def new_sessions(server: Running, wave: np.ndarray) -> dict[str, Any]:
    """Each control conversation once more (what failed, as a string)."""
    heard: dict[str, Any] = {}
    for protocol, (path, control) in CONTROLS_BY_PATH.items():
        try:
            heard[protocol] = control(server.url(path), wave)
        except (ControlFailed, ConnectionClosed, TimeoutError, OSError) as error:
            heard[protocol] = f"failed: {error!r}"
    return heard


def sessions_active(server: Running) -> str:
    """The s2t_sessions_active line of /metrics once it reads 0 (or after 10 s)."""
    line = ""
    for _ in range(100):
        status, text = server.http("/metrics")
        line = next((x for x in text.splitlines() if x.startswith("s2t_sessions_active ")), "")
        if status == 200 and float(line.split()[1] if line else "nan") == 0:
            break
        time.sleep(0.1)
    return line


TCP_STATES = {"01": "established", "03": "syn-recv", "04": "fin-wait-1", "05": "fin-wait-2",
              "08": "close-wait", "09": "last-ack", "0B": "closing"}  # fmt: skip


def open_connections(port: int) -> list[str]:
    """The server's TCP connections on `port` still open once every client is gone (after
    10 s at most); Linux only (/proc/net/tcp), elsewhere none are seen."""
    found: list[str] = []
    for _ in range(100):
        found = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table) as lines:
                for line in list(lines)[1:]:
                    local, remote, state = line.split()[1:4]
                    if int(local.rsplit(":", 1)[1], 16) == port and state in TCP_STATES:
                        peer = int(remote.rsplit(":", 1)[1], 16)
                        found.append(f"{TCP_STATES[state]} (client port {peer})")
        if not found:
            break
        time.sleep(0.1)
    return found


@pytest.mark.parametrize("protocol", ["native", "vosk"])
def test_fuzzed_clients_get_documented_answers_and_disturb_no_one(
    protocol: str,
    exact: Bundle,
    waves: list[np.ndarray],
    quiet: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    speech = np.concatenate(waves[1:])
    seed = (SEED, ["native", "vosk"].index(protocol))
    draw = NativeDraw(seed, speech) if protocol == "native" else VoskDraw(seed, speech)
    cases = draw.cases(CASES)
    path = CONTROLS_BY_PATH[protocol][0]
    with serving(exact) as server:
        stop = threading.Event()
        with ThreadPoolExecutor(len(quiet)) as controls, ThreadPoolExecutor(FUZZERS) as fuzzers:
            watchers = [
                controls.submit(keep_controlling, server, p, waves[0], quiet[p], stop)
                for p in quiet
            ]
            try:
                outcomes = list(fuzzers.map(partial(play, server.url(path), protocol), cases))
            finally:
                stop.set()
            watched = [w.result(timeout=120) for w in watchers]
        afterwards = new_sessions(server, waves[0])
        health = server.http("/healthz")
        active = sessions_active(server)
        lingering = open_connections(server.port)
    gc.collect()  # a task's exception nobody retrieved is logged when the task is collected

    report = []
    broken = [(case, problems) for case, problems in zip(cases, outcomes, strict=True) if problems]
    if broken:
        report.append(f"{len(broken)} of {len(cases)} fuzzed connections broke the contract:")
        for case, problems in broken[:25]:
            sent = " ".join(describe(a) for a in case.actions)
            report.append(f"- {case.name}: {'; '.join(problems)}\n    sent: {sent[:600]}")
    report += [problem for _, problems in watched for problem in problems]
    if afterwards != quiet:
        report.append(f"after the fuzzing the controls heard {afterwards}; when quiet: {quiet}")
    if health != (200, "ok\n"):
        report.append(f"after the fuzzing /healthz answered {health}")
    if active != "s2t_sessions_active 0.0":
        report.append(f"after the fuzzing /metrics says {active!r}")
    if lingering:
        report.append(f"after the fuzzing the server still holds connections: {lingering}")
    for record in caplog.records:
        if record.name.startswith(CLIENTS.name):
            continue  # e.g. a client that hangs up while the server sends
        if record.levelno >= logging.ERROR or record.exc_info:
            error = record.exc_info[1] if record.exc_info else None
            report.append(f"logged by {record.name}: {record.getMessage()} {error!r}")
    assert not report, "\n".join(report)
