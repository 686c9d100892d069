"""Real nginx (Debian's package) with deploy/nginx/nginx.conf — only its upstream addresses, port
and scratch paths changed — in front of two `s2t-stream serve` processes on loopback: sessions of
both protocols get their finals through it; SIGTERM to one replica makes its /readyz 503 (its
/healthz still 200) while it drains, and new sessions opened through nginx meanwhile all land on
the other replica, none refused. Skipped, with the reason, where nginx is not installed."""

from __future__ import annotations

import io
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
import soundfile as sf
from websockets.sync.client import connect

from s2t_stream.model.audio import to_pcm16
from tests.helpers import BUNDLED_MODEL, assert_same_stream, unclaimed_port
from tests.server.test_drain import MuteClient

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
NGINX = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))

if NGINX is None:
    pytest.skip(
        "nginx not installed (scripts/setup.sh --dev installs it: apt-get install nginx)",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.network, pytest.mark.model, pytest.mark.slow]


def templated(conf: str, replicas: list[str], port: int, scratch: Path) -> str:
    """deploy's nginx.conf with `replicas` as the upstream's servers (their parameters kept),
    listening on 127.0.0.1:`port`, and its temporary files in `scratch`."""
    out: list[str] = []
    servers = listens = 0
    for line in conf.splitlines():
        if match := re.fullmatch(r"(\s*)server [\w.-]+:\d+(.*);", line):
            out += [f"{match[1]}server {address}{match[2]};" for address in replicas]
            servers += 1
            continue
        if re.fullmatch(r"\s*listen 8080;", line):
            line = line.replace("8080", f"127.0.0.1:{port}")
            listens += 1
        out.append(line)
        if line.strip() == "http {":
            kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            out += [f"    {kind}_temp_path {scratch / kind};" for kind in kinds]
    assert (servers, listens) == (1, 1), "deploy/nginx/nginx.conf changed shape: fix this test"
    return "\n".join(out) + "\n"


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sessions_opened(port: int) -> float:
    """How many native sessions a replica has opened, from its /metrics."""
    text = get(port, "/metrics")[1]
    found = re.search(r'^s2t_sessions_total\{protocol="native"\} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


class Replica:
    """`s2t-stream serve` in a subprocess on a free loopback port."""

    def __init__(self, log: Path, *options: str) -> None:
        self.log = log.open("w")
        command = ["serve", "--port", "0", "--workers", "1", "--model", str(BUNDLED_MODEL)]
        command += options
        self.process = subprocess.Popen(
            [sys.executable, "-m", "s2t_stream", *command],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.port = 0

    def wait_ready(self, timeout_s: float = 120) -> None:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        assert readable, f"replica silent for {timeout_s:.0f} s (log: {self.log.name})"
        line = self.process.stdout.readline()  # "s2t-stream: serving on ws://HOST:PORT/…"
        found = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
        assert found, f"replica did not start: {line!r} (log: {self.log.name})"
        self.port = int(found[1])
        began = time.monotonic()
        while get(self.port, "/readyz")[0] != 200:
            assert time.monotonic() - began < timeout_s
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


@contextmanager
def nginx_in_front(replicas: list[Replica], scratch: Path) -> Iterator[int]:
    """nginx with deploy's config in front of `replicas`; yields its port."""
    assert NGINX is not None
    port = unclaimed_port()  # nginx binds it only later
    conf = scratch / "nginx.conf"
    addresses = [f"127.0.0.1:{replica.port}" for replica in replicas]
    conf.write_text(templated(CONF.read_text(), addresses, port, scratch))
    command = [NGINX, "-p", str(scratch), "-c", str(conf)]
    globals_ = f"daemon off; pid {scratch / 'nginx.pid'};"
    checked = subprocess.run([*command, "-t", "-g", globals_], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    log = (scratch / "nginx.log").open("w")
    process = subprocess.Popen([*command, "-g", globals_], stdout=log, stderr=log)
    try:
        began = time.monotonic()
        while not (_listening(port) and get(port, "/nginx-healthz")[0] == 200):
            assert process.poll() is None, (scratch / "nginx.log").read_text()
            assert time.monotonic() - began < 30, "nginx did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def finals_of(url: str, wave: np.ndarray) -> list[str]:
    """A native session with the whole of `wave`: its finals' texts (it must end with `end`)."""
    with connect(url, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000, "partials": False}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        ws.send(to_pcm16(wave))
        ws.send(json.dumps({"type": "end"}))
        messages: list[dict[str, Any]] = []
        while not messages or messages[-1]["type"] not in ("end", "error"):
            messages.append(json.loads(ws.recv(timeout=60)))
    assert messages[-1]["type"] == "end", messages[-1]
    return [m["text"] for m in messages if m["type"] == "final"]


def vosk_texts(url: str, wave: np.ndarray) -> list[str]:
    """A Vosk session: 0.5 s messages, then eof; the texts of its results."""
    pcm = to_pcm16(wave)
    replies = []
    with connect(url, open_timeout=30) as ws:
        for i in range(0, len(pcm), 16000):
            ws.send(pcm[i : i + 16000])
            replies.append(json.loads(ws.recv(timeout=60)))
        ws.send('{"eof" : 1}')
        replies.append(json.loads(ws.recv(timeout=60)))
    return [r["text"] for r in replies if r.get("text")]


def wav_bytes(wave: np.ndarray) -> bytes:
    """`wave` as a 16 kHz 16-bit WAV file."""
    buffer = io.BytesIO()
    sf.write(buffer, wave, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def transcribed(port: int, recording: bytes) -> str:
    """The text of `recording` through OpenAI's API on `port` (the official client)."""
    base = f"http://127.0.0.1:{port}/v1"
    with openai.OpenAI(base_url=base, api_key="-", max_retries=0) as api:
        return api.audio.transcriptions.create(model="whisper-1", file=("a.wav", recording)).text


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="s2t-nginx-"))
    path.chmod(0o755)  # nginx's workers may run as another user
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_sessions_through_nginx_and_a_draining_replica_gets_none(
    scratch: Path, waves: list[np.ndarray]
) -> None:
    replicas = [Replica(scratch / "a.log"), Replica(scratch / "b.log")]
    try:
        for replica in replicas:
            replica.wait_ready()
        a, b = replicas
        with nginx_in_front(replicas, scratch) as port:
            through = f"ws://127.0.0.1:{port}"
            # finals through nginx, for both protocols: the same as straight from a replica
            direct = finals_of(f"ws://127.0.0.1:{b.port}/v1/stream", waves[0])
            assert direct and finals_of(f"{through}/v1/stream", waves[0]) == direct
            assert vosk_texts(f"{through}/", waves[1])
            assert get(port, "/metrics")[0] == 404  # replicas are scraped directly
            # the web page and the REST API on the same port; an upload past nginx's default
            # body limit (1 MiB) passes
            status, page = get(port, "/")
            assert status == 200 and "<html" in page.lower()
            recording = wav_bytes(np.concatenate([waves[0], np.zeros(16000 * 40, np.float32)]))
            assert len(recording) > 1 << 20
            direct_text = transcribed(b.port, recording)
            assert direct_text and transcribed(port, recording) == direct_text

            # drain A: a client that never answers the closing handshake keeps it draining
            mute = MuteClient(f"ws://127.0.0.1:{a.port}/v1/stream", waves[2])
            try:
                a.process.send_signal(signal.SIGTERM)
                began = time.monotonic()
                while get(a.port, "/readyz")[0] != 503:
                    assert time.monotonic() - began < 5, "A's /readyz still 200 after SIGTERM"
                    time.sleep(0.02)
                assert get(a.port, "/healthz") == (200, "ok\n")
                before = sessions_opened(b.port)
                with ThreadPoolExecutor(4) as pool:  # held at once: least_conn would use A too
                    jobs = [
                        pool.submit(finals_of, f"{through}/v1/stream", waves[i]) for i in range(4)
                    ]
                    results = [job.result(timeout=120) for job in jobs]
                assert all(results), results  # none refused, every one got its finals
                assert sessions_opened(b.port) - before == 4  # every one on B
            finally:
                mute.close()
            assert a.process.wait(30) == 0  # A finished its drain and exited cleanly
            assert finals_of(f"{through}/v1/stream", waves[3])  # A gone: B serves on
    finally:
        for replica in replicas:
            replica.stop()


def recording(waves: list[np.ndarray], first: int) -> np.ndarray:
    """Four of the samples from `first` on (cyclically), 1 s of silence after each."""
    parts = [np.zeros(4800, np.float32)]
    for i in range(4):
        parts += [waves[(first + i) % len(waves)], np.zeros(16000, np.float32)]
    return np.concatenate(parts)


def client_finals(url: str, audio: np.ndarray, pace_s: float = 0.0, **options: Any) -> list[Any]:
    """`NativeClient` streams `audio` in 0.1 s messages (`pace_s` apart); its finals."""
    from s2t_stream.io.client import NativeClient
    from s2t_stream.streaming.events import Final

    events = []
    with NativeClient(url, 16000, partials=False, timeout_s=60, **options) as client:
        for i in range(0, len(audio), 1600):
            events += client.push(audio[i : i + 1600])
            time.sleep(pace_s)
        events += client.end()
    return [e for e in events if isinstance(e, Final)]


def test_clients_lose_no_word_when_a_replica_drains_mid_stream(
    scratch: Path, waves: list[np.ndarray]
) -> None:
    """8 clients stream different recordings through nginx; one replica gets SIGTERM while
    they speak. Its clients resume on the other (`NativeClient(reconnects=…)`), and every
    transcript equals the one an uninterrupted session gives: no word lost or doubled."""
    wide = ("--border", "100")  # each final decodes its whole segment: independent of timing
    replicas = [Replica(scratch / "a.log", *wide), Replica(scratch / "b.log", *wide)]
    try:
        for replica in replicas:
            replica.wait_ready()
        a, b = replicas
        recordings = [recording(waves, k) for k in range(8)]
        direct = f"ws://127.0.0.1:{b.port}/v1/stream"
        with ThreadPoolExecutor(4) as pool:
            expected = list(pool.map(lambda r: client_finals(direct, r), recordings))
        with nginx_in_front(replicas, scratch) as port, ThreadPoolExecutor(8) as pool:
            through = f"ws://127.0.0.1:{port}/v1/stream"
            jobs = [
                pool.submit(client_finals, through, r, pace_s=0.025, reconnects=5)
                for r in recordings
            ]
            time.sleep(3.0)  # every client is mid-stream (each recording lasts 3 s at this pace)
            assert get(a.port, "/metrics")[0] == 200 and sessions_opened(a.port) >= 1
            a.process.send_signal(signal.SIGTERM)
            finals = [job.result(timeout=300) for job in jobs]
        assert a.process.wait(60) == 0
    finally:
        for replica in replicas:
            replica.stop()
    for got, want in zip(finals, expected, strict=True):
        assert_same_stream(got, want)
        assert [f.segment for f in got] == list(range(len(got)))  # numbering runs on
        assert [f.start_s for f in got] == sorted(f.start_s for f in got)
