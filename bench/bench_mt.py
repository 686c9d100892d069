"""The cascade's machine translation: milliseconds per final with Apertium's persistent pipeline
(what s2t-stream uses) against one `apertium -u PAIR` run per text (what a shell would do).

    python bench/bench_mt.py --json bench/results/mt.json

Texts: the bundled samples' references (assets/samples/samples.jsonl: lowercase, unpunctuated,
as finals are), or `--manifest` JSON lines with a "text" field (e.g. data/corpus/test.jsonl)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from s2t_stream.defaults import REPO_ROOT
from s2t_stream.translation.apertium import PAIRS, ApertiumTranslator

SAMPLES = REPO_ROOT / "assets" / "samples" / "samples.jsonl"


def texts_of(manifest: Path, limit: int) -> list[str]:
    with manifest.open() as lines:
        return [json.loads(line)["text"] for line in lines][:limit]


def milliseconds(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1000 * s for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"median": statistics.median(ms), "p95": p95, "mean": statistics.fmean(ms)}


def persistent(language: str, texts: list[str], rounds: int) -> dict[str, Any]:
    """Open (the call returns before the programs have loaded), the first text (it waits for
    them), then every text `rounds` times."""
    began = time.perf_counter()
    translator = ApertiumTranslator(language)
    opened = time.perf_counter()
    translator.translate(texts[0])
    first = time.perf_counter()
    times = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            translator.translate(text)
            times.append(time.perf_counter() - start)
    translator.close()
    return {
        "open_ms": 1000 * (opened - began),
        "first_text_ms": 1000 * (first - opened),
        "per_final_ms": milliseconds(times),
        "finals": len(times),
        "version": translator.version,
    }


def per_call(language: str, texts: list[str]) -> dict[str, Any]:
    """`apertium -u PAIR` once per text."""
    mode = PAIRS[language][0]
    times = []
    for text in texts:
        start = time.perf_counter()
        subprocess.run(["apertium", "-u", mode], input=text, text=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return {"per_final_ms": milliseconds(times), "finals": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=SAMPLES)
    parser.add_argument("--limit", type=int, default=50, help="texts taken from the manifest")
    parser.add_argument("--rounds", type=int, default=10, help="passes of the persistent run")
    parser.add_argument("--languages", default="es,ca")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    texts = texts_of(args.manifest, args.limit)
    results: dict[str, Any] = {"manifest": str(args.manifest), "texts": len(texts)}
    for language in args.languages.split(","):
        results[language] = {
            "persistent": persistent(language, texts, args.rounds),
            "per_call": per_call(language, texts[:5]),
        }
        kept = results[language]["persistent"]["per_final_ms"]
        calls = results[language]["per_call"]["per_final_ms"]
        print(
            f"{language}: persistent pipeline {kept['median']:.1f} ms per final (p95 "
            f"{kept['p95']:.1f}); one apertium run per final {calls['median']:.0f} ms"
        )
    print(json.dumps(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
