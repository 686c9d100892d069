"""Word confidence: how well it tells wrong words from right ones (ROC AUC) on held-out sets,
for the shipped definition (the least probable piece's probability) and the alternative (the
pieces' geometric-mean probability).

    python bench/bench_confidence.py data/corpus/test.jsonl data/corpus/test-voices.jsonl \\
        --json bench/results/confidence.json

Each hypothesis word is labelled right or wrong by its alignment with the reference
(s2t_stream.training.confidence); the AUC is the chance that a random right word scores above a
random wrong one (0.5: the number says nothing)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import s2t_stream.streaming.words as words_module
from s2t_stream.defaults import default_model
from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.training.confidence import confidence_auc, labelled_words
from s2t_stream.training.manifest import read_manifest


def geometric_mean(log_probs: Sequence[float]) -> float:
    return math.exp(sum(log_probs) / len(log_probs))


DEFINITIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "min": words_module.word_confidence,  # shipped
    "mean": geometric_mean,
}


def measure(
    transcriber: Transcriber, manifest: Path, limit: int | None, definition: str
) -> dict[str, Any]:
    utterances = read_manifest(manifest, limit)
    waves = [load_audio(u.audio, transcriber.sample_rate) for u in utterances]
    # the definition under test, for this run only (`timed_words` looks it up at each call)
    shipped = words_module.word_confidence
    words_module.word_confidence = DEFINITIONS[definition]
    try:
        results = transcriber.transcribe(waves)
    finally:
        words_module.word_confidence = shipped
    labelled = [
        pair
        for u, r in zip(utterances, results, strict=True)
        for pair in labelled_words(u.text, [w for s in r.segments for w in s.words])
    ]
    wrong = [conf for conf, ok in labelled if not ok]
    right = [conf for conf, ok in labelled if ok]
    return {
        "set": manifest.stem,
        "definition": definition,
        "utterances": len(utterances),
        "words": len(labelled),
        "wrong_words": len(wrong),
        "auc": round(confidence_auc(labelled), 4),
        "mean_conf_right": round(sum(right) / max(len(right), 1), 4),
        "mean_conf_wrong": round(sum(wrong) / max(len(wrong), 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifests", nargs="+", type=Path, help="JSON-lines manifests")
    parser.add_argument("--model", default=default_model(), help="model folder")
    parser.add_argument("--beams", type=int, default=5, help="beam size (default 5)")
    parser.add_argument("--limit", type=int, default=None, help="utterances per manifest")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    options = TranscribeOptions(DecodingOptions(num_beams=args.beams))
    transcriber = Transcriber(load_bundle(args.model), options)
    rows = [
        measure(transcriber, manifest, args.limit, definition)
        for manifest in args.manifests
        for definition in DEFINITIONS
    ]
    print(
        f"{'set':<14}{'definition':<12}{'words':>7}{'wrong':>7}{'AUC':>8}{'right':>8}{'wrong':>8}"
    )
    for row in rows:
        print(
            f"{row['set']:<14}{row['definition']:<12}{row['words']:>7}{row['wrong_words']:>7}"
            f"{row['auc']:>8.3f}{row['mean_conf_right']:>8.3f}{row['mean_conf_wrong']:>8.3f}"
        )
    if args.json:
        report = {"model": args.model, "num_beams": args.beams, "results": rows}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
