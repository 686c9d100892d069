"""The ASGI app (Starlette): every route on one port. Websockets: the native protocol at
`/v1/stream`, vosk-server's at `/`. HTTP: the web page at `/` (its files at `/web/<name>`),
`/healthz`, `/readyz`, `/metrics`, OpenAI's audio API (`/v1/audio/transcriptions`,
`/v1/audio/translations`, `/v1/models`) and `/v1/languages` (the target languages on offer).
The gate (token, Origin, capacity, drain) answers before any of them does its work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from s2t_stream.server import web
from s2t_stream.server.connection import Connections, Link
from s2t_stream.server.formats import ApiError, model_json, model_list, render
from s2t_stream.server.gate import Answer, Gate, RequestParts, authorised, protocol_of
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.options import NATIVE_PATH, Limits
from s2t_stream.server.rest import ALIAS, Body, Transcriptions, asked_of, read_form

log = logging.getLogger("s2t_stream.server")
OPERATIONS = ("/healthz", "/readyz", "/metrics")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ERROR_LABELS = {401: "unauthorized", 403: "forbidden_origin", 413: "too_large",
                500: "internal", 503: "too_many_sessions"}  # fmt: skip  # else bad_request


def parts(connection: HTTPConnection) -> RequestParts:
    """A request as the gate sees it: its target as sent (path and query) and its headers."""
    scope = connection.scope
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return RequestParts(f"{path}?{query}" if query else path, connection.headers)


def response(answer: Answer) -> Response:
    """The gate's answer as an HTTP response (text/plain unless it says otherwise)."""
    headers = {}
    if answer.retry_after_s is not None:
        headers["Retry-After"] = str(answer.retry_after_s)
    return PlainTextResponse(
        answer.body,
        status_code=answer.status,
        headers=headers,
        media_type=answer.content_type or "text/plain",
    )


def error_response(error: ApiError) -> JSONResponse:
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    return JSONResponse(error.to_json(), status_code=error.status, headers=headers)


class Routes:
    """The endpoints, over the server's gate, connections and REST decoding."""

    def __init__(
        self,
        gate: Gate,
        connections: Connections,
        transcriptions: Transcriptions,
        metrics: Metrics,
        limits: Limits,
    ) -> None:
        self.gate = gate
        self.connections = connections
        self.transcriptions = transcriptions
        self.metrics = metrics
        self.limits = limits

    def app(self) -> Starlette:
        """The ASGI application."""
        routes: list[BaseRoute] = [
            Route("/", self.page, methods=["GET", "HEAD"]),
            Route("/web/{name:path}", self.page, methods=["GET", "HEAD"]),
            Route("/v1/audio/transcriptions", self.transcriptions_endpoint, methods=["POST"]),
            Route("/v1/audio/translations", self.translations_endpoint, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/languages", self.languages, methods=["GET"]),
            Route("/v1/models/{name}", self.model, methods=["GET"]),
            Route(NATIVE_PATH, self.upgrade_required, methods=ALL_METHODS),
            Route("/{path:path}", self.operations, methods=ALL_METHODS),
            WebSocketRoute("/{path:path}", self.stream),  # the gate refuses unknown paths
        ]
        return Starlette(routes=routes)

    # --- websockets ------------------------------------------------------------------------------

    async def stream(self, websocket: WebSocket) -> None:
        """A websocket handshake: through the gate and the Origin allow-list (else the HTTP
        refusal), then served until it closes."""
        asked = parts(websocket)
        answer = self.gate.answer(asked)
        if answer is None and not self.gate.allows_origin(websocket.headers.get("origin")):
            origin = websocket.headers.get("origin")
            answer = Answer(HTTPStatus.FORBIDDEN, f"origin not allowed: {origin}\n")
        if answer is not None:
            await websocket.send_denial_response(response(answer))
            return
        await websocket.accept()
        await self.connections.handle(Link(websocket), protocol_of(asked.path))

    async def upgrade_required(self, request: Request) -> Response:
        return PlainTextResponse(
            f"{NATIVE_PATH} is a websocket: connect with ws:// (docs/protocol.md)\n",
            status_code=HTTPStatus.UPGRADE_REQUIRED,
            headers={"Upgrade": "websocket", "Connection": "Upgrade"},
        )

    # --- the web page and operations -------------------------------------------------------------

    async def operations(self, request: Request) -> Response:
        """`/healthz`, `/readyz`, `/metrics` (no token needed); 404 for any other path."""
        path = request.url.path
        answer = self.gate.answer(parts(request)) if path in OPERATIONS else None
        if answer is None:  # not an operations path (the stream paths are websockets)
            answer = Answer(HTTPStatus.NOT_FOUND, f"no such path: {path}\n")
        return response(answer)

    async def page(self, request: Request) -> Response:
        """`GET /` without an upgrade, and `/web/<name>`: the web page and its files (static, no
        token: the page asks for one); server/web.py decides what exists."""
        answer = web.page(parts(request).path.partition("?")[0])
        assert answer is not None  # both routes are the page's
        return Response(
            answer.body, answer.status, headers=web.HEADERS, media_type=answer.content_type
        )

    # --- OpenAI's audio API ---------------------------------------------------------------------

    async def transcriptions_endpoint(self, request: Request) -> Response:
        return await self.audio(request, "transcribe")

    async def translations_endpoint(self, request: Request) -> Response:
        return await self.audio(request, "translate")

    async def audio(self, request: Request, task: str) -> Response:
        """A transcription or translation: let in, read, decode, render (or the error)."""
        try:
            self.let_in(request)
            if (refused := self.busy()) is not None:  # before the upload, not after it
                await Body(request, self.limits.max_upload_bytes).discard()
                raise refused
            form = await read_form(request, self.limits.max_upload_bytes)
            try:
                asked = await asked_of(form, task, ALIAS)  # no model field: the server's choice
            finally:
                await form.close()
            result, language = await self.transcriptions.run(asked, self.busy)
        except ApiError as error:
            return self.error(error)
        except Exception:  # a bug: the client gets OpenAI's 500, the log the traceback
            log.exception("transcription failed")
            return self.error(ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"))
        body, media = render(result, replace(asked.rendering, language=language))
        if isinstance(body, str):
            return Response(body, media_type=media)
        return JSONResponse(body)

    async def models(self, request: Request) -> Response:
        return self.guarded(request, lambda: model_list(self.transcriptions.names, self.created))

    async def languages(self, request: Request) -> Response:
        return self.guarded(request, lambda: {"languages": self.connections.engines.languages()})

    async def model(self, request: Request) -> Response:
        def found() -> dict[str, object]:
            name = request.path_params["name"]
            self.transcriptions.check_model(name)
            return model_json(name, self.created)

        return self.guarded(request, found)

    @property
    def created(self) -> int:
        return self.transcriptions.created_s

    def guarded(self, request: Request, make: Callable[[], dict[str, object]]) -> Response:
        """A JSON answer behind the gate's token and Origin checks."""
        try:
            self.let_in(request)
            return JSONResponse(make())
        except ApiError as error:
            return self.error(error)

    def let_in(self, request: Request) -> None:
        """Raises ApiError 403 for a browser page from an origin not allowed, 401 for a
        missing or wrong token."""
        origin = request.headers.get("origin")
        if not self.gate.allows_origin(origin):
            raise ApiError(HTTPStatus.FORBIDDEN, f"origin not allowed: {origin}", None,
                           "origin_not_allowed")  # fmt: skip
        token = self.limits.token
        if token and not authorised(parts(request), token):
            raise ApiError(
                HTTPStatus.UNAUTHORIZED,
                "missing or wrong bearer token (Authorization: Bearer …)",
                None,
                "invalid_api_key",
            )

    def busy(self) -> ApiError | None:
        """The 503 a new transcription would get now (full or draining), or None."""
        refusal = self.gate.refusal()
        if refusal is None:
            return None
        code = "shutting_down" if self.gate.draining else "server_busy"
        message = refusal.body.strip()
        return ApiError(refusal.status, message, None, code, refusal.retry_after_s)

    def error(self, error: ApiError) -> JSONResponse:
        """The error's response, counted in `s2t_errors_total`."""
        self.metrics.errors.labels(ERROR_LABELS.get(error.status, "bad_request")).inc()
        return error_response(error)
