"""Two models' `s2t-stream eval --json` reports side by side: WER per set (with the model card's
subsets) at each beam, and the second's difference from the first, as a Markdown table and JSON.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=named_report, nargs=2, metavar="NAME=EVAL.json")
    parser.add_argument("--json", type=Path, help="also write the WERs here")
    args = parser.parse_args()
    (first_name, first), (second_name, second) = args.reports
    rows = comparison(first, second)
    print(table((first_name, second_name), rows))
    if args.json:
        data = {
            "models": {first_name: first.get("model"), second_name: second.get("model")},
            "wer": {
                name: {str(b): {first_name: w[0], second_name: w[1]} for b, w in by_beam.items()}
                for name, by_beam in rows.items()
            },
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
