"""The outbox: messages in order, a partial the client has not been sent replaced by its
segment's newer one (never a final), and a close that lets the writer finish."""

from __future__ import annotations

import asyncio
from typing import Any

from s2t_stream.server.outbox import Outbox


def partial(segment: int, text: str) -> dict[str, Any]:
    return {"type": "partial", "segment": segment, "committed": "", "tentative": text}


def final(segment: int) -> dict[str, Any]:
    return {"type": "final", "segment": segment, "text": "done"}


def test_an_unsent_partial_gives_way_to_its_segments_newer_one_and_finals_stay() -> None:
    box = Outbox(coalesce=True)
    for message in (
        partial(0, "a"),
        partial(0, "a b"),  # replaces "a"
        final(0),
        partial(1, "c"),
        final(1),
        final(2),  # a final never replaces anything
        partial(3, "d"),
        partial(4, "e"),  # another segment: kept
    ):
        box.put(message)
    assert list(box.queue) == [
        partial(0, "a b"), final(0), partial(1, "c"), final(1), final(2),
        partial(3, "d"), partial(4, "e"),
    ]  # fmt: skip


def test_without_coalescing_every_message_is_kept() -> None:
    box = Outbox()
    box.put(partial(0, "a"))
    box.put(partial(0, "a b"))
    assert len(box) == 2


def test_the_writer_gets_everything_queued_then_none_after_close() -> None:
    async def scenario() -> list[Any]:
        box = Outbox()
        got: list[Any] = []

        async def writer() -> None:
            while (message := await box.get()) is not None:
                got.append(message)

        task = asyncio.create_task(writer())
        box.put(final(0))
        await asyncio.sleep(0)
        box.put(final(1))
        box.close()
        box.put(final(2))  # after close: dropped
        await asyncio.wait_for(task, 1)
        return got

    assert asyncio.run(scenario()) == [final(0), final(1)]
