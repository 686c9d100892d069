"""The server's limits and settings, as one typed value (torch- and websockets-free: the
command line builds its parser from these defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from s2t_stream.errors import OptionsError

NATIVE_PATH = "/v1/stream"
TOKEN_ENV = "S2T_STREAM_TOKEN"


@dataclass(frozen=True)
class Limits:
    """Per-server and per-session limits. Times in seconds."""

    max_sessions: int = 64
    max_message_bytes: int = 1 << 20
    max_session_s: float = 4 * 3600.0
    idle_timeout_s: float = 30.0
    max_buffered_s: float = 5.0  # audio received but not yet processed, per session
    token: str | None = None
    origins: tuple[str, ...] | None = None
    drain_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_sessions", "max_message_bytes", "max_session_s", "idle_timeout_s",
                     "max_buffered_s", "drain_timeout_s"):  # fmt: skip
            if getattr(self, name) <= 0:
                raise OptionsError(f"Limits.{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class ServerOptions:
    """Where to listen and how to compute: `workers` model threads, `threads` torch threads in
    each model call (on CPU parallel workers beat parallel matrices)."""

    host: str = "127.0.0.1"
    port: int = 2700
    workers: int = os.cpu_count() or 1
    threads: int = 1
    log_json: bool = False
