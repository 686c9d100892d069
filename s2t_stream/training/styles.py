"""Text styles in the corpus: which sentences are held out for testing, and in what order the
training sentences are taken so that every style gets its share of the training audio.

Pure functions of the sentences, the options and a seed (torch- and I/O-free).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

import numpy as np

from s2t_stream.errors import S2TError


class Styled(Protocol):
    @property
    def style(self) -> str: ...


S = TypeVar("S", bound=Styled)


def weighted_order(styles: Sequence[str], shares: Mapping[str, float], seed: int) -> list[int]:
    """A random order of items whose short prefixes hold each style in its `shares` proportion,
    items within a style uniformly at random.

    Weighted random sampling without replacement (Efraimidis & Spirakis, "Weighted random
    sampling with a reservoir", 2006): item i gets the key E_i / w_i with E_i ~ Exp(1) and
    w_i = share of its style / items of its style; ascending keys are the order. A style's count
    in the prefix of keys below t is n_s (1 - exp(-share_s t / n_s)): its share while t is small
    against n_s / share_s, falling behind as the style's items are used up (a style with 10 % of
    the items and half the share has 44 % of the first tenth, not 50 %). Styles absent from
    `shares` or with share 0 are left out. Raises ValueError for a negative share.
    """
    if any(share < 0 for share in shares.values()):
        raise ValueError(f"style shares must be >= 0, got {dict(shares)}")
    counts: dict[str, int] = defaultdict(int)
    for style in styles:
        counts[style] += 1
    rng = np.random.default_rng([seed, 1])
    keys = rng.exponential(size=len(styles))
    order = []
    for i, style in enumerate(styles):
        share = shares.get(style, 0.0)
        if share > 0:
            order.append((keys[i] * counts[style] / share, i))
    return [i for _, i in sorted(order)]


def round_robin(items: Sequence[S]) -> list[S]:
    """Interleave items by style (first of each style, then second of each ...), keeping each
    style's order, so that any prefix covers every style about equally."""
    by_style: dict[str, list[S]] = defaultdict(list)
    for item in items:
        by_style[item.style].append(item)
    columns = sorted(by_style.values(), key=lambda column: column[0].style)
    longest = max((len(column) for column in columns), default=0)
    return [column[k] for k in range(longest) for column in columns if k < len(column)]


def hold_out(
    sentences: Sequence[S],
    *,
    held_out_styles: Sequence[str],
    test_per_style: int,
    style_test: int,
    dev: int,
    shares: Mapping[str, float],
    seed: int,
) -> dict[str, list[S]]:
    """Split sentences into `test` (`test_per_style` of every training style, interleaved),
    `dev` (`dev` sentences taken in the training order), `train` (the rest, in `weighted_order`
    by `shares`) and `test-style` (`style_test` sentences of the `held_out_styles`, which
    nothing else gets). Training styles are those with a share > 0; sentences of any other
    style are in no split.

    Deterministic in `seed`. Raises S2TError when nothing is left to train on.
    """
    held = set(held_out_styles)
    shuffled = [sentences[i] for i in np.random.default_rng(seed).permutation(len(sentences))]
    test: list[S] = []
    taken: dict[str, int] = defaultdict(int)
    rest: list[S] = []
    style_pool: list[S] = []
    for sentence in shuffled:
        if sentence.style in held:
            style_pool.append(sentence)
        elif shares.get(sentence.style, 0.0) <= 0:
            continue
        elif taken[sentence.style] < test_per_style:
            taken[sentence.style] += 1
            test.append(sentence)
        else:
            rest.append(sentence)
    order = [rest[i] for i in weighted_order([s.style for s in rest], shares, seed)]
    if len(order) <= dev:
        raise S2TError(
            f"{len(order)} sentences of the training styles {sorted(shares)} left after the test "
            f"split: need more than the {dev} dev sentences"
        )
    return {
        "test": round_robin(test),
        "dev": order[:dev],
        "train": order[dev:],
        "test-style": round_robin(style_pool[:style_test]),
    }
