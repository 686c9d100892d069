"""Streaming benchmark: WER offline vs streaming, finalisation and first-partial latency,
Average Lagging / LAAL (computation-aware and -unaware), compute ratio, real-time factor and
memory over time, for engine variants and a whisper_streaming-like baseline, in one run.

    python bench/bench_stream.py --minutes 10 --json bench/stream.json --plot bench/stream.png

The stream is made of the demo corpus's held-out test sentences (`s2t-stream corpus` writes
data/corpus/test.jsonl) joined by 0.4–1.5 s pauses over a faint noise floor; the offline runs
transcribe each sentence's stretch of that stream (the same samples the engine hears), and, for
reference, the clean files; see s2t_stream/training/harness.py.

With a speech-translation model and `--tgt-lang LANG` the engine translates (its events' text is
the translation) and the report is a translation run's (`harness.score_translation`): BLEU and
chrF of the finals and of the offline runs against the manifest's `translations[LANG]`, the
streaming/offline BLEU ratio, SimulEval's AL and LAAL on target words, computation-aware and
-unaware (per sentence; the table shows their means, as SimulEval reports), and finalisation
latency:

    python bench/bench_stream.py --model runs/st1/export --tgt-lang es --variants alignatt \
        --minutes 10 --json bench/stream-es.json"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from s2t_stream.errors import S2TError
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.streaming.cmvn import CmvnOptions
from s2t_stream.streaming.endpoint import EndpointOptions
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.policy import PolicyOptions
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.streaming.vad import VadOptions
from s2t_stream.training.harness import (
    TestStream,
    build_stream,
    replay,
    score,
    score_translation,
    transcribe_offline,
)
from s2t_stream.training.latency import finalisation_latencies, plot_latencies, sentence_lagging

DEFAULT = StreamOptions()
VARIANTS: dict[str, StreamOptions] = {
    "alignatt": DEFAULT,
    "local-agreement": replace(DEFAULT, policy=PolicyOptions(name="local-agreement")),
    "cmvn-prior": replace(DEFAULT, cmvn=CmvnOptions(mode="prior")),
    "step-0.5s": replace(DEFAULT, step_s=0.5),
    "fixed-step": replace(DEFAULT, step_growth=0.0),
    "growth-0.3": replace(DEFAULT, step_growth=0.3),
    "growth-0.4": replace(DEFAULT, step_growth=0.4),
    "border-0.5": replace(DEFAULT, policy=PolicyOptions(border_s=0.5)),
    "border-0.6": replace(DEFAULT, policy=PolicyOptions(border_s=0.6)),
    "border-0.8": replace(DEFAULT, policy=PolicyOptions(border_s=0.8)),
    "border-1.0": replace(DEFAULT, policy=PolicyOptions(border_s=1.0)),
    "vad-webrtc": replace(DEFAULT, endpoint=EndpointOptions(vad=VadOptions(kind="webrtc"))),
    # the features of an empty top band (8 kHz audio) left as the reference computes them
    "band-mask-off": replace(DEFAULT, band_mask=False),
    # AlignAtt without the onset confidence: a segment's first words commit as the border allows
    "onset-off": replace(DEFAULT, policy=PolicyOptions(onset_confidence=0.0)),
    # the onset confidence held until the first commit however long the segment grows
    "onset-unbounded": replace(DEFAULT, policy=PolicyOptions(onset_s=3600.0)),
    # joint CTC/attention decoding with the model's CTC head (the bundled head's μ is 0.1)
    "ctc-0.1": replace(DEFAULT, ctc_weight=0.1),
    "ctc-0.3": replace(DEFAULT, ctc_weight=0.3),
    # nothing committed before the final: what segmentation and CMVN alone cost in WER
    "commit-at-final": replace(DEFAULT, policy=PolicyOptions(border_s=1e6)),
    # whisper_streaming-like: no VAD, re-transcribe the buffer (≤ 15 s) every 1 s, LocalAgreement-2
    "baseline": StreamOptions(
        step_s=1.0,
        step_growth=0.0,
        compute_factor=0.0,
        policy=PolicyOptions(name="local-agreement", agreement=2),
        endpoint=None,
        max_segment_s=15.0,
    ),
}

SHOWN = [
    ("wer_offline", "WER offline"),
    ("wer_streaming", "WER streaming"),
    ("wer_ratio", "WER ratio"),
    ("finalisation_latency_s", "final latency (median s)"),
    ("first_partial_latency_s", "first partial (median s)"),
    ("al_aware_s", "AL aware (median s)"),
    ("al_unaware_s", "AL unaware (median s)"),
    ("laal_aware_s", "LAAL aware (median s)"),
    ("compute_ratio", "compute ratio"),
    ("wer_offline_default_search", "WER offline, model's search"),
    ("wer_offline_clean_files", "WER offline, clean files"),
    ("compute_ratio_vs_default_search", "compute ratio vs model's search"),
    ("real_time_factor", "real-time factor"),
    ("update_cost_s", "update cost (median s)"),
]
# a translation run's table: (key, label, statistic shown for a summary)
SHOWN_TRANSLATION = [
    ("bleu_offline", "BLEU offline", "median"),
    ("bleu_streaming", "BLEU streaming", "median"),
    ("bleu_ratio", "BLEU ratio (streaming / offline)", "median"),
    ("chrf_offline", "chrF offline", "median"),
    ("chrf_streaming", "chrF streaming", "median"),
    ("al_unaware_s", "AL unaware (mean s)", "mean"),
    ("al_aware_s", "AL aware (mean s)", "mean"),
    ("laal_unaware_s", "LAAL unaware (mean s)", "mean"),
    ("laal_aware_s", "LAAL aware (mean s)", "mean"),
    ("finalisation_latency_s", "final latency (median s)", "median"),
    ("first_partial_latency_s", "first partial (median s)", "median"),
    ("compute_ratio", "compute ratio", "median"),
    ("bleu_offline_default_search", "BLEU offline, model's search", "median"),
    ("bleu_offline_clean_files", "BLEU offline, clean files", "median"),
    ("real_time_factor", "real-time factor", "median"),
    ("update_cost_s", "update cost (median s)", "median"),
]


def cell(value: Any, statistic: str = "median") -> str:
    if isinstance(value, dict):
        value = value.get(statistic)
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="assets/models/s2t-demo-en")
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/test.jsonl"))
    parser.add_argument("--minutes", type=float, default=10.0, help="stream length")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None, help="PNG of latency distributions")
    parser.add_argument(
        "--tgt-lang",
        default=None,
        metavar="LANG",
        help="translate into LANG (a speech-translation model; the manifest's translations[LANG] "
        "are the references)",
    )
    args = parser.parse_args(argv)
    unknown = [v for v in args.variants.split(",") if v and v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    return args


def translation_check(bundle: Any, stream: TestStream, lang: str) -> str | None:
    """Why this model and stream cannot be benchmarked translating into `lang` (None: they can)."""
    try:
        bundle.language_token(lang)
        stream.reference_translations(lang)
    except (S2TError, ValueError) as e:
        return str(e)
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("bench_stream")
    if not args.manifest.is_file():
        print(
            f"bench_stream: {args.manifest} not found; make the test split with "
            "`s2t-stream corpus --out data/corpus --resume`",
            file=sys.stderr,
        )
        return 2
    names = [v for v in args.variants.split(",") if v]
    lang = args.tgt_lang
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.model)
    stream = build_stream(args.manifest, minutes=args.minutes, seed=args.seed)
    if lang is not None and (problem := translation_check(bundle, stream, lang)):
        print(f"bench_stream: --tgt-lang {lang}: {problem}", file=sys.stderr)
        return 2
    duration = len(stream.audio) / stream.sample_rate
    log.info("stream: %.1f min, %d sentences", duration / 60, len(stream.references))
    # offline = each sentence's stretch as one utterance (up to the model's input limit), by
    # the reference's exact search
    whole = TranscribeOptions(
        vad=False,
        max_segment_s=math.inf,
        loop_guard=False,
        band_mask=False,
        batch_size=1,
        tgt_lang=lang,
    )
    greedy = Transcriber(bundle, replace(whole, decoding=DecodingOptions(num_beams=1)))
    offline = transcribe_offline(greedy, stream.heard())
    log.info("offline (greedy): %.1f CPU s", offline.cpu_s)
    default = transcribe_offline(Transcriber(bundle, whole), stream.heard())
    log.info("offline (the model's own search): %.1f CPU s", default.cpu_s)
    clean = transcribe_offline(greedy, stream.sources)
    log.info("offline (greedy) on the clean files: %.1f CPU s", clean.cpu_s)
    shown = SHOWN_TRANSLATION if lang else [(key, label, "median") for key, label in SHOWN]
    reports: dict[str, Any] = {}
    series: dict[str, list[float]] = {}
    refs = list(stream.references)
    for name in names:
        options = VARIANTS[name] if lang is None else replace(VARIANTS[name], tgt_lang=lang)
        run = replay(Engine(bundle, options), stream)
        series[f"{name}: finalisation"] = finalisation_latencies(run.events, refs)
        if lang is None:
            reports[name] = score(stream, run, offline, default, clean)
            series[f"{name}: AL aware"] = sentence_lagging(
                run.events, refs, aware=True, length_adaptive=False
            )
        else:
            reports[name] = score_translation(stream, run, offline, lang, default, clean)
            series[f"{name}: AL aware ({lang} words)"] = sentence_lagging(
                run.events, stream.translation_sources(lang), aware=True, length_adaptive=False
            )
        log.info("%s: %s", name, json.dumps({k: cell(reports[name][k], s) for k, _, s in shown}))
    print("| metric | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for key, label, statistic in shown:
        cells = (cell(reports[n].get(key), statistic) for n in names)
        print(f"| {label} | " + " | ".join(cells) + " |")
    result = {
        "model": args.model,
        **({"tgt_lang": lang} if lang else {}),
        "minutes": round(duration / 60, 2),
        "threads": args.threads,
        "variants": {n: str(replace(VARIANTS[n], tgt_lang=lang)) for n in names},
        "reports": reports,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.plot:
        plot_latencies(series, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
