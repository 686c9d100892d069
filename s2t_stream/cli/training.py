"""`corpus` (synthesise the demo model's speech corpus) and `train` (train and export a small
S2T model)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from s2t_stream.training import corpus
from s2t_stream.training.options import HELP, TrainOptions


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command("corpus", "synthesise the demo model's speech corpus")
    corpus.add_arguments(parser)
    parser.set_defaults(run=corpus.run_from_args)

    parser = command("train", "train (and export) a small S2T model")
    for name, value in asdict(TrainOptions()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, type=_boolean, default=value, help=HELP[name])
        else:
            parser.add_argument(flag, type=type(value), default=value, help=HELP[name])
    parser.add_argument("--export", default=None, help="after training, export to this directory")
    parser.add_argument("--average", type=int, default=5, help="checkpoints averaged for export")
    parser.set_defaults(run=run_train)


def _boolean(text: str) -> bool:
    if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("1", "true", "yes")


def run_train(args: argparse.Namespace) -> int:
    from s2t_stream.training.train import Trainer, export

    names = set(asdict(TrainOptions()))
    trainer = Trainer(TrainOptions(**{k: v for k, v in vars(args).items() if k in names}))
    trainer.run()
    if args.export:
        export(trainer, Path(args.export), args.average)
    return 0
