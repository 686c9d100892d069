"""The allocator tuning the server applies (server/memory.py) reaches glibc where it runs."""

from __future__ import annotations

import platform

import pytest

from s2t_stream.server import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="not a glibc system")
def test_glibc_takes_the_tuning_and_trims() -> None:
    assert memory.tune_allocator() is True
    blocks = [bytearray(64 * 1024) for _ in range(2000)]  # 128 MiB below the mmap threshold
    del blocks[::2]  # free pages inside the heap, which free() cannot give back from its top
    assert memory.trim() is True
    assert len(blocks) == 1000
