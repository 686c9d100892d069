"""The allocator tuning the server applies (server/memory.py) reaches glibc where it runs."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from s2t_stream.server import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="not a glibc system")
def test_glibc_takes_the_tuning_and_trims() -> None:
    assert memory.tune_allocator() is True
    blocks = [bytearray(64 * 1024) for _ in range(2000)]  # 128 MiB below the mmap threshold
    del blocks[::2]  # free pages inside the heap, which free() cannot give back from its top
    assert memory.trim() is True
    assert len(blocks) == 1000


SAME_SHAPE_TWICE = """
import sys, torch
from s2t_stream.server import memory
if sys.argv[1] == "bound":
    memory.bound_kernel_cache()
conv = torch.nn.Conv1d(80, 512, 5, stride=2, padding=2)  # the subsampler's first
with torch.inference_mode():
    conv(torch.randn(2, 80, 300)); conv(torch.randn(2, 80, 300))
"""


def kernels_built(*argv: str) -> tuple[int, int]:
    """(cache hits, cache misses) of oneDNN kernels for one shape convolved twice."""
    env = {**os.environ, "ONEDNN_VERBOSE": "2", "OMP_NUM_THREADS": "1"}
    env.pop(memory.KERNEL_CACHE_VARIABLE, None)
    command = [sys.executable, "-c", SAME_SHAPE_TWICE, *argv]
    log = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return log.count("create:cache_hit"), log.count("create:cache_miss")


def test_the_server_keeps_no_onednn_kernels() -> None:
    """Without the bound, the second call finds its kernels in the cache; with it, every call
    builds them again (server/memory.py: the cache is what grew)."""
    hits, misses = kernels_built("default")
    if hits + misses == 0:
        pytest.skip("this torch build runs the convolution without oneDNN (nothing to bound)")
    assert hits > 0
    hits, misses = kernels_built("bound")
    assert hits == 0 and misses > 0


def test_an_operators_kernel_cache_setting_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(memory.KERNEL_CACHE_VARIABLE, "1024")
    memory.bound_kernel_cache()
    assert os.environ[memory.KERNEL_CACHE_VARIABLE] == "1024"


CLOSED_CONNECTIONS = """
import gc, sys, weakref
from s2t_stream.server import memory
startup = [[i] for i in range(1_000_000)]  # long-lived, as a loaded model's objects are
if sys.argv[1] == "frozen":
    memory.freeze_startup_objects()
class Connection:  # a cycle, as a websocket protocol object and its hooks are
    def __init__(self):
        self.me = self
open_now, made = [], []
for _ in range(300):
    batch = [Connection() for _ in range(100)]
    made += [weakref.ref(c) for c in batch]
    open_now.append(batch)
    traffic = [[j] for j in range(2000)]  # the allocations that drive the collector
    if len(open_now) > 5:  # close the oldest: garbage that has reached the oldest generation
        open_now.pop(0)
print(sum(ref() is not None for ref in made))
"""


def connections_still_held(mode: str) -> int:
    """Of 30,000 cyclic 'connections' opened and closed after start-up, how many the
    collector has not freed by the end (no explicit gc.collect)."""
    command = [sys.executable, "-c", CLOSED_CONNECTIONS, mode]
    return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def test_frozen_start_up_lets_the_collector_free_closed_connections_soon() -> None:
    plain, frozen = connections_still_held("plain"), connections_still_held("frozen")
    assert plain > 15_000  # the oldest generation waits for ~250,000 new objects
    assert frozen < 6_000, (frozen, plain)  # a few batches' worth
