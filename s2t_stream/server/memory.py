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

Written by hand because no library does this: two calls into the C library, made through
ctypes, and nothing at all where the C library is not glibc."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("s2t_stream.server")

M_ARENA_MAX = -8  # a mallopt parameter, from glibc's malloc.h
ARENAS = 2


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
