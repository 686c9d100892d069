"""The shipped sentence text: every listed file exists with its README entry and licence, one
real line per style spells as expected, and styled reading with its statistics."""

from __future__ import annotations

import gzip
from itertools import islice
from pathlib import Path

import pytest

from s2t_stream.defaults import REPO_ROOT
from s2t_stream.errors import S2TError
from s2t_stream.training.textnorm import spell
from s2t_stream.training.texts import (
    STYLES,
    TEXT_DIR,
    TEXT_SOURCES,
    StyledSentence,
    TextSource,
    read_styled_sentences,
    read_text_lines,
    source_path,
    sources_of_style,
    spell_stats,
)

README = TEXT_DIR / "README.md"


def _readme_row(file_name: str) -> str:
    rows = [r for r in README.read_text(encoding="utf-8").splitlines() if f"`{file_name}`" in r]
    assert len(rows) == 1, f"{file_name}: expected one row in {README}, got {len(rows)}"
    return rows[0]


def test_text_is_inside_the_repository_and_every_style_has_a_source() -> None:
    assert TEXT_DIR == REPO_ROOT / "data" / "text"
    assert {s.style for s in TEXT_SOURCES} == set(STYLES)
    assert len({s.file_name for s in TEXT_SOURCES}) == len(TEXT_SOURCES) == 9


@pytest.mark.parametrize("source", TEXT_SOURCES, ids=lambda s: s.file_name)
def test_every_source_exists_with_its_readme_row(source: TextSource) -> None:
    path = source_path(source)
    assert path.is_file(), path
    assert path.resolve().is_relative_to(REPO_ROOT.resolve())
    plain_as_before = source.file_name == "ljspeech_sentences.txt"  # 1.3 MB, tracked before
    assert path.stat().st_size < 1_000_000 or path.suffix == ".gz" or plain_as_before
    lines = sum(1 for _ in read_text_lines(path))
    cells = [cell.strip() for cell in _readme_row(source.file_name).strip("|").split("|")]
    style, _, count, _, licence = cells
    assert style == source.style
    assert count == f"{lines:,}"
    assert licence.split(" —")[0].split(" (")[0] in source.licence


def test_readme_keeps_the_credits_and_notices() -> None:
    readme = " ".join(README.read_text(encoding="utf-8").split())
    for credit in (
        "public domain",
        "CSTR VCTK Corpus, University of Edinburgh",
        "share-alike",
        "Taskmaster, Google Research",
        "CLINC150, Clinc Inc.",
        "NLU-Evaluation-Data, X. Liu et al.",
        "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.",
        '"Harvard"',
    ):
        assert credit in readme, credit


@pytest.mark.parametrize(
    ("file_name", "line_number", "words"),
    [
        ("ljspeech_sentences.txt", 1, "a chain fixed to staples at his back passed round his chest "
         "under his arms and was padlocked on the left side"),
        ("vctk_prompts.txt", 1, "a final decision will be taken by first minister donald dewar"),
        ("sgd_dialogue_turns.txt.gz", 1, "i want to make a restaurant reservation for two people "
         "at half past eleven in the morning"),
        ("taskmaster_utterances.txt.gz", 13, "i want to see what is playing at the boulevard "
         "fourteen cinema ins petaluma ca"),
        ("clinc150_queries.txt", 8, "how long will it take me to pay off my card if i pay an extra "
         "fifty dollars a month over the minimum"),
        ("hwu64_commands.txt", 20, "disable the alarm which is set at nine thirty p m"),
        ("commonvoice_sentences.txt.gz", 1, "how big can elephants be"),
        ("wordnet_examples.txt.gz", 73, "i get up at seven a m every day"),
        ("digit_strings.txt", 1, "zero"),
    ],
)  # fmt: skip
def test_a_real_line_of_each_style(file_name: str, line_number: int, words: str) -> None:
    line = next(islice(read_text_lines(TEXT_DIR / file_name), line_number - 1, None))
    spelled = spell(line)
    assert spelled is not None and spelled.words == words


def test_no_harvard_sentence_in_the_text() -> None:
    """A spot check of the evaluation-only sentences (the collection checked all of them)."""
    for source in TEXT_SOURCES:
        for line in read_text_lines(source_path(source)):
            assert "birch canoe slid" not in line.lower(), source.file_name


def test_sources_of_style() -> None:
    assert [s.file_name for s in sources_of_style("dialogue")] == [
        "sgd_dialogue_turns.txt.gz",
        "taskmaster_utterances.txt.gz",
    ]
    assert [s.style for s in sources_of_style("read", "news")] == ["read", "news"]
    with pytest.raises(S2TError, match=r"unknown text style \['poetry'\]: expected some of"):
        sources_of_style("poetry")  # type: ignore[arg-type]


def _write(path: Path, text: str) -> None:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


def test_read_styled_sentences_tags_and_dedups(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt", "Meet at 7pm.\nIt cost 1/4 pound.\n")
    _write(tmp_path / "b.txt.gz", "meet at 7 P.M.!\nCall 555-1234, please\n")
    sources = (TextSource("a.txt", "dialogue", "CC0"), TextSource("b.txt.gz", "assistant", "CC0"))
    assert read_styled_sentences(sources, tmp_path) == [
        StyledSentence(
            "dialogue", "meet at seven p m", "meet at seven p m.", "Meet at seven p.m.", "a.txt"
        ),
        StyledSentence(
            "assistant",
            "call five five five one two three four please",
            "call five five five, one two three four, please",
            "Call five five five, one two three four, please",
            "b.txt.gz",
        ),
    ]
    with pytest.raises(S2TError, match=r"c\.txt: text file not found"):
        read_styled_sentences((TextSource("c.txt", "read", "CC0"),), tmp_path)


def test_spell_stats_counts_dropped_lines_by_reason(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt.gz", "One.\n\nAt 0:30 am\nOn 1/2/2019\nOn 3/4\n007\nTwo\n")
    stats = spell_stats(tmp_path / "a.txt.gz")
    assert (stats.file_name, stats.lines, stats.kept, stats.dropped) == ("a.txt.gz", 6, 2, 4)
    assert dict(stats.reasons) == {
        "hour not 1-12 before a.m./p.m.": 1,
        "a date or fraction (slash)": 2,
        "leading zero": 1,
    }
    assert stats.examples["a date or fraction (slash)"] == "On 1/2/2019"
