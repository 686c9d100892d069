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
    add_band_mask_argument,
    add_ctc_weight_argument,
    add_decoding_arguments,
    add_input_arguments,
    add_lm_weight_argument,
    add_model_arguments,
    add_vad_argument,
    audio_name,
    audio_source,
    check_languages,
    decoding_options,
    endpoint_options,
    load_model,
    log,
    needs_extra,
    number,
    open_mt,
    prefer_cascade,
    raw_format,
)
from s2t_stream.defaults import default_model
from s2t_stream.errors import S2TError
from s2t_stream.io.subtitles import to_srt, to_vtt
from s2t_stream.model.audio import load_audio
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcription import TimedText, Transcription
from s2t_stream.translation.translator import spread_words

if TYPE_CHECKING:
    from s2t_stream.offline.transcriber import Transcriber
    from s2t_stream.training.evaluate_st import Systems
    from s2t_stream.training.manifest import Utterance
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
        help="write each file's result to DIR/<name>.txt, .jsonl, .srt or .vtt (by --format; "
        "<name>: the file's name without its extension, stdin for -) instead of standard output",
    )
    add_transcribe_arguments(parser)
    add_input_arguments(parser)
    add_model_arguments(parser)
    add_decoding_arguments(parser)
    parser.set_defaults(run=run_transcribe)

    parser = command(
        "eval",
        "WER on manifests, per set, voice and style, greedy and beam; with --tgt-lang, BLEU and "
        "chrF of translations instead, end to end and (--mt) by the cascade",
    )
    parser.add_argument(
        "manifests",
        type=Path,
        nargs="+",
        metavar="manifest",
        help="JSON lines: audio, text, voice, style; each file is one evaluation set",
    )
    parser.add_argument("--beams", default="1,5", help="comma-separated beam sizes to score")
    add_lm_weight_argument(parser)
    add_ctc_weight_argument(parser)
    parser.add_argument(
        "--limit", type=number(int, least=1), default=None, help="first N utterances only"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results here, with every hypothesis"
    )
    add_translation_eval_arguments(parser)
    add_transcribe_arguments(parser)
    add_model_arguments(parser)
    parser.set_defaults(run=run_eval)


def add_translation_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """`eval`'s translation scoring: --tgt-lang, --mt, --asr-model."""
    group = parser.add_argument_group(
        "translation",
        'BLEU and chrF (0-100) against each line\'s machine reference (its "translations"), '
        'both lower-cased and without punctuation; in --json, a "translation" section: set → '
        "language → system (e2e, cascade) → beam. Example: eval test.jsonl --model st-model "
        "--tgt-lang es,ca --mt apertium --beams 1",
    )
    group.add_argument(
        "--tgt-lang",
        default=None,
        metavar="LANGS",
        help="score translations into these languages (comma-separated, e.g. es,ca) instead of "
        "WER: --model decodes into each end to end, and must have it (a speech-translation "
        "model); lines without a reference in a language are skipped and counted",
    )
    group.add_argument(
        "--mt",
        choices=["apertium"],
        default=None,
        help="also score the cascade: --asr-model transcribes, this machine translation "
        "translates each segment; --model is then scored end to end only into the languages "
        "it has, so one run compares both systems on the same audio",
    )
    group.add_argument(
        "--asr-model",
        default=None,
        help="the cascade's speech recognition model, as --model is given (with --mt; default: "
        "$S2T_STREAM_MODEL or the bundled demo model)",
    )


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
        help="decode all the audio, cut only at pauses into pieces of at most --max-segment "
        "(a recording no longer is one utterance, as the reference decodes it); default: only "
        "the speech the streaming engine's VAD finds",
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
    add_band_mask_argument(group)


def transcribe_options(args: argparse.Namespace) -> TranscribeOptions:
    return TranscribeOptions(
        decoding=decoding_options(args),
        tgt_lang=None if getattr(args, "mt", None) else getattr(args, "tgt_lang", None),
        batch_size=args.batch_size,
        vad=not args.no_vad,
        endpoint=endpoint_options(args),
        max_segment_s=args.max_segment,
        loop_guard=not args.no_loop_guard,
        band_mask=not args.no_band_mask,
    )


def run_transcribe(args: argparse.Namespace) -> int:
    from s2t_stream.offline.transcriber import Transcriber

    prefer_cascade(args)
    check_languages(args)  # a language nothing here has: said before the model loads
    if args.format in ("srt", "vtt") and len(args.files) > 1 and args.output_dir is None:
        raise S2TError(f"--format {args.format} with several files needs --output-dir")
    if args.files.count("-") > 1:
        raise S2TError("standard input (-) can be read only once")
    if args.output_dir is not None:  # before the model loads: nothing is transcribed in vain
        check_outputs(args.files, args.output_dir, args.format)
    options = transcribe_options(args)
    translator = open_mt(args)  # before the model loads: a missing pair is said at once
    try:
        bundle = load_model(args)
        check_languages(args, bundle)
        failed = _transcribe_files(args, Transcriber(bundle, options), translator)
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
            audio = load_audio(
                audio_source(name),
                transcriber.sample_rate,
                raw=raw_format(args),
                name=audio_name(name),
            )
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


SUFFIXES = {"text": "txt", "json": "jsonl", "srt": "srt", "vtt": "vtt"}
"""The extension of `--output-dir`'s files for each `--format` (json: one JSON line)."""


def output_path(name: str, output_dir: Path, form: str) -> Path:
    """Where `--output-dir` writes the result of the FILE argument `name` in `form`: its file
    name without the extension (`stdin` for `-`), with the format's extension."""
    stem = "stdin" if name == "-" else Path(name).stem
    return output_dir / f"{stem}.{SUFFIXES[form]}"


def _listed(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def check_outputs(files: list[str], output_dir: Path, form: str) -> None:
    """Raise S2TError when two different FILE arguments would write the same file in
    `output_dir` (es.wav and es.flac both make es.srt): the later result would silently
    replace the earlier. The same argument given twice writes the same result twice and
    passes."""
    writers: dict[Path, list[str]] = {}
    for name in dict.fromkeys(files):
        writers.setdefault(output_path(name, output_dir, form), []).append(audio_name(name))
    clashes = [
        f"{_listed(names)} would {'both' if len(names) == 2 else 'all'} write {target}"
        for target, names in writers.items()
        if len(names) > 1
    ]
    if clashes:
        raise S2TError(
            f"{'; '.join(clashes)}: each result would replace the one before, so nothing was "
            "transcribed; transcribe files that share a name into separate --output-dir folders "
            "(or rename them)"
        )


def write(result: Transcription, args: argparse.Namespace, *, several: bool) -> None:
    """One file's result: on standard output, or with `--output-dir` in its own file there."""
    if args.output_dir is None:
        sys.stdout.write(render(result, args.format, several))
        sys.stdout.flush()
        return
    target = output_path(result.path or "-", args.output_dir, args.format)
    args.output_dir.mkdir(parents=True, exist_ok=True)
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
    if args.tgt_lang is not None and args.asr_model and not args.mt:
        raise S2TError("--asr-model is the cascade's model: it needs --mt apertium")
    if args.tgt_lang is not None:
        return _run_translation_eval(args, beams, sets)
    if args.mt or args.asr_model:
        flag = "--mt" if args.mt else "--asr-model"
        raise S2TError(f"{flag} is for scoring translations: it needs --tgt-lang (e.g. es,ca)")
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


def _langs(text: str) -> list[str]:
    """`--tgt-lang`'s comma-separated codes, in order, each once."""
    langs = list(dict.fromkeys(code.strip() for code in text.split(",") if code.strip()))
    if not langs:
        raise S2TError(f"--tgt-lang: expected language codes separated by commas, got {text!r}")
    return langs


def _run_translation_eval(
    args: argparse.Namespace, beams: list[int], sets: dict[str, tuple[Path, list[Utterance]]]
) -> int:
    """`eval --tgt-lang`: BLEU and chrF of each set, language, system and beam (see
    `training.evaluate_st`); tables on stdout, then the summary as one JSON line."""
    with needs_extra("train", "s2t-stream eval --tgt-lang (BLEU and chrF)"):
        import sacrebleu  # noqa: F401  (checked here, before the model loads)
    from s2t_stream.training.evaluate_st import (
        evaluate_set,
        summary_table,
        table,
        translation_json,
        with_translation,
    )
    from s2t_stream.translation.translator import MtOptions, open_translator

    langs = _langs(args.tgt_lang)
    for path, utterances in sets.values():  # a language without references: said at once
        for lang in langs:
            with_translation(utterances, lang, str(path))
    translators: dict[str, Translator] = {}
    try:  # the translators start before the models load: a missing pair is said at once
        for lang in langs if args.mt else ():
            translators[lang] = open_translator(MtOptions(tgt_lang=lang, engine=args.mt))
        systems, sources = _translation_systems(args, langs, translators)
        results = {}
        for name, (path, utterances) in sets.items():
            results[name] = evaluate_set(utterances, langs, beams, systems, str(path))
            for lang in langs:
                chosen = [r for r in results[name] if r.lang == lang]
                print(f"== {name} ({path}) → {lang}\n{table(chosen)}\n", flush=True)
    finally:
        for translator in translators.values():
            translator.close()

    def report(detailed: bool) -> dict[str, object]:
        return {
            **sources,
            "mt": {
                "engine": args.mt,
                "versions": {lang: t.version for lang, t in translators.items()},
            }
            if args.mt
            else None,
            "languages": langs,
            "manifests": {name: str(path) for name, (path, _) in sets.items()},
            "translation": translation_json(results, detailed),
        }

    if args.json:  # the file also has every utterance's reference and hypothesis
        args.json.write_text(
            json.dumps(report(True), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    if len(sets) > 1 or len(langs) > 1:
        print(summary_table(results) + "\n")
    print(json.dumps(report(False), ensure_ascii=False))
    return 0


def _translation_systems(
    args: argparse.Namespace, langs: list[str], translators: dict[str, Translator]
) -> tuple[Systems, dict[str, str | None]]:
    """The systems `eval --tgt-lang` scores, with the models loaded: --model end to end into
    each language it has (each one, without --mt); with --mt, also the cascade of --asr-model
    and the translators. And the models' sources for the report ("model": the end-to-end one,
    "asr_model": the cascade's; None when not scored)."""
    from s2t_stream.offline.transcriber import Transcriber
    from s2t_stream.training.evaluate_st import Systems, configured

    bundle = load_model(args)
    known = list(bundle.tokenizer.lang_code_to_id)
    missing = [lang for lang in langs if lang not in known]
    if missing:
        has = f"its languages are {', '.join(known)}" if known else "it has no target languages"
        problem = (
            f"--model {bundle.source} cannot translate into {', '.join(missing)} end to end ({has})"
        )
        if not args.mt:
            raise S2TError(
                f"{problem}: expected a speech-translation model with a language tag for each "
                "--tgt-lang, or --mt apertium to score the cascade"
            )
        print(f"s2t-stream: {problem}: only the cascade is scored there", file=sys.stderr)
    options = replace(transcribe_options(args), tgt_lang=None)
    e2e = Transcriber(bundle, options)
    e2e_langs = frozenset(langs) - set(missing)
    systems = Systems(e2e=lambda b, lang: configured(e2e, b, lang), e2e_langs=e2e_langs)
    sources: dict[str, str | None] = {
        "model": bundle.source if e2e_langs else None,
        "asr_model": None,
    }
    if not args.mt:
        return systems, sources
    same = (args.asr_model or default_model()) == (args.model or default_model())
    asr_bundle = bundle if same else load_model(args, "--asr-model")
    if asr_bundle.tokenizer.lang_code_to_id:
        raise S2TError(
            f"--asr-model {asr_bundle.source}: expected a speech recognition model for the "
            f"cascade, got a translation model (languages: "
            f"{', '.join(asr_bundle.tokenizer.lang_code_to_id)})"
        )
    asr = Transcriber(asr_bundle, options)
    sources["asr_model"] = asr_bundle.source
    systems = replace(systems, asr=lambda b: configured(asr, b, None), translators=translators)
    return systems, sources
