"""Fit a CTC head to an exported model whose training run is gone, its encoder frozen: a copy
of the model with a `ctc/` folder, for joint CTC/attention decoding (`s2t_stream/model/ctc.py`;
`train` exports its own head with the model, so a new model needs none of this).

The encoder states of every utterance of the corpus splits are computed once (their features
are cached in the corpus folder, as `train` caches them); then only the linear head learns
(Adam, `--epochs` passes, batches of `--batch` utterances), so a few thousand utterances take
minutes on one core. The copy has the model's files but its card (README.md, eval.json), which
describe the original; `--weight` is the head's default CTC weight (0: off until asked), to be
chosen with `s2t-stream eval --ctc-weight` on a dev set.

    python scripts/fit_ctc_head.py --model assets/models/s2t-demo-en --corpus data/corpus \
        --splits train --out runs/ctc/model [--epochs 10] [--weight 0.1]
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from s2t_stream.errors import S2TError
from s2t_stream.model.addons import vocabulary_fingerprint
from s2t_stream.model.checkpoint import Bundle, load_bundle
from s2t_stream.model.ctc import CTC_DIR, CTCConfig, CTCHead, save_ctc
from s2t_stream.training.train import load_training

log = logging.getLogger("fit_ctc_head")

BUNDLED = Path(__file__).resolve().parents[1] / "assets" / "models" / "s2t-demo-en"


def encoder_states(
    bundle: Bundle, corpus: Path, splits: list[str]
) -> tuple[list[torch.Tensor], list[list[int]]]:
    """Per utterance: the encoder states (S, d_model) and the CTC targets (its tokens, eos
    dropped)."""
    split = load_training(corpus, splits)
    states: list[torch.Tensor] = []
    targets: list[list[int]] = []
    start = time.monotonic()
    with torch.inference_mode():
        for i in range(len(split)):
            features = torch.from_numpy(split.frames(i).astype("float32"))[None]
            states.append(bundle.model.encode(features, None).hidden[0].clone())
            tokens = bundle.tokenizer.encode(split.texts[i])
            targets.append([t for t in tokens if t != bundle.tokenizer.eos_id])
            if (i + 1) % 500 == 0:
                log.info("encoded %d of %d utterances", i + 1, len(split))
    log.info("encoded %d utterances in %.0f s", len(split), time.monotonic() - start)
    return states, targets


def fit(
    head: CTCHead,
    states: list[torch.Tensor],
    targets: list[list[int]],
    epochs: int,
    batch: int,
    lr: float,
) -> None:
    """Adam on the CTC loss of the head's output (per-token mean), one shuffled pass per epoch."""
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    order = list(range(len(states)))
    rng = random.Random(0)
    for epoch in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for first in range(0, len(order), batch):
            rows = order[first : first + batch]
            hidden = torch.nn.utils.rnn.pad_sequence([states[i] for i in rows], batch_first=True)
            loss = F.ctc_loss(
                head(hidden).transpose(0, 1),
                torch.cat([torch.tensor(targets[i], dtype=torch.long) for i in rows]),
                torch.tensor([len(states[i]) for i in rows]),
                torch.tensor([len(targets[i]) for i in rows]),
                blank=head.config.blank,
                zero_infinity=True,
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        log.info("epoch %d: CTC loss %.3f per token", epoch + 1, total / len(order))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--splits", default="train", help="comma-separated corpus splits")
    parser.add_argument("--out", type=Path, required=True, help="the model's copy, with ctc/")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight", type=float, default=0.0, help="its default CTC weight")
    args = parser.parse_args()
    if args.out.resolve() == args.model.resolve():
        parser.error(f"--out {args.out}: give a new folder, not the model's own")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        fit_and_save(args)
    except S2TError as error:  # a missing corpus or model: one line, as the CLI says it
        sys.exit(f"fit_ctc_head.py: error: {error}")


def fit_and_save(args: argparse.Namespace) -> None:
    """Fit the head of `args.model` on `args.corpus` and write the copy to `args.out`."""
    torch.manual_seed(0)
    bundle = load_bundle(args.model)
    states, targets = encoder_states(bundle, args.corpus, args.splits.split(","))
    config = CTCConfig(
        bundle.config.vocab_size,
        bundle.config.d_model,
        blank=bundle.tokenizer.bos_id,
        weight=args.weight,
        vocabulary=vocabulary_fingerprint(bundle.tokenizer.pieces()),
    )
    head = CTCHead(config)
    fit(head, states, targets, args.epochs, args.batch, args.lr)
    kept = shutil.ignore_patterns(CTC_DIR, "README.md", "eval.json")
    shutil.copytree(args.model, args.out, dirs_exist_ok=True, ignore=kept)
    save_ctc(head, args.out)
    log.info("wrote %s", args.out / CTC_DIR)


if __name__ == "__main__":
    main()
