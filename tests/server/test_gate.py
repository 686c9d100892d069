"""The HTTP gate on hand-made requests: routes, the bearer token from the header or the query,
the 503 when full or draining, the metrics' content type, and the Origin allow-list."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest
from starlette.datastructures import Headers

from s2t_stream.server.gate import (
    RETRY_AFTER_S,
    Answer,
    Gate,
    RequestParts,
    authorised,
    given_token,
    protocol_of,
)
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.options import Limits
from s2t_stream.server.routes import response


def request(path: str, **headers: str) -> RequestParts:
    return RequestParts(path, Headers(headers))


def gate(limits: Limits, open_sessions: Callable[[], int] = lambda: 0) -> Gate:
    return Gate(limits, Metrics(), open_sessions)


def errors(gate: Gate, code: str) -> float | None:
    return gate.metrics.registry.get_sample_value("s2t_errors_total", {"code": code})


@pytest.mark.parametrize(
    ("path", "headers", "offered", "allowed"),
    [
        ("/v1/stream", {"Authorization": "Bearer s3cret"}, "s3cret", True),
        ("/v1/stream", {"Authorization": "Bearer  s3cret "}, "s3cret", True),
        ("/v1/stream?token=s3cret", {}, "s3cret", True),
        ("/?a=1&token=s3cret&b", {}, "s3cret", True),
        ("/v1/stream?token=nope", {}, "nope", False),
        ("/v1/stream", {}, "", False),
        # the header, when there is one, wins over the query
        ("/v1/stream?token=s3cret", {"Authorization": "Bearer nope"}, "nope", False),
        ("/v1/stream", {"Authorization": "s3cret"}, "s3cret", True),  # "Bearer " is optional
        ("/v1/stream", {"Authorization": "bearer s3cret"}, "s3cret", True),  # any case
        ("/v1/stream", {"Authorization": "BEARER s3cret"}, "s3cret", True),
        ("/v1/stream", {"Authorization": "Basic s3cret"}, "", False),  # another scheme
        ("/v1/stream?token=s%33cret", {}, "s3cret", True),  # percent-encoded
        ("/v1/stream?token=a%2Bb%3D%3D", {}, "a+b==", False),
    ],
)
def test_the_token_comes_from_the_header_else_the_query(
    path: str, headers: dict[str, str], offered: str, allowed: bool
) -> None:
    asked = request(path, **headers)
    assert given_token(asked) == offered
    assert authorised(asked, "s3cret") is allowed


def test_health_metrics_and_unknown_paths_are_answered_without_a_token() -> None:
    door = gate(Limits(token="s3cret"))
    health = door.answer(request("/healthz"))
    assert health is not None and (health.status, health.body) == (HTTPStatus.OK, "ok\n")
    metrics = door.answer(request("/metrics?x=1"))
    assert metrics is not None and metrics.status == HTTPStatus.OK
    assert "s2t_sessions_active" in metrics.body
    assert "s2t_sessions_capacity" in metrics.body and "s2t_draining 0.0" in metrics.body
    assert metrics.content_type == "text/plain; version=0.0.4"
    missing = door.answer(request("/v2/stream"))
    assert missing is not None and missing.status == HTTPStatus.NOT_FOUND
    assert missing.body == "no such path: /v2/stream\n"


def test_stream_paths_need_the_token_when_one_is_set() -> None:
    door = gate(Limits(token="s3cret"))
    for path in ("/v1/stream", "/", "?token=nope"):
        refused = door.answer(request(path))
        assert refused is not None and refused.status == HTTPStatus.UNAUTHORIZED
    assert errors(door, "unauthorized") == 3
    assert door.answer(request("/v1/stream?token=s3cret")) is None
    assert door.answer(request("/", Authorization="Bearer s3cret")) is None
    assert gate(Limits()).answer(request("/v1/stream")) is None  # no token set: open


def test_new_sessions_are_refused_when_full_or_draining() -> None:
    count = [1]
    door = gate(Limits(max_sessions=2), lambda: count[0])
    assert door.answer(request("/v1/stream")) is None
    count[0] = 2
    full = door.answer(request("/v1/stream"))
    assert full is not None and full.status == HTTPStatus.SERVICE_UNAVAILABLE
    count[0] = 0
    door.draining = True
    draining = door.answer(request("/"))
    assert draining is not None and draining.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert errors(door, "too_many_sessions") == 2
    health = door.answer(request("/healthz"))  # health still answers while draining
    assert health is not None and health.status == HTTPStatus.OK


def test_readyz_says_whether_a_new_session_would_be_taken() -> None:
    count = [0]
    door = gate(Limits(max_sessions=2, token="s3cret"), lambda: count[0])
    ready = door.answer(request("/readyz"))  # no token needed, as for /healthz
    assert ready is not None and (ready.status, ready.body) == (HTTPStatus.OK, "ready\n")
    assert ready.retry_after_s is None
    count[0] = 2
    full = door.answer(request("/readyz"))
    assert full is not None and full.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert full.body.startswith("full:") and full.retry_after_s == RETRY_AFTER_S
    count[0] = 0
    door.draining = True
    draining = door.answer(request("/readyz?x=1"))
    assert draining is not None and draining.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert draining.body.startswith("draining:") and draining.retry_after_s == RETRY_AFTER_S
    health = door.answer(request("/healthz"))
    assert health is not None and health.status == HTTPStatus.OK
    assert errors(door, "too_many_sessions") is None  # a readiness check refuses no session


def test_the_gates_answers_become_http_responses() -> None:
    door = gate(Limits())
    answer = door.answer(request("/metrics"))
    assert answer is not None
    metrics = response(answer)
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Retry-After" not in metrics.headers
    assert door.answer(request("/v1/stream")) is None
    door.draining = True
    refusal = door.answer(request("/v1/stream"))
    assert isinstance(refusal, Answer)
    refused = response(refusal)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert refused.body.decode() == "draining: the server is shutting down; retry later\n"


def test_protocol_by_path_and_the_origin_allow_list() -> None:
    assert protocol_of("/v1/stream?token=x") == "native"
    assert protocol_of("/") == protocol_of("") == "vosk"
    assert gate(Limits()).origins() is None
    assert gate(Limits()).allows_origin("https://any.example")
    door = gate(Limits(origins=("https://a.example", "https://b.example")))
    origins: Any = door.origins()
    # a client without an Origin header is no browser page: the allow-list does not apply
    assert origins == ["https://a.example", "https://b.example", None]
    assert door.allows_origin("https://b.example") and door.allows_origin(None)
    assert not door.allows_origin("https://evil.example")
