"""`s2t-stream serve`'s address: a port outside 0-65535 is refused by the parser, and an address
that cannot be bound (the port in use, a host not this machine's) is one line naming --host and
--port, said before any model loads."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from s2t_stream.cli import main

pytestmark = pytest.mark.network


@pytest.mark.parametrize("port", ["65536", "99999", "-1"])
def test_a_port_out_of_range_is_a_usage_error(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", port]) == 2
    assert capsys.readouterr().err == (
        f"s2t-stream: error: argument --port: expected an integer ≥ 0 and ≤ 65535, got {port}\n"
    )


def test_an_address_that_cannot_be_bound_is_one_line_before_the_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "no-model")  # never loaded: the address is bound first
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--model", missing]) == 2
    assert capsys.readouterr().err == (
        f"s2t-stream: error: --host 127.0.0.1 --port {port}: cannot listen there "
        "(Address already in use)\n"
    )
    assert main(["serve", "--host", "192.0.2.1", "--port", "0", "--model", missing]) == 2
    assert capsys.readouterr().err == (  # TEST-NET-1: an address of no machine here
        "s2t-stream: error: --host 192.0.2.1 --port 0: cannot listen there "
        "(Cannot assign requested address)\n"
    )
