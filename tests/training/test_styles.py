"""Style-balanced splitting of the corpus text: held-out tests per style, a held-out style,
training order whose prefixes follow the style shares."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from s2t_stream.errors import S2TError
from s2t_stream.training.styles import hold_out, round_robin, weighted_order


@dataclass(frozen=True)
class Line:
    text: str
    style: str


def _lines(counts: dict[str, int]) -> list[Line]:
    return [Line(f"{style} {i}", style) for style, n in counts.items() for i in range(n)]


def test_weighted_order_prefixes_follow_the_shares_not_the_sizes() -> None:
    styles = ["big"] * 9000 + ["small"] * 1000
    order = weighted_order(styles, {"big": 0.5, "small": 0.5}, seed=3)
    assert sorted(order) == list(range(10000))  # a permutation
    first = Counter(styles[i] for i in order[:100])
    assert 38 <= first["small"] <= 62  # ~50 % of a short prefix, though 10 % of the items
    tenth = Counter(styles[i] for i in order[:1000])
    # small style, keys E n / share: 1000 (1 - exp(-t / 2000)) + 9000 (1 - exp(-t / 18000))
    # = 1000 at t ~ 1190, where the small style has ~448 (docstring)
    assert 400 <= tenth["small"] <= 500
    assert weighted_order(styles, {"big": 0.5, "small": 0.5}, seed=3) == order
    assert weighted_order(styles, {"big": 0.5, "small": 0.5}, seed=4) != order


def test_weighted_order_leaves_out_styles_without_a_share() -> None:
    order = weighted_order(["a", "b", "a", "c"], {"a": 1.0, "b": 0.0}, seed=0)
    assert sorted(order) == [0, 2]
    with pytest.raises(ValueError, match="shares must be >= 0"):
        weighted_order(["a"], {"a": -1.0}, seed=0)


def test_round_robin_interleaves_styles_in_order() -> None:
    lines = [Line("a1", "a"), Line("a2", "a"), Line("a3", "a"), Line("b1", "b")]
    assert [x.text for x in round_robin(lines)] == ["a1", "b1", "a2", "a3"]


def test_hold_out_keeps_every_sentence_in_one_split_and_the_held_style_out_of_training() -> None:
    lines = _lines({"read": 400, "dialogue": 600, "dictionary": 300, "unused": 50})
    splits = hold_out(
        lines,
        held_out_styles=["dictionary"],
        test_per_style=20,
        style_test=100,
        dev=30,
        shares={"read": 0.5, "dialogue": 0.5},
        seed=0,
    )
    assert Counter(x.style for x in splits["test"]) == {"read": 20, "dialogue": 20}
    assert len(splits["dev"]) == 30
    assert {x.style for x in splits["test-style"]} == {"dictionary"}
    assert len(splits["test-style"]) == 100
    assert {x.style for x in splits["train"] + splits["dev"]} == {"read", "dialogue"}
    every = [x for split in splits.values() for x in split]
    assert len(every) == len(set(every))  # no sentence in two splits
    assert len(splits["train"]) == 1000 - 40 - 30
    with pytest.raises(S2TError, match="need more than the 2000 dev sentences"):
        hold_out(lines, held_out_styles=[], test_per_style=1, style_test=0, dev=2000,
                 shares={"read": 1.0}, seed=0)  # fmt: skip
