"""`transcribe` (files, offline) and `eval` (WER of a manifest, per voice, greedy and beam)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from s2t_stream.cli.arguments import (
    add_decoding_arguments,
    add_input_arguments,
    add_model_arguments,
    add_vad_argument,
    audio_source,
    decoding_options,
    endpoint_options,
    load_model,
    log,
    needs_extra,
    number,
    open_mt,
    raw_format,
)
from s2t_stream.errors import S2TError
from s2t_stream.io.subtitles import to_srt, to_vtt
from s2t_stream.model.audio import load_audio
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcription import TimedText, Transcription
from s2t_stream.translation.translator import spread_words

if TYPE_CHECKING:
    from s2t_stream.offline.transcriber import Transcriber
    from s2t_stream.translation.translator import Translator


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("transcribe", "transcribe or translate recordings offline")
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, mp3…); - is stdin"
    )
    parser.add_argument(
        "--format",
        choices=["text", "json", "srt", "vtt"],
        default="text",
        help="text; one JSON object per file with segment and word times; or subtitles",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="write each file's result to DIR/<name>.<format> instead of standard output",
    )
    add_transcribe_arguments(parser)
    add_input_arguments(parser)
    add_model_arguments(parser)
    add_decoding_arguments(parser)
    parser.set_defaults(run=run_transcribe)

    parser = command("eval", "WER on manifests, per set, voice and style, greedy and beam")
    parser.add_argument(
        "manifests",
        type=Path,
        nargs="+",
        metavar="manifest",
        help="JSON lines: audio, text, voice, style; each file is one evaluation set",
    )
    parser.add_argument("--beams", default="1,5", help="comma-separated beam sizes to score")
    parser.add_argument(
        "--limit", type=number(int, least=1), default=None, help="first N utterances only"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results here, with every hypothesis"
    )
    add_transcribe_arguments(parser)
    add_model_arguments(parser)
    parser.set_defaults(run=run_eval)


def add_transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    d = TranscribeOptions()
    group = parser.add_argument_group("segmentation")
    group.add_argument(
        "--batch-size",
        type=number(int, least=1),
        default=d.batch_size,
        help="segments decoded together",
    )
    group.add_argument(
        "--no-vad",
        action="store_true",
        help="decode each recording as one utterance (as the reference does), cut only at the "
        "model's input limit; default: only the speech the streaming engine's VAD finds",
    )
    add_vad_argument(group)
    group.add_argument(
        "--max-segment",
        type=number(float, least=1),
        default=d.max_segment_s,
        help="longer speech is cut at its longest pause, seconds",
    )
    group.add_argument(
        "--no-loop-guard",
        action="store_true",
        help="keep repetition loops and over-long hypotheses (the reference's exact search)",
    )


def transcribe_options(args: argparse.Namespace) -> TranscribeOptions:
    decoding = decoding_options(args) if hasattr(args, "beam") else DecodingOptions()
    return TranscribeOptions(
        decoding=decoding,
        tgt_lang=None if getattr(args, "mt", None) else getattr(args, "tgt_lang", None),
        batch_size=args.batch_size,
        vad=not args.no_vad,
        endpoint=endpoint_options(args),
        max_segment_s=args.max_segment,
        loop_guard=not args.no_loop_guard,
    )


def run_transcribe(args: argparse.Namespace) -> int:
    from s2t_stream.offline.transcriber import Transcriber

    if args.format in ("srt", "vtt") and len(args.files) > 1 and args.output_dir is None:
        raise S2TError(f"--format {args.format} with several files needs --output-dir")
    if args.files.count("-") > 1:
        raise S2TError("standard input (-) can be read only once")
    options = transcribe_options(args)
    translator = open_mt(args)  # before the model loads: a missing pair is said at once
    try:
        failed = _transcribe_files(args, Transcriber(load_model(args), options), translator)
    finally:
        if translator is not None:
            translator.close()
    if failed:
        print(f"s2t-stream: {len(failed)} of {len(args.files)} files failed: "
              f"{', '.join(failed)}", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _transcribe_files(
    args: argparse.Namespace, transcriber: Transcriber, translator: Translator | None
) -> list[str]:
    """Transcribe (and with `--mt` translate) each file and write its result; the files that
    could not be read."""
    failed = []
    for name in args.files:
        try:
            audio = load_audio(audio_source(name), transcriber.sample_rate, raw=raw_format(args))
        except S2TError as error:  # one bad file does not stop the others
            print(f"s2t-stream: error: {error}", file=sys.stderr)
            failed.append(name)
            continue
        (result,) = transcriber.transcribe([audio])
        if translator is not None:
            result = translated(result, translator)
        write(replace(result, path=name), args, several=len(args.files) > 1)
    return failed


def translated(result: Transcription, translator: Translator) -> Transcription:
    """Each segment with its `translation`."""
    segments = tuple(replace(s, translation=translator.translate(s.text)) for s in result.segments)
    return replace(result, segments=segments)


def in_target_language(segment: TimedText) -> TimedText:
    """A translated segment as its translation reads, for subtitles: text = translation, words
    spread over its span (machine translation keeps no word times)."""
    if segment.translation is None:
        return segment
    words = spread_words(segment.translation, segment.start_s, segment.end_s)
    return replace(segment, text=segment.translation, words=words)


def render(result: Transcription, form: str, several: bool) -> str:
    """One file's result in `form` (text, json, srt, vtt)."""
    if form == "json":
        return json.dumps(result.to_json(), ensure_ascii=False) + "\n"
    segments = [in_target_language(s) for s in result.segments]  # with --mt: subtitles in it
    if form == "srt":
        return to_srt(segments)
    if form == "vtt":
        return to_vtt(segments)
    text = f"{result.path}: {result.text}\n" if several else result.text + "\n"
    return text if result.translation is None else f"{text}→ {result.translation}\n"


def write(result: Transcription, args: argparse.Namespace, *, several: bool) -> None:
    if args.output_dir is None:
        sys.stdout.write(render(result, args.format, several))
        sys.stdout.flush()
        return
    name = "stdin" if result.path in (None, "-") else Path(result.path or "").stem
    args.output_dir.mkdir(parents=True, exist_ok=True)
    suffix = "jsonl" if args.format == "json" else args.format
    target = args.output_dir / f"{name}.{suffix}"
    target.write_text(render(result, args.format, several=False), encoding="utf-8")
    log.info("wrote %s", target)


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
    from s2t_stream.offline.transcriber import Transcriber
    from s2t_stream.training.evaluate import EvalResult, evaluate, summary_table, table
    from s2t_stream.training.manifest import read_manifest

    beams = _beams(args.beams)
    sets = {_set_name(path): (path, read_manifest(path, args.limit)) for path in args.manifests}
    if len(sets) < len(args.manifests):
        raise S2TError(f"two manifests have the same file name: {[str(p) for p in args.manifests]}")
    bundle = load_model(args)
    transcriber = Transcriber(bundle, transcribe_options(args))
    results: dict[str, list[EvalResult]] = {}
    for name, (path, utterances) in sets.items():
        results[name] = []
        for num_beams in beams:
            log.info("%s: decoding %d utterances with beam %d", name, len(utterances), num_beams)
            results[name].append(evaluate(transcriber, utterances, num_beams))
        print(f"== {name} ({path})\n{table(results[name])}\n")

    def report(detailed: bool) -> dict[str, object]:
        return {"model": bundle.source, "sets": [
            {"name": name, "manifest": str(path), "results": [
                r.to_json(utterances if detailed else ()) for r in results[name]]}
            for name, (path, utterances) in sets.items()
        ]}  # fmt: skip

    if args.json:  # the file also has every utterance's reference and hypothesis
        args.json.write_text(json.dumps(report(True), indent=2) + "\n", encoding="utf-8")
    if len(sets) > 1:
        print(summary_table(results) + "\n")
    print(json.dumps(report(False)))
    return 0


def _set_name(manifest: Path) -> str:
    """An evaluation set's name: its manifest's file name without `.jsonl`."""
    return manifest.name.removesuffix(".jsonl")
