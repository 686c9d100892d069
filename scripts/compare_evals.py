"""Two models' `s2t-stream eval --json` reports side by side: WER per set (with the model card's
subsets) at each beam, and the second's difference from the first, as a Markdown table and JSON;
for translation reports (`eval --tgt-lang`), BLEU and chrF per set, language, system (e2e,
cascade) and beam instead.

    python scripts/compare_evals.py NAME=A/eval.json NAME=B/eval.json [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model_card import results_by_set  # this folder is the script's sys.path[0]


def named_report(text: str) -> tuple[str, dict[str, Any]]:
    name, sep, path = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=EVAL.json, got {text!r}")
    try:
        return name, json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise argparse.ArgumentTypeError(
            f"{path}: not an `s2t-stream eval --json` report: {e}"
        ) from e


def comparison(
    first: dict[str, Any], second: dict[str, Any]
) -> dict[str, dict[int, tuple[float, float]]]:
    """{set: {beams: (first's WER, second's WER)}} for the sets and beams both reports have."""
    a, b = results_by_set(first), results_by_set(second)
    shared = {
        name: {beams: (a[name][beams]["wer"], b[name][beams]["wer"]) for beams in a[name]
               if beams in b[name]}
        for name in a
        if name in b
    }  # fmt: skip
    return {name: by_beam for name, by_beam in shared.items() if by_beam}


def table(names: tuple[str, str], rows: dict[str, dict[int, tuple[float, float]]]) -> str:
    """A Markdown table: each set's WER per beam for both, and the difference at the largest
    beam ("–" where a set lacks a beam)."""
    if not rows:
        return "(no set and beam in both reports)"
    beams = sorted({b for by_beam in rows.values() for b in by_beam})
    label = {b: "greedy" if b == 1 else f"beam {b}" for b in beams}
    head = [f"{n} {label[b]}" for b in beams for n in names]
    head.append(f"{names[1]} − {names[0]}, {label[beams[-1]]}")
    lines = ["| set | " + " | ".join(head) + " |", "| --- " * (len(head) + 1) + "|"]
    for name, by_beam in rows.items():
        cells = [
            f"{100 * by_beam[b][i]:.1f} %" if b in by_beam else "–" for b in beams for i in (0, 1)
        ]
        if beams[-1] in by_beam:
            first, second = by_beam[beams[-1]]
            cells.append(f"{100 * (second - first):+.1f}".replace("-", "−"))
        else:
            cells.append("–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


Scores = dict[tuple[str, str, str, int], tuple[dict[str, float], dict[str, float]]]


def translation_comparison(first: dict[str, Any], second: dict[str, Any]) -> Scores:
    """{(set, language, system, beams): (first's, second's {"bleu", "chrf"})} for what both
    translation reports have."""
    found: Scores = {}
    a, b = first["translation"], second["translation"]
    for name, by_lang in a.items():
        for lang, by_system in by_lang.items():
            for system, by_beam in by_system.items():
                for beams, result in by_beam.items():
                    other = b.get(name, {}).get(lang, {}).get(system, {}).get(beams)
                    if other is not None:
                        found[name, lang, system, int(beams)] = (_scores(result), _scores(other))
    return found


def _scores(result: dict[str, Any]) -> dict[str, float]:
    return {"bleu": result["bleu"], "chrf": result["chrf"]}


def translation_table(names: tuple[str, str], rows: Scores) -> str:
    """A Markdown table: BLEU and chrF of both, and the second's BLEU difference."""
    if not rows:
        return "(no set, language, system and beam in both reports)"
    head = [f"{n} BLEU" for n in names] + [f"{names[1]} − {names[0]}, BLEU"]
    head += [f"{n} chrF" for n in names]
    lines = ["| set | language | system | beams | " + " | ".join(head) + " |"]
    lines.append("| --- " * (len(head) + 4) + "|")
    for (name, lang, system, beams), (x, y) in rows.items():
        diff = f"{y['bleu'] - x['bleu']:+.1f}".replace("-", "−")
        cells = [
            f"{x['bleu']:.1f}",
            f"{y['bleu']:.1f}",
            diff,
            f"{x['chrf']:.1f}",
            f"{y['chrf']:.1f}",
        ]
        lines.append(f"| {name} | {lang} | {system} | {beams} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=named_report, nargs=2, metavar="NAME=EVAL.json")
    parser.add_argument("--json", type=Path, help="also write the WERs here")
    args = parser.parse_args()
    (first_name, first), (second_name, second) = args.reports
    data: dict[str, Any] = {
        "models": {first_name: first.get("model"), second_name: second.get("model")}
    }
    if "translation" in first and "translation" in second:
        scores = translation_comparison(first, second)
        print(translation_table((first_name, second_name), scores))
        data["translation"] = [
            {"set": name, "language": lang, "system": system, "beams": beams,
             first_name: x, second_name: y}
            for (name, lang, system, beams), (x, y) in scores.items()
        ]  # fmt: skip
    else:
        rows = comparison(first, second)
        print(table((first_name, second_name), rows))
        data["wer"] = {
            name: {str(b): {first_name: w[0], second_name: w[1]} for b, w in by_beam.items()}
            for name, by_beam in rows.items()
        }
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
