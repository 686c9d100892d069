"""Speech-translation data by sequence-level knowledge distillation (Kim & Rush 2016): every
corpus sentence's caption (cased and punctuated, numbers in words) is translated by a machine
translator — Apertium, Debian's rule-based system — and the translation is paired with the
sentence's synthesised English audio. The audio is the ASR corpus's own; only manifests change.

Translations are cached per target language in `{corpus}/translations/{lang}.jsonl` (one
`{"source": caption, "target": translation}` line per distinct caption, appended as they are
made) beside `{lang}.version.json` (the translator and its package versions). A rerun translates
only captions the cache lacks; a cache made by another translator version is set aside
(renamed `*.stale`) and rebuilt, so a corpus is always translated by one version, the recorded one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from s2t_stream.errors import TranslationError
from s2t_stream.training.manifest import Utterance, read_manifest, write_manifest
from s2t_stream.translation.translator import MtOptions, Translator, open_translator

log = logging.getLogger(__name__)

CACHE_DIR = "translations"
OpenTranslator = Callable[[str], Translator]


def apertium(tgt_lang: str) -> Translator:
    """The default translator: Apertium English → `tgt_lang` (TranslationError, naming the
    package to install, when the pair is missing)."""
    return open_translator(MtOptions(tgt_lang=tgt_lang))


def source_text(utterance: Utterance) -> str:
    """What is translated: the caption (case and punctuation help a rule-based translator),
    else the normalised text."""
    return utterance.caption or utterance.text


@dataclass
class TranslationCache:
    """The translations into one language made so far: source text → target text."""

    folder: Path
    lang: str
    version: str
    entries: dict[str, str]

    @property
    def path(self) -> Path:
        return self.folder / f"{self.lang}.jsonl"

    @classmethod
    def open(cls, folder: Path, lang: str, version: str) -> TranslationCache:
        """The cache for `lang` made by translator `version`; one made by another version is
        renamed `*.stale` (kept for comparison) and an empty cache begins."""
        folder.mkdir(parents=True, exist_ok=True)
        cache = cls(folder, lang, version, {})
        stamp = folder / f"{lang}.version.json"
        recorded = json.loads(stamp.read_text()) if stamp.is_file() else None
        if recorded is not None and recorded.get("version") != version and cache.path.is_file():
            log.warning(
                "%s: made by %s, not %s: rebuilt", cache.path, recorded.get("version"), version
            )
            cache.path.replace(cache.path.with_suffix(".jsonl.stale"))
        stamp.write_text(json.dumps({"lang": lang, "version": version}, indent=2) + "\n")
        if cache.path.is_file():
            with cache.path.open(encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        entry = json.loads(line)
                        cache.entries[entry["source"]] = entry["target"]
        return cache

    def fill(
        self, sources: Iterable[str], translator: Translator, *, skip_failed: bool = False
    ) -> int:
        """Translate the `sources` not cached yet, appending each to the file as it is made;
        returns how many were translated. A TranslationError stops the fill, or with
        `skip_failed` leaves that source out (logged; a later fill tries it again)."""
        missing = [s for s in dict.fromkeys(sources) if s not in self.entries]
        start, made = time.monotonic(), 0
        with self.path.open("a", encoding="utf-8") as out:
            for source in missing:
                try:
                    target = translator.translate(source)
                except TranslationError as e:
                    if not skip_failed:
                        raise
                    log.warning("%s: left out %r: %s", self.lang, source, e)
                    continue
                self.entries[source] = target
                out.write(json.dumps({"source": source, "target": target}, ensure_ascii=False))
                out.write("\n")
                made += 1
                if made % 2000 == 0:
                    log.info(
                        "%s: %d/%d translated (%.0f s)",
                        self.lang, made, len(missing), time.monotonic() - start,
                    )  # fmt: skip
        return made


def translate_corpus(
    corpus: Path, tgt_langs: Sequence[str], translator: OpenTranslator = apertium
) -> dict[str, int]:
    """Add each target language's translation to every manifest (`*.jsonl`) of `corpus`:
    its `translations[lang]`. Returns the number of sentences translated anew per language.
    Raises TranslationError when a language's translator is missing or fails."""
    manifests = sorted(corpus.glob("*.jsonl"))
    contents = {path: read_manifest(path) for path in manifests}
    sources = [source_text(u) for utterances in contents.values() for u in utterances]
    caches, made = fill_caches(corpus, sources, tgt_langs, translator)
    for path, utterances in contents.items():
        write_manifest(path, (_with(u, caches, path.parent) for u in utterances))
    return made


def fill_caches(
    corpus: Path,
    sources: Sequence[str],
    tgt_langs: Sequence[str],
    translator: OpenTranslator,
    *,
    skip_failed: bool = False,
) -> tuple[dict[str, TranslationCache], dict[str, int]]:
    """Each language's cache in `{corpus}/translations/`, filled with `sources`
    (`TranslationCache.fill`), and how many it translated anew. Raises TranslationError when a
    language's translator is missing (or fails, unless `skip_failed`)."""
    caches: dict[str, TranslationCache] = {}
    made: dict[str, int] = {}
    for lang in tgt_langs:
        engine = translator(lang)
        try:
            cache = TranslationCache.open(corpus / CACHE_DIR, lang, engine.version)
            made[lang] = cache.fill(sources, engine, skip_failed=skip_failed)
        finally:
            engine.close()
        caches[lang] = cache
        log.info("%s: %d sentences translated anew, %s", lang, made[lang], engine.version)
    return caches, made


def _with(utterance: Utterance, caches: dict[str, TranslationCache], folder: Path) -> Utterance:
    """`utterance` carrying its caption's translation in each cached language (translations
    into other languages are kept), its audio path relative to the manifest's `folder` again
    where it lies below it (as the corpus writes it)."""
    source = source_text(utterance)
    added = {lang: cache.entries[source] for lang, cache in caches.items()}
    audio = utterance.audio
    if audio.is_relative_to(folder):
        audio = audio.relative_to(folder)
    return replace(utterance, audio=audio, translations={**utterance.translations, **added})
