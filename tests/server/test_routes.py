"""The one port's plain-HTTP routes on the in-process server: the web page and its files (content
types, unknown names, no way out of the folder), the Origin allow-list on the REST API, and what
the websocket paths say to a request that is not a handshake."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from s2t_stream.model.checkpoint import Bundle
from s2t_stream.server import web
from s2t_stream.server.options import Limits
from tests.helpers import Running, running

pytestmark = [pytest.mark.network, pytest.mark.model]


@pytest.fixture(scope="module")
def server(bundle: Bundle) -> Iterator[Running]:
    with running(bundle, Limits(origins=("https://captions.example",))) as serving:
        yield serving


def base(server: Running) -> str:
    return f"http://127.0.0.1:{server.port}"


def test_the_page_and_its_files(server: Running) -> None:
    page = httpx.get(base(server) + "/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content == web.files()["index.html"]
    same = httpx.get(base(server) + "/web/index.html")
    assert same.status_code == 200 and same.content == page.content
    assert httpx.head(base(server) + "/").status_code == 200
    script = httpx.get(base(server) + "/web/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    for name in ("nope.js", ".secret", "..%2Fweb.py", "%2E%2E%2Fweb.py", "sub/app.js"):
        answer = httpx.get(base(server) + "/web/" + name)
        assert answer.status_code == 404 and answer.text == "no such file\n", name


def test_the_rest_api_refuses_pages_from_other_origins(server: Running) -> None:
    models = base(server) + "/v1/models"
    assert httpx.get(models).status_code == 200  # programs send no Origin
    assert httpx.get(models, headers={"Origin": "https://captions.example"}).status_code == 200
    refused = httpx.get(models, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"


def test_stream_paths_and_unknown_paths(server: Running) -> None:
    assert httpx.get(base(server) + "/v1/stream").status_code == 426  # a websocket path
    assert httpx.get(base(server) + "/nowhere").text == "no such path: /nowhere\n"
    with pytest.raises(InvalidStatus) as unknown:
        connect(server.url("/web/index.html"))
    assert unknown.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as foreign:
        connect(server.url(), origin="https://evil.example")  # type: ignore[arg-type]
    assert foreign.value.response.status_code == 403
