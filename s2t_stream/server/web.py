"""The live-captions page's files, served over plain HTTP on the server's port (server/routes.py):
`GET /` answers `web/index.html`, `GET /web/<name>` the file of that exact name in
`s2t_stream/server/web/` (package data, read with `importlib.resources`), any other `/web/…`
404. The page holds no data, so it is served without the token; its websocket is not.
Transport-free: answers are `Page` values."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources

log = logging.getLogger("s2t_stream.server")
WEB_PREFIX = "/web/"
INDEX = "index.html"
CONTENT_TYPES = {  # RFC 9239: JavaScript is text/javascript
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# The page loads only its own files and talks only to its own server: a script injected through
# a transcript could reach nothing else. (Old browsers' 'self' excludes ws:/wss:, hence both.)
CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)
HEADERS = {
    "Cache-Control": "no-cache",  # revalidate: a restarted server may ship a new page
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
}


@dataclass(frozen=True)
class Page:
    """An HTTP answer: status, `Content-Type` and body (bytes); sent with `HEADERS`."""

    status: HTTPStatus
    content_type: str
    body: bytes


@functools.cache
def files() -> dict[str, bytes]:
    """The page's files by name (read once: they are part of the installed package); empty, with
    an error logged, where the package was installed without them: the page is then 404."""
    folder = resources.files("s2t_stream.server").joinpath("web")
    try:
        return {
            entry.name: entry.read_bytes()
            for entry in folder.iterdir()
            if entry.is_file() and any(entry.name.endswith(s) for s in CONTENT_TYPES)
        }
    except OSError as error:
        log.error("the captions page's files are missing (%s): / and /web/ answer 404", error)
        return {}


def page(path: str) -> Page | None:
    """What a plain (non-websocket) GET of `path` (no query) answers: the page at `/`, a file at
    `/web/<name>` (404 for a name that is not one of the folder's files: `..`, `/` and
    percent-escapes never match one), or None for every other path (not the page's)."""
    if path == "/":
        name = INDEX
    elif path.startswith(WEB_PREFIX):
        name = path[len(WEB_PREFIX) :]
    else:
        return None
    body = files().get(name)
    if body is None:
        return Page(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"no such file\n")
    suffix = name[name.rfind(".") :]
    return Page(HTTPStatus.OK, CONTENT_TYPES[suffix], body)
