"""A connection's reading limits on a fake websocket: message size, idle time, session length."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from s2t_stream.errors import ProtocolError
from s2t_stream.server.connection import Incoming
from s2t_stream.server.options import Limits


class Socket:
    """Gives its messages, then waits forever."""

    def __init__(self, *messages: str | bytes) -> None:
        self.messages = list(messages)

    async def recv(self) -> str | bytes:
        if self.messages:
            return self.messages.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def incoming(limits: Limits, *messages: str | bytes) -> Incoming:
    return Incoming(Socket(*messages), limits)


def refusal(reader: Incoming) -> ProtocolError:
    with pytest.raises(ProtocolError) as refused:
        asyncio.run(asyncio.wait_for(reader.next(), 5))
    return refused.value


def test_messages_pass_within_the_limits_and_too_large_ones_are_refused() -> None:
    reader = incoming(Limits(max_message_bytes=4), b"1234", "abcd", b"12345")
    assert asyncio.run(reader.next()) == b"1234"
    assert asyncio.run(reader.next()) == "abcd"
    error = refusal(reader)
    assert (error.code, error.close_code) == ("too_large", 1009)
    assert error.message == "messages are limited to 4 bytes, got 5"


def test_a_silent_client_times_out_with_a_normal_close() -> None:
    error = refusal(incoming(Limits(idle_timeout_s=0.01)))
    assert (error.code, error.close_code) == ("idle_timeout", 1000)


def test_a_session_may_not_outlast_its_limit() -> None:
    reader = incoming(Limits(max_session_s=60.0), "{}")
    reader.opened_at -= 61.0
    error = refusal(reader)
    assert (error.code, error.close_code) == ("session_too_long", 1008)
    assert cast(Socket, reader.websocket).messages == ["{}"]  # checked before reading
