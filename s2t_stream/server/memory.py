"""Keeping a long-running server's memory flat: glibc's allocator, tuned and trimmed.

Measured with bench/bench_soak.py (32 clients opening and closing sessions for 10 minutes): the
server's Python objects do not grow (tracemalloc: no session, stream or buffer outlives its
connection), but its resident memory did, from 499 MiB after the first minute to 630 MiB, and
none of it came back when every session had closed. That is native memory: the model's tensors
(a few KiB to a few MiB, a different size every round) are allocated on several worker threads,
each of which gets a glibc arena of its own. Two arenas and a periodic `malloc_trim` (which
returns the free pages inside the arenas) give most of it back when sessions close (489 MiB
after the same soak; it still grows while they run: README, "Server performance"). A fixed
mmap threshold (large blocks straight back to the system) halved the growth but cost a third
more CPU (p95 finalisation latency at 32 streams 3.7 s instead of 1.15 s): not used.

The third part is oneDNN's primitive cache: torch builds a oneDNN convolution (and its
reorders) for each input shape the encoder's subsampler sees, and keeps up to 1,024 of them.
A server sees a new shape nearly every round, so the cache never hits; its kernels, allocated
among the rounds' short-lived tensors, pin pages that no trim gives back. Encoding 300 windows
of random shapes on one thread (no trim) grew the process from 275 to 679 MiB with the cache
and to 336 MiB without it, while building a convolution without the cache costs under 0.1 ms
(an encoder call on 4 × 1000 frames: 190 ms with or without). `bound_kernel_cache` turns it
off unless the operator set ONEDNN_PRIMITIVE_CACHE_CAPACITY.

The fourth is Python's own cyclic garbage collector. A closed connection leaves a cycle (the
websocket protocol object, its hooks, its queues and any frames still queued) that only the
collector frees, and by then it has lived long enough to sit in the oldest generation, which
CPython collects only once the objects promoted there since the last full collection exceed a
quarter of those already there: after the models load that is ~190,000 objects (torch, the
models' modules, the libraries), so ~47,000 must pile up first. A soak run showed it: after
every session had closed, 78 protocol objects of closed connections and their queued frames
were still held. And each full collection walks all ~190,000, ~80 ms on this project's CPU,
holding the GIL and so pausing every worker lane. `freeze_startup_objects` moves everything
alive at start-up into CPython's permanent generation (`gc.freeze`), where the collector never
looks again: full collections compare against what the server made since, so connection
garbage goes soon, and one takes well under a millisecond. (In 10-minute soaks the resident
memory was the same with and without it, +2.7 % and +2.2 %: the pause is what it saves.)

Written by hand because no library does this: two calls into the C library, made through
ctypes, and nothing at all where the C library is not glibc; one environment variable."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os

log = logging.getLogger("s2t_stream.server")

M_ARENA_MAX = -8  # a mallopt parameter, from glibc's malloc.h
ARENAS = 2
KERNEL_CACHE_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"  # oneDNN's, read at its first kernel


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def tune_allocator() -> bool:
    """Set glibc's arena count (call before the worker threads start).
    Returns whether it could (False where the C library is not glibc)."""
    if _LIBC is None:
        return False
    done = bool(_LIBC.mallopt(M_ARENA_MAX, ARENAS))
    if not done:
        log.warning("could not tune the C allocator; memory may grow under load")
    return done


def trim() -> bool:
    """Give the free memory inside the allocator's arenas back to the system
    (`malloc_trim(0)`). Returns whether any was given back."""
    return _LIBC is not None and bool(_LIBC.malloc_trim(0))


def bound_kernel_cache() -> None:
    """Keep no oneDNN primitives (see the module) unless KERNEL_CACHE_VARIABLE is set. oneDNN
    reads it when it builds its first kernel: call before the model's first forward pass."""
    os.environ.setdefault(KERNEL_CACHE_VARIABLE, "0")


def freeze_startup_objects() -> int:
    """Collect once, then put every object alive now out of the cyclic collector's sight
    (`gc.freeze`; see the module). Call when the models are loaded, before serving: whatever
    is frozen is never freed. Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    gc.collect()  # an empty oldest generation now: resets the count full collections wait on
    return gc.get_freeze_count()
