"""The websocket protocols without sockets: the server half (client messages → typed values or
errors, events → messages) and the client half (messages a client sends, server messages back
to typed values), and that the two halves agree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import (
    UNSUPPORTED,
    Control,
    End,
    PcmCarry,
    Ready,
    ServerError,
    Start,
    VoskConfig,
    VoskEof,
    VoskReplies,
    control_message,
    decode_audio,
    end_message,
    is_vosk_eof,
    parse_server_message,
    parse_text,
    parse_vosk_text,
    ready_message,
    start_message,
)
from s2t_stream.model.audio import to_pcm16
from s2t_stream.streaming.events import Final, Partial, Word

# --- server half: native -------------------------------------------------------------------------


def test_a_start_with_every_field_parses() -> None:
    text = json.dumps(
        {
            "type": "start",
            "sample_rate": 48000,
            "encoding": "f32le",
            "channels": 2,
            "task": "translate",
            "tgt_lang": "es",
            "partials": False,
        }
    )
    assert parse_text(text) == Start(48000, "f32le", 2, "translate", "es", False)
    assert parse_text('{"type": "start"}') == Start()


@pytest.mark.parametrize("kind", ["finalize", "keepalive", "end"])
def test_controls_parse_and_take_no_fields(kind: str) -> None:
    assert parse_text(json.dumps({"type": kind})) == Control(kind)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError) as error:
        parse_text(json.dumps({"type": kind, "now": True}))
    assert error.value.code == "unknown_field"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"type": "hello"}', "unknown_type"),
        ('{"type": "start", "rate": 16000}', "unknown_field"),
        ('{"type": "start", "sample_rate": "16000"}', "bad_field"),
        ('{"type": "start", "sample_rate": true}', "bad_field"),
        ('{"type": "start", "partials": 1}', "bad_field"),
        ('{"type": "start", "sample_rate": 12345}', "bad_sample_rate"),
        ('{"type": "start", "encoding": "mp3"}', "bad_field"),
        ('{"type": "start", "channels": 3}', "bad_field"),
        ('{"type": "start", "task": "translate"}', "bad_field"),
    ],
)
def test_bad_client_messages_get_their_error_code(message: str, code: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_text(message)
    assert error.value.code == code
    assert error.value.to_json() == {"type": "error", "code": code, "message": error.value.message}


def test_audio_is_decoded_to_mono_float() -> None:
    pcm = np.array([[16384, -16384], [0, 32767]], dtype="<i2").tobytes()
    stereo = decode_audio(pcm, Start(channels=2))
    np.testing.assert_array_equal(stereo, np.array([0.0, 32767 / 65536], dtype=np.float32))
    floats = np.array([0.25, -0.5], dtype="<f4").tobytes()
    np.testing.assert_array_equal(decode_audio(floats, Start(encoding="f32le")), [0.25, -0.5])


def test_audio_of_the_wrong_length_or_not_finite_is_refused() -> None:
    with pytest.raises(ProtocolError) as error:
        decode_audio(b"\x00\x01\x02", Start())
    assert (error.value.code, error.value.close_code) == ("bad_audio", UNSUPPORTED)
    with pytest.raises(ProtocolError, match="NaN or inf"):
        decode_audio(np.array([np.nan], dtype="<f4").tobytes(), Start(encoding="f32le"))


def test_f32_samples_beyond_full_scale_are_clipped_not_passed_on() -> None:
    """Finite but huge samples (±3.4e38) overflowed inside the model and failed the worker."""
    loud = np.array([3.4e38, -3.4e38, 1.5, -1.0, 0.5], dtype="<f4").tobytes()
    decoded = decode_audio(loud, Start(encoding="f32le"))
    np.testing.assert_array_equal(decoded, [1.0, -1.0, 1.0, -1.0, 0.5])


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "start", "sample_rate": ' + "9" * 5000 + "}",  # past the digit limit
        "[" * 100_000 + "]" * 100_000,  # past the recursion limit
        '{"type": "start"' + "}" * 3,
        "\udcff",
    ],
)
def test_what_the_json_parser_refuses_is_bad_json(text: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_text(text)
    assert (error.value.code, error.value.close_code) == ("bad_json", 1008)
    assert len(error.value.message) < 300


def test_a_binary_vosk_eof_is_told_from_audio_and_odd_bytes_carry_over() -> None:
    assert is_vosk_eof(b'{"eof" : 1}') and is_vosk_eof(b' {"eof": 1}')
    assert not is_vosk_eof(b"{\x00\x01") and not is_vosk_eof(b'{"eof": 1}' + b" " * 60)
    assert not is_vosk_eof(np.zeros(4, "<i2").tobytes())
    carry = PcmCarry()
    assert (carry.take(b"abc"), carry.take(b"d"), carry.take(b""), carry.take(b"efg")) == (
        b"ab", b"cd", b"", b"ef",
    )  # fmt: skip
    assert carry.pending == b"g"


# --- server half: Vosk ---------------------------------------------------------------------------


def test_vosk_config_and_eof() -> None:
    assert parse_vosk_text('{"config": {"sample_rate": 8000}}') == VoskConfig(8000)
    assert parse_vosk_text('{"config": {"sample_rate": 16000.0}}') == VoskConfig(16000)
    assert parse_vosk_text('{"eof" : 1}') == VoskEof()
    with pytest.raises(ProtocolError) as error:
        parse_vosk_text('{"config": {"sample_rate": 7000}}')
    assert error.value.code == "bad_sample_rate"
    with pytest.raises(ProtocolError) as error:
        parse_vosk_text('{"hello": 1}')
    assert error.value.code == "bad_json"


def _final(segment: int, text: str, start: float) -> Final:
    words = tuple(Word(w, start + i, start + i + 0.5) for i, w in enumerate(text.split()))
    return Final(segment, text, start, start + len(words), 9.0, 9.5, words)


def test_vosk_replies_one_per_message_finals_first() -> None:
    replies = VoskReplies()
    assert replies.reply() == {"partial": ""}
    replies.add([Partial(0, "hello", "wor", 1.0, 1.1)])
    assert replies.reply() == {"partial": "hello wor"}
    replies.add([_final(0, "hello world", 0.0), _final(1, "again", 3.0)])
    first = replies.reply()
    assert first["text"] == "hello world"
    assert [(w["word"], w["start"], w["end"]) for w in first["result"]] == [
        ("hello", 0.0, 0.5),
        ("world", 1.0, 1.5),
    ]
    assert replies.last()["text"] == "again"  # eof: every remaining final, joined
    assert replies.last() == {"text": "", "result": []}


# --- client half, and the two halves together -----------------------------------------------------


def test_start_message_round_trips_through_the_server_parser() -> None:
    start = Start(sample_rate=44100, task="translate", tgt_lang="ca", partials=False)
    text = start_message(start)
    assert json.loads(text) == {
        "type": "start",
        "sample_rate": 44100,
        "task": "translate",
        "tgt_lang": "ca",
        "partials": False,
    }
    assert parse_text(text) == start
    assert parse_text(control_message("end")) == Control("end")


def test_start_message_refuses_what_the_server_would() -> None:
    with pytest.raises(ProtocolError) as error:
        start_message(Start(sample_rate=1000))
    assert error.value.code == "bad_sample_rate"


def test_server_messages_parse_back_to_typed_values() -> None:
    ready = ready_message("s1", "demo", Start(sample_rate=8000), 16000)
    assert parse_server_message(json.dumps(ready)) == Ready(
        "s1", "demo", 8000, 16000, "transcribe", None
    )
    final = _final(2, "two words", 1.0)
    assert parse_server_message(json.dumps(final.to_json())) == final
    partial = Partial(2, "two", "wo", 1.5, 1.75)
    assert parse_server_message(json.dumps(partial.to_json())) == partial
    assert parse_server_message(json.dumps(end_message(12.3456))) == End(12.346)
    error = ProtocolError("too_large", "messages are limited to 10 bytes").to_json()
    assert parse_server_message(json.dumps(error)) == ServerError(
        "too_large", "messages are limited to 10 bytes"
    )


def test_a_newer_servers_extra_ready_fields_are_ignored() -> None:
    ready = {**ready_message("s1", "demo", Start(), 16000), "gpu": "h200"}
    assert isinstance(parse_server_message(json.dumps(ready)), Ready)


@pytest.mark.parametrize(
    "message", [b"\x00", "[]", '{"type": "bye"}', '{"type": "end"}', '{"type": "final"}']
)
def test_malformed_server_messages_are_protocol_errors(message: str | bytes) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_server_message(message)
    assert error.value.code in ("bad_message", "bad_json")


def test_pcm_sent_by_a_client_decodes_to_the_same_samples() -> None:
    samples = (np.arange(-8, 8, dtype=np.float32) / 8).clip(-1, 32767 / 32768)
    np.testing.assert_array_equal(decode_audio(to_pcm16(samples), Start()), samples)


# --- the cascade: a session asks for machine translation of its finals ----------------------------


def test_a_start_may_ask_for_machine_translation_with_a_language() -> None:
    start = parse_text('{"type": "start", "mt": "apertium", "tgt_lang": "es"}')
    assert start == Start(mt="apertium", tgt_lang="es")
    assert json.loads(start_message(Start(mt="apertium", tgt_lang="ca"))) == {
        "type": "start",
        "tgt_lang": "ca",
        "mt": "apertium",
    }
    ready = ready_message("s1", "demo", Start(mt="apertium", tgt_lang="es"), 16000)
    assert ready["mt"] == "apertium" and "mt" not in ready_message("s1", "demo", Start(), 16000)
    parsed = parse_server_message(json.dumps(ready))
    assert isinstance(parsed, Ready) and parsed.mt == "apertium"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('{"type": "start", "mt": "apertium"}', "mt 'apertium' needs tgt_lang"),
        ('{"type": "start", "mt": 1, "tgt_lang": "es"}', "field 'mt' must be str or null, got 1"),
    ],
)
def test_machine_translation_without_a_language_or_not_a_string_is_refused(
    message: str, expected: str
) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_text(message)
    assert error.value.code == "bad_field" and expected in error.value.message
