"""Finals → translated finals: the `Translator` protocol, its options (`MtOptions`, what
`--mt apertium --tgt-lang es` sets), and what the transports wrap around a stream so that each
final carries `translation`.

Translation runs in line, on the thread that steps the model: a final costs 1–5 ms with Apertium's
persistent pipeline (README, "Translation"), against tens to hundreds of milliseconds for the
model step that made it, so a second thread would buy nothing, and in line the finals keep their
order for free. Partials are not translated (their text still changes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Generic, Literal, Protocol, TypeVar

from s2t_stream.errors import OptionsError, TranslationError
from s2t_stream.streaming.events import Event, Final, Word

ENGINES = ("apertium",)
MtEngine = Literal["apertium"]  # what `--mt` and a session's "mt" may name


class Translator(Protocol):
    """Text in the source language (English) → text in one target language."""

    @property
    def name(self) -> str:
        """What translates, e.g. "apertium eng-spa"."""
        ...

    @property
    def version(self) -> str:
        """The versions that translate (for logs and reports)."""
        ...

    def translate(self, text: str) -> str:
        """`text` translated ("" for blank text); raises TranslationError when it cannot be."""
        ...

    def close(self) -> None:
        """Release what it holds (a process); idempotent."""
        ...


@dataclass(frozen=True)
class MtOptions:
    """Machine translation of finals: `engine` (only "apertium" so far) into `tgt_lang` (an
    ISO 639-1 code: es, ca, gl), each text answered within `timeout_s` seconds."""

    tgt_lang: str
    engine: MtEngine = "apertium"
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise OptionsError(f"MtOptions.engine must be one of {ENGINES}, got {self.engine!r}")
        if not self.tgt_lang:
            raise OptionsError("MtOptions.tgt_lang must name a target language, e.g. 'es'")
        if not self.timeout_s > 0:
            raise OptionsError(f"MtOptions.timeout_s must be > 0, got {self.timeout_s}")


def open_translator(options: MtOptions) -> Translator:
    """A running translator for `options`. Raises TranslationError (what is missing and how to
    install it) when the engine or its language pair is not installed."""
    from s2t_stream.translation.apertium import ApertiumTranslator

    return ApertiumTranslator(options.tgt_lang, options.timeout_s)


def offered_languages(engine: str) -> tuple[str, ...]:
    """The target languages `engine` translates English into once their pairs are installed,
    e.g. ("es", "ca", "gl"): what help texts and messages name (`available_languages` says
    which are installed here)."""
    from s2t_stream.translation.apertium import PAIRS

    if engine not in ENGINES:
        raise OptionsError(f"machine translation engines: {', '.join(ENGINES)}; got {engine!r}")
    return tuple(PAIRS)


def available_languages(engine: str) -> list[str]:
    """The target languages `engine` can translate into here (its installed pairs). Raises
    TranslationError, saying what to install, when there are none."""
    from s2t_stream.translation.apertium import PAIRS, available_languages

    if engine not in ENGINES:
        raise OptionsError(f"machine translation engines: {', '.join(ENGINES)}; got {engine!r}")
    found = available_languages()
    if not found:
        packages = " ".join(package for _, package in PAIRS.values() if "eng" in package)
        raise TranslationError(
            f"{engine}: no pair from English is installed (expected Apertium and one of "
            f"{', '.join(mode for mode, _ in PAIRS.values())}): apt-get install apertium {packages}"
        )
    return found


def translate_finals(events: Sequence[Event], translator: Translator) -> list[Event]:
    """`events` in order, each final with its `translation` (partials unchanged)."""
    return [
        replace(e, translation=translator.translate(e.text)) if isinstance(e, Final) else e
        for e in events
    ]


A = TypeVar("A", contravariant=True)
B = TypeVar("B")


class Pushes(Protocol[A]):
    """A captioner: audio (one input's samples, or labelled inputs' samples) in, events out."""

    def push(self, audio: A) -> list[Event]: ...

    def end(self) -> list[Event]: ...


class Translating(Generic[B]):
    """A captioner whose finals carry their translation: a `StreamDriver`, `SourcesDriver`,
    `Unlabelled` … wrapped, with the same `push` and `end`."""

    def __init__(self, captioner: Pushes[B], translator: Translator) -> None:
        self.captioner = captioner
        self.translator = translator

    def push(self, audio: B) -> list[Event]:
        return translate_finals(self.captioner.push(audio), self.translator)

    def end(self) -> list[Event]:
        return translate_finals(self.captioner.end(), self.translator)


def spread_words(text: str, start_s: float, end_s: float) -> tuple[Word, ...]:
    """`text`'s words over [start_s, end_s] (seconds), each given a share of the span in
    proportion to its length plus a space: machine translation keeps no word times, and
    subtitles need some to cut long lines into cues."""
    words = text.split()
    weights = [len(word) + 1 for word in words]
    total = sum(weights)
    out: list[Word] = []
    at = start_s
    for word, weight in zip(words, weights, strict=True):
        length = (end_s - start_s) * weight / total
        out.append(Word(word, at, at + length))
        at += length
    return tuple(out)


def as_translation(final: Final) -> Final:
    """`final` as its translation reads: text = `translation`, words spread over its span
    (`spread_words`); a final without a translation is returned unchanged."""
    if final.translation is None:
        return final
    words = spread_words(final.translation, final.start_s, final.end_s)
    return replace(final, text=final.translation, words=words)
