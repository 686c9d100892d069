"""A connection's messages on their way to the client, in order, with a bound that never costs a
final: a partial the client has not yet been sent is replaced by the newer one of its segment."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, TypeAlias

Message: TypeAlias = dict[str, Any]


def _supersedes(new: Message, old: Message) -> bool:
    """Whether `new` makes the queued `old` worthless: both partials of one segment (a partial
    carries the segment's whole text, docs/protocol.md)."""
    return new.get("type") == old.get("type") == "partial" and new.get("segment") == old.get(
        "segment"
    )


class Outbox:
    """Messages waiting for the connection's one writer task. Event loop only.

    `coalesce`: a partial replaces the last queued message when that is an unsent partial of the
    same segment, so a client that reads slower than partials are made gets the newest text and
    every final, and the queue holds at most one partial per segment (the native protocol; Vosk
    answers every client message, so its replies are all kept and counted for back-pressure).
    `close()` ends the writer once what is queued has gone; messages put after it are dropped."""

    def __init__(self, coalesce: bool = False) -> None:
        self.coalesce = coalesce
        self.queue: deque[Message] = deque()
        self.closed = False
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self.queue)

    def put(self, message: Message) -> None:
        if self.closed:
            return
        if self.coalesce and self.queue and _supersedes(message, self.queue[-1]):
            self.queue[-1] = message
        else:
            self.queue.append(message)
        self._ready.set()

    def close(self) -> None:
        """No more messages: the writer stops after the queued ones."""
        self.closed = True
        self._ready.set()

    async def get(self) -> Message | None:
        """The next message, waiting for one; None once closed and empty."""
        while not self.queue:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self.queue.popleft()
