"""Keeping a long-running server's memory flat: glibc's allocator, tuned and trimmed.

Measured with bench/bench_soak.py (32 clients opening and closing sessions for 10 minutes): the
server's Python objects do not grow (tracemalloc: no session, stream or buffer outlives its
connection), but its resident memory did, from 499 MiB after the first minute to 630 MiB, and
none of it came back when every session had closed. That is the C allocator: the model's
tensors (a few KiB to a few MiB, a different size every round) are allocated on several worker
threads, each of which gets an arena of its own, and glibc raises its mmap threshold after the
first large free, so later large tensors come from those arenas too and leave them fragmented.
Two arenas, a fixed mmap threshold (large blocks go straight back to the system when freed) and
a periodic `malloc_trim` (which returns the free pages inside the arenas) keep it flat.

Written by hand because no library does this: it is three calls into the C library, made
through ctypes, and nothing at all where the C library is not glibc."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("s2t_stream.server")

# mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 128 * 1024  # glibc's initial default, kept fixed instead of rising to 32 MiB


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def tune_allocator() -> bool:
    """Set glibc's arena count and mmap threshold (call before the worker threads start).
    Returns whether it could (False where the C library is not glibc)."""
    if _LIBC is None:
        return False
    done = bool(_LIBC.mallopt(M_ARENA_MAX, ARENAS)) and bool(
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    )
    if not done:
        log.warning("could not tune the C allocator; memory may grow under load")
    return done


def trim() -> bool:
    """Give the free memory inside the allocator's arenas back to the system
    (`malloc_trim(0)`). Returns whether any was given back."""
    return _LIBC is not None and bool(_LIBC.malloc_trim(0))
