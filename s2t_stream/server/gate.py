"""Who gets in: `/healthz` (alive), `/readyz` (taking new sessions), `/metrics`, the stream paths'
handshakes, the bearer token (header or `?token=`), the Origin allow-list and the 503 (with
`Retry-After`) when full or draining. Transport-free: requests are `Asked` values (path with its
query, headers), answers are `Answer` values; the ASGI app (server/routes.py) turns them into
responses."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qs

from s2t_stream.server.metrics import Metrics
from s2t_stream.server.options import NATIVE_PATH, Limits

VOSK_PATHS = ("/", "")
METRICS_TYPE = "text/plain; version=0.0.4"
# Seconds a refused client (or a load balancer's health check) is told to wait. Behind a load
# balancer the retry lands on another replica at once; alone, a restarted server is back in
# seconds.
RETRY_AFTER_S = 5


class Asked(Protocol):
    """A request as the gate sees it: its target (path and query, as sent) and its headers
    (looked up case-insensitively)."""

    @property
    def path(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class RequestParts:
    """An `Asked` made from a request's parts."""

    path: str
    headers: Mapping[str, str]


def path_of(target: str) -> str:
    """A request target without its query."""
    return target.partition("?")[0]


def protocol_of(target: str) -> str:
    """The protocol a stream path speaks: "native" on the native path, else "vosk"."""
    return "native" if path_of(target) == NATIVE_PATH else "vosk"


def given_token(request: Asked) -> str:
    """The token a client offers. With an `Authorization` header: its Bearer credentials (the
    scheme compared case-insensitively, RFC 6750 §2.1, RFC 7235 §2.1; a bare token without a
    scheme is taken too, another scheme gives ""). Without one: the `token` query parameter,
    percent-decoded (RFC 6750 §2.3; browsers cannot set websocket headers). "" when neither."""
    header = request.headers.get("Authorization")
    if header is None:
        return parse_qs(request.path.partition("?")[2]).get("token", [""])[0]
    scheme, _, credentials = header.strip().partition(" ")
    if not credentials:
        return scheme
    return credentials.strip() if scheme.lower() == "bearer" else ""


def authorised(request: Asked, token: str) -> bool:
    """Whether `request` offers `token` (compared in constant time)."""
    return hmac.compare_digest(given_token(request).encode(), token.encode())


@dataclass(frozen=True)
class Answer:
    """The HTTP response the gate gives instead of a websocket."""

    status: HTTPStatus
    body: str
    content_type: str | None = None  # added to the default text/plain one
    retry_after_s: int | None = None  # a `Retry-After` header (on 503)


class Gate:
    """The websocket handshakes' gate (and the operations paths'): answers health, readiness and
    metrics, refuses unknown paths (404), a missing or wrong token (401) and, when
    `open_sessions()` reaches the limit or the server is `draining`, new sessions (503); lets
    the rest through to the Origin check (`allows_origin`: 403) and the handshake.

    `/healthz` is 200 as long as the process serves (liveness: restart it when this fails);
    `/readyz` is 200 while a new session would be taken and 503 when it would be refused —
    full, or draining, from the drain's first moment (readiness: send no new sessions here)."""

    def __init__(self, limits: Limits, metrics: Metrics, open_sessions: Callable[[], int]) -> None:
        self.limits = limits
        self.metrics = metrics
        self.open_sessions = open_sessions
        self.draining = False

    def answer(self, request: Asked) -> Answer | None:
        """What to answer `request` with (None: go on with the websocket handshake)."""
        path = path_of(request.path)
        if path == "/healthz":
            return Answer(HTTPStatus.OK, "ok\n")
        if path == "/readyz":
            refusal = self.refusal()
            return Answer(HTTPStatus.OK, "ready\n") if refusal is None else refusal
        if path == "/metrics":
            return Answer(HTTPStatus.OK, self.metrics.text().decode(), METRICS_TYPE)
        if path not in (NATIVE_PATH, *VOSK_PATHS):
            return Answer(HTTPStatus.NOT_FOUND, f"no such path: {path}\n")
        if self.limits.token and not authorised(request, self.limits.token):
            self.metrics.errors.labels("unauthorized").inc()
            return Answer(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token\n")
        refusal = self.refusal()
        if refusal is not None:
            self.metrics.errors.labels("too_many_sessions").inc()
        return refusal

    def refusal(self) -> Answer | None:
        """The 503 a new session would get now (draining, or full), or None: it would be taken."""
        if self.draining:
            reason = "draining: the server is shutting down; retry later"
        elif self.open_sessions() >= self.limits.max_sessions:
            reason = (
                f"full: the limit of {self.limits.max_sessions} sessions is reached; retry later"
            )
        else:
            return None
        return Answer(HTTPStatus.SERVICE_UNAVAILABLE, f"{reason}\n", retry_after_s=RETRY_AFTER_S)

    def origins(self) -> list[str | None] | None:
        """The allowed Origin headers (None: any). The allow-list restricts browsers, which
        always send `Origin` on a websocket handshake and a cross-site request; a client that
        sends none (native programs, Vosk clients, curl) is not a browser page and passes."""
        if not self.limits.origins:
            return None
        return [*self.limits.origins, None]

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a request with this `Origin` header (None: none) may go on."""
        allowed = self.origins()
        return allowed is None or origin in allowed
