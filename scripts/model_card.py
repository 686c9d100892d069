"""Write the demo model's card (assets/models/s2t-demo-en/README.md) from the run's own records:
the corpus (summary and manifests), the training export summary, and the WER of every evaluation
set (`s2t-stream eval --json` over the corpus's test splits and the real recordings).

    python scripts/model_card.py [--corpus data/corpus] [--run RUN ...] [--model DIR]
                                 [--eval LAST_RUN/eval.json]
    python scripts/model_card.py --refresh --eval EVAL.json [--model DIR]

`--run` names the stages' run folders after the first fifteen, oldest first (a stage that starts
from an exported model ends its own `lineage`); the last one exported the model. `--refresh`
is for a model whose weights did not change but whose decoding did (a CTC head or LM added) and
whose run folders are gone: it keeps the card's model and data sections, and writes its
targets, decoding and WER sections (and `eval.json`) anew from `--eval`.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s2t_stream.training.manifest import read_manifest
from s2t_stream.training.realsets import FSDD_HELD_OUT_SPEAKERS, REAL_TRAIN_SPLIT
from s2t_stream.training.texts import TEXT_SOURCES
from s2t_stream.training.train import lineage
from s2t_stream.training.voices import HELD_OUT_VOICES, RESERVED_VOICES, VOICE_LICENCES
from s2t_stream.training.wer import grouped_wer, word_errors

FIRST_STAGES = (
    # steps, minutes, peak lr, warm-up, frames per batch, CTC weight, guided attention,
    # SpecAugment, precision: the nine stages on LJ Speech + VCTK text, espeak-ng and flite
    # voices only (the corpus of FORMAT_VERSION 1), from the card they were exported with
    (3626, 45.0, 0.0015, 300, 8000, 0.3, 0, "on", "fp32"),
    (1500, 48.7, 0.001, 100, 12000, 0.5, 0, "on", "fp32"),
    (6316, 90.0, 0.0006, 100, 10000, 0.3, 1.0, "off", "auto"),
    (6538, 95.0, 0.0006, 100, 10000, 0.3, 1.0, "off", "auto"),
    (7170, 105.0, 0.0006, 100, 10000, 0.3, 1.0, "off", "auto"),
    (8738, 110.0, 0.0006, 100, 10000, 0.3, 1.0, "off", "auto"),
    (9140, 120.0, 0.00035, 100, 10000, 0.3, 1.0, "off", "auto"),
    (10025, 115.0, 0.0004, 100, 10000, 0.3, 1.0, "on", "auto"),
    (9323, 110.0, 0.0003, 100, 10000, 0.3, 1.0, "on", "auto"),
    # stages 10-12 on the diverse corpus (5, 9, 14 h), as their card recorded them
    (3580, 60.0, 0.0005, 200, 10000, 0.3, 1.0, "on", "auto"),
    (5134, 100.0, 0.0003, 200, 10000, 0.3, 1.0, "on", "auto"),
    (3708, 95.0, 0.0003, 200, 10000, 0.3, 1.0, "on", "auto"),
    # stages 13-15 on the 14 h corpus, the last one bundled until the real digits
    (4708, 60.0, 0.0003, 200, 10000, 0.3, 1.0, "on", "auto"),
    (2653, 35.0, 0.0003, 200, 10000, 0.3, 1.0, "on", "auto"),
    (6221, 75.0, 0.00015, 200, 10000, 0.3, 1.0, "on", "auto"),
)
"""Stages 1-15 (their run folders are gone; `lineage` stops at the model they exported)."""

STAGE_NOTES = {
    13: "trained on a rebuild of the corpus below made where the Kokoro voices were not "
    "installed: the same sources, seed and settings, the Kokoro share spoken by the other engines",
    16: "learnt from `train`, `train-words` and `train-real` (below), on a rebuild of the corpus "
    "with the Kokoro voices installed again (the same command: about half of the utterances "
    "were made again, their voices drawn anew; stages 10-15 trained on the earlier build), "
    "when `train` held 14 h",
    17: "learnt from the same splits of the same build as stage 16",
    18: "learnt from the same splits after `corpus --train-hours 20 --resume` grew `train` to "
    "the 20 h below: 5,814 utterances of new sentences added, those made before and every "
    "evaluation split unchanged",
}
"""Stages whose data differed from what their records say, by stage number."""

SEEN_STYLES = ("read", "news")
"""Styles whose text (LJ Speech, VCTK) stages 1-9 trained on almost entirely: in the test sets
their sentences are held out of stage 10 only, so they are reported apart."""

SETS = {
    "test": "(a) held-out sentences of the training styles, training voices",
    "test (new styles)": "(a) the same, styles new to the model only (not read, news)",
    "test-style": "(b) a text style held out of training (dictionary examples), training voices",
    "test-voices": "(c) held-out voices, held-out sentences (espeak-ng f4 was heard in stages 1-9)",
    "test-voices (Kokoro)": "(c) the same, the four held-out Kokoro voices only",
    "real-lj": "(d) real voice: LJ Speech clips (one reader; their text was read in stages 1-9)",
    "real-fsdd": "(d) real voices: Free Spoken Digit Dataset test split (6 speakers, digits)",
    "real-fsdd (held-out speakers)": "(d) the same, the two speakers left out of train-real "
    "(`corpus --fsdd-dir`) only",
    "test-phone": "(e) the test utterances through an 8 kHz mu-law telephone channel",
    "test-noisy": "(e) the test utterances in noise or babble at 5-20 dB SNR",
    "test-words": "(f) frequent words spoken alone by held-out voices (none of them is a word "
    "of train-words)",
}
TARGETS = (  # set, beams, WER at most, or None and a ratio to another set
    ("test-style", 5, 0.10, None),
    ("test-voices (Kokoro)", 5, 0.15, None),
    ("real-lj", 5, 0.20, None),
    ("real-fsdd", 5, 0.10, None),
    ("test-phone", 5, None, ("test", 1.5)),
)


CASES = {
    "words": "lower case, no punctuation",
    "captions": "cased and punctuated: it writes captions as people read them; WER is scored on "
    "the normalised words",
}
"""How the model writes, by its last stage's `--targets`."""


def size_mb(folder: Path) -> float:
    """Every file's size, in its subfolders (ctc/, lm/) too."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


SUBSETS: dict[str, tuple[str, Callable[[dict[str, Any]], bool]]] = {
    "test (new styles)": ("test", lambda h: h["style"] not in SEEN_STYLES),
    "test-voices (Kokoro)": ("test-voices", lambda h: h["voice"].startswith("kokoro:")),
    "real-fsdd (held-out speakers)": (
        "real-fsdd",
        lambda h: h["voice"].removeprefix("real:fsdd:") in FSDD_HELD_OUT_SPEAKERS,
    ),
}
"""Parts of a set scored alone, from its utterances' hypotheses: name -> (set, which)."""


def results_by_set(report: dict[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    """`s2t-stream eval --json` output -> {set name: {beams: result}}, with the SUBSETS."""
    sets = {s["name"]: {r["num_beams"]: r for r in s["results"]} for s in report["sets"]}
    for name, (whole, keep) in SUBSETS.items():
        results = sets.get(whole, {})
        if not all("hypotheses" in r for r in results.values()):  # a card's summary has none
            continue
        subset = {b: _subset(r, keep) for b, r in results.items()}
        if any(r["utterances"] for r in subset.values()):  # a corpus without Kokoro has none
            sets[name] = subset
    return dict(sorted(sets.items(), key=lambda item: _set_order(item[0])))


def _set_order(name: str) -> tuple[int, str]:
    """The card's sets first, in its order; any other set (a custom manifest) after, by name."""
    order = list(SETS)
    return (order.index(name), "") if name in order else (len(order), name)


def _subset(result: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    kept = [h for h in result["hypotheses"] if keep(h)]
    errors = word_errors([h["reference"] for h in kept], [h["hypothesis"] for h in kept])
    return {"wer": errors.wer, "utterances": len(kept), "words": errors.words}


def base_voice_wer(hypotheses: list[dict[str, str]]) -> dict[str, float]:
    """WER per engine:voice (espeak-ng variants pooled), from every utterance's reference and
    hypothesis (`s2t-stream eval --json`)."""
    return grouped_wer(
        [h["reference"] for h in hypotheses],
        [h["hypothesis"] for h in hypotheses],
        [h["voice"].split("+")[0] if h["voice"].startswith("espeak") else h["voice"]
         for h in hypotheses],
    )  # fmt: skip


def targets_section(sets: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    lines = [
        "## Targets",
        "",
        "| set | target (beam 5) | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    for name, beams, bound, ratio in TARGETS:
        if name not in sets:
            continue
        wer = sets[name][beams]["wer"]
        if ratio is not None:
            other, factor = ratio
            bound = factor * sets[other][beams]["wer"]
            target = f"≤ {factor}× {other} ({100 * bound:.1f} %)"
        else:
            assert bound is not None  # each of TARGETS has a bound or a ratio
            target = f"≤ {100 * bound:.0f} %"
        met = "yes" if wer <= bound else "**no**"
        lines.append(f"| {name} | {target} | {100 * wer:.1f} % | {met} |")
    return [*lines, ""]


def model_section(
    config: dict[str, Any], export: dict[str, Any], runs: list[Path], model: Path
) -> list[str]:
    """Architecture, size, and every training stage with its settings."""
    options = export["options"]
    later = [stage for run in runs for stage in lineage(run) if "steps" in stage]
    rows = [
        f"| {i} | {s} | {m} | {lr} | {w} | {f} | {c} | {g} | {a} | {p} |"
        for i, (s, m, lr, w, f, c, g, a, p) in enumerate(FIRST_STAGES, 1)
    ]
    rows += [
        f"| {i} | {st['steps']} | {st['minutes']} | {st['lr']} | {st['warmup_steps']} "
        f"| {st['max_frames']} | {st['ctc_weight']} | {st['guided_attention'] or 0} "
        f"| {'on' if st['spec_augment'] else 'off'} | {st['precision']} |"
        for i, st in enumerate(later, len(FIRST_STAGES) + 1)
    ]
    steps = sum(s[0] for s in FIRST_STAGES) + sum(st["steps"] for st in later)
    minutes = sum(s[1] for s in FIRST_STAGES) + sum(st["minutes"] for st in later)
    notes = [f"Stage {i} {note}.\n" for i, note in STAGE_NOTES.items() if i <= len(rows)]
    return [
        "## Model",
        "",
        f"- {config['encoder_layers']} encoder + {config['decoder_layers']} decoder layers, "
        f"d_model {config['d_model']}, {config['encoder_attention_heads']} heads, FFN "
        f"{config['encoder_ffn_dim']}, conv channels {config['conv_channels']}, SentencePiece "
        f"unigram vocabulary of {config['vocab_size']} ({CASES[options.get('targets', 'words')]}), "
        "tied embeddings.",
        f"- Files: {size_mb(model):.1f} MB (weights stored as float16).",
        f"- Trained in {len(rows)} stages, {steps} steps, {minutes:.0f} min on a 2-core CPU "
        "(each stage continues from the one before with a fresh AdamW optimizer, linear "
        f"warm-up then cosine decay), label smoothing {options['label_smoothing']}, auxiliary "
        f"CTC loss on the encoder (training only), dropout {options['dropout']}. Stages 1–9 "
        "trained on LJ Speech and VCTK text spoken by espeak-ng and flite (70 h by stage 9); "
        "the later ones on the corpus below. Exported: the "
        f"{export['used']} weights (dev WER greedy: last {100 * export['dev_wer_last']:.2f} %, "
        f"average of the last checkpoints {100 * export['dev_wer_averaged']:.2f} %).",
        "",
        "| stage | steps | minutes | peak lr | warm-up | frames per batch | CTC weight "
        "| guided attention | SpecAugment | precision |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "(`auto` precision: bf16 autocast where the hardware has it, as this CPU has.)",
        "",
        *notes,
    ]


def decoding_section(
    model: Path, sets: dict[str, dict[int, dict[str, Any]]], *, added_later: bool = False
) -> list[str]:
    """How search uses the model's CTC head (`ctc/`) and LM (`lm/`), if it has them, and at
    which weights the WER table's greedy column was measured (`sets`, as `wer_section`'s);
    `added_later`: their default weights were set after the last stage (`--refresh`)."""
    lines = ["## Decoding", ""]
    parts = {"ctc": "CTC head (joint CTC/attention decoding)", "lm": "token LM (shallow fusion)"}
    found = {
        name: json.loads((model / name / "config.json").read_text())
        for name in parts
        if (model / name / "config.json").is_file()
    }
    if not found:
        return [*lines, "Beam and greedy search with the decoder alone.", ""]
    for name, config in found.items():
        lines.append(
            f"- `{name}/`: a {parts[name]}, default weight {config['weight']:g} in beam search "
            f"(greedy search and the streaming engine: off unless given `--{name}-weight`)"
        )
    greedy = [r for by_beam in sets.values() for beams, r in by_beam.items() if beams == 1]
    weights = {f"--{n}-weight": greedy[0].get(f"{n}_weight", 0.0) for n in found} if greedy else {}
    asked = ", ".join(f"`{flag} {value:g}`" for flag, value in weights.items() if value)
    later = "Their default weights were chosen on dev after training. " if added_later else ""
    return [
        *lines,
        "",
        f"{later}The `--beam 1` column below was measured "
        f"{'with ' + asked if asked else 'with the decoder alone'}. `--ctc-weight 0 "
        "--lm-weight 0` gives the reference's search.",
        "",
    ]


def _extra_splits(corpus: dict[str, Any], folder: Path, splits: str) -> list[str]:
    """A line for each training split beyond `train` that the last stage learnt from (`splits`:
    its --train-splits): train-phone, train-words, train-real."""
    chosen = splits.split(",")
    options, hours = corpus["options"], corpus["hours"]
    lines = []
    if "train-phone" in chosen and corpus["utterances"].get("train-phone", 0):
        lines.append(
            f"train-phone: {corpus['utterances']['train-phone']} of those utterances again "
            f"({hours['train-phone']:.1f} h, {100 * options.get('train_phone_share', 0):.0f} % "
            "of those not through a telephone line already), at 8 kHz: most as an 8 kHz "
            "recording keeps them (the whole 0-4 kHz band; 16-bit, mu-law or A-law), the rest "
            "through the 300-3400 Hz line."
        )
    if "train-words" in chosen and corpus["utterances"].get("train-words", 0):
        lines.append(
            f"train-words: {corpus['utterances']['train-words']} utterances "
            f"({hours['train-words']:.1f} h) of one word each: the "
            f"{options['train_words'] + options['test_words']} most frequent words of the "
            f"training sentences but the {options['test_words']} of test-words, and the ten "
            f"digits, each said alone by {options['word_voices']} training voices (augmented as "
            "above)."
        )
    real = folder / f"{REAL_TRAIN_SPLIT}.jsonl"
    if REAL_TRAIN_SPLIT in chosen and real.is_file():
        takes = read_manifest(real)
        written = (folder / "audio" / REAL_TRAIN_SPLIT).resolve()  # the augmented copies
        copies = sum(1 for u in takes if u.audio.resolve().is_relative_to(written))
        given = len(takes) - copies
        how = (
            (f" as given, and {copies} augmented copies as `train` is augmented" if given else
             ", augmented as `train` is")
            if copies else ""
        )  # fmt: skip
        speakers = sorted({u.voice.removeprefix("real:fsdd:") for u in takes})
        lines.append(
            f"{REAL_TRAIN_SPLIT}: {given or copies} recordings of real people{how}, the Free "
            f"Spoken Digit Dataset's training takes (5-49) of the speakers "
            f"{', '.join(speakers)} (8 kHz, single digits; CC BY-SA 4.0: share-alike, credit "
            '"Free Spoken Digit Dataset, Zohar Jackson and contributors"). Its speakers '
            f"{', '.join(FSDD_HELD_OUT_SPEAKERS)} are left out, so that `real-fsdd` keeps "
            "speakers no stage heard."
        )
    return [line for text in lines for line in (text, "")]


def data_section(corpus: dict[str, Any], folder: Path, splits: str) -> list[str]:
    """Text sources and voices with their licences, augmentation, the held-out sets."""
    train = read_manifest(folder / "train.jsonl")
    styles = Counter(u.style for u in train)
    engines = Counter(u.voice.split(":")[0] for u in train)
    augmented = sum(1 for u in train if u.augment)
    options = corpus["options"]
    lines = [
        "## Data",
        "",
        f"Training: {corpus['hours']['train']:.1f} h, {len(train)} utterances synthesised from "
        f"{corpus['sentences']['train']} sentences (`s2t-stream corpus`, seed {options['seed']}); "
        f"{100 * augmented / max(len(train), 1):.0f} % augmented (speed, tempo, pitch, synthetic "
        "room reverb, microphone colouration, silence padding, white/pink/brown noise, hum, "
        "music-like tones, babble, 8 kHz telephone band with mu-law/A-law coding, level changes "
        "and clipping).",
        "",
        *_extra_splits(corpus, folder, splits),
        "| text | style | training utterances of the style | licence and credit |",
        "| --- | --- | --- | --- |",
        *(
            f"| `{t.file_name}` | {t.style} | {styles.get(t.style, 0)} | {t.licence} |"
            for t in TEXT_SOURCES
        ),
        "",
        "(The SGD text is CC BY-SA 4.0: share-alike. `digit_strings.txt` is generated by "
        "`scripts/make_digit_text.py`.)",
        "",
        "| engine | training utterances | licence and credit |",
        "| --- | --- | --- |",
        *(f"| {e} | {engines.get(e, 0)} | {VOICE_LICENCES[e]} |" for e in VOICE_LICENCES),
        "",
        f"Held out of training: the style(s) {', '.join(options['held_out_styles'])}; the voices "
        f"{', '.join(HELD_OUT_VOICES)}. Never used at all (reserved for evaluation by others): "
        f"{', '.join(RESERVED_VOICES)}; the IEEE Harvard sentences.",
        "",
    ]
    return lines


def wer_section(sets: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    """WER of every evaluation set per search setting; per style and per voice at beam 5."""
    beams = sorted({b for results in sets.values() for b in results})
    lines = [
        "## Word error rate (offline; `s2t-stream eval`)",
        "",
        "| set | "
        + " | ".join("greedy" if b == 1 else f"beam {b}" for b in beams)
        + " | utterances | words |",
        "| --- | " + " | ".join("---" for _ in beams) + " | --- | --- |",
    ]
    for name, results in sets.items():
        first = results[beams[0]]
        cells = " | ".join(f"{100 * results[b]['wer']:.2f} %" for b in beams)
        lines.append(f"| {name}: {SETS.get(name, '')} | {cells} | {first['utterances']} "
                     f"| {first['words']} |")  # fmt: skip
    for name in ("test", "test-voices"):
        if name not in sets:
            continue
        best = sets[name][max(beams)]
        lines += [
            "",
            f"Per style, `{name}` (beam {max(beams)}):",
            "",
            "| style | WER |",
            "| --- | --- |",
        ]
        lines += [f"| {s} | {100 * w:.2f} % |" for s, w in best["per_style"].items()]
        lines += ["", f"Per voice, `{name}` (beam {max(beams)}; espeak-ng variants pooled):", ""]
        lines += ["| voice | WER |", "| --- | --- |"]
        lines += [
            f"| {v} | {100 * w:.2f} % |" for v, w in base_voice_wer(best["hypotheses"]).items()
        ]
    return [
        *lines,
        "",
        "Every voice id with its own WER, and every utterance's reference and hypothesis, are in",
        "`eval.json` beside this card.",
        "",
    ]


REPRODUCE = [
    "## Reproduce",
    "",
    "```bash",
    "bash scripts/setup.sh --dev && bash scripts/install_voices.sh && bash scripts/train_demo.sh",
    "```",
    "",
    "Evaluation alone (the corpus's evaluation splits and the real recordings):",
    "",
    "```bash",
    ".venv/bin/s2t-stream eval data/corpus/{test,test-style,test-voices,test-phone,test-noisy,"
    "test-words,real-lj,real-fsdd}.jsonl --model assets/models/s2t-demo-en --beams 1,5",
    "```",
    "",
    "Training stops by wall time, so another machine may train a different number of steps;",
    "pass a stage's steps as `--max-steps N --max-minutes 0` to repeat it step for step.",
    "",
    "Licence: the weights are released under the project's MIT licence; the training text and",
    "voices carry the credits above.",
]


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """`s2t-stream eval --json` output without each utterance's hypothesis (the model folder
    keeps the numbers; the run folder keeps the whole report)."""
    sets = [
        {**s, "results": [{k: v for k, v in r.items() if k != "hypotheses"} for r in s["results"]]}
        for s in report["sets"]
    ]
    return {**report, "sets": sets}


def refresh(card: str, model: Path, sets: dict[str, dict[int, dict[str, Any]]]) -> str:
    """`card` with its targets, decoding and WER sections made anew and its file size updated;
    every other section (model, data, reproduce) kept as it was."""
    sections = re.split(r"(?m)^(?=## )", card)
    head, body = sections[0], {s.split("\n", 1)[0]: s for s in sections[1:]}
    fresh = {
        "## Targets": targets_section(sets),
        "## Decoding": decoding_section(model, sets, added_later=True),
        "## Word error rate (offline; `s2t-stream eval`)": wer_section(sets),
    }
    order = ["## Targets", "## Model", "## Decoding", "## Data"]
    order += [h for h in body if h not in order and not h.startswith("## Word error rate")]
    order.insert(order.index("## Data") + 1, "## Word error rate (offline; `s2t-stream eval`)")
    out = [head]
    for heading in order:
        if heading in fresh:
            out.append("\n".join(fresh[heading]) + "\n")
        elif heading in body:
            out.append(body[heading])
    text = "".join(out)
    return re.sub(r"- Files: [0-9.]+ MB", f"- Files: {size_mb(model):.1f} MB", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument(
        "--run", type=Path, nargs="+", action="extend", help="repeatable (default: runs/demo)"
    )
    parser.add_argument("--model", type=Path, default=Path("assets/models/s2t-demo-en"))
    parser.add_argument("--eval", type=Path, default=None, help="default: LAST_RUN/eval.json")
    parser.add_argument(
        "--refresh", action="store_true", help="keep the model and data sections (see above)"
    )
    args = parser.parse_args()
    if args.refresh:
        if args.eval is None:
            parser.error("--refresh needs --eval EVAL.json")
        report = json.loads(args.eval.read_text())
        card = args.model / "README.md"
        card.write_text(refresh(card.read_text(), args.model, results_by_set(report)))
        (args.model / "eval.json").write_text(json.dumps(summary(report), indent=2) + "\n")
        return
    args.run = args.run or [Path("runs/demo")]
    last = args.run[-1]
    corpus: dict[str, Any] = json.loads((args.corpus / "summary.json").read_text())
    export: dict[str, Any] = json.loads((last / "export.json").read_text())
    report = json.loads((args.eval or last / "eval.json").read_text())
    config: dict[str, Any] = json.loads((args.model / "config.json").read_text())
    sets = results_by_set(report)
    splits = export["options"].get("train_splits", "train")
    speech = (
        "**synthesised speech** (seven speech synthesisers, seven text styles) and a quarter of "
        "an hour of real people saying digits (`train-real`, below)"
        if REAL_TRAIN_SPLIT in splits.split(",")
        else "**synthesised speech only** (seven speech synthesisers, seven text styles)"
    )
    lines = [
        "# s2t-demo-en",
        "",
        "A small English Speech2Text model (fairseq S2T architecture, Hugging Face "
        f"`speech_to_text` layout) trained by s2t-stream on {speech}, and measured on "
        "sentences, voices and real recordings outside its training data (where its earlier "
        "stages saw a set's text or voice, the set says so). It is the default model of every "
        "`s2t-stream` command,",
        "so that a fresh install transcribes something; for real use pass a published checkpoint",
        "(`--model facebook/s2t-small-librispeech-asr`).",
        "",
        *targets_section(sets),
        *model_section(config, export, args.run, args.model),
        *decoding_section(args.model, sets),
        *data_section(corpus, args.corpus, splits),
        *wer_section(sets),
        *REPRODUCE,
    ]
    (args.model / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.model / "eval.json").write_text(json.dumps(summary(report), indent=2) + "\n")
    (args.model / "test_wer.json").unlink(missing_ok=True)  # before eval.json: the test set only


if __name__ == "__main__":
    main()
