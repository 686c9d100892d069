"""How much word confidences tell: each hypothesis word labelled right or wrong by its alignment
with the reference (jiwer, both texts normalised as for WER), and the ranking of right above
wrong words scored by the ROC AUC (scikit-learn): 0.5 says nothing, 1.0 separates them fully."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from s2t_stream.streaming.events import Word
from s2t_stream.training.wer import normalize


def labelled_words(reference: str, words: Sequence[Word]) -> list[tuple[float, bool]]:
    """(conf, right) for each normalised word of the hypothesis `words`: right when the
    alignment pairs it with an equal reference word; substitutions and insertions are wrong.
    A word the normaliser splits ("42" → "forty two") gives each part its confidence.

    Raises ValueError for a word without a confidence (`conf` None)."""
    spoken: list[tuple[str, float]] = []
    for word in words:
        if word.conf is None:
            raise ValueError(f"expected words with a confidence, got {word!r}")
        spoken += [(part, word.conf) for part in normalize(word.word).split()]
    truth = normalize(reference)
    if not spoken:
        return []
    if not truth:
        return [(conf, False) for _, conf in spoken]
    import jiwer

    alignment = jiwer.process_words(truth, " ".join(part for part, _ in spoken)).alignments[0]
    right = [False] * len(spoken)
    for chunk in alignment:
        if chunk.type == "equal":
            for i in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                right[i] = True
    return [(conf, ok) for (_, conf), ok in zip(spoken, right, strict=True)]


def confidence_auc(labelled: Iterable[tuple[float, bool]]) -> float:
    """The probability that a random right word has a higher confidence than a random wrong
    one (ROC AUC; ties count half). Raises ValueError unless both kinds are present."""
    pairs = list(labelled)
    kinds = {ok for _, ok in pairs}
    if kinds != {False, True}:
        raise ValueError(
            f"expected both right and wrong words, got {len(pairs)} words, all "
            f"{'right' if True in kinds else 'wrong'}"
        )
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([ok for _, ok in pairs], [conf for conf, _ in pairs]))
