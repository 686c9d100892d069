"""The bookkeeping shared by the text-only training runs (`lm_train.py`, `text_pretrain.py`): a
run that ends by wall time or step count, anneals its learning rate to that end, and resumes from
`{out}/checkpoint_last.pt` with its modules, optimizer, history and batch order."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from s2t_stream.defaults import pick_device
from s2t_stream.training.train import batches, warmup_cosine

log = logging.getLogger(__name__)


class TimedRun:
    """Subclasses set the `optimizer`, name the modules their checkpoint holds (`modules`),
    and give `train_step` (one update) and `evaluate` (dev scores by name)."""

    optimizer: torch.optim.Optimizer

    def __init__(self, options: Any) -> None:
        """`options`: the run's frozen dataclass, with `out`, `seed`, `threads`, `device`,
        `lr`, `warmup_steps`, `max_steps` and `max_minutes` (`TextPretrainOptions`,
        `LMOptions`); makes its `out` folder, sets the torch threads and picks the device."""
        self.options = options
        self.device = torch.device(pick_device(options.device))
        if options.threads:
            torch.set_num_threads(options.threads)
        self.out = Path(options.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.step = 0
        self.trained_s = 0.0  # time spent in training steps (not evaluation), seconds
        self.rng = random.Random(options.seed)
        self.history: list[dict[str, Any]] = []

    def modules(self) -> dict[str, nn.Module]:
        """The modules a checkpoint saves and a resume restores, by name."""
        raise NotImplementedError

    def train_step(self, indices: list[int]) -> float:
        """One update on the examples `indices`; its loss."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, Any]:
        """Dev scores by name, for the history and the log."""
        raise NotImplementedError

    def loop(self, lengths: np.ndarray, max_tokens: int, eval_every: int, log_every: int) -> None:
        """Train until `progress()` reaches 1 (after `resume`): batches of at most `max_tokens`
        padded tokens of the examples with these `lengths` (`train.batches`, shuffled afresh
        each pass), a progress line every `log_every` steps, and `evaluate` with a checkpoint
        every `eval_every` steps and at the end."""
        losses: list[float] = []
        started, seen = time.monotonic(), 0
        while self.progress() < 1.0:
            for indices in batches(lengths, max_tokens, self.rng):
                if self.progress() >= 1.0:
                    break
                tick = time.monotonic()
                losses.append(self.train_step(indices))
                self.trained_s += time.monotonic() - tick
                seen += int(lengths[indices].sum())
                if self.step % log_every == 0:
                    log.info(
                        "step %d (%.0f %%)  loss %.3f  lr %.2e  %.0f tokens/s",
                        self.step, 100 * self.progress(), float(np.mean(losses[-log_every:])),
                        self.learning_rate(), seen / (time.monotonic() - started),
                    )  # fmt: skip
                    started, seen = time.monotonic(), 0
                if self.step % eval_every == 0:
                    self._checkpoint(losses[-log_every:])
        if not self.history or self.history[-1]["step"] != self.step:
            self._checkpoint(losses[-log_every:])

    def _checkpoint(self, losses: list[float]) -> None:
        scores = self.evaluate()
        loss = float(np.mean(losses)) if losses else float("nan")
        self.history.append({"step": self.step, "loss": loss, **scores})
        log.info("step %d  %s", self.step, "  ".join(f"{k} {v}" for k, v in scores.items()))
        self.save()

    def progress(self) -> float:
        """Fraction of the run done: by training time, or by steps when `max_steps` is nearer."""
        o = self.options
        by_steps = self.step / o.max_steps if o.max_steps else 0.0
        return max(by_steps, self.trained_s / (60 * o.max_minutes))

    def learning_rate(self) -> float:
        """`warmup_cosine`, the decay following the run's progress."""
        o = self.options
        return warmup_cosine(o.lr, self.step, o.warmup_steps, self.progress())

    def save(self) -> None:
        state = {
            "step": self.step,
            "trained_s": self.trained_s,
            **{name: module.state_dict() for name, module in self.modules().items()},
            "optimizer": self.optimizer.state_dict(),
            "options": asdict(self.options),
            "history": self.history,
            "rng": self.rng.getstate(),
        }
        torch.save(state, self.out / "checkpoint_last.pt")

    def resume(self) -> None:
        """Continue from `{out}/checkpoint_last.pt`, if there is one."""
        path = self.out / "checkpoint_last.pt"
        if not path.is_file():
            return
        state = torch.load(path, map_location="cpu", weights_only=False)  # our own file
        for name, module in self.modules().items():
            module.load_state_dict(state[name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.trained_s = state["step"], state["trained_s"]
        self.history = state["history"]
        self.rng.setstate(state["rng"])
        log.info("resumed from %s at step %d", path, self.step)
