"""Which model a command uses when none is named: `$S2T_STREAM_MODEL`, else for a target language
the bundled speech-translation model has, that model, else the bundled ASR model."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2t_stream import defaults


@pytest.fixture
def st_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the bundled ST model: only the presence of its config is checked."""
    folder = tmp_path / "s2t-demo-st"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    monkeypatch.setattr(defaults, "BUNDLED_ST_MODEL", folder)
    monkeypatch.delenv(defaults.MODEL_ENV, raising=False)
    return folder


def test_a_language_of_the_bundled_translation_model_picks_it(st_model: Path) -> None:
    assert defaults.bundled_translation_languages() == ("es", "ca")
    assert defaults.default_model("ca") == str(st_model)
    assert defaults.default_model("es,ca") == str(st_model)  # eval --tgt-lang es,ca
    assert defaults.default_model("es,fr") == str(defaults.BUNDLED_MODEL)
    assert defaults.default_model() == str(defaults.BUNDLED_MODEL)
    assert defaults.default_model("fr") == str(defaults.BUNDLED_MODEL)  # not one of its languages


def test_the_environment_wins(st_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(defaults.MODEL_ENV, "/models/mine")
    assert defaults.default_model("es") == "/models/mine"


def test_without_a_bundled_translation_model_there_are_no_languages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "BUNDLED_ST_MODEL", tmp_path / "absent")
    monkeypatch.delenv(defaults.MODEL_ENV, raising=False)
    assert defaults.bundled_translation_languages() == ()
    assert defaults.default_model("es") == str(defaults.BUNDLED_MODEL)
