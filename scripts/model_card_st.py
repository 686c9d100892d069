"""Write the speech-translation model's card (assets/models/s2t-demo-st/README.md) from the run's
own records: the corpus (summary, manifests, Apertium versions), the training export summary,
and `s2t-stream eval --tgt-lang es,ca --mt apertium --json` (end to end against the cascade on
the same audio), optionally the streaming benchmark's JSON per language.

    python scripts/model_card_st.py [--corpus data/corpus] [--run runs/st1]
        [--model assets/models/s2t-demo-st] [--eval RUN/eval.json] [--stream LANG=JSON ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model_card import data_section, size_mb

from s2t_stream.training.train import lineage

SETS = {
    "test": "(a) held-out sentences of the training styles, training voices",
    "test-style": "(b) a text style held out of training (dictionary examples), training voices",
    "test-voices": "(c) held-out voices, held-out sentences",
    "test-phone": "(e) the test utterances through an 8 kHz mu-law telephone channel",
    "test-noisy": "(e) the test utterances in noise or babble at 5-20 dB SNR",
}
LANGUAGES = {"es": "Spanish", "ca": "Catalan"}


def model_section(
    config: dict[str, Any], export: dict[str, Any], run: Path, model: Path
) -> list[str]:
    """Architecture, size, where it started, and the training run's settings."""
    options = export["options"]
    (stage,) = [s for s in lineage(run) if "steps" in s]
    return [
        "## Model",
        "",
        f"- {config['encoder_layers']} encoder + {config['decoder_layers']} decoder layers, "
        f"d_model {config['d_model']}, {config['encoder_attention_heads']} heads, FFN "
        f"{config['encoder_ffn_dim']}, conv channels {config['conv_channels']}, tied embeddings; "
        f"a SentencePiece unigram vocabulary of {config['vocab_size']} pieces of Spanish and "
        "Catalan (lower case, no punctuation), whose ids 4 and 5 are the language tags "
        "`<lang:es>` and `<lang:ca>` — the layout of the multilingual MuST-C model "
        "(`facebook/s2t-medium-mustc-multilingual-st`): the target language is chosen by forcing "
        "its tag as the first generated token (`forced_bos_token_id`; `--tgt-lang`). The "
        "tokenizer config names the languages under `s2t_stream_lang_codes` (`lang_codes` is "
        "null: the reference tokenizer knows only MuST-C's list), and lists the tags as "
        "additional special tokens, so the reference decodes without them.",
        f"- Files: {size_mb(model):.1f} MB (weights stored as float16).",
        f"- Started from the bundled ASR model `s2t-demo-en` (every weight but the token "
        f"embeddings), then {stage['steps']} steps in {stage['minutes']:.0f} min on a 2-core CPU: "
        f"AdamW, peak learning rate {stage['lr']}, {stage['warmup_steps']} warm-up steps then "
        f"cosine decay, {stage['max_frames']} input frames per batch, label smoothing "
        f"{options['label_smoothing']}, auxiliary CTC loss on the target pieces (weight "
        f"{stage['ctc_weight']}, training only), guided attention {stage['guided_attention']}, "
        f"SpecAugment {'on' if stage['spec_augment'] else 'off'}, dropout {options['dropout']}. "
        f"Each training utterance is seen once per language. Exported: the {export['used']} "
        f"weights (mean dev BLEU greedy: last {export['dev_bleu_last']:.2f}, average of the last "
        f"checkpoints {export['dev_bleu_averaged']:.2f}).",
        "",
    ]


def targets_data(corpus: Path) -> list[str]:
    """Where the target text comes from: Apertium, its versions, an example."""
    versions = {
        lang: json.loads((corpus / "translations" / f"{lang}.version.json").read_text())["version"]
        for lang in LANGUAGES
    }
    return [
        "## Targets: machine translations",
        "",
        "No parallel speech exists here. Every corpus sentence's caption (cased and punctuated) "
        "was translated by **Apertium**, the free rule-based machine translation system "
        "(Debian packages; GPL: Apertium, apertium-eng-spa, apertium-eng-cat, by the Apertium "
        "project and contributors), and the translation paired with the sentence's synthesised "
        "English audio (sequence-level knowledge distillation, Kim & Rush 2016). The references "
        "of every evaluation below are Apertium's translations too: **machine references**, "
        "so BLEU measures how well the model reproduces Apertium, not translation quality as "
        "people judge it.",
        "",
        *(f"- {LANGUAGES[lang]}: {version}" for lang, version in versions.items()),
        "",
    ]


def bleu_section(report: dict[str, Any]) -> list[str]:
    """BLEU and chrF per set, language, system and beam: end to end against the cascade."""
    rows = []
    for name, by_lang in report["translation"].items():
        for lang, by_system in by_lang.items():
            for system, by_beam in by_system.items():
                for beams, r in sorted(by_beam.items()):
                    rows.append(
                        f"| {name} | {lang} | {system} | {beams} | {r['bleu']:.1f} "
                        f"| {r['chrf']:.1f} | {r['utterances']} |"
                    )
    return [
        "## Translation quality (offline; `s2t-stream eval --tgt-lang es,ca --mt apertium`)",
        "",
        "`e2e`: this model. `cascade`: the bundled ASR model's transcript translated by Apertium "
        "(the baseline, on the same audio). BLEU and chrF by sacrebleu on lower-cased text "
        "without punctuation.",
        "",
        *(f"- **{name}**: {what}" for name, what in SETS.items() if name in report["translation"]),
        "",
        "| set | language | system | beam | BLEU | chrF | utterances |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]


def stream_section(streams: dict[str, dict[str, Any]]) -> list[str]:
    """The streaming benchmark's translation numbers per language (its AlignAtt run)."""
    if not streams:
        return []
    rows = {
        "audio (s), sentences": lambda r: f"{r['audio_s']:.0f}, {r['sentences']}",
        "BLEU streaming / offline greedy": lambda r: (
            f"{r['bleu_streaming']:.1f} / {r['bleu_offline']:.1f} (ratio {r['bleu_ratio']:.2f})"
        ),
        "AL computation-aware / unaware (s)": lambda r: (
            f"{r['al_aware_s']['mean']:.2f} / {r['al_unaware_s']['mean']:.2f}"
        ),
        "LAAL computation-aware / unaware (s)": lambda r: (
            f"{r['laal_aware_s']['mean']:.2f} / {r['laal_unaware_s']['mean']:.2f}"
        ),
        "finalisation latency, median (s)": lambda r: (
            f"{r['finalisation_latency_s']['median']:.2f}"
        ),
        "compute: streaming / offline greedy": lambda r: f"{r['compute_ratio']:.2f}",
    }
    reports = {lang: report["reports"]["alignatt"] for lang, report in streams.items()}
    return [
        "## Streaming (`python bench/bench_stream.py --tgt-lang LANG --variants alignatt "
        "--minutes 20`)",
        "",
        "SimulEval's latency for speech input on target words (`s2t_stream/training/simul.py`), "
        "per sentence, averaged; one thread of this 2-core CPU.",
        "",
        "| | " + " | ".join(reports) + " |",
        "| --- |" + " --- |" * len(reports),
        *(
            f"| {name} | " + " | ".join(cell(r) for r in reports.values()) + " |"
            for name, cell in rows.items()
        ),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--run", type=Path, default=Path("runs/st1"))
    parser.add_argument("--model", type=Path, default=Path("assets/models/s2t-demo-st"))
    parser.add_argument("--eval", type=Path, default=None, help="default: RUN/eval.json")
    parser.add_argument("--stream", action="append", default=[], metavar="LANG=JSON")
    args = parser.parse_args()
    corpus: dict[str, Any] = json.loads((args.corpus / "summary.json").read_text())
    export: dict[str, Any] = json.loads((args.run / "export.json").read_text())
    report: dict[str, Any] = json.loads((args.eval or args.run / "eval.json").read_text())
    config: dict[str, Any] = json.loads((args.model / "config.json").read_text())
    streams = {}
    for item in args.stream:
        lang, _, path = item.partition("=")
        streams[lang] = json.loads(Path(path).read_text())
    lines = [
        "# s2t-demo-st",
        "",
        "A small speech-translation model: **English speech → Spanish or Catalan text**, in the",
        "multilingual Speech2Text layout (fairseq S2T architecture, Hugging Face",
        "`speech_to_text`), trained by s2t-stream on **synthesised speech** and **machine",
        "translations** only. It is a first stage, and the cascade (the bundled ASR model, then",
        "Apertium) translates far better today (below): `--tgt-lang es|ca` alone takes the",
        "cascade where Apertium has the pair, and this model only where it has not or when named",
        "(`--model assets/models/s2t-demo-st`). A server serves it beside an ASR model to",
        "sessions that ask for a language without `mt`, and the desktop app runs it under the",
        "captions when only the second row's language is set.",
        "",
        *model_section(config, export, args.run, args.model),
        *targets_data(args.corpus),
        *bleu_section(report),
        *stream_section(streams),
        *data_section(corpus, args.corpus, export["options"].get("train_splits", "train")),
        "## Reproduce",
        "",
        "`scripts/train_st.sh` (corpus, translations, training, export), then "
        "`s2t-stream eval data/corpus/{test,test-style,test-voices,test-phone,test-noisy}.jsonl "
        "--model assets/models/s2t-demo-st --tgt-lang es,ca --mt apertium --beams 1,5 "
        "--json runs/st1/eval.json` and `python scripts/model_card_st.py`.",
        "",
    ]
    (args.model / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
