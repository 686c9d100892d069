"""Lossless reconnection end to end, in process: a client streaming through a server that
drains mid-stream (and is replaced on the same port, as a restarted replica is) resumes in a
new session; its transcript is the one an uninterrupted session gives, no word lost or doubled,
times and segment ids running on."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import connect

from s2t_stream.io.client import NativeClient
from s2t_stream.model.audio import to_pcm16
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.streaming.events import Event, Final
from s2t_stream.streaming.policy import PolicyOptions
from tests.helpers import assert_same_stream, running, silence
from tests.server.test_server import receive_all, start

pytestmark = [pytest.mark.network, pytest.mark.model, pytest.mark.slow]
CHUNK = 1600  # 0.1 s messages


def finals_of(events: list[Event]) -> list[Final]:
    return [e for e in events if isinstance(e, Final)]


def test_a_client_resumes_across_a_drained_server_losing_no_word(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    parts = [silence(0.3)]
    for wave in waves[:4]:
        parts += [wave, silence(1.0)]
    audio = np.concatenate(parts)
    # no early commits (a wide AlignAtt border): each final decodes its whole segment at once,
    # so it cannot depend on when the updates before it ran
    wide = PolicyOptions(border_s=100.0)
    with running(bundle, policy=wide) as server:
        port = server.port
        with NativeClient(server.url(), 16000) as client:
            whole = [
                e for i in range(0, len(audio), CHUNK) for e in client.push(audio[i : i + CHUNK])
            ]
            whole += client.end()
        # the same stream, the server draining after the first final
        events: list[Event] = []
        sessions: list[str] = []
        first_final = threading.Event()

        def stream() -> None:
            with NativeClient(server.url(), 16000, reconnects=5) as client:
                sessions.append(client.ready.session)
                for i in range(0, len(audio), CHUNK):
                    got = client.push(audio[i : i + CHUNK])
                    events.extend(got)
                    if finals_of(got):
                        first_final.set()
                    time.sleep(0.02)  # 5× real time: the drain comes mid-stream
                events.extend(client.end())
                sessions.append(client.ready.session)

        streaming = threading.Thread(target=stream)
        streaming.start()
        assert first_final.wait(60), "no final before the drain"
    # `running` drained and stopped it: a new server takes its port
    with running(bundle, port=port, policy=wide):
        streaming.join(120)
        assert not streaming.is_alive()
    assert len(set(sessions)) == 2, sessions  # it did resume, in a session of the new server
    resumed = finals_of(events)
    assert_same_stream(resumed, finals_of(whole))  # no segment lost or doubled
    assert [f.segment for f in resumed] == list(range(len(resumed)))
    starts = [f.start_s for f in resumed]
    assert starts == sorted(starts) and resumed[-1].end_s <= len(audio) / 16000
    assert len(resumed) >= 2 and resumed[-1].end_s > 4.0  # the second server's finals, later


def test_a_draining_server_says_so_before_the_finals_it_cuts_short(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    mid_sentence = waves[3][: len(waves[3]) // 2]  # the drain comes while it is being spoken
    messages: list[dict[str, Any]] = []
    with running(bundle) as server:
        ws = connect(server.url())
        start(ws)
        ws.send(to_pcm16(mid_sentence))
        time.sleep(1.0)  # the server has it all (no `end`: the stream is still open)
        reader = threading.Thread(target=lambda: messages.extend(receive_all(ws)))
        reader.start()
    # leaving `running` drained the server and stopped it
    reader.join(30)
    ws.close()
    kinds = [m["type"] for m in messages]
    assert "draining" in kinds and kinds[-1] == "end", kinds
    cut = [m for m in messages[kinds.index("draining") :] if m["type"] == "final"]
    assert cut and cut[-1]["text"], messages  # the half sentence's final, after `draining`


def test_without_reconnects_a_drained_sessions_last_final_still_arrives(
    bundle: Bundle, waves: list[np.ndarray]
) -> None:
    mid_sentence = waves[3][: len(waves[3]) // 2]
    events: list[Event] = []
    with running(bundle) as server:
        client = NativeClient(server.url(), 16000)  # reconnects=0: nothing to resume with
        events += client.push(mid_sentence)
        time.sleep(1.0)

        def poll() -> None:
            deadline = time.monotonic() + 30
            while client.ended is None and time.monotonic() < deadline:
                events.extend(client.push(np.zeros(0, np.float32)))
                time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()
    # leaving `running` drained the server
    poller.join(40)
    client.close()
    assert client.ended is not None
    assert finals_of(events) and finals_of(events)[-1].text  # the cut final, not withheld
