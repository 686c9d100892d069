"""The streaming engine's work, counted rather than timed: encoder frames, decoder calls and
decoder tokens per model over the same test streams, beside the CPU time they took.

    python bench/bench_work.py --model assets/models/s2t-demo-en --model runs/x/export \
        --streams 10 --minutes 2 --json bench/results/work.json

The streams are the server benchmark's (bench/bench_server.py: stream i is built with seed i
from the held-out test sentences), each replayed through the engine with its default options
on a simulated real-time clock (s2t_stream/training/harness.py). The counts depend only on the
models and the audio, not on the machine (while an update takes less than a quarter of the
engine's 1 s step, which it stretches to 4× the last update's compute time:
`StreamOptions.compute_factor`), so they tell whether one model costs more than another when
timings on a shared machine disagree: the encoder re-reads the same windows for any model of
one shape, and the decoder's work is the tokens its hypotheses take."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Final
from s2t_stream.training.harness import TestStream, build_stream, replay

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Work:
    """What one model did over all the streams."""

    model: str
    encoder_calls: int = 0
    encoder_frames: int = 0  # fbank frames in, summed over the batch
    decoder_calls: int = 0
    decoder_tokens: int = 0  # token positions fed to the decoder, summed over the batch
    updates: int = 0
    finals: int = 0
    final_words: int = 0
    cpu_s: float = 0.0


def count(model: str, streams: list[TestStream]) -> Work:
    """Replay every stream through a fresh engine on `model`, counting the network's calls with
    forward hooks on its encoder and decoder."""
    bundle = load_bundle(model)
    work = Work(model)

    def on_encoder(_: nn.Module, inputs: tuple[Any, ...]) -> None:
        work.encoder_calls += 1
        work.encoder_frames += inputs[0].shape[0] * inputs[0].shape[1]

    def on_decoder(_: nn.Module, inputs: tuple[Any, ...]) -> None:
        work.decoder_calls += 1
        work.decoder_tokens += inputs[0].numel()

    bundle.model.encoder.register_forward_pre_hook(on_encoder)
    bundle.model.decoder.register_forward_pre_hook(on_decoder)
    for stream in streams:
        run = replay(Engine(bundle), stream)
        finals = [e for e in run.events if isinstance(e, Final)]
        work.updates += sum(jobs for _, _, jobs in run.updates)
        work.finals += len(finals)
        work.final_words += sum(len(e.text.split()) for e in finals)
        work.cpu_s += run.cpu_s
    work.cpu_s = round(work.cpu_s, 1)
    return work


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="repeat to compare")
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/corpus/test.jsonl")
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=2.0, help="length of each stream")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = range(args.streams)
    streams = [build_stream(args.manifest, minutes=args.minutes, seed=i) for i in seeds]
    rows = [asdict(count(model, streams)) for model in args.model]
    columns = [k for k in rows[0] if k != "model"]
    print("| model | " + " | ".join(c.replace("_", " ") for c in columns) + " |")
    print("| --- | " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        print(f"| {row['model']} | " + " | ".join(str(row[c]) for c in columns) + " |")
    if args.json:
        report = {"streams": args.streams, "minutes": args.minutes, "rows": rows}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
