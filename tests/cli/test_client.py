"""`s2t-stream client`'s errors, without a model: a server refusing the connection for its token
(a stand-in websocket server), a --url whose port cannot be."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from s2t_stream.cli import main
from tests.helpers import SAMPLES

pytestmark = pytest.mark.network

WAV = SAMPLES / "sample1-espeak-en-gb-x-rp-f4.wav"


@contextmanager
def refusing(status: int) -> Iterator[str]:
    """A websocket server on a free port answering every handshake with `status`; its URL."""

    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(status, "refused\n")

    with serve(lambda connection: None, "127.0.0.1", 0, process_request=refuse) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/v1/stream"
        finally:
            server.shutdown()
            thread.join(10)


def test_a_server_forbidding_the_connection_is_said_to_want_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("S2T_STREAM_TOKEN", raising=False)
    with refusing(403) as url:
        assert main(["client", str(WAV), "--url", url]) == 2
        assert capsys.readouterr().err == (
            f"s2t-stream: error: cannot connect to {url}: the server wants a token (HTTP 403), "
            "and none was given (--token or $S2T_STREAM_TOKEN)\n"
        )
        assert main(["client", str(WAV), "--url", f"{url}?token=nope"]) == 2
        err = capsys.readouterr().err
        assert "(HTTP 403), and refused the one given" in err
        assert "token=%2A%2A%2A" in err and "nope" not in err  # the secret is never printed


def test_a_url_that_is_not_a_websocket_url_never_shows_its_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["client", str(WAV), "--url", "http://127.0.0.1:9/v1/stream?token=s3cret"]) == 2
    err = capsys.readouterr().err
    assert "isn't a valid URI" in err and "s3cret" not in err


def test_a_url_with_a_port_out_of_range_cannot_connect(capsys: pytest.CaptureFixture[str]) -> None:
    url = "ws://127.0.0.1:99999/v1/stream"
    assert main(["client", str(WAV), "--url", url]) == 2
    assert capsys.readouterr().err == (
        f"s2t-stream: error: cannot connect to {url}: Port out of range 0-65535\n"
    )
