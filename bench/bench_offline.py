"""Offline transcription speed: ours against `transformers` generate on the same random
s2t-small-shaped weights and the same 60 s of audio; tokens must be identical.

    python bench/bench_offline.py [--seconds 60] [--max-length 200] [--device cpu] [--json out.json]
    python bench/bench_offline.py --quantize int8        (also ours with int8 linear layers)

With `--quantize int8` ours also runs with the same weights quantised (`--quantize int8` of the
commands, CPU only); its tokens are not expected to equal the float model's (random weights
have near-ties everywhere), only its time is compared.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from functools import partial
from typing import Any

import numpy as np
import torch
from transformers import Speech2TextConfig, Speech2TextFeatureExtractor
from transformers import Speech2TextForConditionalGeneration as Reference

from s2t_stream.model.config import DecodingOptions, GenerationConfig, ModelConfig
from s2t_stream.model.features import extract_features
from s2t_stream.model.network import Speech2Text
from s2t_stream.model.quantize import quantize_int8
from s2t_stream.model.search import SearchSettings, search


def audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Speech-like test signal: noise shaped by a slow random envelope (the weights are random,
    so the content does not matter; only its length does)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    envelope = np.repeat(rng.uniform(0.05, 0.5, n // 1600 + 1), 1600)[:n]
    return (rng.standard_normal(n) * envelope * 0.3).astype(np.float32)


def timed(fn: Any, repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def reference_tokens(
    reference: Reference,
    extractor: Speech2TextFeatureExtractor,
    wave: np.ndarray,
    settings: SearchSettings,
    device: str,
) -> list[int]:
    """The reference pipeline: its feature extractor, then `generate`."""
    feats = extractor(wave, sampling_rate=16000, return_tensors="pt").input_features
    with torch.inference_mode():
        out = reference.generate(
            feats.to(device),
            num_beams=settings.num_beams,
            max_length=settings.max_length,
            early_stopping=True if settings.num_beams > 1 else None,
            do_sample=False,
        )
    return list(out[0, 1:].tolist())


def our_tokens(
    ours: Speech2Text, wave: np.ndarray, settings: SearchSettings, device: str
) -> list[int]:
    """Our pipeline: features, encoder, search."""
    feats = torch.from_numpy(extract_features(wave))[None].to(device)
    with torch.inference_mode():
        return list(search(ours, ours.encode(feats), settings)[0].tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-length", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quantize", choices=["none", "int8"], default="none")
    parser.add_argument("--json", default=None, help="write the results here too")
    args = parser.parse_args()
    torch.manual_seed(0)
    reference = Reference(Speech2TextConfig(dropout=0.0)).eval()
    with torch.no_grad():  # steer away from eos so that both searches run to max_length
        eos = reference.lm_head.weight[2]
        reference.model.decoder.layer_norm.bias.copy_(-10 * eos / eos.norm())
    reference.to(args.device)
    ours = Speech2Text(ModelConfig()).eval().to(args.device)
    ours.load_state_dict(reference.state_dict())
    int8 = quantize_int8(copy.deepcopy(ours)) if args.quantize == "int8" else None
    wave = audio(args.seconds)
    extractor = Speech2TextFeatureExtractor()
    results: dict[str, Any] = {
        "audio_s": args.seconds,
        "device": args.device,
        "quantize": args.quantize,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "runs": [],
    }
    for beams in (1, 5):
        settings = SearchSettings.resolve(
            DecodingOptions(num_beams=beams, max_length=args.max_length, early_stopping=True),
            GenerationConfig(),
        )
        run_reference = partial(reference_tokens, reference, extractor, wave, settings, args.device)
        run_ours = partial(our_tokens, ours, wave, settings, args.device)
        ref_s, expected = timed(run_reference, args.repeats)
        our_s, got = timed(run_ours, args.repeats)
        run = {
            "num_beams": beams,
            "tokens": len(got),
            "identical_tokens": expected == got,
            "reference_s": round(ref_s, 3),
            "ours_s": round(our_s, 3),
            "reference_rtf": round(ref_s / args.seconds, 4),
            "ours_rtf": round(our_s / args.seconds, 4),
            "speedup": round(ref_s / our_s, 2),
        }
        if int8 is not None:
            int8_s, int8_got = timed(
                partial(our_tokens, int8, wave, settings, args.device), args.repeats
            )
            run |= {
                "ours_int8_s": round(int8_s, 3),
                "ours_int8_rtf": round(int8_s / args.seconds, 4),
                "int8_tokens": len(int8_got),
                "int8_speedup_over_ours": round(our_s / int8_s, 2),
            }
        results["runs"].append(run)
        print(
            f"beam {beams}: {run['tokens']} tokens, identical={run['identical_tokens']}  "
            f"reference {ref_s:.2f} s (RTF {run['reference_rtf']})  ours {our_s:.2f} s "
            f"(RTF {run['ours_rtf']})  speed-up {run['speedup']}×",
            flush=True,
        )
        if int8 is not None:
            print(
                f"beam {beams}, ours int8: {run['int8_tokens']} tokens, {run['ours_int8_s']:.2f} s "
                f"(RTF {run['ours_int8_rtf']}), {run['int8_speedup_over_ours']}× ours float32",
                flush=True,
            )
    print(json.dumps(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
