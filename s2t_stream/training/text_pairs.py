"""Text-only translation pairs for pretraining a speech-translation decoder: the corpus's
training-style sentences (the same hold-out as the audio, so no test, dev or held-out-style
sentence), many more than have audio, each with its translations made by the corpus's
translator and cache (`translations.py`).

Written to `{corpus}/text-pairs/train.jsonl`, one `{"text", "caption", "style", "translations"}`
line per sentence, in the corpus's training order (the sentences with audio first): in a folder
of its own, since every `*.jsonl` in the corpus folder is a speech manifest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from s2t_stream.errors import S2TError
from s2t_stream.training.corpus import CorpusOptions, split_sentences
from s2t_stream.training.texts import StyledSentence, read_styled_sentences
from s2t_stream.training.translations import OpenTranslator, apertium, fill_caches

log = logging.getLogger(__name__)

TEXT_PAIRS_FILE = "text-pairs/train.jsonl"


@dataclass(frozen=True)
class TextPair:
    """One English sentence and its translations (target language → text)."""

    text: str
    """Lower-case words, as the ASR targets."""
    caption: str
    style: str
    translations: dict[str, str]


def training_text(options: CorpusOptions) -> list[StyledSentence]:
    """Every sentence the corpus `options` may train on (its `train` split before the
    `train_hours` cap), in training order."""
    sentences = read_styled_sentences(options.texts, options.text_dir)
    return split_sentences(sentences, options)["train"]


def write_text_pairs(
    options: CorpusOptions,
    count: int,
    tgt_langs: Sequence[str],
    translator: OpenTranslator = apertium,
) -> Path:
    """Translate the first `count` training sentences of `options` into `tgt_langs` (cached
    in `{out_dir}/translations/`) and write them to `{out_dir}/text-pairs/train.jsonl`.
    Returns its path. Raises S2TError when no language is given, TranslationError when a
    translator is missing."""
    if not tgt_langs:
        raise S2TError("text pairs need target languages, e.g. --tgt-langs es,ca")
    sentences = training_text(options)[:count]
    log.info("text pairs: %d training-style sentences into %s", len(sentences), tgt_langs)
    captions = [s.caption for s in sentences]
    caches, _ = fill_caches(options.out_dir, captions, tgt_langs, translator, skip_failed=True)
    path = options.out_dir / TEXT_PAIRS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for s in sentences:
            found = {
                lang: c.entries[s.caption] for lang, c in caches.items() if s.caption in c.entries
            }
            if not found:
                continue
            line = {"text": s.words, "caption": s.caption, "style": s.style, "translations": found}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return path


def read_text_pairs(path: Path) -> list[TextPair]:
    """The pairs `write_text_pairs` wrote. Raises S2TError for a missing file or a line that
    is not a pair."""
    if not path.is_file():
        raise S2TError(
            f"{path}: no text pairs; make them with `s2t-stream corpus --text-pairs N "
            "--tgt-langs ...`"
        )
    pairs = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                pairs.append(
                    TextPair(
                        entry["text"], entry["caption"], entry["style"], dict(entry["translations"])
                    )
                )
            except (ValueError, KeyError, TypeError) as e:
                raise S2TError(f"{path}:{number}: not a text pair ({e})") from e
    return pairs
