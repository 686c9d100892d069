"""Server soak benchmark (issue 21): K clients open, stream and close sessions for N minutes.

    python bench/bench_soak.py --clients 32 --minutes 10 --json bench/results/soak.json
    python bench/bench_soak.py --clients 4 --minutes 1        (a smoke run, about 1.5 minutes)

It starts `server.py` in its own process (as bench/bench_server.py does) and runs K
native-protocol clients in one or more other processes. Each client loops until the time is up:
open a session, send its own test stream (held-out sentences with pauses,
s2t_stream/training/harness.py; a different one per client) at real time in 100 ms chunks while
a reader takes the replies, send `end`, read until the server closes, open the next. The last
session of each client is cut at the deadline (`end` mid-stream, as a user who hangs up).

Per session it checks, on the client side, that nothing is lost — the server's `end` arrives,
no `error`, the close is a normal one (1000) — and that the order holds: finals numbered
0, 1, 2, … as they arrive, each starting no earlier than the one before, partials only of the
open segment, nothing after `end`. It samples the server's resident memory every 5 s, and
again after the clients have gone and the server has idled. Targets: 0 lost, 0 out of order,
RSS growth < 5 % from the end of minute 1 to the end, and RSS after close at most 10 % above
minute 1's (lower is fine: memory handed back). The verdict is printed; the exit code is 0."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_server import CHUNK_S, add_server_arguments, cpu_seconds, start_server
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from s2t_stream.errors import ProtocolError
from s2t_stream.io.protocol import (
    NORMAL,
    End,
    Ready,
    ServerError,
    Start,
    control_message,
    parse_server_message,
    start_message,
)
from s2t_stream.model.audio import to_pcm16
from s2t_stream.streaming.events import Final, Partial
from s2t_stream.training.harness import TestStream, build_stream, rss_mib

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVERY_S = 5.0
GRACE_S = 60.0  # a session's replies may end this long after its audio
RETRY_S = 1.0  # a client's pause after a session that failed to open
TARGETS = {"growth_pct": 5.0, "after_close_pct": 10.0}


@dataclass
class SessionLog:
    """One session, as its client saw it."""

    client: int
    opened_at: float  # epoch seconds
    sentences: int = 0  # sentences whose audio went out in full: the finals to expect, roughly
    partials: int = 0
    finals: int = 0
    ended: bool = False  # the server's `end` arrived
    errors: list[str] = field(default_factory=list)  # codes of the server's `error` messages
    close_code: int | None = None
    broken: str = ""  # refused, timed out, or an unreadable message
    disorder: list[str] = field(default_factory=list)  # each order violation, described
    send_lag_s: float = 0.0  # how far the sender fell behind real time

    def failure(self) -> str:
        """Why the session counts as lost ("" when it completed)."""
        if self.broken:
            return self.broken
        if self.errors:
            return "error " + ",".join(self.errors)
        if not self.ended:
            return f"no end (close code {self.close_code})"
        if self.close_code != NORMAL:
            return f"close code {self.close_code}"
        return ""


class OrderCheck:
    """A session's replies in arrival order: finals numbered 0, 1, 2, …, none starting before
    the one before it; partials only of the open segment (the next final's); nothing after
    `end`. Each violation is described in `log.disorder`."""

    def __init__(self, log: SessionLog) -> None:
        self.log = log
        self.segment = 0  # the open segment
        self.start_s = -math.inf

    def partial(self, event: Partial) -> None:
        self._after_end("partial")
        if event.segment != self.segment:
            self.log.disorder.append(f"partial of segment {event.segment}, open: {self.segment}")

    def final(self, event: Final) -> None:
        self._after_end("final")
        if event.segment != self.segment:
            self.log.disorder.append(f"final of segment {event.segment}, expected {self.segment}")
        if event.start_s < self.start_s:
            self.log.disorder.append(
                f"final {event.segment} starts at {event.start_s:.2f} s, "
                f"before the previous final's {self.start_s:.2f} s"
            )
        self.segment = event.segment + 1
        self.start_s = event.start_s

    def end(self) -> None:
        self._after_end("end")

    def _after_end(self, kind: str) -> None:
        if self.log.ended:
            self.log.disorder.append(f"{kind} after end")


# --- clients (their own processes) ---------------------------------------------------------------


async def send_audio(
    ws: ClientConnection, stream: TestStream, log: SessionLog, deadline: float
) -> None:
    """Send `stream` in 100 ms chunks at real time (until `deadline`, epoch seconds), then
    `end`. Counts the sentences sent in full and the sender's lag."""
    size = round(CHUNK_S * stream.sample_rate)
    t0 = time.monotonic()
    sent = 0
    try:
        with contextlib.suppress(ConnectionClosed):  # the reader records why
            for i, begin in enumerate(range(0, len(stream.audio), size)):
                await asyncio.sleep(max(0.0, t0 + (i + 1) * CHUNK_S - time.monotonic()))
                if time.time() >= deadline:
                    break
                await ws.send(to_pcm16(stream.audio[begin : begin + size]))
                sent = min(begin + size, len(stream.audio))
                lag = time.monotonic() - t0 - (i + 1) * CHUNK_S
                log.send_lag_s = max(log.send_lag_s, lag)
            await ws.send(control_message("end"))
    finally:  # also when the reader cancels it
        sent_s = sent / stream.sample_rate
        log.sentences = sum(1 for r in stream.references if r.end_s <= sent_s)


async def read_replies(ws: ClientConnection, log: SessionLog) -> None:
    """Read the server's messages until it closes the connection, checking their order."""
    order = OrderCheck(log)
    async for raw in ws:
        message = parse_server_message(raw)
        if isinstance(message, Partial):
            order.partial(message)
            log.partials += 1
        elif isinstance(message, Final):
            order.final(message)
            log.finals += 1
        elif isinstance(message, End):
            order.end()
            log.ended = True
        elif isinstance(message, ServerError):
            log.errors.append(message.code)
        else:
            log.disorder.append(f"unexpected {type(message).__name__}")


async def converse(
    ws: ClientConnection, stream: TestStream, log: SessionLog, deadline: float
) -> None:
    """`start`, `ready`, then send and read at once until the server closes."""
    await ws.send(start_message(Start(sample_rate=stream.sample_rate)))
    ready = parse_server_message(await ws.recv())
    if not isinstance(ready, Ready):
        log.broken = f"expected ready, got {ready!r}"[:200]
        return
    sender = asyncio.create_task(send_audio(ws, stream, log, deadline))
    try:
        await read_replies(ws, log)
    finally:
        if not sender.done():
            sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


async def run_session(url: str, stream: TestStream, log: SessionLog, deadline: float) -> None:
    """One session from connect to close, its outcome recorded in `log`."""
    limit_s = len(stream.audio) / stream.sample_rate + GRACE_S
    try:
        async with asyncio.timeout(limit_s), connect(url, max_size=None) as ws:
            try:
                await converse(ws, stream, log, deadline)
            finally:
                log.close_code = ws.close_code
    except TimeoutError:
        log.broken = f"timed out (opening, or no close within {limit_s:.0f} s)"
    except ProtocolError as error:
        log.broken = f"unreadable message: {error}"
    except ConnectionClosed as error:  # closed abnormally (no close frame: 1006)
        log.close_code = error.rcvd.code if error.rcvd else 1006
    except (OSError, InvalidHandshake) as error:
        log.broken = f"refused: {error}"


async def client(
    index: int, url: str, stream: TestStream, begin: float, deadline: float
) -> list[SessionLog]:
    """Sessions one after the other from `begin` to `deadline` (epoch seconds)."""
    await asyncio.sleep(max(0.0, begin - time.time()))
    logs: list[SessionLog] = []
    while time.time() < deadline:
        log = SessionLog(index, time.time())
        logs.append(log)
        await run_session(url, stream, log, deadline)
        if log.broken:
            await asyncio.sleep(RETRY_S)
    return logs


def client_process(
    url: str, clients: list[tuple[int, TestStream, float]], deadline: float
) -> list[SessionLog]:
    """One client process: its share of the clients (index, stream, start time), concurrently."""

    async def run() -> list[list[SessionLog]]:
        return await asyncio.gather(*(client(i, url, s, t, deadline) for i, s, t in clients))

    return [log for logs in asyncio.run(run()) for log in logs]


# --- the server's side: memory and metrics -------------------------------------------------------


def sample(pid: int, t0: float) -> dict[str, float | None]:
    """The server's RSS now, with the time since the soak started."""
    try:
        rss = rss_mib(pid)
    except OSError:  # the server has gone
        rss = math.nan
    return {
        "t_s": round(time.time() - t0, 1),
        "rss_mib": None if math.isnan(rss) else round(rss, 1),
    }


def sample_until_done(pid: int, t0: float, futures: list[Future[Any]]) -> list[dict[str, Any]]:
    """RSS every SAMPLE_EVERY_S while any client process runs."""
    samples: list[dict[str, Any]] = []
    next_at = t0
    while not all(f.done() for f in futures):
        if time.time() >= next_at:
            samples.append(sample(pid, t0))
            next_at += SAMPLE_EVERY_S
        time.sleep(max(0.0, min(0.5, next_at - time.time())))
    return samples


def server_metrics(port: int) -> dict[str, float]:
    """The server's session and error counters from `GET /metrics` ({} if it cannot answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            wanted = s.name.startswith(("s2t_sessions", "s2t_errors"))
            if wanted and not s.name.endswith("_created"):  # _created: a counter's birth time
                labels = ",".join(f"{k}={v}" for k, v in s.labels.items())
                found[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return found


# --- the soak ------------------------------------------------------------------------------------


def run_clients(
    args: argparse.Namespace, url: str, pid: int, pool: list[TestStream]
) -> dict[str, Any]:
    """The clients' sessions and the RSS samples taken meanwhile."""
    t0 = time.time() + 1.0  # time for the client processes to start
    deadline = t0 + args.minutes * 60
    starts = [t0 + i * args.stagger / len(pool) for i in range(len(pool))]
    clients = [(i, s, t) for i, (s, t) in enumerate(zip(pool, starts, strict=True))]
    processes = min(args.client_processes, len(clients))
    shares = [clients[p::processes] for p in range(processes)]
    with ProcessPoolExecutor(processes) as executor:
        futures = [executor.submit(client_process, url, share, deadline) for share in shares]
        samples = sample_until_done(pid, t0, futures)
        logs = [log for f in futures for log in f.result()]
    return {"t0": t0, "logs": logs, "samples": samples}


def nearest(samples: list[dict[str, Any]], t_s: float) -> float | None:
    """The RSS sampled nearest to `t_s` (None if the server never answered)."""
    taken = [s for s in samples if s["rss_mib"] is not None]
    return min(taken, key=lambda s: abs(s["t_s"] - t_s))["rss_mib"] if taken else None


def percent(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else round(100 * (value - base) / base, 2)


def memory_report(
    samples: list[dict[str, Any]], minutes: float, after: float | None
) -> dict[str, Any]:
    minute_1 = nearest(samples, min(60.0, minutes * 60))
    end = nearest(samples, minutes * 60)
    return {
        "rss_minute_1_mib": minute_1,
        "rss_end_mib": end,
        "rss_growth_pct": percent(end, minute_1),
        "rss_after_close_mib": after,
        "rss_after_close_vs_minute_1_pct": percent(after, minute_1),
    }


def session_report(logs: list[SessionLog], t0: float) -> dict[str, Any]:
    """Totals over the sessions, and the first problems (session: client and time opened)."""
    lost = [log for log in logs if log.failure()]
    disordered = [log for log in logs if log.disorder]

    def where(log: SessionLog) -> str:
        return f"client {log.client}, session opened at {log.opened_at - t0:.1f} s"

    problems = [f"{where(g)}: lost, {g.failure()}" for g in lost] + [
        f"{where(g)}: {d}" for g in disordered for d in g.disorder
    ]
    return {
        "sessions": len(logs),
        "sentences_sent": sum(log.sentences for log in logs),
        "finals": sum(log.finals for log in logs),
        "partials": sum(log.partials for log in logs),
        "lost_sessions": len(lost),
        "errors": sum(len(log.errors) for log in logs),
        "out_of_order": sum(len(log.disorder) for log in logs),
        "max_send_lag_s": round(max((log.send_lag_s for log in logs), default=0.0), 3),
        "problems": problems[:50],
    }


def verdict(report: dict[str, Any]) -> dict[str, bool]:
    growth, after = report["rss_growth_pct"], report["rss_after_close_vs_minute_1_pct"]
    return {
        "no_lost_sessions": report["sessions"] > 0 and report["lost_sessions"] == 0,
        "in_order": report["out_of_order"] == 0,
        "rss_growth_under_5pct": growth is not None and growth < TARGETS["growth_pct"],
        "rss_after_close_within_10pct": after is not None and after <= TARGETS["after_close_pct"],
    }


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM (the server drains), then SIGKILL if it has not exited within a minute."""
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def soak(args: argparse.Namespace, pool: list[TestStream]) -> dict[str, Any]:
    """Start the server, run the clients, idle, sample, stop the server; the report."""
    process, port = start_server(args, args.model)
    try:
        rss_before = rss_mib(process.pid)
        cpu0, wall0 = cpu_seconds(process.pid), time.monotonic()
        run = run_clients(args, f"ws://127.0.0.1:{port}/v1/stream", process.pid, pool)
        cores = (cpu_seconds(process.pid) - cpu0) / (time.monotonic() - wall0)
        time.sleep(args.idle)
        after = sample(process.pid, run["t0"])
        metrics = server_metrics(port)
    finally:
        stop(process)
    report: dict[str, Any] = {
        "clients": len(pool),
        "minutes": args.minutes,
        **session_report(run["logs"], run["t0"]),
        "rss_before_mib": round(rss_before, 1),
        **memory_report(run["samples"], args.minutes, after["rss_mib"]),
        "rss_samples": [*run["samples"], {**after, "after_close": True}],
        "server_cpu_cores": round(cores, 2),
        "server_metrics_after_close": metrics,
        "server_exit_code": process.returncode,
    }
    report["targets"] = verdict(report)
    report["pass"] = all(report["targets"].values())
    return report


def print_summary(r: dict[str, Any]) -> None:
    print(f"soak: {r['clients']} clients × {r['minutes']} min, {r['sessions']} sessions")
    print(
        f"  finals {r['finals']} (sentences sent in full: {r['sentences_sent']}), "
        f"partials {r['partials']}, max sender lag {r['max_send_lag_s']:.2f} s"
    )
    print(
        f"  lost sessions {r['lost_sessions']}, errors {r['errors']}, "
        f"out of order {r['out_of_order']}"
    )
    print(
        f"  RSS: before {r['rss_before_mib']} MiB, minute 1 {r['rss_minute_1_mib']} MiB, "
        f"end {r['rss_end_mib']} MiB ({r['rss_growth_pct']} %), "
        f"after close {r['rss_after_close_mib']} MiB ({r['rss_after_close_vs_minute_1_pct']} %)"
    )
    print(f"  server CPU {r['server_cpu_cores']} cores")
    print(f"  server metrics after close: {r['server_metrics_after_close']}")
    for problem in r["problems"][:10]:
        print(f"  ! {problem}")
    checks = ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in r["targets"].items())
    print(f"verdict: {'PASS' if r['pass'] else 'FAIL'} ({checks})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_arguments(parser)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    parser.add_argument(
        "--session-minutes", type=float, default=0.5, help="length of each client's test stream"
    )
    parser.add_argument(
        "--stagger", type=float, default=10.0, help="seconds over which the clients start"
    )
    parser.add_argument(
        "--idle", type=float, default=20.0, help="seconds to idle before the after-close sample"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.manifest.is_file():
        print(
            f"bench_soak: {args.manifest} not found (s2t-stream corpus makes it)", file=sys.stderr
        )
        return 2
    pool = [
        build_stream(args.manifest, minutes=args.session_minutes, seed=i)
        for i in range(args.clients)
    ]
    report = soak(args, pool)
    print_summary(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {
            k: vars(args)[k] for k in ("model", "workers", "threads", "quantize", "server_args")
        }
        report = {**report, **settings, "session_minutes": args.session_minutes}
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
