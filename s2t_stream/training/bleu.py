"""Translation quality, one way for every caller: corpus BLEU and chrF by `sacrebleu` (Post 2018,
the field's reference implementation: its default 13a tokenisation, BLEU with 4-grams and
brevity penalty, chrF with character 6-grams and β = 2), on references and hypotheses both
normalised as the training targets are (`targets.normalize_translation`)."""

from __future__ import annotations

from collections.abc import Sequence

from sacrebleu.metrics import BLEU, CHRF

from s2t_stream.training.targets import normalize_translation


def _normalised(
    references: Sequence[str], hypotheses: Sequence[str]
) -> tuple[list[str], list[str]]:
    if len(references) != len(hypotheses):
        raise ValueError(
            f"expected one hypothesis per reference ({len(references)}), got {len(hypotheses)}"
        )
    return (
        [normalize_translation(t) for t in references],
        [normalize_translation(t) for t in hypotheses],
    )


def corpus_bleu(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus BLEU (0–100) of paired texts, one reference each. Raises ValueError when the
    counts differ."""
    refs, hyps = _normalised(references, hypotheses)
    return float(BLEU().corpus_score(hyps, [refs]).score)


def corpus_chrf(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus chrF (0–100) of paired texts, one reference each. Raises ValueError when the
    counts differ."""
    refs, hyps = _normalised(references, hypotheses)
    return float(CHRF().corpus_score(hyps, [refs]).score)
