"""Offline transcription of one long recording against the per-utterance path: the whole
transcript's WER and the CPU seconds per audio second of each, in one run.

    python bench/bench_long_file.py --minutes 10 --json bench/results/long_file.json

The recording: held-out test sentences (data/corpus/test.jsonl) joined by 0.4–1.5 s pauses over a
faint noise floor, as the latency harness builds its streams. `long file`: `transcribe` as a user
runs it on that file (segments at voice activity, decoded `--batch-size` at a time). `per
utterance`: each sentence's stretch of the same recording transcribed on its own, as one
utterance (the path every recording took before segmentation: one utterance per file)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.training.harness import build_stream
from s2t_stream.training.wer import joined_wer


def timed(transcriber: Transcriber, waves: list[Any]) -> tuple[list[str], float]:
    started = time.process_time()
    texts = [t.text for t in transcriber.transcribe(waves)]
    return texts, time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="assets/models/s2t-demo-en")
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/test.jsonl"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--beam", type=int, default=None, help="default: the model's")
    parser.add_argument("--batch-size", type=int, default=TranscribeOptions().batch_size)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.manifest.is_file():
        print(f"bench_long_file: {args.manifest} not found (`s2t-stream corpus`)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    bundle = load_bundle(args.model)
    stream = build_stream(args.manifest, minutes=args.minutes, seed=0)
    references = [r.text for r in stream.references]
    decoding = DecodingOptions(num_beams=args.beam)
    long_file = TranscribeOptions(decoding, batch_size=args.batch_size)
    per_utterance = replace(long_file, vad=False, batch_size=1)
    whole, whole_cpu = timed(Transcriber(bundle, long_file), [stream.audio])
    pieces, pieces_cpu = timed(Transcriber(bundle, per_utterance), stream.heard())
    audio_s = len(stream.audio) / stream.sample_rate
    speech_s = sum(b - a for a, b in stream.spans) / stream.sample_rate
    result = {
        "minutes": round(audio_s / 60, 2),
        "sentences": len(references),
        "beam": args.beam,
        "batch_size": args.batch_size,
        "long_file": {
            "wer": joined_wer(references, whole),
            "cpu_s": round(whole_cpu, 1),
            "cpu_per_audio_s": round(whole_cpu / audio_s, 4),
        },
        "per_utterance": {
            "wer": joined_wer(references, pieces),
            "cpu_s": round(pieces_cpu, 1),
            "cpu_per_audio_s": round(pieces_cpu / speech_s, 4),
        },
    }
    result["wer_ratio"] = round(
        result["long_file"]["wer"] / max(result["per_utterance"]["wer"], 1e-9), 3
    )
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
