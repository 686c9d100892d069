"""Server load benchmark: K concurrent real-time streams over loopback websockets.

    python bench/bench_server.py --streams 8,16,32,48 --minutes 2 --json bench/results/server.json
    python bench/bench_server.py --shape s2t-small --streams 16,24 --minutes 2  (realistic decoding)
    python bench/bench_server.py --shape s2t-small --decode worst --quantize int8 --streams 16
    python bench/bench_server.py --shape s2t-small --device cuda --workers 1 \
        --client-processes 8 --streams 250,500,1000 --minutes 1       (the accelerator target)

For each K it starts `server.py` in its own process, opens K native-protocol sessions that each
send a different test stream (held-out sentences with pauses, s2t_stream/harness.py) in 100 ms
chunks at real time, and measures, on the client side, each sentence's finalisation latency
(final received − sentence end), the interval between a segment's partials (sent when its text
changes), how far behind real time the last events arrive, and the server's CPU time and peak
memory. A K is sustained when the p95 finalisation latency is ≤ 1 s and the server keeps up
with real time. `--quantize int8` serves the model with int8 linear layers (the server's own
flag). Clients can run in several processes, so that they are not the bottleneck.

`--shape s2t-small` serves a model of s2t-small's shape (12 + 6 layers, d_model 256, FFN 2048;
the bundled model's 500-piece tokenizer and output layer, where s2t-small has 10 000 pieces)
with random weights: the cost of the real model without its accuracy. How long its hypotheses
run is `--decode`:

- `realistic` (the default with `--shape`): as long as a trained model's. The server is started
  through bench/steered_server.py, which makes eos win once a hypothesis (committed prefix
  included) holds round(`--tokens-per-s` × the decoded window's seconds) tokens, the model
  doing all its usual compute; 3.5 tokens per second is what a 10 000-piece vocabulary makes
  of our demo model's transcripts (bench/token_rate.py).
- `worst`: never: the model is steered away from eos and every update decodes to its token
  budget (10 + 8 tokens per second of window, s2t_stream/model/loops.py).

Without `--shape` the model decodes as it was trained, and the table says so."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
from websockets.asyncio.client import connect

from s2t_stream.model.audio import to_pcm16
from s2t_stream.model.checkpoint import Bundle, load_bundle, save_bundle
from s2t_stream.model.config import ModelConfig
from s2t_stream.model.network import Speech2Text
from s2t_stream.streaming.events import Final, Word
from s2t_stream.training.harness import TestStream, build_stream, rss_mib
from s2t_stream.training.latency import finalisation_latencies, summarise
from s2t_stream.training.train import initialise

ROOT = Path(__file__).resolve().parents[1]
CHUNK_S = 0.1
SERVER = (str(ROOT / "server.py"),)
TOKENS_PER_S = 3.5  # a trained s2t-small's hypotheses, per second of window (module docstring)
DECODING = {
    "model": "the model's own (trained)",
    "realistic": "realistic: eos at round({rate:g} tokens per second × window) tokens",
    "worst": "worst case: no eos, every update decodes its whole token budget",
}


def random_model(shape: str, like: str, out: Path) -> str:
    """A `shape`-shaped model with random weights and `like`'s tokenizer and settings."""
    if shape != "s2t-small":
        raise ValueError(f"--shape: expected s2t-small, got {shape!r}")
    base = load_bundle(like)
    torch.manual_seed(0)
    model = Speech2Text(ModelConfig(vocab_size=base.config.vocab_size, dropout=0.0)).eval()
    initialise(model)  # fairseq's scales, as a trained model has
    with torch.no_grad():  # steered away from eos: every segment decodes to its token budget
        eos = model.lm_head.weight[base.generation.eos_token_id]
        model.decoder.layer_norm.bias.copy_(-10 * eos / eos.norm())
    save_bundle(Bundle(model, base.tokenizer, base.generation, base.features, shape), out)
    return str(out)


def start_server(
    args: argparse.Namespace, model: str, launcher: Sequence[str] = SERVER
) -> tuple[subprocess.Popen[str], int]:
    """`launcher` (server.py, or a script taking its flags) on any free port, and that port."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    process = subprocess.Popen(
        [
            sys.executable,
            *launcher,
            "--port",
            "0",
            "--model",
            model,
            "--max-sessions",
            "1000",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            *args.server_args,
            "--device",
            args.device,
            "--dtype",
            args.dtype,
            "--quantize",
            args.quantize,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r":(\d+)/", line)
    if not found:
        process.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return process, int(found.group(1))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_stream(url: str, stream: TestStream) -> dict[str, Any]:
    """Send `stream` at real time; return client-side latencies."""
    finals: list[Final] = []
    stamped: list[Final] = []  # the same finals with the server's own wall_s
    lag = 0.0
    partials: dict[int, list[float]] = {}  # segment → arrival times of its partials
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": stream.sample_rate}))
        assert json.loads(await ws.recv())["type"] == "ready"
        t0 = time.monotonic()

        async def send() -> None:
            size = round(CHUNK_S * stream.sample_rate)
            for i, begin in enumerate(range(0, len(stream.audio), size)):
                await asyncio.sleep(max(0.0, t0 + (i + 1) * CHUNK_S - time.monotonic()))
                await ws.send(to_pcm16(stream.audio[begin : begin + size]))
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        async for raw in ws:
            message = json.loads(raw)
            now = time.monotonic() - t0
            if message["type"] in ("partial", "final"):
                lag = max(lag, now - message["audio_s"])
            if message["type"] == "partial":
                partials.setdefault(message["segment"], []).append(now)
            if message["type"] == "final":
                words = tuple(Word(w["word"], w["start_s"], w["end_s"]) for w in message["words"])
                final = Final(
                    message["segment"],
                    message["text"],
                    message["start_s"],
                    message["end_s"],
                    message["audio_s"],
                    message["wall_s"],
                    words,
                )
                stamped.append(final)
                finals.append(replace(final, wall_s=now))
            if message["type"] in ("end", "error"):
                break
        await sender
    return {
        "finalisation": finalisation_latencies(finals, list(stream.references)),
        "server_finalisation": finalisation_latencies(stamped, list(stream.references)),
        "lag": lag,
        "partial_gaps": [b - a for t in partials.values() for a, b in pairwise(t)],
    }


def load(url: str, streams: list[TestStream]) -> list[dict[str, Any]]:
    """One client process: all of `streams` at once, each on its own connection."""

    async def run() -> list[dict[str, Any]]:
        return await asyncio.gather(*(one_stream(url, s) for s in streams))

    return asyncio.run(run())


def launcher(args: argparse.Namespace) -> Sequence[str]:
    """What starts the server for `args.decode`."""
    if args.decode != "realistic":
        return SERVER
    return (str(ROOT / "bench/steered_server.py"), f"--tokens-per-s={args.tokens_per_s}")


def run_k(k: int, args: argparse.Namespace, pool: list[TestStream], model: str) -> dict[str, Any]:
    process, port = start_server(args, model, launcher(args))
    try:
        cpu0, wall0 = cpu_seconds(process.pid), time.monotonic()
        peak = [rss_mib(process.pid)]
        url = f"ws://127.0.0.1:{port}/v1/stream"
        shares = [pool[i : k : args.client_processes] for i in range(min(args.client_processes, k))]
        with ProcessPoolExecutor(len(shares)) as clients:
            futures = [clients.submit(load, url, share) for share in shares]
            while not all(f.done() for f in futures):
                peak.append(rss_mib(process.pid))
                time.sleep(1.0)
            results = [r for f in futures for r in f.result()]
        cpu, wall = cpu_seconds(process.pid) - cpu0, time.monotonic() - wall0
    finally:
        process.terminate()
        process.wait(30)
    latencies = [x for r in results for x in r["finalisation"]]
    on_server = [x for r in results for x in r["server_finalisation"]]
    p95 = float(np.percentile(latencies, 95)) if latencies else float("inf")
    lag = max(r["lag"] for r in results)
    audio_s = sum(len(s.audio) for s in pool[:k]) / 16000
    return {
        "streams": k,
        "decode": args.decode,
        "finalisation_latency_s": summarise(latencies) | {"p95": round(p95, 3)},
        "server_side_finalisation_latency_s": summarise(on_server),
        "partial_interval_s": summarise([g for r in results for g in r["partial_gaps"]]),
        "max_lag_s": round(lag, 3),
        "server_cpu_s": round(cpu, 1),
        "server_cpu_cores": round(cpu / wall, 2),
        "server_rtf_per_stream": round(cpu / audio_s, 4),
        "server_peak_rss_mib": round(max(peak), 1),
        "sustained": p95 <= 1.0 and lag <= 2.0,
    }


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of a benchmark that starts `server.py` and loads it with test streams (this
    one and bench_soak.py)."""
    parser.add_argument("--model", default=str(ROOT / "assets/models/s2t-demo-en"))
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/corpus/test.jsonl")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="server worker threads"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument(
        "--server-arg",
        dest="server_args",
        action="append",
        default=[],
        help="one more argument for server.py (repeatable), e.g. --server-arg=--step=1.5",
    )
    parser.add_argument("--device", default="cpu", help="the server's compute device")
    parser.add_argument("--dtype", default="float32", help="float16/bfloat16 on CUDA")
    parser.add_argument(
        "--quantize", choices=["none", "int8"], default="none", help="the server's --quantize"
    )
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_arguments(parser)
    parser.add_argument("--streams", default="8,16,32,48", help="comma-separated K values")
    parser.add_argument("--minutes", type=float, default=2.0, help="length of each stream")
    parser.add_argument("--shape", default=None, help="serve a random model of this shape")
    parser.add_argument(
        "--decode",
        choices=["realistic", "worst"],
        default=None,
        help="with --shape: hypotheses as long as a trained model's, or never ending (default: "
        "realistic)",
    )
    parser.add_argument(
        "--tokens-per-s",
        type=float,
        default=TOKENS_PER_S,
        help="--decode realistic: a hypothesis's tokens per second of window",
    )
    args = parser.parse_args(argv)
    if args.decode is not None and args.shape is None:
        parser.error("--decode needs --shape (a trained model decodes as it was trained)")
    if args.tokens_per_s <= 0:
        parser.error(f"--tokens-per-s: expected a number > 0, got {args.tokens_per_s}")
    args.decode = "model" if args.shape is None else args.decode or "realistic"
    return args


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    decoding = DECODING[args.decode].format(rate=args.tokens_per_s)
    print(f"model: {args.shape or args.model}, decoding: {decoding}, quantize: {args.quantize}")
    print(
        "| K | p95 final latency | median | partial interval, median | max lag | "
        "server CPU cores | peak RSS | sustained |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        f, gaps = r["finalisation_latency_s"], r["partial_interval_s"]
        print(
            f"| {r['streams']} | {f['p95']:.2f} s | {f.get('median', float('nan')):.2f} s | "
            f"{gaps.get('median', float('nan')):.2f} s | "
            f"{r['max_lag_s']:.2f} s | {r['server_cpu_cores']:.2f} | "
            f"{r['server_peak_rss_mib']:.0f} MiB | {'yes' if r['sustained'] else 'no'} |"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.manifest.is_file():
        print(
            f"bench_server: {args.manifest} not found (s2t-stream corpus makes it)", file=sys.stderr
        )
        return 2
    ks = [int(k) for k in args.streams.split(",")]
    pool = [build_stream(args.manifest, minutes=args.minutes, seed=i) for i in range(max(ks))]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        model = random_model(args.shape, args.model, Path(scratch)) if args.shape else args.model
        for k in ks:
            row = run_k(k, args, pool, model)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print_table(rows, args)
    best = max((r["streams"] for r in rows if r["sustained"]), default=0)
    print(f"largest K sustained: {best}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "minutes": args.minutes,
                    "model": args.shape or args.model,
                    "device": args.device,
                    "dtype": args.dtype,
                    "quantize": args.quantize,
                    "decode": args.decode,
                    "tokens_per_s": args.tokens_per_s if args.decode == "realistic" else None,
                    "workers": args.workers,
                    "threads": args.threads,
                    "server_args": args.server_args,
                    "rows": rows,
                    "largest_sustained": best,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
