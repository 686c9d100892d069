"""`server.py` with hypotheses of a realistic length: bench_server.py's `--decode realistic`.

    python bench/steered_server.py --tokens-per-s 3.5 [s2t-stream serve flags]

It runs `s2t-stream serve` with the flags given, except that the model it loads (bench_server.py
passes a random-weights model of a shape, steered away from eos, whose every hypothesis would
run to its token budget) is made to end each hypothesis where a trained model would: eos wins
once the hypothesis — its forced prefix included, the start token not — holds
round(tokens_per_s × seconds) tokens, `seconds` being the length of the window being decoded as
the decoder sees it (the encoder output's valid frames, 40 ms each after the usual 4×
subsampling of 10 ms feature frames). Every other logit, and all the compute of a step, are the
model's own: the wrapper only sets the eos column after the model has run.

A trained s2t-small (10 000 pieces) emits about 3.5 tokens per second: our demo model's greedy
transcripts of data/corpus/test.jsonl hold 2.95 words per second of audio, which a 10 000-piece
SentencePiece model makes 3.47 pieces per second (`python bench/token_rate.py`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TypeAlias

import torch
from torch import Tensor

from s2t_stream.cli import main as cli_main
from s2t_stream.cli import serve
from s2t_stream.model.cache import DecoderCache
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.network import Speech2Text

FEATURE_FRAME_S = 0.01  # fbank frame shift (every Speech2Text front end)


class EndsOnTime(Speech2Text):
    """A `Speech2Text` whose decode makes eos win where the hypothesis has reached
    round(`tokens_per_s` × window seconds) tokens, and lose (−∞) everywhere else."""

    tokens_per_s: float
    eos_id: int

    def decode(self, ids: Tensor, cache: DecoderCache, *, last_only: bool = False) -> Tensor:
        logits = super().decode(ids, cache, last_only=last_only)  # the model's own compute
        ends = self.ends(*ids.shape, cache)  # (N, t)
        if last_only:
            ends = ends[:, -1]
        logits[..., self.eos_id] = -torch.inf
        best = logits.max(-1).values
        logits[..., self.eos_id] = torch.where(ends, best + 1, -torch.inf)
        return logits

    def ends(self, rows: int, steps: int, cache: DecoderCache) -> Tensor:
        """(rows, steps) bool: after the token at each of the call's `steps` positions, whether
        the hypothesis has its length (the cache already holds those positions)."""
        device = cache.cross_k[0].device
        if cache.cross_mask is None:
            frames = cache.cross_k[0].shape[2]
            valid = torch.full((cache.batch_size,), frames, device=device)
        else:
            valid = cache.cross_mask[:, 0, 0].sum(-1)  # (B,) frames of each utterance
        frame_s = FEATURE_FRAME_S * 2**self.config.num_conv_layers
        target = torch.round(self.tokens_per_s * frame_s * valid)
        target = target.repeat_interleave(rows // cache.batch_size)  # beams of one utterance
        positions = torch.arange(cache.length - steps, cache.length, device=device)
        offsets = torch.zeros(rows, device=device) if cache.offsets is None else cache.offsets
        tokens = positions[None, :] - offsets[:, None]  # after the start token (position 0)
        return tokens >= target[:, None]


def end_on_time(model: Speech2Text, tokens_per_s: float, eos_id: int) -> EndsOnTime:
    """`model` itself (its weights, float or int8, untouched) as an `EndsOnTime`."""
    if tokens_per_s <= 0:
        raise ValueError(f"tokens_per_s must be > 0, got {tokens_per_s}")
    model.__class__ = EndsOnTime  # only `decode` differs, after the model's own computation
    assert isinstance(model, EndsOnTime)
    model.tokens_per_s = tokens_per_s
    model.eos_id = eos_id
    return model


Loader: TypeAlias = Callable[..., Bundle]


def steered(load_model: Loader, tokens_per_s: float) -> Loader:
    """`serve`'s `load_model(args, flag, default)`, with the served model (`--model`) ending on
    time; a translation model loaded beside it (`--translation-model`) is left as it is."""

    def load(args: argparse.Namespace, flag: str = "--model", default: str | None = None) -> Bundle:
        bundle = load_model(args, flag, default)
        if flag == "--model":
            end_on_time(bundle.model, tokens_per_s, bundle.generation.eos_token_id)
        return bundle

    return load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--tokens-per-s", type=float, required=True)
    ours, rest = parser.parse_known_args(argv)
    serve.load_model = steered(serve.load_model, ours.tokens_per_s)  # what `serve` calls

    return cli_main(["serve", *rest])


if __name__ == "__main__":
    sys.exit(main())
