"""`corpus` (synthesise the demo model's speech corpus) and `train` (train and export a small
S2T model). Torch-free at import: `train` loads the trainer when it runs."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from s2t_stream.training.augment import AugmentOptions
from s2t_stream.training.corpus import (
    DEFAULT_TEXT_DIR,
    DEFAULT_TEXT_FILES,
    CorpusOptions,
    build_corpus,
)
from s2t_stream.training.options import HELP, TrainOptions

log = logging.getLogger(__name__)


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("corpus", "synthesise the demo model's speech corpus")
    add_corpus_arguments(parser)
    parser.set_defaults(run=run_corpus)

    parser = command("train", "train (and export) a small S2T model")
    for name, value in dataclasses.asdict(TrainOptions()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, type=_boolean, default=value, help=HELP[name])
        else:
            parser.add_argument(flag, type=type(value), default=value, help=HELP[name])
    parser.add_argument("--export", default=None, help="after training, export to this directory")
    parser.add_argument("--average", type=int, default=5, help="checkpoints averaged for export")
    parser.set_defaults(run=run_train)


# --- corpus -------------------------------------------------------------------------------------


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """The corpus flags, one per CorpusOptions field."""
    d = CorpusOptions()
    add = parser.add_argument
    add(
        "--text",
        type=Path,
        action="append",
        default=None,
        help=f"sentence file, repeatable (default: {', '.join(DEFAULT_TEXT_FILES)} in "
        f"{DEFAULT_TEXT_DIR})",
    )
    add("--out", type=Path, default=d.out_dir, help=f"output folder (default: {d.out_dir})")
    add("--seed", type=int, default=d.seed, help=f"(default: {d.seed})")
    add("--train-hours", type=float, default=d.train_hours,
        help="cap on training audio (default: %(default)s)")  # fmt: skip
    add("--dev-sentences", type=int, default=d.dev_sentences, help="(default: %(default)s)")
    add("--test-sentences", type=int, default=d.test_sentences, help="(default: %(default)s)")
    add("--max-words", type=int, default=d.max_words,
        help="skip longer sentences (default: %(default)s)")  # fmt: skip
    add("--voices-per-test-sentence", type=int, default=d.voices_per_test_sentence,
        help="distinct voices speaking each test sentence (default: %(default)s)")  # fmt: skip
    add("--voices-per-train-sentence", type=int, default=d.voices_per_train_sentence,
        help="distinct voices speaking each training sentence, in rounds that --train-hours "
        "caps last-first (default: %(default)s)")  # fmt: skip
    for f in dataclasses.fields(AugmentOptions):
        add("--" + f.name.replace("_", "-"), type=float, default=getattr(d.augment, f.name),
            help="probability for train utterances (default: %(default)s)")  # fmt: skip
    add("--augment-test", action="store_true", help="augment the test split too")
    add("--voice-weights", type=_voice_weights, default=d.voice_weights,
        help="NAME=WEIGHT,... for espeak, flite:kal16, flite:slt, flite:awb, "
        "flite:rms")  # fmt: skip
    add("--jobs", type=int, default=d.jobs, help=f"worker processes (default: {d.jobs})")
    add("--resume", action="store_true", help="reuse audio already made with the same parameters")


def _voice_weights(text: str) -> tuple[tuple[str, float], ...]:
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return tuple((name.strip(), float(value)) for name, value in pairs)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT,..., got {text!r}") from None


def corpus_options(args: argparse.Namespace) -> CorpusOptions:
    augment = AugmentOptions(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(AugmentOptions)}
    )
    return CorpusOptions(
        text_paths=tuple(args.text) if args.text else CorpusOptions().text_paths,
        out_dir=args.out,
        seed=args.seed,
        train_hours=args.train_hours,
        dev_sentences=args.dev_sentences,
        test_sentences=args.test_sentences,
        max_words=args.max_words,
        voices_per_test_sentence=args.voices_per_test_sentence,
        voices_per_train_sentence=args.voices_per_train_sentence,
        augment=augment,
        augment_test=args.augment_test,
        voice_weights=args.voice_weights,
        jobs=args.jobs,
        resume=args.resume,
    )


def run_corpus(args: argparse.Namespace) -> int:
    summary = build_corpus(corpus_options(args))
    log.info(
        "corpus in %s: %s utterances, %s hours, %d synthesised in %.0f s",
        args.out, summary.utterances, summary.hours, summary.synthesized, summary.wall_s,
    )  # fmt: skip
    return 0


# --- train --------------------------------------------------------------------------------------


def _boolean(text: str) -> bool:
    if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("1", "true", "yes")


def run_train(args: argparse.Namespace) -> int:
    from s2t_stream.training.train import Trainer, export

    names = {f.name for f in dataclasses.fields(TrainOptions)}
    trainer = Trainer(TrainOptions(**{k: v for k, v in vars(args).items() if k in names}))
    trainer.run()
    if args.export:
        export(trainer, Path(args.export), args.average)
    return 0
