"""Compute per model step of the s2t-small shape, float32 against int8 (`--quantize int8`).

    python bench/bench_step.py [--windows 2,5,10] [--rows 1,8,32] [--json out.json]

A model of s2t-small's shape (12 + 6 layers, d_model 256, FFN 2048, 10 000-piece tied
vocabulary) with random weights, on one torch thread, times what a server round is made of:
encoding one window of W seconds; the teacher-forced pass over R streams' 20-token prefixes
(one 5 s window each); and one greedy decoding step for those R rows. Each number is the median
of `--repeats` calls (after one warm-up), for the float32 model and for the same weights
quantised. (Accuracy is not measured here: random weights have near-ties everywhere. The
demo model's WER with and without int8 is in the README.)"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from s2t_stream.model.config import ModelConfig
from s2t_stream.model.network import EncoderOutput, Speech2Text, concat_outputs
from s2t_stream.model.quantize import quantize_int8
from s2t_stream.training.train import initialise

FRAMES_PER_S = 100  # fbank frames
PREFIX = 20  # tokens already in each stream's hypothesis (a committed prefix)
LABELS = {
    "encoder_ms": "encode one {} window",
    "forced_pass_ms": "forced pass + new cache, {} rows",
    "step_ms": "decoding step, {} rows",
}


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: allocations, the int8 kernels' first run
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def encoder_ms(model: Speech2Text, seconds: float, repeats: int) -> float:
    features = torch.randn(1, round(seconds * FRAMES_PER_S), model.config.input_feat_per_channel)
    return median_ms(lambda: model.encode(features), repeats)


def streams(model: Speech2Text, rows: int) -> tuple[EncoderOutput, torch.Tensor]:
    """`rows` streams' 5 s encoder outputs as one batch, and their prefixes (rows, PREFIX)."""
    generator = torch.Generator().manual_seed(rows)
    features = torch.randn(1, 5 * FRAMES_PER_S, model.config.input_feat_per_channel)
    encoder = concat_outputs([model.encode(features)] * rows)
    prefixes = torch.randint(4, model.config.vocab_size, (rows, PREFIX), generator=generator)
    prefixes[:, 0] = model.config.decoder_start_token_id
    return encoder, prefixes


def decoder_ms(model: Speech2Text, rows: int, repeats: int) -> tuple[float, float]:
    """The forced pass over `rows` prefixes (with its new cache: cross-attention keys and
    values), and one greedy step after it."""
    encoder, prefixes = streams(model, rows)

    def forced() -> torch.Tensor:
        return model.decode(prefixes, model.new_cache(encoder))

    cache = model.new_cache(encoder)
    model.decode(prefixes, cache)
    step_ids = prefixes[:, -1:]

    def step() -> None:
        model.decode(step_ids, cache, last_only=True)
        cache.truncate(PREFIX)  # every call decodes the same position

    return median_ms(forced, repeats), median_ms(step, repeats)


def measure(model: Speech2Text, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"encoder_ms": {}, "forced_pass_ms": {}, "step_ms": {}}
    with torch.inference_mode():
        for seconds in args.windows:
            out["encoder_ms"][f"{seconds:g}s"] = round(encoder_ms(model, seconds, args.repeats), 2)
        for rows in args.rows:
            forced, step = decoder_ms(model, rows, args.repeats)
            out["forced_pass_ms"][str(rows)] = round(forced, 2)
            out["step_ms"][str(rows)] = round(step, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", default="2,5,10", help="encoder windows, seconds")
    parser.add_argument("--rows", default="1,8,32", help="streams decoded together")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", default=None, help="write the results here too")
    args = parser.parse_args()
    args.windows = [float(w) for w in args.windows.split(",")]
    args.rows = [int(r) for r in args.rows.split(",")]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Speech2Text(ModelConfig(vocab_size=10000, dropout=0.0)).eval()
    initialise(model)  # fairseq's scales, as a trained model has
    report: dict[str, Any] = {
        "shape": "s2t-small (random weights)",
        "torch_threads": 1,
        "cpu": platform.processor() or platform.machine(),
        "repeats": args.repeats,
        "prefix_tokens": PREFIX,
        "float32": measure(model, args),
        "int8": measure(quantize_int8(copy.deepcopy(model)), args),
    }
    print("| call | float32 | int8 | speed-up |\n| --- | --- | --- | --- |")
    for key, label in LABELS.items():
        for size, float_ms in report["float32"][key].items():
            int8_ms = report["int8"][key][size]
            row = f"{float_ms:.1f} ms | {int8_ms:.1f} ms | {float_ms / int8_ms:.2f}×"
            print(f"| {label.format(size)} | {row} |")
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
