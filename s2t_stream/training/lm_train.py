"""Train the token LM for shallow fusion (`model/lm.py`) on the corpus's training text, or on
sentence files of a domain (`text`).

The text is every sentence the corpus may train on — `corpus.split_sentences(...)["train"]`
under the default corpus options, hundreds of thousands of sentences against the tens of
thousands the speech corpus speaks — so the test, dev and held-out-style sentences, and the
reserved evaluation text, never reach it; `exclude` removes the sentences of other manifests
too (the real-voice sets, whose text the speech corpus may hold). The targets are the ASR
model's: its SentencePiece pieces of the lower-case words, the decoder start token first, eos
last.

The run resumes from `{out}/checkpoint_last.pt`, ends by wall time (`max_minutes`), the
learning rate annealed to it, and exports to `{out}/export/lm/`: a model directory's `lm/`
folder, to copy next to the ASR model's files.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from s2t_stream.errors import S2TError
from s2t_stream.model.addons import vocabulary_fingerprint
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.lm import LMConfig, TokenLM, save_lm
from s2t_stream.model.tokenizer import Tokenizer
from s2t_stream.training.corpus import CorpusOptions, split_sentences
from s2t_stream.training.manifest import read_manifest
from s2t_stream.training.options import LMOptions
from s2t_stream.training.texts import TextSource, read_styled_sentences
from s2t_stream.training.timed_run import TimedRun
from s2t_stream.training.train import teacher_forcing

log = logging.getLogger(__name__)


DOMAIN_DEV_SENTENCES = 200
"""Sentences of `--text` files kept for the dev perplexity."""


def lm_sentences(
    exclude: list[Path], corpus: CorpusOptions | None = None, texts: list[Path] | None = None
) -> dict[str, list[str]]:
    """The LM's `train` and `dev` text (lower-case words, spelled as the corpus spells them),
    less every sentence of the `exclude` manifests: with `texts`, those sentence files' lines
    (the first `DOMAIN_DEV_SENTENCES` of a seeded shuffle are dev); else the corpus's training
    and dev sentences (`split_sentences` under `corpus`, default options if None). Raises
    S2TError for a file or manifest that cannot be read."""
    banned = {u.text for path in exclude for u in read_manifest(path)}
    if texts:
        sources = [TextSource(str(path.resolve()), "domain", "given by --text") for path in texts]
        words = [s.words for s in read_styled_sentences(sources) if s.words not in banned]
        shuffled = [words[i] for i in np.random.default_rng(0).permutation(len(words))]
        dev = min(DOMAIN_DEV_SENTENCES, len(shuffled) // 10)
        return {"train": shuffled[dev:], "dev": shuffled[:dev]}
    options = corpus or CorpusOptions()
    split = split_sentences(read_styled_sentences(options.texts, options.text_dir), options)
    return {
        name: [s.words for s in split[name] if s.words not in banned] for name in ("train", "dev")
    }


def encode_all(tokenizer: Tokenizer, sentences: list[str]) -> list[list[int]]:
    """Each sentence's pieces with eos last (the decoder's targets)."""
    return [tokenizer.encode(s) for s in sentences]


class LMTrainer(TimedRun):
    """One run: text, model, loop, dev perplexity, checkpoint (`TimedRun`) and export."""

    def __init__(self, options: LMOptions, corpus: CorpusOptions | None = None) -> None:
        """`corpus`: whose sentence split to learn (None: the default corpus's, as `corpus`
        makes it)."""
        super().__init__(options)
        self.options: LMOptions = options
        asr = load_bundle(Path(options.model))
        self.tokenizer = asr.tokenizer
        self.start_id = asr.generation.decoder_start_token_id
        exclude = [Path(p.strip()) for p in options.exclude.split(",") if p.strip()]
        texts = [Path(p.strip()) for p in options.text.split(",") if p.strip()]
        text = lm_sentences(exclude, corpus, texts)
        if not text["train"] or not text["dev"]:
            raise S2TError(
                f"{len(text['train'])} training and {len(text['dev'])} dev sentences left for "
                "the LM: it needs some of each (--text: at least 10 sentences in all)"
            )
        self.train = encode_all(self.tokenizer, text["train"])
        self.dev = encode_all(self.tokenizer, text["dev"])
        torch.manual_seed(options.seed)
        self.config = LMConfig(
            vocab_size=asr.config.vocab_size,
            embed_dim=options.embed_dim,
            hidden_dim=options.hidden_dim,
            layers=options.layers,
            weight=options.weight,
            vocabulary=vocabulary_fingerprint(self.tokenizer.pieces()),
        )
        self.model = TokenLM(self.config, dropout=options.dropout).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=options.lr, weight_decay=options.weight_decay
        )

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def _loss(self, rows: list[list[int]], reduction: str = "mean") -> torch.Tensor:
        pad = self.tokenizer.pad_id
        inputs, labels = teacher_forcing(rows, pad, self.start_id)
        logits, _ = self.model(inputs.to(self.device))
        return F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            labels.to(self.device).reshape(-1),
            ignore_index=pad,
            reduction=reduction,
        )

    def train_step(self, indices: list[int]) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.model.train()
        loss = self._loss([self.train[i] for i in indices])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    @torch.inference_mode()
    def dev_perplexity(self) -> float:
        """exp of the mean per-token cross-entropy (eos included) on the dev sentences."""
        self.model.eval()
        total, tokens = 0.0, 0
        for start in range(0, len(self.dev), 64):
            rows = self.dev[start : start + 64]
            total += float(self._loss(rows, reduction="sum"))
            tokens += sum(len(r) for r in rows)
        return math.exp(total / max(tokens, 1))

    def run(self) -> Path:
        """Train until `progress()` reaches 1 (a rerun resumes first), with the dev perplexity
        and a checkpoint every `eval_every` steps and at the end; then export."""
        self.resume()
        log.info(
            "LM on %d sentences (%d tokens), %d parameters, step %d",
            len(self.train), sum(len(r) for r in self.train),
            sum(p.numel() for p in self.model.parameters()), self.step,
        )  # fmt: skip
        self.loop(
            np.array([len(r) for r in self.train]),
            self.options.max_tokens,
            self.options.eval_every,
            log_every=100,
        )
        return self.export()

    def evaluate(self) -> dict[str, Any]:
        return {"dev_perplexity": round(self.dev_perplexity(), 3)}

    def export(self) -> Path:
        """The LM in `{out}/export/lm/` (fp16) with the fusion weight `options.weight`."""
        destination = self.out / "export"
        save_lm(self.model, destination)
        log.info("exported to %s", destination / "lm")
        return destination
