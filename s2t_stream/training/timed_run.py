"""The bookkeeping shared by the text-only training runs (`lm_train.py`, `text_pretrain.py`): a
run that ends by wall time or step count, anneals its learning rate to that end, and resumes from
`{out}/checkpoint_last.pt` with its modules, optimizer, history and batch order."""

from __future__ import annotations

import logging
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from s2t_stream.training.train import warmup_cosine

log = logging.getLogger(__name__)


class RunOptions(Protocol):
    """What a timed run reads of its options (a frozen dataclass)."""

    @property
    def lr(self) -> float: ...
    @property
    def warmup_steps(self) -> int: ...
    @property
    def max_steps(self) -> int: ...
    @property
    def max_minutes(self) -> float: ...


class TimedRun:
    """Subclasses set `options`, `out`, `optimizer`, `seed` the `rng`, and name the modules
    their checkpoint holds (`modules`)."""

    options: Any  # a RunOptions dataclass
    out: Path
    optimizer: torch.optim.Optimizer

    def __init__(self, seed: int) -> None:
        self.step = 0
        self.trained_s = 0.0  # time spent in training steps (not evaluation), seconds
        self.rng = random.Random(seed)
        self.history: list[dict[str, Any]] = []

    def modules(self) -> dict[str, nn.Module]:
        """The modules a checkpoint saves and a resume restores, by name."""
        raise NotImplementedError

    def progress(self) -> float:
        """Fraction of the run done: by training time, or by steps when `max_steps` is nearer."""
        o: RunOptions = self.options
        by_steps = self.step / o.max_steps if o.max_steps else 0.0
        return max(by_steps, self.trained_s / (60 * o.max_minutes))

    def learning_rate(self) -> float:
        """`warmup_cosine`, the decay following the run's progress."""
        o: RunOptions = self.options
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
