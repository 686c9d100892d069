"""Training augmentation: how often each kind is drawn with the default options, and what each
costs to render, in one run (no model; a few CPU-seconds).

    python bench/bench_augment.py --plans 2000 --json /tmp/augment.json

Shares: N plans drawn with AugmentOptions() from per-utterance generators, as the corpus draws
them; a kind's share is the fraction of plans that apply it (clean: none applied), with the
shares inside a kind (telephone codecs, noise kinds, SNR below 10 dB, pads over 0.6 s, very
quiet and clipped gains, babble talkers).
Cost: wall time of `apply_augment` on a 3-s speech-like signal per second of that input, for
plans holding one kind only (the parameters of the first few drawn plans that apply it; median
of the repeats, mean over the variants), and for the default mix (mean over drawn plans)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from s2t_stream.model.audio import SAMPLE_RATE
from s2t_stream.training.augment import (
    KINDS,
    NOISE_KINDS,
    TELEPHONE_CODECS,
    AugmentOptions,
    AugmentPlan,
    apply_augment,
    draw_augment,
)

SIGNAL_S = 3.0
FIELDS = dict(zip(KINDS, (f.name for f in dataclasses.fields(AugmentPlan)), strict=True))
"""Kind name -> its AugmentPlan field."""


def speech_like(seconds: float, f0: float, seed: int) -> np.ndarray:
    """(n,) float32: harmonics of `f0` to 7 kHz under a 4 Hz syllable envelope, peak 0.5."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    voice = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k
                for k in range(1, int(7000 // f0)))  # fmt: skip
    wave = (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)) * voice + 0.01 * rng.standard_normal(t.size)
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


def draw_plans(count: int, options: AugmentOptions, seed: int) -> list[AugmentPlan]:
    """`count` plans, plan i from its own generator (as the corpus: one per utterance)."""
    return [draw_augment(np.random.default_rng([seed, i]), options) for i in range(count)]


def shares(plans: list[AugmentPlan]) -> dict[str, Any]:
    """Share of all plans applying each kind (and clean); `within`: shares among the plans
    applying a kind (codecs, noise kinds, low SNRs, long pads, gain extremes, talkers)."""
    kinds = Counter(kind for plan in plans for kind in plan.kinds())
    noises = [plan.noise for plan in plans if plan.noise is not None]
    pads = [plan.pad_s for plan in plans if plan.pad_s is not None]
    gains = [plan.gain_dbfs for plan in plans if plan.gain_dbfs is not None]
    talkers = [plan.babble[0] for plan in plans if plan.babble is not None]
    codecs = [plan.telephone for plan in plans if plan.telephone is not None]
    return {
        "plans": len(plans),
        "clean": _share(sum(plan == AugmentPlan() for plan in plans), len(plans)),
        "kinds": {kind: _share(kinds[kind], len(plans)) for kind in KINDS},
        "within": {
            "telephone codec": {c: _share(codecs.count(c), len(codecs)) for c in TELEPHONE_CODECS},
            "noise kind": {k: _share(sum(n[0] == k for n in noises), len(noises))
                           for k in NOISE_KINDS},
            "noise SNR < 10 dB": _share(sum(n[1] < 10 for n in noises), len(noises)),
            "pad > 0.6 s (either end)": _share(sum(max(p) > 0.6 for p in pads), len(pads)),
            "gain <= -25 dBFS (quiet)": _share(sum(g <= -25 for g in gains), len(gains)),
            "gain > 0 dBFS (clipped)": _share(sum(g > 0 for g in gains), len(gains)),
            "babble talkers": {str(t): _share(talkers.count(t), len(talkers)) for t in (1, 2, 3)},
        },
        "kinds per plan (mean)": round(sum(kinds.values()) / len(plans), 2),
    }  # fmt: skip


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def seconds_per_audio_second(
    signal: np.ndarray, plans: list[AugmentPlan], voices: list[np.ndarray], repeats: int
) -> float:
    """Mean over `plans` of the median wall time of `apply_augment`, per second of input."""
    times = []
    for index, plan in enumerate(plans):
        runs = []
        for _ in range(repeats + 1):  # the first run warms caches and is dropped
            start = time.perf_counter()
            apply_augment(signal, plan, np.random.default_rng(index), babble_sources=voices)
            runs.append(time.perf_counter() - start)
        times.append(float(np.median(runs[1:])))
    return float(np.mean(times)) / (signal.size / SAMPLE_RATE)


def one_kind_plans(kind: str, pool: list[AugmentPlan], variants: int) -> list[AugmentPlan]:
    """Plans holding only `kind`, with the parameters of the first `variants` plans of `pool`
    that apply it."""
    field = FIELDS[kind]
    found = [getattr(plan, field) for plan in pool if getattr(plan, field) is not None]
    return [AugmentPlan(**{field: value}) for value in found[:variants]]


def costs(
    default_plans: list[AugmentPlan], variants: int, repeats: int, seed: int
) -> dict[str, Any]:
    """Seconds of `apply_augment` per second of a 3-s input: per kind, per telephone codec and
    noise kind, all kinds at once, and the default mix."""
    signal = speech_like(SIGNAL_S, 140.0, seed)
    voices = [speech_like(2.0 + i, 110.0 + 50 * i, seed + 1 + i) for i in range(3)]
    every_prob = {f.name: 1.0 for f in dataclasses.fields(AugmentOptions)}
    everything = dataclasses.replace(AugmentOptions(**every_prob), clean_prob=0.0)
    pool = draw_plans(200, everything, seed + 1)
    result: dict[str, Any] = {"clean": seconds_per_audio_second(signal, [AugmentPlan()], [], 3)}
    for kind in KINDS:
        plans = one_kind_plans(kind, pool, variants)
        result[kind] = seconds_per_audio_second(signal, plans, voices, repeats)
    for codec in TELEPHONE_CODECS:
        plan = [AugmentPlan(telephone=codec)]
        result[f"telephone-{codec}"] = seconds_per_audio_second(signal, plan, voices, repeats)
    for noise in NOISE_KINDS:
        plan = [AugmentPlan(noise=(noise, 10.0))]
        result[f"noise-{noise}"] = seconds_per_audio_second(signal, plan, voices, repeats)
    result["all kinds at once"] = seconds_per_audio_second(signal, pool[:variants], voices, 1)
    mix = default_plans[: 10 * variants]
    result["default mix"] = seconds_per_audio_second(signal, mix, voices, 1)
    return {name: round(value, 5) for name, value in result.items()}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=2000, help="plans to draw (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", type=int, default=5,
                        help="parameter sets timed per kind (default 5)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per plan (median)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def print_report(share: dict[str, Any], cost: dict[str, float]) -> None:
    print(f"Shares of {share['plans']} plans drawn with AugmentOptions():")
    print(f"  {'clean':<24}{share['clean']:7.1%}")
    for kind, value in share["kinds"].items():
        print(f"  {kind:<24}{value:7.1%}")
    print(f"  {'kinds per plan (mean)':<24}{share['kinds per plan (mean)']:7.2f}")
    print("Within the plans applying a kind:")
    for name, value in share["within"].items():
        print(f"  {name:<26}{value}")
    print(f"\napply_augment on a {SIGNAL_S:g}-s signal, ms per audio-second (real-time factor):")
    for name, value in cost.items():
        print(f"  {name:<24}{1000 * value:8.2f} ms   RTF {value:.4f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plans = draw_plans(args.plans, AugmentOptions(), args.seed)
    share = shares(plans)
    cost = costs(plans, args.variants, args.repeats, args.seed)
    print_report(share, cost)
    if args.json is not None:
        data = {"options": dataclasses.asdict(AugmentOptions()), "signal_s": SIGNAL_S,
                "shares": share, "seconds_per_audio_second": cost}  # fmt: skip
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
