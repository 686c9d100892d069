"""The server's sessions without sockets or a model: what each protocol accepts and queues, the
buffered-audio accounting behind back-pressure, and which messages go back after a step."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import Control, Start
from s2t_stream.model.audio import to_pcm16
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.server.models import Models
from s2t_stream.server.options import Limits
from s2t_stream.server.sessions import Engines, NativeSession, VoskSession, native_start
from s2t_stream.streaming.events import Event, Final, Partial
from s2t_stream.streaming.stream import StreamOptions
from tests.server.fakes import FakeStream, drain, engine, peer

LIMITS = Limits(max_buffered_s=1.0, max_queued_messages=8)
TENTH = to_pcm16(np.zeros(1600, np.float32))  # 0.1 s at 16 kHz


def native(**start: Any) -> NativeSession:
    return NativeSession(peer(), engine(), Start(**start), LIMITS)


def vosk(**limits: Any) -> VoskSession:
    return VoskSession(peer(), engine(), replace(LIMITS, **limits))


def partial(text: str) -> Partial:
    return Partial(0, "", text, 0.0, 0.0)


def final(text: str) -> Final:
    return Final(0, text, 0.0, 1.0, 1.0, 1.0, ())


# --- before the native session exists -----------------------------------------------------------


def test_native_start_waits_for_start_and_allows_only_keepalives_before_it() -> None:
    assert native_start('{"type": "start", "sample_rate": 8000}') == Start(sample_rate=8000)
    assert native_start('{"type": "keepalive"}') is None
    for message, said in ((TENTH, "before audio"), ('{"type": "end"}', "before 'end'")):
        with pytest.raises(ProtocolError) as refused:
            native_start(message)
        assert refused.value.code == "not_started" and said in refused.value.message
    with pytest.raises(ProtocolError, match="JSON") as bad:
        native_start("{")
    assert bad.value.code == "bad_json"


# --- native -------------------------------------------------------------------------------------


def test_native_session_queues_audio_and_controls_in_order() -> None:
    session = native(sample_rate=16000)
    assert session.stream.sample_rate == 16000
    assert session.receive(TENTH) is False
    assert session.receive('{"type": "keepalive"}') is False
    assert session.receive('{"type": "finalize"}') is False
    assert session.receive(TENTH) is False
    assert session.buffered_s == pytest.approx(0.2)
    assert session.receive('{"type": "end"}') is True
    kinds = [type(i).__name__ if isinstance(i, Control) else len(i) for i in session.inbox]
    assert kinds == [1600, "Control", 1600, "Control"]
    assert [i.kind for i in session.inbox if isinstance(i, Control)] == ["finalize", "end"]
    session.close_input()  # a drain after the client's own end queues no second one
    assert len(session.inbox) == 4
    with pytest.raises(ProtocolError) as again:
        session.receive('{"type": "start"}')
    assert again.value.code == "already_started"


def test_native_session_sends_events_then_end_and_honours_partials_off() -> None:
    chatty, quiet = native(), native(partials=False)
    events: list[Event] = [partial("hel"), final("hello")]
    assert [m["type"] for m in chatty.messages(events, [], last_phase=False, done=False)] == [
        "partial",
        "final",
    ]
    assert quiet.messages(events, [], last_phase=True, done=False) == [final("hello").to_json()]
    quiet.stream.accept(np.zeros(8000, np.float32))
    assert quiet.messages([], [], last_phase=True, done=True) == [{"type": "end", "audio_s": 0.5}]
    ready = quiet.ready()
    assert ready["type"] == "ready" and ready["session"] == quiet.id
    assert ready["model"] == "fake-model" and ready["model_sample_rate"] == 16000


def test_feeding_moves_every_queued_item_into_the_stream() -> None:
    session = native()
    for message in (TENTH, '{"type": "finalize"}', TENTH, '{"type": "end"}'):
        session.receive(message)
    items, seconds = session.feed()
    assert len(items) == 4 and not session.inbox
    assert seconds == pytest.approx(0.2)
    assert isinstance(session.stream, FakeStream)
    assert session.stream.calls == [
        ("accept", 1600),
        ("finalize", 0),
        ("accept", 1600),
        ("end", 0),
        ("finalize", 0),  # end_input closes the open segment
    ]


def test_audio_after_the_end_is_dropped_not_fed() -> None:
    """A draining server queues `end` for every session; a client still sending audio must not
    make a worker feed audio after the stream's end (which a real stream refuses, failing the
    worker's whole round)."""
    session = native()
    session.receive(TENTH)
    session.close_input()  # what the drain does
    session.receive(TENTH)
    assert session.buffered_s == pytest.approx(0.1)
    items, _ = session.feed()
    assert [type(i) for i in items] == [np.ndarray, Control]
    assert isinstance(session.stream, FakeStream)
    assert [c[0] for c in session.stream.calls] == ["accept", "end", "finalize"]


# --- back-pressure and failure ------------------------------------------------------------------


def test_room_waits_until_the_model_has_taken_enough_audio() -> None:
    half = np.zeros(8000, np.float32)  # 0.5 s: exact in binary, so the limit is hit exactly

    async def scenario() -> list[str]:
        session = native()
        log = []
        for _ in range(3):
            session.queue_audio(half)  # 1.5 s > 1.0 s
        waiting = asyncio.create_task(session.room())
        await asyncio.sleep(0.01)
        log.append("waiting" if not waiting.done() else "went on")
        session.consumed(0.25)  # 1.25 s: still too much
        await asyncio.sleep(0.01)
        log.append("waiting" if not waiting.done() else "went on")
        session.consumed(0.25)  # 1.0 s: at the limit is allowed
        await asyncio.wait_for(waiting, 1)
        log.append("went on")
        await asyncio.wait_for(session.room(), 1)  # not over the limit: no wait at all
        return log

    assert asyncio.run(scenario()) == ["waiting", "waiting", "went on"]


def test_a_failed_session_finishes_with_its_error_and_gives_back_what_it_held() -> None:
    async def scenario() -> NativeSession:
        session = native()
        for _ in range(20):
            session.receive(TENTH)  # 2 s > the 1 s limit: the reader waits for room
        waiting = asyncio.create_task(session.room())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        session.fail(ProtocolError("internal", "internal error", 1011))
        await asyncio.wait_for(waiting, 1)  # the wait ends with the session
        session.receive(TENTH)
        return session

    session = asyncio.run(scenario())
    assert session.finished.is_set() and session.error is not None
    assert session.error.code == "internal"
    assert session.buffered_s == 0.0 and session.input_closed
    assert len(session.inbox) == 20  # nothing more queued after the failure
    session.post([{"type": "final"}], done=True)  # a worker's late post goes nowhere
    assert drain(session.outbox) == []


def test_a_flood_of_messages_is_back_pressured_like_audio() -> None:
    """Empty frames are 0 s of audio; counted as messages they still stop the reader."""
    session = native()
    for _ in range(100):
        session.receive(b"")  # nothing to queue on the native protocol
    assert not session.inbox and session.backlog() is None
    for _ in range(7):
        session.receive('{"type": "finalize"}')
    assert session.backlog() is None
    session.receive('{"type": "finalize"}')  # the 8th: at the limit of 8 queued messages
    assert session.backlog() == "messages"
    flood = vosk()
    for _ in range(8):
        flood.receive(b"")  # Vosk answers every message, empty or not: each is queued
    assert flood.backlog() == "messages"


def test_vosk_replies_the_client_does_not_read_stop_the_reader_then_time_out() -> None:
    async def scenario() -> ProtocolError:
        session = vosk(idle_timeout_s=0.05)
        for _ in range(8):
            session.outbox.put({"partial": ""})
        assert session.backlog() == "replies"
        with pytest.raises(ProtocolError) as stalled:
            await asyncio.wait_for(session.room(), 5)
        return stalled.value

    error = asyncio.run(scenario())
    assert (error.code, error.close_code) == ("not_reading", 1008)
    native_session = native()
    for _ in range(8):
        native_session.outbox.put({"type": "final"})
    assert native_session.backlog() is None  # a native client may send all, then read


# --- Vosk ---------------------------------------------------------------------------------------


def test_vosk_config_before_audio_reopens_the_stream_and_after_audio_is_refused() -> None:
    session = vosk()
    assert session.stream.sample_rate == 16000
    first = session.stream
    assert session.receive('{ "config" : { "sample_rate" : 8000 } }') is False
    assert session.stream is not first and session.stream.sample_rate == 8000
    session.receive(to_pcm16(np.zeros(800, np.float32)))
    assert session.buffered_s == pytest.approx(0.1)  # 800 samples at 8 kHz
    with pytest.raises(ProtocolError) as late:
        session.receive(json.dumps({"config": {"sample_rate": 16000}}))
    assert late.value.code == "already_started"
    assert session.receive('{"eof" : 1}') is True
    assert isinstance(session.inbox[-1], Control) and session.inbox[-1].kind == "end"


def test_vosk_takes_frames_of_any_length_and_a_binary_eof() -> None:
    """vosk-server's own ffmpeg example reads 8,000-byte pipe chunks, which need not be even;
    some clients send the eof as a binary frame."""
    session = vosk()
    samples = np.arange(-5, 5, dtype="<i2")
    pcm = samples.tobytes()  # 20 bytes, cut at odd places
    for part in (pcm[:3], pcm[3:10], pcm[10:11], pcm[11:]):
        assert session.receive(part) is False
    audio = [i for i in session.inbox if isinstance(i, np.ndarray)]
    np.testing.assert_array_equal(np.concatenate(audio) * 32768, samples)
    assert [len(a) for a in audio] == [1, 4, 0, 5]
    assert session.receive(b'{"eof" : 1}') is True
    assert isinstance(session.inbox[-1], Control) and session.inbox[-1].kind == "end"


def test_vosk_feeds_one_message_at_a_time() -> None:
    session = vosk()
    for message in (TENTH, TENTH, '{"eof" : 1}'):
        session.receive(message)
    sizes = []
    while session.inbox:
        items, _ = session.feed()
        sizes.append(len(items))
    assert sizes == [1, 1, 1]


def test_vosk_answers_each_message_once_in_the_last_phase() -> None:
    session = vosk()
    audio = [np.zeros(1600, np.float32)]
    end = [Control("end")]
    # The finals-only phase never answers; its events count for the reply of the last phase.
    assert session.messages([final("one")], audio, last_phase=False, done=False) == []
    assert session.messages([partial("tw")], audio, last_phase=True, done=False) == [
        {"text": "one", "result": []}
    ]
    assert session.messages([], audio, last_phase=True, done=False) == [{"partial": "tw"}]
    assert session.messages([], [], last_phase=True, done=False) == []  # nothing fed: no reply
    session.messages([final("two"), final("three")], audio, last_phase=False, done=False)
    assert session.messages([], end, last_phase=True, done=True) == [
        {"text": "two three", "result": []}
    ]


# --- engines ------------------------------------------------------------------------------------


@pytest.mark.model
def test_engines_are_made_once_per_language_and_bad_languages_are_refused(bundle: Bundle) -> None:
    engines = Engines(Models(bundle), StreamOptions())
    assert engines.get(None) is engines.get(None)
    with pytest.raises(ProtocolError) as refused:
        engines.get("xx-not-a-language")
    assert refused.value.code == "bad_field"
    assert list(engines.by_language) == [None]
