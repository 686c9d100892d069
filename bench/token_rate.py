"""Tokens per second of audio in a model's greedy transcripts, and in the same words under a
larger SentencePiece vocabulary: the rate of bench_server.py's `--decode realistic`.

    python bench/token_rate.py [--manifest data/corpus/test.jsonl] [--vocab 10000] [--json out]

It transcribes every utterance of the manifest greedily (as the streaming engine decodes) with
`--model` (the bundled demo model: 500 pieces), and counts its pieces and words per second of
audio (the manifest's durations: each file's speech with the synthesiser's short silences
around it). Then it trains a `--vocab`-piece unigram SentencePiece model (s2t-small's kind and
size) on the repository's sentence text (data/text/, the manifest's own sentences left out) and
counts what it makes of the same transcripts: the tokens per second a model with that
vocabulary would emit for these words."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.model.tokenizer import Tokenizer, train_sentencepiece
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.training.manifest import read_manifest
from s2t_stream.training.texts import read_styled_sentences

ROOT = Path(__file__).resolve().parents[1]


def pieces(tokenizer: Tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer.encode(t, add_eos=False)) for t in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/corpus/test.jsonl")
    parser.add_argument("--model", default=str(ROOT / "assets/models/s2t-demo-en"))
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    utterances = read_manifest(args.manifest)
    seconds = sum(u.duration or 0.0 for u in utterances)
    bundle = load_bundle(args.model)
    greedy = Transcriber(bundle, TranscribeOptions(DecodingOptions(num_beams=1)))
    waves = [load_audio(u.audio, greedy.sample_rate) for u in utterances]
    texts = [t.text for t in greedy.transcribe(waves)]
    held_out = {u.text for u in utterances}
    corpus = [s.words for s in read_styled_sentences() if s.words not in held_out]
    with tempfile.TemporaryDirectory() as scratch:
        larger = train_sentencepiece(corpus, scratch, args.vocab)
    words = sum(len(t.split()) for t in texts)
    report = {
        "manifest": str(args.manifest),
        "model": args.model,
        "utterances": len(utterances),
        "audio_s": round(seconds, 1),
        "words_per_s": round(words / seconds, 3),
        "model_vocab": bundle.tokenizer.vocab_size,
        "model_tokens_per_s": round(pieces(bundle.tokenizer, texts) / seconds, 3),
        "larger_vocab": args.vocab,
        "larger_vocab_training_sentences": len(corpus),
        "larger_vocab_tokens_per_s": round(pieces(larger, texts) / seconds, 3),
    }
    print(
        f"{report['utterances']} utterances, {seconds:.0f} s: {report['words_per_s']} words/s; "
        f"{report['model_tokens_per_s']} tokens/s with the model's {report['model_vocab']} "
        f"pieces, {report['larger_vocab_tokens_per_s']} with {args.vocab} (tokens exclude eos)"
    )
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
