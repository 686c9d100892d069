"""`corpus` (synthesise the demo model's speech corpus), `train` (train and export a small
S2T model) and `pretrain-text` (a speech-translation decoder pretrained on text pairs).
Torch-free at import: `train`, `pretrain-text` and `lm` load their trainer when they run."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from s2t_stream.cli.arguments import number
from s2t_stream.errors import S2TError
from s2t_stream.model.config import MAX_CTC_WEIGHT
from s2t_stream.training.augment import AugmentOptions
from s2t_stream.training.corpus import CorpusOptions, build_corpus
from s2t_stream.training.options import (
    HELP,
    LM_HELP,
    TARGETS,
    TEXT_PRETRAIN_HELP,
    LMOptions,
    TextPretrainOptions,
    TrainOptions,
)
from s2t_stream.training.texts import TextSource
from s2t_stream.training.voices import WEIGHT_GROUPS

T = TypeVar("T")

log = logging.getLogger(__name__)


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("corpus", "synthesise the demo model's speech corpus")
    add_corpus_arguments(parser)
    parser.set_defaults(run=run_corpus, progress=True)

    parser = command("train", "train (and export) a small S2T model")
    for name, value in dataclasses.asdict(TrainOptions()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, type=_boolean, default=value, help=HELP[name])
        elif name == "targets":
            parser.add_argument(flag, choices=TARGETS, default=value, help=HELP[name])
        else:
            parser.add_argument(flag, type=type(value), default=value, help=HELP[name])
    parser.add_argument("--export", default=None, help="after training, export to this directory")
    parser.add_argument("--average", type=int, default=5, help="checkpoints averaged for export")
    parser.add_argument(
        "--export-ctc-weight",
        type=number(float, least=0, below=MAX_CTC_WEIGHT),
        default=0.0,
        help="joint CTC/attention decoding weight μ written into the exported CTC head, the "
        "default of beam search (choose it on dev with `eval --ctc-weight`) (default: 0, off)",
    )
    parser.set_defaults(run=run_train, progress=True)

    parser = command(
        "pretrain-text", "pretrain a speech-translation decoder on text pairs (then `train`)"
    )
    add_option_flags(parser, TextPretrainOptions(), TEXT_PRETRAIN_HELP)
    parser.set_defaults(run=run_pretrain_text, progress=True)

    parser = command("lm", "train a token language model for shallow fusion (`--lm-weight`)")
    add_option_flags(parser, LMOptions(), LM_HELP)
    parser.set_defaults(run=run_lm, progress=True)


def add_option_flags(parser: argparse.ArgumentParser, defaults: Any, helps: dict[str, str]) -> None:
    """One `--flag-name` per field of the options dataclass `defaults`, of the field's type."""
    for name, value in dataclasses.asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(
            flag, type=type(value), default=value, help=f"{helps[name]} (default: %(default)s)"
        )


def options_from(cls: type[T], args: argparse.Namespace) -> T:
    """The options dataclass `cls` from the parsed flags of its fields."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in vars(args).items() if k in names})


# --- corpus -------------------------------------------------------------------------------------


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """The corpus flags, one per CorpusOptions field."""
    d = CorpusOptions()
    add = parser.add_argument
    add("--text", type=_text_source, action="append", default=None, metavar="[STYLE=]FILE",
        help="sentence file, repeatable; its style is STYLE or else the file's name "
        f"(default: the {len(d.texts)} files of {d.text_dir}, data/text/README.md)")  # fmt: skip
    add("--out", type=Path, default=d.out_dir, help=f"output folder (default: {d.out_dir})")
    add("--seed", type=int, default=d.seed, help=f"(default: {d.seed})")
    add("--train-hours", type=float, default=d.train_hours,
        help="cap on training audio (default: %(default)s)")  # fmt: skip
    add("--dev-sentences", type=int, default=d.dev_sentences, help="(default: %(default)s)")
    add("--test-sentences-per-style", type=int, default=d.test_sentences_per_style,
        help="held-out test sentences of each training style (default: %(default)s)")  # fmt: skip
    add("--style-shares", type=_weights, default=None, metavar="STYLE=SHARE,...",
        help="share of the training sentences per style; a style not named is not trained on "
        f"(default: {_pairs(d.style_shares)}; with --text: equal shares)")  # fmt: skip
    add("--held-out-styles", type=_names, default=d.held_out_styles, metavar="STYLE,...",
        help="styles kept out of training, for the test-style split "
        f"(default: {','.join(d.held_out_styles)})")  # fmt: skip
    add("--style-test-sentences", type=int, default=d.style_test_sentences,
        help="sentences of the held-out styles in test-style (default: %(default)s)")  # fmt: skip
    add("--held-out-voice-utterances", type=int, default=d.held_out_voice_utterances,
        help="test sentences spoken by held-out voices, test-voices "
        "(default: %(default)s)")  # fmt: skip
    add("--max-words", type=int, default=d.max_words,
        help="skip longer sentences (default: %(default)s)")  # fmt: skip
    add("--voices-per-test-sentence", type=int, default=d.voices_per_test_sentence,
        help="distinct voices speaking each test sentence (default: %(default)s)")  # fmt: skip
    add("--voices-per-train-sentence", type=int, default=d.voices_per_train_sentence,
        help="distinct voices speaking each training sentence, in rounds that --train-hours "
        "caps last-first: more than one only once the text runs out "
        "(default: %(default)s)")  # fmt: skip
    add("--short-sentence-voices", type=int, default=d.short_sentence_voices,
        help="voices speaking each training sentence of one or two words "
        "(default: %(default)s)")  # fmt: skip
    for f in dataclasses.fields(AugmentOptions):
        add("--" + f.name.replace("_", "-"), type=float, default=getattr(d.augment, f.name),
            help="probability for train utterances (default: %(default)s)")  # fmt: skip
    add("--voice-weights", type=_weights, default=d.voice_weights, metavar="NAME=WEIGHT,...",
        help=f"voice groups {', '.join(WEIGHT_GROUPS)} "
        f"(default: {_pairs(d.voice_weights)})")  # fmt: skip
    add("--jobs", type=int, default=d.jobs, help=f"worker processes (default: {d.jobs})")
    add("--resume", action="store_true", help="reuse audio already made with the same parameters")
    add("--real-dir", type=Path, default=None,
        help="folder of real recordings (ljspeech/, fsdd/): also write real-lj.jsonl and "
        "real-fsdd.jsonl (default: none)")  # fmt: skip
    add("--fsdd-dir", type=Path, default=None,
        help="the whole Free Spoken Digit Dataset's recordings/ folder: also write "
        "train-real.jsonl, its training takes (5-49) but those of --fsdd-held-out-speakers "
        "(default: none)")  # fmt: skip
    add("--fsdd-held-out-speakers", type=_names, default=d.fsdd_held_out_speakers,
        metavar="NAME,...", help="FSDD speakers left out of train-real, so that real-fsdd has "
        f"speakers no model heard (default: {','.join(d.fsdd_held_out_speakers)})")  # fmt: skip
    add("--tgt-langs", type=_names, default=(), metavar="LANG,...",
        help="also translate every manifest's sentences into these languages with Apertium "
        "(es, ca, gl): the speech-translation targets, cached in OUT/translations "
        "(default: none)")  # fmt: skip
    add("--text-pairs", type=int, default=0, metavar="N",
        help="also write OUT/text-pairs/train.jsonl: the first N training-style sentences (most of "
        "them without audio) with their --tgt-langs translations, for `pretrain-text` "
        "(default: none)")  # fmt: skip
    add("--train-phone-share", type=float, default=d.train_phone_share,
        help="share of the training utterances (those not through a telephone line already) "
        "spoken again at 8 kHz, in the train-phone split (0: none; "
        "default: %(default)s)")  # fmt: skip
    add("--train-words", type=int, default=d.train_words, metavar="N",
        help="the N most frequent words of the training sentences (and the ten digits) spoken "
        "alone, in the train-words split (0: none; default: %(default)s)")  # fmt: skip
    add("--word-voices", type=int, default=d.word_voices,
        help="training voices speaking each word of train-words "
        "(default: %(default)s)")  # fmt: skip
    add("--test-words", type=int, default=d.test_words, metavar="N",
        help="other frequent words spoken alone by held-out voices, in the test-words split "
        "(0: none; default: %(default)s)")  # fmt: skip


def _pairs(pairs: tuple[tuple[str, float], ...]) -> str:
    return ",".join(f"{name}={value:g}" for name, value in pairs)


def _weights(text: str) -> tuple[tuple[str, float], ...]:
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return tuple((name.strip(), float(value)) for name, value in pairs)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT,..., got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _text_source(text: str) -> TextSource:
    style, _, path = text.partition("=")
    if not path or not re.fullmatch(r"[\w-]+", style):  # no STYLE=: all of it is the path
        style, path = "", text
    file = Path(path).resolve()
    return TextSource(str(file), style or file.name.split(".")[0], f"given by --text {text}")


def corpus_options(args: argparse.Namespace) -> CorpusOptions:
    augment = AugmentOptions(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(AugmentOptions)}
    )
    texts = tuple(args.text) if args.text else CorpusOptions().texts
    shares = args.style_shares
    if shares is None and args.text:
        styles = dict.fromkeys(t.style for t in texts if t.style not in args.held_out_styles)
        shares = tuple((style, 1.0) for style in styles)
    if shares is not None and not any(share > 0 for _, share in shares):
        raise S2TError(
            "no text style left to train on: every --text style is held out "
            f"({', '.join(args.held_out_styles)}) or --style-shares gives none a share"
        )
    return CorpusOptions(
        texts=texts,
        out_dir=args.out,
        seed=args.seed,
        train_hours=args.train_hours,
        dev_sentences=args.dev_sentences,
        test_sentences_per_style=args.test_sentences_per_style,
        style_shares=CorpusOptions().style_shares if shares is None else shares,
        held_out_styles=args.held_out_styles,
        style_test_sentences=args.style_test_sentences,
        held_out_voice_utterances=args.held_out_voice_utterances,
        max_words=args.max_words,
        voices_per_test_sentence=args.voices_per_test_sentence,
        voices_per_train_sentence=args.voices_per_train_sentence,
        short_sentence_voices=args.short_sentence_voices,
        augment=augment,
        voice_weights=args.voice_weights,
        jobs=args.jobs,
        resume=args.resume,
        real_dir=args.real_dir,
        fsdd_dir=args.fsdd_dir,
        fsdd_held_out_speakers=args.fsdd_held_out_speakers,
        tgt_langs=args.tgt_langs,
        train_phone_share=args.train_phone_share,
        train_words=args.train_words,
        word_voices=args.word_voices,
        test_words=args.test_words,
    )


def run_corpus(args: argparse.Namespace) -> int:
    options = corpus_options(args)
    if args.text_pairs and not options.tgt_langs:
        raise S2TError("--text-pairs translates: give --tgt-langs too, e.g. --tgt-langs es,ca")
    summary = build_corpus(options)
    log.info(
        "corpus in %s: %s utterances, %s hours, %d synthesised in %.0f s",
        args.out, summary.utterances, summary.hours, summary.synthesized, summary.wall_s,
    )  # fmt: skip
    if args.text_pairs:
        from s2t_stream.training.text_pairs import write_text_pairs

        path = write_text_pairs(options, args.text_pairs, options.tgt_langs)
        log.info("text pairs in %s", path)
    return 0


# --- train --------------------------------------------------------------------------------------


def _boolean(text: str) -> bool:
    if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("1", "true", "yes")


def run_train(args: argparse.Namespace) -> int:
    from s2t_stream.training.train import Trainer, export

    options = options_from(TrainOptions, args)
    if args.export_ctc_weight and not (args.export and options.exports_ctc_head()):
        raise S2TError(
            f"--export-ctc-weight {args.export_ctc_weight:g}: expected --export and a speech-"
            f"recognition run with a CTC loss (--ctc-weight > 0, no --tgt-langs), whose export "
            f"has a CTC head; got --export {args.export or '(none)'}, --ctc-weight "
            f"{options.ctc_weight:g}, --tgt-langs {options.tgt_langs or '(none)'}"
        )
    trainer = Trainer(options)
    trainer.run()
    if args.export:
        export(trainer, Path(args.export), args.average, args.export_ctc_weight)
    return 0


def run_lm(args: argparse.Namespace) -> int:
    from s2t_stream.training.lm_train import LMTrainer

    LMTrainer(options_from(LMOptions, args)).run()
    return 0


def run_pretrain_text(args: argparse.Namespace) -> int:
    from s2t_stream.training.text_pretrain import TextPretrainer

    TextPretrainer(options_from(TextPretrainOptions, args)).run()
    return 0
