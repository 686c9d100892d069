"""What a model may be asked to produce, and how to say what is on offer when a target language
is not: the one rule the command line, the REST API and websocket sessions apply before a model
decodes (`check_target`), and the wording of a refusal that lists the languages there are
(`describe_offer`). Torch-free: the command line checks before any model code loads."""

from __future__ import annotations

from collections.abc import Sequence

from s2t_stream.errors import OptionsError


def check_target(
    model: str,
    languages: Sequence[str],
    tgt_lang: str | None,
    *,
    mt: str | None = None,
    field: str = "--tgt-lang",
) -> None:
    """Whether `model` (its name as the user knows it), whose language tags are `languages`
    (none: a speech recognition model, which writes English), may decode for target language
    `tgt_lang` (None: none asked) and, with `mt` (an engine, e.g. "apertium"), have its text
    machine-translated (the cascade; `tgt_lang` is then the translation's, not the model's):

    - the cascade translates English text, so `mt` needs a model without language tags;
    - a model with language tags (multilingual, speech translation) needs `tgt_lang`: without
      one its decoder picks a language by itself;
    - a `tgt_lang` without `mt` must be one of the model's languages.

    Raises OptionsError, one line naming the model's languages and `field`, the way the user
    gives a target language (`--tgt-lang` on the command line, `tgt_lang` to the server)."""
    known = ", ".join(languages)
    if mt is not None:
        if languages:
            raise OptionsError(
                f"--mt {mt} translates English text, so the cascade needs a speech recognition "
                f"model; {model} is a speech-translation model (into {known}): give --mt an ASR "
                f"model, or drop --mt and choose one of its languages with {field}"
            )
        return
    if tgt_lang is None:
        if languages:
            raise OptionsError(
                f"{model} translates speech into {known}: choose one with {field} (without "
                "it the model picks a language by itself)"
            )
        return
    if tgt_lang not in languages:
        has = f"translates into {known} only" if languages else "is a speech recognition model"
        raise OptionsError(f"{asked(field, tgt_lang)}: {model} {has}")


def asked(field: str, tgt_lang: str) -> str:
    """How a message quotes the language asked for: "--tgt-lang fr" for a command-line flag,
    "tgt_lang 'fr'" for a protocol or form field."""
    return f"{field} {tgt_lang}" if field.startswith("--") else f"{field} {tgt_lang!r}"


def describe_offer(ways: Sequence[tuple[Sequence[str], str]]) -> str:
    """The target languages on offer, each way to translate with its languages, e.g.
    "es, ca (end to end) and es, ca, gl (with mt 'apertium')"; "" when no way has any.
    `ways`: (languages, how) pairs, in the order said; a way without languages is left out."""
    found = [f"{', '.join(languages)} ({how})" for languages, how in ways if languages]
    return " and ".join(found)
