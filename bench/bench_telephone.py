"""Telephone-rate audio (issue 20): WER of 8 kHz copies of sentences against their 16 kHz
originals, for several ways of bringing 8 kHz audio up to the model's 16 kHz.

    python bench/bench_telephone.py --json bench/results/telephone.json
    python bench/bench_telephone.py --manifest data/corpus/test.jsonl --ways round16

The sentences are the first N of 4–12 words in data/text/vctk_prompts.txt, spoken by espeak-ng
in three voices (as `tests/offline/test_transcriber.py` does), written as 16-bit 16 kHz WAV —
or with `--manifest` the first N recordings of a manifest (e.g. the corpus's held-out test
sentences in the training voices) — and downsampled by sox with repeatable dither (`-R`) to
8 kHz 16-bit PCM and μ-law. Each way then brings the 8 kHz samples to 16 kHz (soxr, as
`load_audio` does) and treats them:

- `round16`: rounded to the 16-bit grid (what `load_audio` does: `quantize16`);
- `float`: left as they are (the band above 4 kHz exactly empty);
- `band+round16`: band-passed to 300–3400 Hz at 8 kHz first, as the training telephone channel
  does (training/augment/channel.py), then rounded;
- `hiss-N`: white noise above 4 kHz at N dBFS RMS added, then rounded.

Greedy decoding of the bundled model (or `--model`), with the empty band of 8 kHz audio zeroed
in the features as `transcribe` does (`features.mask_empty_band`; `--no-band-mask`: not); prints
a table, writes JSON with `--json`. Needs espeak-ng and sox.

`--stream` also streams each version as one recording (the sentences one after another, 1 s
of silence before each; an 8 kHz version at its own rate, as a Vosk client at 8000 Hz sends it)
through the streaming engine, band mask as above, and scores its finals together.

`--band` also measures what the band above 4 kHz is worth to the model: each recording decoded
whole (no voice detection) from its fbank, as it is and with the mel bins above 3.8 kHz set to
0 — the utterance mean after CMVN, what SpecAugment's frequency masks write — at 16 kHz and as
8 kHz PCM (`round16`). Wideband audio with those bins zeroed holds what 8 kHz audio holds."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from s2t_stream.defaults import BUNDLED_MODEL
from s2t_stream.model.audio import SAMPLE_RATE, quantize16, resample
from s2t_stream.model.checkpoint import Bundle, load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.model.features import extract_features
from s2t_stream.model.network import encode_batch
from s2t_stream.model.search import SearchSettings, search
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.streaming.drive import StreamDriver, drive
from s2t_stream.streaming.engine import Engine
from s2t_stream.streaming.events import Final
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.training.augment.channel import TELEPHONE_RATE, speech_band
from s2t_stream.training.manifest import read_manifest
from s2t_stream.training.textnorm import normalize_text
from s2t_stream.training.voices.engines import read_wav, run
from s2t_stream.training.wer import corpus_wer

ROOT = Path(__file__).resolve().parents[1]
VOICES = ("en-us", "en-gb", "en-gb-scotland")
ENCODINGS = {"pcm": "signed-integer", "mu-law": "mu-law"}  # sox's names


def sentences(count: int) -> list[str]:
    lines = (ROOT / "data" / "text" / "vctk_prompts.txt").read_text().splitlines()
    return [t for t in lines if 4 <= len(t.split()) <= 12][:count]


def spoken(texts: list[str], scratch: Path) -> list[Path]:
    """Each sentence spoken by espeak-ng, as a 16-bit 16 kHz WAV file in `scratch`."""
    files = []
    for n, text in enumerate(texts):
        speech = read_wav(run(["espeak-ng", "-v", VOICES[n % 3], "--stdout", text]))
        files.append(Path(scratch) / f"{n}.wav")
        sf.write(files[-1], speech, SAMPLE_RATE, subtype="PCM_16")
    return files


def recordings(files: list[Path], scratch: Path) -> dict[str, list[np.ndarray]]:
    """{"16 kHz": …, "pcm": …, "mu-law": …}: each 16 kHz file, and its 8 kHz copies as read
    from their files (float32, at 16 kHz for the first, 8 kHz for the others)."""
    found: dict[str, list[np.ndarray]] = {"16 kHz": [], **{name: [] for name in ENCODINGS}}
    for n, wide in enumerate(files):
        samples, rate = sf.read(wide, dtype="float32")
        if rate != SAMPLE_RATE:
            raise SystemExit(f"{wide}: expected {SAMPLE_RATE} Hz, got {rate}")
        found["16 kHz"].append(samples)
        for name, encoding in ENCODINGS.items():
            low = Path(scratch) / f"{n}-{name}.wav"
            sox = ["sox", "-R", str(wide), "-r", str(TELEPHONE_RATE), "-e", encoding, str(low)]
            subprocess.run(sox, check=True)
            found[name].append(sf.read(low, dtype="float32")[0])
    return found


def with_hiss(samples: np.ndarray, dbfs: float, seed: int) -> np.ndarray:
    """`samples` (16 kHz) plus white noise of `dbfs` RMS kept above 4 kHz only."""
    noise = np.random.default_rng(seed).standard_normal(samples.size) * 10 ** (dbfs / 20)
    spectrum = np.fft.rfft(noise)
    spectrum[np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE) < TELEPHONE_RATE / 2] = 0
    return (samples + np.fft.irfft(spectrum, samples.size)).astype(np.float32)


def up(narrow: np.ndarray) -> np.ndarray:
    return resample(narrow, TELEPHONE_RATE, SAMPLE_RATE)


def hissing(dbfs: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda narrow: quantize16(with_hiss(up(narrow), dbfs, seed=0))


WAYS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "round16": lambda narrow: quantize16(up(narrow)),
    "float": up,
    "band+round16": lambda narrow: quantize16(up(speech_band(narrow))),
    **{f"hiss{dbfs}": hissing(dbfs) for dbfs in (-80, -70, -60)},
}


def first_bin_above(hz: float, bins: int = 80) -> int:
    """The first of `bins` Kaldi mel bins (20 Hz to 8 kHz, mel = 1127 ln(1 + f/700)) whose
    band starts at or above `hz`."""
    mel = lambda f: 1127 * np.log(1 + f / 700)  # noqa: E731
    edges = np.linspace(mel(20.0), mel(SAMPLE_RATE / 2), bins + 2)
    return int(np.argmax(edges >= mel(hz)))


def band_report(
    bundle: Bundle, references: list[str], wide: list[np.ndarray], pcm: list[np.ndarray]
) -> dict[str, dict[str, float]]:
    """{"16 kHz"|"8 kHz PCM": {"as is"|"above 3.8 kHz zeroed": WER}}, greedy, whole files."""
    settings = SearchSettings.resolve(DecodingOptions(num_beams=1), bundle.generation)
    cut = first_bin_above(3800.0)

    def wer(waves: list[np.ndarray], zeroed: bool) -> float:
        hypotheses = []
        for wave in waves:
            feats = extract_features(wave)
            if zeroed:
                feats[:, cut:] = 0.0
            with torch.inference_mode():
                [best] = search(bundle.model, encode_batch(bundle.model, [feats]), settings)
            hypotheses.append(bundle.tokenizer.decode(best.tokens))
        return corpus_wer(references, hypotheses)

    sets = {"16 kHz": wide, "8 kHz PCM": [WAYS["round16"](x) for x in pcm]}
    return {
        name: {"as is": wer(waves, False), "above 3.8 kHz zeroed": wer(waves, True)}
        for name, waves in sets.items()
    }


def streamed_wer(
    bundle: Bundle, references: list[str], recordings: list[np.ndarray], rate: int, mask: bool
) -> float:
    """WER of the finals of one stream of `recordings` at `rate` (each after 1 s of silence)."""
    gap = np.zeros(rate, dtype=np.float32)
    audio = np.concatenate([part for wave in recordings for part in (gap, wave)] + [gap])
    driver = StreamDriver(Engine(bundle, StreamOptions(band_mask=mask)), rate)
    chunk = rate // 10
    pieces = (audio[i : i + chunk] for i in range(0, audio.size, chunk))
    finals = [e.text for events in drive(driver, pieces) for e in events if isinstance(e, Final)]
    return corpus_wer([" ".join(references)], [" ".join(finals)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(BUNDLED_MODEL))
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--manifest", type=Path, help="its recordings instead of espeak-ng's")
    parser.add_argument("--ways", default=",".join(WAYS), help="comma-separated")
    parser.add_argument(
        "--band", action="store_true", help="also what the band above 4 kHz is worth"
    )
    parser.add_argument("--stream", action="store_true", help="also through the streaming engine")
    parser.add_argument("--no-band-mask", action="store_true", help="as transcribe --no-band-mask")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    ways = [w for w in args.ways.split(",") if w]
    unknown = [w for w in ways if w not in WAYS]
    if unknown:
        parser.error(f"unknown ways {unknown}; known: {', '.join(WAYS)}")
    torch.set_num_threads(1)
    if args.manifest:
        entries = read_manifest(args.manifest, limit=args.sentences)
        texts, files = [e.text for e in entries], [e.audio for e in entries]
    else:
        texts = sentences(args.sentences)
    references = [normalize_text(t) or "" for t in texts]
    bundle = load_bundle(args.model)
    options = TranscribeOptions(DecodingOptions(num_beams=1), band_mask=not args.no_band_mask)
    transcriber = Transcriber(bundle, options)

    def wer(waves: list[np.ndarray]) -> float:
        return corpus_wer(references, [r.text for r in transcriber.transcribe(waves)])

    with tempfile.TemporaryDirectory() as scratch:
        found = recordings(files if args.manifest else spoken(texts, Path(scratch)), Path(scratch))
    wide = wer(found["16 kHz"])
    rows = {
        way: {name: wer([WAYS[way](x) for x in found[name]]) for name in ENCODINGS} for way in ways
    }
    source = args.manifest or "espeak-ng"
    mask = "band mask" if options.band_mask else "no band mask"
    print(f"{len(texts)} sentences ({source}), greedy, {mask}; WER at 16 kHz: {100 * wide:.2f} %")
    print("| way | 8 kHz PCM | 8 kHz μ-law |\n| --- | --- | --- |")
    for way, row in rows.items():
        print(f"| {way} | {100 * row['pcm']:.2f} % | {100 * row['mu-law']:.2f} % |")
    rates = {"16 kHz": SAMPLE_RATE} | dict.fromkeys(ENCODINGS, TELEPHONE_RATE)
    streamed = {
        name: streamed_wer(bundle, references, waves, rates[name], options.band_mask)
        for name, waves in found.items()
        if args.stream
    }
    if streamed:
        print(f"\nstreamed: {', '.join(f'{k} {100 * w:.2f} %' for k, w in streamed.items())}")
    band = band_report(bundle, references, found["16 kHz"], found["pcm"]) if args.band else {}
    if band:
        print("\nwhole files, fbank bins from 3.8 kHz up as they are / zeroed:")
        for name, row in band.items():
            print(f"| {name} | {' | '.join(f'{100 * w:.2f} %' for w in row.values())} |")
    if args.json:
        report = {
            "model": args.model, "source": str(source), "sentences": len(texts),
            "band_mask": options.band_mask, "wer_16khz": wide, "ways": rows, "band": band,
            "streamed": streamed,
        }  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
