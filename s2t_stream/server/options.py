"""The server's limits and settings, as one typed value (torch- and transport-free: the command
line builds its parser from these defaults)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from s2t_stream.errors import OptionsError

NATIVE_PATH = "/v1/stream"
MIB = 1 << 20
CLOSE_TIMEOUT_S = 5.0  # a closing handshake's longest wait before the connection is dropped
MAX_UNSENT_BYTES = 1 << 20  # bytes a connection may owe a client that does not read (pongs)


@dataclass(frozen=True)
class Limits:
    """Per-server and per-session limits. Times in seconds.

    Back-pressure: the server stops reading a client while more than `max_buffered_s` of its
    audio, or `max_queued_messages` of its messages, wait for the model (and, on the Vosk
    protocol, which answers every message, while that many replies wait to be read). A session
    with no client message for `idle_timeout_s` is closed, and so is one whose client has not
    read for that long while its replies block it. Keep-alive pings go out every
    `ping_interval_s` so that proxies keep a quiet connection open; a missing pong closes
    nothing (a client busy sending a file, or starved of CPU, is not dead: the idle timeout
    finds clients that are). On shutdown open sessions get
    `drain_timeout_s` for their last finals, then every connection is closed at once (at most
    `CLOSE_TIMEOUT_S` more). A REST transcription's upload is at most `max_upload_mb` MiB (HTTP
    413 beyond it); each one running counts as a session against `max_sessions`."""

    max_sessions: int = 64
    max_message_bytes: int = 1 << 20
    max_session_s: float = 4 * 3600.0
    idle_timeout_s: float = 30.0
    max_buffered_s: float = 5.0  # audio received but not yet processed, per session
    max_queued_messages: int = 64  # messages waiting for the model (or Vosk replies unread)
    token: str | None = None
    origins: tuple[str, ...] | None = None
    drain_timeout_s: float = 30.0
    ping_interval_s: float = 20.0  # keep-alive pings (for proxies); a missing pong closes nothing
    max_upload_mb: float = 25.0  # largest REST upload (request body), MiB (OpenAI's own limit)

    @property
    def max_upload_bytes(self) -> int:
        return round(self.max_upload_mb * MIB)

    def __post_init__(self) -> None:
        for name in ("max_sessions", "max_message_bytes", "max_session_s", "idle_timeout_s",
                     "max_buffered_s", "max_queued_messages", "drain_timeout_s",
                     "ping_interval_s", "max_upload_mb"):  # fmt: skip
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
