"""Silence around a clip: WER of a manifest's recordings as given and with leading and trailing
near-silence added, as a microphone's segment hears a word (the streaming engine's window
starts before the speech, `pre_roll_s`, and ends after the endpoint's silence, `end_silence_s`;
offline VAD segmentation keeps margins too).

    python bench/bench_margins.py --manifest data/corpus/real-fsdd.jsonl --limit 150 \
        --margins 0/0,0.1/0.1,0.2/0,0/0.5,0.2/0.5,0.5/1.0 --json bench/results/margins.json

Each margin is LEAD/TRAIL seconds of a white noise floor at `--floor-dbfs` (the training
augmentation's `pad_silence`); the same floor for every clip and margin (seeded). Decoding is
`transcribe`'s, without VAD segmentation (the clip with its margins is one utterance) unless
`--vad`, at `--beam` (default 1: the streaming engine's greedy search) and the model's CTC
weight for that search (`--ctc-weight`). Prints a table and, with `--json`, writes it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.training.augment import pad_silence
from s2t_stream.training.manifest import Utterance, read_manifest
from s2t_stream.training.wer import corpus_wer, normalize

RATE = 16000


def margins(text: str) -> list[tuple[float, float]]:
    """'0/0,0.2/0.5' → [(0.0, 0.0), (0.2, 0.5)]; argparse error for anything else."""
    try:
        pairs = [tuple(float(x) for x in item.split("/")) for item in text.split(",")]
    except ValueError:
        pairs = []
    if not pairs or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise argparse.ArgumentTypeError(
            f"expected LEAD/TRAIL seconds ≥ 0, comma-separated, got {text!r}"
        )
    return [(p[0], p[1]) for p in pairs]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default="assets/models/s2t-demo-en",
        help="model directory (default: %(default)s)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=Path("data/corpus/real-fsdd.jsonl"),
        help="clips scored (default: %(default)s)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="N clips spread evenly over the manifest (a manifest sorted by digit or speaker "
        "keeps them all); default: every clip",
    )
    parser.add_argument(
        "--margins",
        type=margins,
        default="0/0,0.1/0.1,0.2/0.5",
        help="LEAD/TRAIL seconds of near-silence added before/after each clip, comma-separated "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--floor-dbfs",
        type=float,
        default=-65.0,
        help="level of the white noise floor, dBFS (default: %(default)s)",
    )
    parser.add_argument("--vad", action="store_true", help="segment with the VAD, as transcribe")
    parser.add_argument(
        "--beam", type=int, default=1, help="beams (default: 1, greedy, as streaming)"
    )
    parser.add_argument(
        "--ctc-weight",
        type=float,
        default=None,
        help="joint CTC decoding weight (default: the model's for that search)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    return parser.parse_args(argv)


def spread(clips: list[Utterance], limit: int | None) -> list[Utterance]:
    """`limit` clips at even steps through `clips` (all of them when `limit` is None)."""
    if limit is None or limit >= len(clips):
        return clips
    step = len(clips) / limit
    return [clips[int(i * step)] for i in range(limit)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        clips = spread(read_manifest(args.manifest), args.limit)
        bundle = load_bundle(args.model)
        decoding = DecodingOptions(num_beams=args.beam, ctc_weight=args.ctc_weight)
        transcriber = Transcriber(bundle, TranscribeOptions(decoding, vad=args.vad))
    except (S2TError, ValueError) as e:  # OptionsError included
        print(f"bench_margins: {e}", file=sys.stderr)
        return 2
    references = [normalize(c.text) for c in clips]
    audio = [load_audio(c.audio, RATE) for c in clips]
    rows = []
    print("| lead s | trail s | WER |\n| --- | --- | --- |")
    for lead, trail in args.margins:
        rng = np.random.default_rng(0)
        padded = [pad_silence(a, lead, trail, rng, floor_dbfs=args.floor_dbfs) for a in audio]
        texts = [normalize(t.text) for t in transcriber.transcribe(padded)]
        wer = corpus_wer(references, texts)
        rows.append({"lead_s": lead, "trail_s": trail, "wer": round(wer, 4)})
        print(f"| {lead:g} | {trail:g} | {100 * wer:.1f} % |", flush=True)
    if args.json is not None:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"settings": settings, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
