"""`transcribe` (files, offline) and `eval` (WER of a manifest, per voice, greedy and beam)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from s2t_stream.cli.arguments import (
    add_decoding_arguments,
    add_model_arguments,
    decoding_options,
    load_model,
    log,
    needs_extra,
    number,
)


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("transcribe", "transcribe or translate audio files offline")
    parser.add_argument("files", nargs="+", metavar="FILE", help="wav, flac, ogg or mp3")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument(
        "--batch-size", type=number(int, least=1), default=1, help="files decoded together"
    )
    add_model_arguments(parser)
    add_decoding_arguments(parser)
    parser.set_defaults(run=run_transcribe)

    parser = command("eval", "WER on a manifest, per voice, greedy and beam")
    parser.add_argument("manifest", type=Path, help="JSON lines: audio, text, voice")
    parser.add_argument("--beams", default="1,5", help="comma-separated beam sizes to score")
    parser.add_argument(
        "--limit", type=number(int, least=1), default=None, help="first N utterances only"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results here, with every hypothesis"
    )
    parser.add_argument(
        "--batch-size", type=number(int, least=1), default=1, help="utterances decoded together"
    )
    add_model_arguments(parser)
    parser.set_defaults(run=run_eval)


def run_transcribe(args: argparse.Namespace) -> int:
    from s2t_stream.transcribe import TranscribeOptions, Transcriber

    options = TranscribeOptions(
        decoding=decoding_options(args), tgt_lang=args.tgt_lang, batch_size=args.batch_size
    )
    transcriber = Transcriber(load_model(args), options)
    for result in transcriber.transcribe_files(args.files):
        if args.format == "json":
            print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
        elif len(args.files) > 1:
            print(f"{result.path}: {result.text}", flush=True)
        else:
            print(result.text, flush=True)
    return 0


def _beams(text: str) -> list[int]:
    try:
        beams = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        beams = []
    if not beams or min(beams) < 1:
        raise ValueError(f"--beams: expected comma-separated beam sizes ≥ 1, got {text!r}")
    return beams


def run_eval(args: argparse.Namespace) -> int:
    with needs_extra("train", "s2t-stream eval (word error rates)"):
        import jiwer  # noqa: F401  (checked here, before the model loads)
    from s2t_stream.training.evaluate import evaluate, table
    from s2t_stream.training.manifest import read_manifest
    from s2t_stream.transcribe import TranscribeOptions, Transcriber

    beams = _beams(args.beams)
    utterances = read_manifest(args.manifest, args.limit)
    bundle = load_model(args)
    transcriber = Transcriber(bundle, TranscribeOptions(batch_size=args.batch_size))
    results = []
    for num_beams in beams:
        log.info("decoding %d utterances with beam %d", len(utterances), num_beams)
        results.append(evaluate(transcriber, utterances, num_beams))
    report = {"model": bundle.source, "manifest": str(args.manifest)}
    if args.json:  # the file also has every utterance's reference and hypothesis
        detailed = {**report, "results": [r.to_json(utterances) for r in results]}
        args.json.write_text(json.dumps(detailed, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(json.dumps({**report, "results": [r.to_json() for r in results]}))
    return 0
