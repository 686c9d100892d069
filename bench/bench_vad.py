"""Voice-activity detectors in noise: frame-level misses and false alarms, CPU per stream, and the
streaming engine's WER and finalisation latency with each, in one run.

    python bench/bench_vad.py --minutes 3 --json bench/results/vad.json --markdown docs/vad.md

Speech: held-out test sentences (data/corpus/test.jsonl) joined by 0.4–1.5 s pauses, as the
latency harness builds its streams; a frame is speech when it lies inside a sentence's speech span.
Noise: white, pink, brown, mains hum, music-like tones and babble (five dev-split voices summed),
mixed at 20, 10, 5 and 0 dB SNR against the active speech, plus each noise alone (2 minutes: any
speech label there is a false alarm)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.streaming.endpoint import EndpointOptions
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Final
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.streaming.vad import VadOptions, make_vad
from s2t_stream.training.augment import babble, colored_noise, hum, tones
from s2t_stream.training.harness import TestStream, build_stream, replay
from s2t_stream.training.latency import finalisation_latencies, summarise
from s2t_stream.training.manifest import read_manifest
from s2t_stream.training.wer import joined_wer

RATE = 16000
KINDS = ("webrtc", "floor", "silero")
NOISES = ("white", "pink", "brown", "hum", "tones", "babble")
SNRS = (20.0, 10.0, 5.0, 0.0)
WER_CONDITIONS = (("clean", None), ("brown", 10.0), ("hum", 10.0), ("babble", 10.0))


def noise(kind: str, n: int, rng: np.random.Generator, voices: list[np.ndarray]) -> np.ndarray:
    """(n,) unit-power noise of `kind`."""
    if kind == "hum":
        return hum(n, rng)
    if kind == "tones":
        return tones(n, rng)
    if kind == "babble":
        return babble(n, voices, rng)
    return colored_noise(n, kind, rng)


def reference_labels(stream: TestStream, frame: int) -> np.ndarray:
    """Per detector frame: does its centre lie inside a sentence's speech span?"""
    centres = (np.arange(len(stream.audio) // frame) + 0.5) * frame / RATE
    inside = np.zeros(len(centres), dtype=bool)
    for ref in stream.references:
        inside |= (centres >= ref.start_s) & (centres < ref.end_s)
    return inside


def speech_power(stream: TestStream) -> float:
    active = np.concatenate([stream.audio[a:b] for a, b in stream.spans])
    return float(np.mean(active.astype(np.float64) ** 2))


def frame_scores(kind: str, audio: np.ndarray, truth: np.ndarray | None) -> dict[str, float]:
    """Miss and false-alarm rates of detector `kind` on `audio` (truth None: all non-speech),
    and its CPU per second of audio."""
    detector = make_vad(RATE, VadOptions(kind=kind))  # type: ignore[arg-type]
    started = time.process_time()
    labels = np.array(detector.accept(audio), dtype=bool)
    cpu = time.process_time() - started
    truth = np.zeros(len(labels), dtype=bool) if truth is None else truth[: len(labels)]
    labels = labels[: len(truth)]
    speech, quiet = truth.sum(), (~truth).sum()
    return {
        "miss": float((~labels & truth).sum() / speech) if speech else float("nan"),
        "false_alarm": float((labels & ~truth).sum() / quiet) if quiet else float("nan"),
        "cpu_per_audio_s": cpu / (len(audio) / RATE),
    }


def stream_scores(kind: str, bundle: Any, stream: TestStream) -> dict[str, Any]:
    """The streaming engine with detector `kind`: WER of its finals, finalisation latency."""
    options = StreamOptions(endpoint=EndpointOptions(vad=VadOptions(kind=kind)))  # type: ignore[arg-type]
    run = replay(Engine(bundle, options), stream)
    finals = [e for e in run.events if isinstance(e, Final)]
    refs = list(stream.references)
    return {
        "wer": joined_wer([r.text for r in refs], [f.text for f in finals]),
        "finals": len(finals),
        "sentences": len(refs),
        "finalisation_latency_s": summarise(finalisation_latencies(run.events, refs)),
    }


def with_noise(stream: TestStream, audio: np.ndarray) -> TestStream:
    return TestStream(audio, stream.sample_rate, stream.references, stream.sources, stream.spans)


def run(args: argparse.Namespace) -> dict[str, Any]:
    kinds = [k for k in args.vads.split(",") if k]
    stream = build_stream(args.manifest, minutes=args.minutes, seed=0, noise_dbfs=-120.0)
    voices = [load_audio(u.audio) for u in read_manifest(args.babble_manifest)[:5]]
    rng = np.random.default_rng(0)
    n, power = len(stream.audio), speech_power(stream)
    noises = {kind: noise(kind, n, rng, voices) for kind in NOISES}
    truth = {k: reference_labels(stream, make_vad(RATE, VadOptions(kind=k)).frame) for k in kinds}
    frames: dict[str, Any] = {}
    for kind in kinds:
        rows = {"clean": frame_scores(kind, stream.audio, truth[kind])}
        for name, wave in noises.items():
            alone = (wave[: 120 * RATE] * np.sqrt(power / 10)).astype(np.float32)  # speech - 10 dB
            rows[f"{name} alone"] = frame_scores(kind, alone, None)
            for snr in SNRS:
                mixed = (stream.audio + wave * np.sqrt(power / 10 ** (snr / 10))).astype(np.float32)
                rows[f"{name} {snr:g} dB"] = frame_scores(kind, mixed, truth[kind])
        frames[kind] = rows
        print(f"{kind}: frames scored", file=sys.stderr, flush=True)
    bundle = load_bundle(args.model)
    streaming: dict[str, Any] = {}
    for kind in kinds:
        for name, snr in WER_CONDITIONS:
            audio = stream.audio if snr is None else (
                stream.audio + noises[name] * np.sqrt(power / 10 ** (snr / 10))
            ).astype(np.float32)  # fmt: skip
            label = name if snr is None else f"{name} {snr:g} dB"
            row = stream_scores(kind, bundle, with_noise(stream, audio))
            streaming.setdefault(kind, {})[label] = row
            print(f"{kind} {label}: WER {row['wer']:.3f}", file=sys.stderr, flush=True)
    return {"minutes": args.minutes, "frames": frames, "streaming": streaming}


def markdown(result: dict[str, Any], command: str) -> str:
    """The comparison as the tables docs/vad.md shows."""
    kinds = list(result["frames"])
    lines = [
        "# Voice-activity detectors in noise",
        "",
        f"Made by `{command}` ({result['minutes']:g} minutes of held-out speech).",
        "",
        "Frame-level miss rate / false-alarm rate (speech - noise SNR in dB; *alone*: the noise",
        "without speech, 10 dB under the speech level, where every speech label is a false alarm):",
        "",
        "| condition | " + " | ".join(kinds) + " |",
        "| --- |" + " --- |" * len(kinds),
    ]
    for condition in result["frames"][kinds[0]]:
        cells = []
        for kind in kinds:
            row = result["frames"][kind][condition]
            miss = "–" if np.isnan(row["miss"]) else f"{100 * row['miss']:.1f}"
            cells.append(f"{miss} / {100 * row['false_alarm']:.1f} %")
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    cpu = [
        f"{100 * np.mean([r['cpu_per_audio_s'] for r in result['frames'][k].values()]):.2f} %"
        for k in kinds
    ]
    lines += ["| CPU per stream (one core) | " + " | ".join(cpu) + " |", ""]
    lines += [
        "The streaming engine with each detector: WER of its finals (finals / sentences) and",
        "median finalisation latency:",
        "",
        "| condition | " + " | ".join(kinds) + " |",
        "| --- |" + " --- |" * len(kinds),
    ]
    for condition in result["streaming"][kinds[0]]:
        cells = []
        for kind in kinds:
            row = result["streaming"][kind][condition]
            latency = row["finalisation_latency_s"].get("median", float("nan"))
            cells.append(
                f"{100 * row['wer']:.1f} % ({row['finals']}/{row['sentences']}), {latency:.2f} s"
            )
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="assets/models/s2t-demo-en")
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/test.jsonl"))
    parser.add_argument("--babble-manifest", type=Path, default=Path("data/corpus/dev.jsonl"))
    parser.add_argument("--minutes", type=float, default=3.0, help="speech for the frame scores")
    parser.add_argument("--vads", default=",".join(KINDS), help="comma-separated detectors")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    args = parser.parse_args(argv)
    for path in (args.manifest, args.babble_manifest):
        if not path.is_file():
            print(f"bench_vad: {path} not found (`s2t-stream corpus` makes it)", file=sys.stderr)
            return 2
    torch.set_num_threads(1)
    result = run(args)
    command = "python bench/bench_vad.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(result, command.strip())
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
