"""The server under hostile and faulty clients (issue 21), one test per class of fault found by a
fuzzing and soak campaign: a client's fault never reaches another session, a failed session
gives everything back, shutdown always finishes, finals come in audio order, floods are
back-pressured, slow and half-closing clients get every final, limits answer with their codes.
In-process server, real websocket clients (and raw sockets for clients that never read)."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from s2t_stream.model.audio import to_pcm16
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.server.options import Limits
from s2t_stream.server.sessions import Session, VoskSession
from s2t_stream.streaming.policy import PolicyOptions
from tests.helpers import BUNDLED_MODEL, Running, running

if not (BUNDLED_MODEL / "config.json").is_file():
    pytest.skip(f"no bundled model at {BUNDLED_MODEL}", allow_module_level=True)

pytestmark = [pytest.mark.network, pytest.mark.model]

T = TypeVar("T")
PAUSE = np.zeros(16000, np.float32)  # 1 s: ends a segment


@pytest.fixture(scope="module")
def exact(bundle: Bundle) -> Bundle:
    """The bundled model in float64: batch round-off cannot flip a near-tie, so a session's
    finals do not depend on whom it was batched with (see test_server.py)."""
    return replace(bundle, model=copy.deepcopy(bundle.model).double())


WIDE = PolicyOptions(border_s=100.0)  # commits independent of the rounds a session falls in


def start(ws: ClientConnection, **fields: Any) -> dict[str, Any]:
    ws.send(json.dumps({"type": "start", "sample_rate": 16000, **fields}))
    ready = json.loads(ws.recv(timeout=10))
    assert ready["type"] == "ready", ready
    return ready


def read_until_closed(ws: ClientConnection, timeout: float = 60) -> tuple[list[Any], int | None]:
    """Every message until the connection closes, and the close code the server sent."""
    messages = []
    try:
        while True:
            messages.append(json.loads(ws.recv(timeout=timeout)))
    except ConnectionClosed as closed:
        return messages, None if closed.rcvd is None else closed.rcvd.code


def conversation(url: str, audio: np.ndarray, **fields: Any) -> tuple[list[Any], int | None]:
    with connect(url) as ws:
        start(ws, **fields)
        for i in range(0, len(audio), 16000):
            ws.send(to_pcm16(audio[i : i + 16000]))
        ws.send(json.dumps({"type": "end"}))
        return read_until_closed(ws)


def finals(messages: list[Any]) -> list[str]:
    return [m["text"] for m in messages if m["type"] == "final"]


def on_loop(server: Running, call: Callable[[], T]) -> T:
    """Run `call` on the server's event loop (where its state may be touched)."""

    async def run() -> T:
        return call()

    return asyncio.run_coroutine_threadsafe(run(), server.loop).result(10)


def session_named(server: Running, name: str) -> Session:
    return on_loop(
        server, lambda: next(s for s in server.server.scheduler.sessions if s.id == name)
    )


def active_sessions(server: Running) -> float:
    metrics = server.http("/metrics")[1]
    line = next(x for x in metrics.splitlines() if x.startswith("s2t_sessions_active "))
    return float(line.split()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class RawClient:
    """A native-protocol client on a bare socket (websockets' sans-I/O client): after the
    handshake it sends what it is told and never reads again, and never closes — a peer that
    hung or a client that does not read."""

    def __init__(self, url: str, receive_buffer: int | None = None) -> None:
        self.protocol = ClientProtocol(parse_uri(url))
        self.socket = socket.socket()
        if receive_buffer is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        uri = parse_uri(url)
        self.socket.connect((uri.host, uri.port))
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.socket.recv(4096)
        self.protocol.receive_data(response)

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.socket.sendall(data)

    def text(self, message: str) -> None:
        self.protocol.send_text(message.encode())
        self._flush()

    def binary(self, data: bytes) -> None:
        self.protocol.send_binary(data)
        self._flush()

    def ping(self, payload: bytes) -> None:
        self.protocol.send_ping(payload)
        self._flush()

    def texts(self, *messages: bytes) -> None:
        """Text frames of these bytes (UTF-8 or not), sent in one write: the server reads them
        all at once."""
        for message in messages:
            self.protocol.send_text(message)
        self.socket.sendall(b"".join(self.protocol.data_to_send()))

    def replies(self, timeout_s: float = 10.0) -> tuple[list[dict[str, Any]], int | None]:
        """Read the server's messages until it closes: (messages, close code)."""
        self.socket.settimeout(timeout_s)
        messages = []
        while data := self.socket.recv(65536):
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    messages.append(json.loads(event.data))
            if self.protocol.close_rcvd is not None:
                return messages, self.protocol.close_rcvd.code
        return messages, None

    def close(self) -> None:
        self.socket.close()


@contextmanager
def raw(url: str, receive_buffer: int | None = None) -> Iterator[RawClient]:
    client = RawClient(url, receive_buffer)
    try:
        yield client
    finally:
        client.close()


# --- 1. one client never breaks another ---------------------------------------------------------


def test_huge_samples_are_clipped_and_a_faulty_session_fails_alone(
    exact: Bundle, waves: list[np.ndarray]
) -> None:
    """±3.4e38 f32 samples (finite) raised inside the worker and failed 4 of 6 other sessions
    on it. Now they are clipped at the edge; and a session whose step does raise (a fault
    injected into its stream) fails alone, with 1011 and a message, while the sessions batched
    with it get exactly their own transcripts."""
    with running(exact, workers=1, policy=WIDE) as server:
        url = server.url()
        alone = [finals(conversation(url, wave)[0]) for wave in waves[:3]]
        huge = np.full(32000, 3.4e38, np.float32)
        huge[::2] *= -1
        with connect(url) as loud:
            start(loud, encoding="f32le")
            loud.send(huge.astype("<f4").tobytes())
            loud.send(json.dumps({"type": "end"}))
            messages, code = read_until_closed(loud)
        assert [m["type"] for m in messages][-1:] == ["end"] and code == 1000

        with connect(url) as faulty, ThreadPoolExecutor(3) as pool:
            name = start(faulty)["session"]

            def broken_window(job: Any) -> None:
                raise RuntimeError("injected fault")

            session_named(server, name).stream.window = broken_window  # type: ignore[method-assign]
            others = [pool.submit(conversation, url, wave) for wave in waves[:3]]
            time.sleep(0.3)  # the others are in the batches
            faulty.send(to_pcm16(np.concatenate([waves[3], PAUSE])))
            for _ in range(80):  # the client goes on sending: nothing may pile up for it
                try:
                    faulty.send(to_pcm16(PAUSE[:1600]))
                except ConnectionClosed:
                    break
            messages, code = read_until_closed(faulty)
            results = [job.result(timeout=120) for job in others]
        assert messages[-1] == {"type": "error", "code": "internal", "message": "internal error"}
        assert code == 1011
        assert [finals(m) for m, _ in results] == alone
        assert all(m[-1]["type"] == "end" and c == 1000 for m, c in results)
        assert wait_for(lambda: active_sessions(server) == 0)
        assert 's2t_errors_total{code="internal"} 1.0' in server.http("/metrics")[1]


# --- 2. a failed or hung session never blocks shutdown -----------------------------------------


def test_shutdown_finishes_in_bounded_time_with_unresponsive_peers(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    """Peers that never read and never answer the close handshake used to keep SIGTERM from
    ever finishing (closed one at a time, up to 10 s each): the drain closes them all at once
    and drops what does not answer within the close timeout."""
    limits = Limits(drain_timeout_s=1.0)
    with running(bundle, limits) as server:
        peers = [RawClient(server.url()) for _ in range(4)]
        for peer in peers:
            peer.text(json.dumps({"type": "start"}))
            peer.binary(to_pcm16(waves[0]))
        silent = RawClient(server.url())  # never even starts
        assert wait_for(lambda: active_sessions(server) == 5)
        took = server.shut_down()
        for peer in [*peers, silent]:
            peer.close()
    assert server.thread is not None and not server.thread.is_alive()
    assert took < limits.drain_timeout_s + 5.0 + 2.0, took  # drain + close timeout + slack


def test_a_session_started_once_the_drain_began_is_told_to_retry_later(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    with running(bundle) as server:
        busy = connect(server.url())  # its finals keep the drain going a while
        start(busy)
        busy.send(to_pcm16(np.concatenate([waves[4]] * 3)))
        late = connect(server.url())  # let in before the drain, starts after it began
        assert server.stop is not None
        server.loop.call_soon_threadsafe(server.stop.set)
        time.sleep(0.1)
        late.send(json.dumps({"type": "start"}))
        refused, code = read_until_closed(late)
        finished, busy_code = read_until_closed(busy)
    assert [m["code"] for m in refused] == ["shutting_down"] and code == 1013
    assert finished[-1]["type"] == "end" and busy_code == 1001


# --- 3. the drain never calls into an ended stream -----------------------------------------------


def test_a_client_dropping_during_the_drain_disturbs_no_one(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    """SIGTERM, then one client drops its TCP connection while three others go on sending
    audio after the drain ended their streams: those three get their finals, `end` and 1001."""
    with running(bundle, workers=2) as server:
        live = [connect(server.url()) for _ in range(3)]
        for ws in live:
            start(ws)
        dropper = connect(server.url())
        start(dropper)
        for ws in [*live, dropper]:
            ws.send(to_pcm16(np.concatenate([waves[1], PAUSE[:4000]])))
        stop = threading.Event()

        def keep_sending(ws: ClientConnection) -> None:
            while not stop.is_set():
                try:
                    ws.send(to_pcm16(PAUSE[:1600]))
                except ConnectionClosed:
                    return
                time.sleep(0.01)

        senders = [threading.Thread(target=keep_sending, args=(ws,)) for ws in live]
        for sender in senders:
            sender.start()
        time.sleep(0.5)
        assert server.stop is not None
        server.loop.call_soon_threadsafe(server.stop.set)  # what SIGTERM does
        time.sleep(0.005)
        dropper.close_socket()
        results = [read_until_closed(ws) for ws in live]
        stop.set()
        for sender in senders:
            sender.join(10)
    for messages, code in results:
        assert not [m for m in messages if m["type"] == "error"], messages
        assert messages[-1]["type"] == "end" and code == 1001
        assert finals(messages)


# --- 4. finals in audio order --------------------------------------------------------------------


def test_segments_closed_in_one_step_come_in_audio_order(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    """A long sentence, a pause and a short one in one message close two segments in one
    step; the batch computes the short one first, but the finals (and their ids) follow the
    audio."""
    longest = max(waves, key=len)
    shortest = min(waves, key=len)
    audio = np.concatenate([longest, PAUSE, shortest, PAUSE, longest, PAUSE, shortest])
    with running(bundle, workers=1) as server, connect(server.url()) as ws:
        start(ws, partials=False)
        ws.send(to_pcm16(audio))
        ws.send(json.dumps({"type": "end"}))
        messages, _ = read_until_closed(ws)
    got = [m for m in messages if m["type"] == "final"]
    assert len(got) == 4
    assert [m["segment"] for m in got] == [0, 1, 2, 3]
    starts = [m["start_s"] for m in got]
    assert starts == sorted(starts)


# --- 5. floods are back-pressured ----------------------------------------------------------------


def test_a_flood_of_empty_vosk_frames_is_back_pressured_and_answered_one_by_one(
    bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zero-byte frames are 0 s of audio, so audio back-pressure never held them and the
    server grew without bound; counted as messages they stop the reader like audio does."""
    peak = [0]
    original = VoskSession.receive

    def watch(session: VoskSession, message: str | bytes) -> bool:
        peak[0] = max(peak[0], len(session.inbox))
        return original(session, message)

    monkeypatch.setattr(VoskSession, "receive", watch)
    count = 2000
    with running(bundle, Limits(max_queued_messages=16)) as server:
        with connect(server.url("/")) as ws:
            replies: list[Any] = []
            reader = threading.Thread(
                target=lambda: replies.extend(json.loads(m) for m in ws),  # until closed
            )
            reader.start()
            for _ in range(count):
                ws.send(b"")
            ws.send('{"eof" : 1}')
            reader.join(60)
        assert len(replies) == count + 1  # exactly one reply per message
        assert peak[0] <= 16


def test_a_ping_flood_from_a_client_that_does_not_read_is_dropped(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    """Every ping gets a pong; a client that pings without reading made the pongs pile up in
    the server's memory. Past MAX_UNSENT_BYTES the connection is dropped; others go on."""
    with running(bundle) as server:
        steady: list[Any] = []
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(conversation, server.url(), waves[2])
            with raw(server.url(), receive_buffer=4096) as flooder:
                flooder.text(json.dumps({"type": "start"}))
                dropped = False
                deadline = time.monotonic() + 30
                while not dropped and time.monotonic() < deadline:
                    try:
                        for _ in range(200):
                            flooder.ping(bytes(125))
                    except OSError:  # reset by the server
                        dropped = True
                    time.sleep(0.001)
            steady, code = job.result(timeout=60)
        assert dropped
        assert steady[-1]["type"] == "end" and code == 1000 and finals(steady)
        assert 's2t_errors_total{code="not_reading"} 1.0' in server.http("/metrics")[1]
        assert wait_for(lambda: active_sessions(server) == 0)


# --- 6. slow and half-closing clients get every final --------------------------------------------


def test_a_client_that_reads_only_after_sending_gets_every_final(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    """The client sends a long file before reading a thing (so it answers no pings while the
    server's back-pressure holds it): it was closed with 1011 keepalive ping timeout. A
    missing pong closes nothing now."""
    audio = np.concatenate([np.concatenate([w, PAUSE]) for w in waves * 3])  # ~50 s
    limits = Limits(ping_interval_s=0.2, max_buffered_s=1.0)
    with running(bundle, limits) as server:
        reading, _ = conversation(server.url(), audio, partials=False)
        with connect(server.url(), max_queue=1) as ws:  # its socket is not read while it sends
            start(ws)
            for i in range(0, len(audio), 1600):
                ws.send(to_pcm16(audio[i : i + 1600]))
            ws.send(json.dumps({"type": "end"}))
            late, code = read_until_closed(ws)
    assert late[-1]["type"] == "end" and code == 1000
    assert len(finals(late)) == len(finals(reading)) >= len(waves) * 3 - 2


def test_finals_after_end_reach_a_client_that_half_closes(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    audio = np.concatenate([waves[0], PAUSE, waves[1]])
    with running(bundle) as server:
        reading, _ = conversation(server.url(), audio, partials=False)
        with connect(server.url()) as ws:
            start(ws, partials=False)
            ws.send(to_pcm16(audio))
            ws.send(json.dumps({"type": "end"}))
            ws.socket.shutdown(socket.SHUT_WR)  # TCP FIN: nothing more from this side
            messages, _ = read_until_closed(ws)
        assert finals(messages) == finals(reading) and len(finals(reading)) == 2
        assert messages[-1] == reading[-1] and messages[-1]["type"] == "end"
        # a client that half-closes before its `end` is gone: its session is released
        with connect(server.url()) as ws:
            start(ws)
            ws.send(to_pcm16(waves[0]))
            ws.socket.shutdown(socket.SHUT_WR)
            read_until_closed(ws)
        assert wait_for(lambda: active_sessions(server) == 0)


# --- 7. every limit answers with its code ---------------------------------------------------------


def test_limits_answer_with_their_documented_codes(bundle: Bundle) -> None:
    with running(bundle, Limits(max_message_bytes=1000)) as server:
        for send in (
            bytes(10 << 20),  # far over websockets' own frame limit
            "é" * 600,  # 600 characters, 1,200 bytes
        ):
            with connect(server.url(), max_size=None) as ws:
                start(ws)
                ws.send(send)
                messages, code = read_until_closed(ws)
            assert [m["code"] for m in messages] == ["too_large"] and code == 1009
        for text in (
            '{"type": "start", "sample_rate": ' + "9" * 5000 + "}",
            "[" * 100_000 + "]" * 100_000,
        ):
            with connect(server.url(), max_size=None) as ws:
                ws.send(text[:999] if len(text.encode()) > 1000 else text)
                messages, code = read_until_closed(ws)
            assert [m["code"] for m in messages] == ["bad_json"] and code == 1008
        assert 's2t_errors_total{code="too_large"} 2.0' in server.http("/metrics")[1]


def test_a_text_message_that_is_not_utf8_is_refused_in_its_turn(bundle: Bundle) -> None:
    """RFC 6455's 1007, without an error message, for a text frame that is not UTF-8; but only
    once the messages before it are answered: sent in one write after a message of bad JSON, the
    transport used to close with 1007 at once (or between the bad JSON's error and its close,
    on a loaded server), and the client never heard, or heard half of, the first refusal."""
    with running(bundle) as server:
        for path in ("/v1/stream", "/"):  # native, Vosk
            for _ in range(5):
                with raw(server.url(path)) as client:
                    client.texts(b"not json", b"\xff\xfe")
                    messages, code = client.replies()
                assert [m.get("code") for m in messages] == ["bad_json"] and code == 1008, path
            with raw(server.url(path)) as client:
                client.texts(b"\xff\xfe", b"not json")
                assert client.replies() == ([], 1007), path


def test_auth_by_the_rfcs_and_origin_only_when_sent(bundle: Bundle) -> None:
    limits = Limits(token="a+b/c=", origins=("https://captions.example",))
    with running(bundle, limits) as server:
        with connect(server.url() + "?token=a%2Bb%2Fc%3D") as ws:  # percent-encoded, no Origin
            start(ws)
        with connect(server.url(), additional_headers={"Authorization": "bearer a+b/c="}) as ws:
            start(ws)


def test_vosk_takes_any_frame_length_and_a_binary_eof(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    """vosk-server's ffmpeg example reads 8,000-byte pipe chunks, not always even; some clients
    send eof as a binary frame. A config after audio is refused."""
    data = to_pcm16(np.concatenate([waves[0], PAUSE, waves[2]]))
    with running(bundle) as server:
        transcripts = []
        for step, eof in ((8000, '{"eof" : 1}'), (7999, b'{"eof" : 1}')):
            replies = []
            with connect(server.url("/")) as ws:
                for i in range(0, len(data), step):
                    ws.send(data[i : i + step])
                    replies.append(json.loads(ws.recv(timeout=30)))
                ws.send(eof)
                replies.append(json.loads(ws.recv(timeout=30)))
            transcripts.append(" ".join(r["text"] for r in replies if r.get("text")))
        assert transcripts[0] == transcripts[1] != ""
        with connect(server.url("/")) as ws:
            ws.send(data[:3200])
            ws.recv(timeout=30)
            ws.send('{"config": {"sample_rate": 8000}}')
            messages, code = read_until_closed(ws)
        assert [m.get("code") for m in messages] == ["already_started"] and code == 1008
