"""The models a server holds: its main model, and optionally a speech-translation model that
serves the target languages the main one cannot produce (`serve --translation-model`; by default
the bundled English → Spanish/Catalan model beside an ASR model). A session or request that asks
for such a language, without the cascade (`mt`), is translated end to end by it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.streaming.stream import StreamOptions

Weighted = TypeVar("Weighted", StreamOptions, DecodingOptions)


def model_name(bundle: Bundle) -> str:
    """The name clients use for a loaded model: its folder's name, or the hub id it came from."""
    path = Path(bundle.source)
    return path.name if path.exists() else bundle.source


@dataclass(frozen=True)
class Models:
    """`main`: every session's and request's model unless they ask for a language only
    `translation` produces."""

    main: Bundle
    translation: Bundle | None = None

    @property
    def names(self) -> list[str]:
        """The loaded models' names, the main one first."""
        return [model_name(b) for b in (self.main, self.translation) if b is not None]

    def named(self, name: str) -> Bundle | None:
        """The loaded model called `name` (None: none is)."""
        return next((b for b in (self.main, self.translation) if b and model_name(b) == name), None)

    def languages(self) -> list[str]:
        """Every target language a loaded model produces, the main model's first."""
        found = list(self.main.tokenizer.lang_code_to_id)
        if self.translation is not None:
            found += [c for c in self.translation.tokenizer.lang_code_to_id if c not in found]
        return found

    def weights_for(self, bundle: Bundle, options: Weighted) -> Weighted:
        """`options` for decoding with `bundle`: `serve --lm-weight` and `--ctc-weight` are the
        main model's; the translation model beside it decodes with its own LM and CTC head's
        defaults (a weight asked of a model without that part would be an error)."""
        if bundle is self.main:
            return options
        return replace(options, lm_weight=None, ctc_weight=None)

    def for_language(self, tgt_lang: str | None) -> Bundle:
        """The model that produces `tgt_lang` (None: transcription): the main one when it can,
        else the translation model when it can, else the main one (which then refuses it)."""
        if tgt_lang is None or tgt_lang in self.main.tokenizer.lang_code_to_id:
            return self.main
        if self.translation is not None and tgt_lang in self.translation.tokenizer.lang_code_to_id:
            return self.translation
        return self.main
