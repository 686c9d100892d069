"""Word error rate, one way for every caller: references and hypotheses both normalised by
`textnorm.normalize_text` (as the training targets are), words aligned by jiwer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from s2t_stream.training.textnorm import normalize_text


def normalize(text: str) -> str:
    """`normalize_text`, or "" (no words) for a text it cannot normalise."""
    return normalize_text(text) or ""


@dataclass(frozen=True)
class WordErrors:
    """Edit counts of hypotheses against references, summed over all pairs."""

    words: int  # reference words
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Errors per reference word (with no reference words: the number of insertions)."""
        return self.errors / max(self.words, 1)


def word_errors(references: Sequence[str], hypotheses: Sequence[str]) -> WordErrors:
    """Corpus-level counts of paired texts (each pair aligned on its own), after normalising."""
    if len(references) != len(hypotheses):
        raise ValueError(
            f"expected one hypothesis per reference ({len(references)}), got {len(hypotheses)}"
        )
    return _align([normalize(t) for t in references], [normalize(t) for t in hypotheses])


def _align(references: Sequence[str], hypotheses: Sequence[str]) -> WordErrors:
    """Counts of normalised pairs. A reference with no words makes its hypothesis's words all
    insertions; jiwer sees only the other pairs (some jiwer versions refuse empty references)."""
    pairs = [(r, h) for r, h in zip(references, hypotheses, strict=True) if r]
    inserted = sum(len(h.split()) for r, h in zip(references, hypotheses, strict=True) if not r)
    if not pairs:
        return WordErrors(0, 0, 0, inserted)
    import jiwer

    out = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    return WordErrors(
        words=out.hits + out.substitutions + out.deletions,
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions + inserted,
    )


def corpus_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """WER of paired texts: all errors over all reference words."""
    return word_errors(references, hypotheses).wer


def grouped(
    score: Callable[[list[str], list[str]], float],
    references: Sequence[str],
    hypotheses: Sequence[str],
    groups: Sequence[str],
) -> dict[str, float]:
    """`score` (e.g. `corpus_wer`) of the pairs of each group (e.g. each voice), by group name.
    Raises ValueError when the three counts differ."""
    if not len(references) == len(hypotheses) == len(groups):
        raise ValueError(
            f"expected as many references, hypotheses and groups, got {len(references)}, "
            f"{len(hypotheses)} and {len(groups)}"
        )
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)
    return {
        group: score([references[i] for i in rows], [hypotheses[i] for i in rows])
        for group, rows in sorted(members.items())
    }


def grouped_wer(
    references: Sequence[str], hypotheses: Sequence[str], groups: Sequence[str]
) -> dict[str, float]:
    """`corpus_wer` of the pairs of each group (e.g. each voice), by group name."""
    return grouped(corpus_wer, references, hypotheses, groups)


def joined_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """WER of all references joined into one text against all hypotheses joined into one: for
    a stream, whose hypotheses need not be cut where the references are."""
    reference = " ".join(filter(None, (normalize(t) for t in references)))
    hypothesis = " ".join(filter(None, (normalize(t) for t in hypotheses)))
    return _align([reference], [hypothesis]).wer
