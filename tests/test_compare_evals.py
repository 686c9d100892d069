"""scripts/compare_evals.py: two eval reports side by side, the sets and beams both have."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT


def report(model: str, wers: dict[str, dict[int, float]]) -> dict[str, object]:
    """An `s2t-stream eval --json` report with only what the comparison reads."""
    sets = [
        {
            "name": name,
            "results": [{"num_beams": b, "wer": w, "hypotheses": []} for b, w in by.items()],
        }
        for name, by in wers.items()
    ]
    return {"model": model, "sets": sets}


def compare(
    tmp_path: Path, first: tuple[str, dict], second: tuple[str, dict], *extra: str
) -> list[str]:
    """Run the script on the two named reports (written under `tmp_path`); its table's lines."""
    arguments = []
    for name, data in (first, second):
        path = tmp_path / f"{name}.report.json"
        path.write_text(json.dumps(data))
        arguments.append(f"{name}={path}")
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "compare_evals.py"), *arguments, *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


def test_two_reports_side_by_side(tmp_path: Path) -> None:
    first = report("a", {"test": {1: 0.20, 5: 0.15}, "real-lj": {5: 0.50}})
    second = report("b", {"test": {1: 0.25, 5: 0.12}, "test-style": {5: 0.3}})
    out = tmp_path / "cmp.json"
    lines = compare(tmp_path, ("old", first), ("new", second), "--json", str(out))
    assert (
        lines[0]
        == "| set | old greedy | new greedy | old beam 5 | new beam 5 | new − old, beam 5 |"
    )
    assert lines[2:] == ["| test | 20.0 % | 25.0 % | 15.0 % | 12.0 % | −3.0 |"]  # only shared sets
    data = json.loads(out.read_text())
    assert data["models"] == {"old": "a", "new": "b"}
    assert data["wer"] == {
        "test": {"1": {"old": 0.20, "new": 0.25}, "5": {"old": 0.15, "new": 0.12}}
    }


def test_summaries_custom_sets_and_missing_beams(tmp_path: Path) -> None:
    """A card's summary (no hypotheses), a set named after a custom manifest, a beam only one
    report has: compared where both have it, "–" elsewhere."""
    first = report("a", {"test": {1: 0.2, 5: 0.1}, "mine": {1: 0.4}, "dev": {5: 0.3}})
    second = report("b", {"test": {5: 0.2}, "mine": {1: 0.5}, "dev": {1: 0.3}})
    for data in (first, second):
        for found in data["sets"]:  # type: ignore[attr-defined]
            for result in found["results"]:
                del result["hypotheses"]
    assert compare(tmp_path, ("a", first), ("b", second))[2:] == [
        "| test | – | – | 10.0 % | 20.0 % | +10.0 |",
        "| mine | 40.0 % | 50.0 % | – | – | – |",  # no set in both at beam 5; "dev" in neither
    ]


def test_real_digits_of_the_held_out_speakers_are_scored_alone(tmp_path: Path) -> None:
    """real-fsdd's two speakers that `corpus --fsdd-dir` leaves out of train-real get a row
    of their own, scored from the hypotheses."""

    def digits(model: str, answers: dict[str, str]) -> dict[str, object]:
        data = report(model, {"real-fsdd": {5: 0.0}})
        [found] = data["sets"]  # type: ignore[misc]
        found["results"][0]["hypotheses"] = [
            {"voice": f"real:fsdd:{speaker}", "style": "digits", "reference": "two",
             "hypothesis": answer}
            for speaker, answer in answers.items()
        ]  # fmt: skip
        return data

    # theo and yweweler are held out: one of their two answers is wrong in a, both right in b
    a = digits("a", {"george": "two", "theo": "too", "yweweler": "two", "lucas": "to"})
    b = digits("b", {"george": "to", "theo": "two", "yweweler": "two", "lucas": "to"})
    assert compare(tmp_path, ("a", a), ("b", b))[2:] == [
        "| real-fsdd | 0.0 % | 0.0 % | +0.0 |",  # the report's own WER, as written
        "| real-fsdd (held-out speakers) | 50.0 % | 0.0 % | −50.0 |",
    ]


def translation_report(model: str, bleu: dict[tuple[str, str, str, int], float]) -> dict:
    """An `s2t-stream eval --tgt-lang --json` report's translation section (chrF = 2 × BLEU)."""
    section: dict[str, dict] = {}
    for (name, lang, system, beams), score in bleu.items():
        by_beam = section.setdefault(name, {}).setdefault(lang, {}).setdefault(system, {})
        by_beam[str(beams)] = {"num_beams": beams, "bleu": score, "chrf": 2 * score}
    return {"model": model, "translation": section}


def test_translation_reports_side_by_side(tmp_path: Path) -> None:
    first = translation_report(
        "a", {("test", "es", "e2e", 5): 17.0, ("test", "es", "cascade", 5): 60.0,
              ("test", "ca", "e2e", 5): 15.0, ("test-style", "es", "e2e", 1): 1.0}
    )  # fmt: skip
    second = translation_report(
        "b", {("test", "es", "e2e", 5): 19.5, ("test", "ca", "e2e", 5): 14.0,
              ("test-style", "es", "e2e", 5): 2.0}
    )  # fmt: skip
    out = tmp_path / "cmp.json"
    lines = compare(tmp_path, ("base", first), ("text", second), "--json", str(out))
    assert lines[0] == (
        "| set | language | system | beams | base BLEU | text BLEU | text − base, BLEU "
        "| base chrF | text chrF |"
    )
    assert lines[2:] == [  # only what both have: no cascade, no test-style at one beam
        "| test | es | e2e | 5 | 17.0 | 19.5 | +2.5 | 34.0 | 39.0 |",
        "| test | ca | e2e | 5 | 15.0 | 14.0 | −1.0 | 30.0 | 28.0 |",
    ]
    data = json.loads(out.read_text())
    assert data["models"] == {"base": "a", "text": "b"}
    assert data["translation"][1] == {
        "set": "test", "language": "ca", "system": "e2e", "beams": 5,
        "base": {"bleu": 15.0, "chrf": 30.0}, "text": {"bleu": 14.0, "chrf": 28.0},
    }  # fmt: skip
