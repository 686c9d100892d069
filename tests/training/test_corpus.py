"""The corpus stage: text normalisation, voices, augmentation, the plan, the resume journal, the
`corpus` command's flags, and a tiny real corpus."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from s2t_stream.cli import build_parser, main
from s2t_stream.cli.training import corpus_options
from s2t_stream.defaults import REPO_ROOT
from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE
from s2t_stream.training.augment import (
    AugmentOptions,
    AugmentPlan,
    add_noise,
    add_reverb,
    apply_augment,
    draw_augment,
    pad_silence,
    peak_normalize,
    speed_perturb,
)
from s2t_stream.training.corpus import (
    DEFAULT_TEXT_DIR,
    CorpusOptions,
    Synthesized,
    build_corpus,
    plan_corpus,
)
from s2t_stream.training.manifest import Utterance
from s2t_stream.training.textnorm import (
    normalize_text,
    read_sentences,
    read_spoken_sentences,
    speech_text,
)
from s2t_stream.training.voices import (
    DEFAULT_VOICE_WEIGHTS,
    Voice,
    VoiceInventory,
    VoiceSampler,
    discover_voices,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"A chain fixed to staples, at his back;"', "a chain fixed to staples at his back"),
        ("He was born in 1863.", "he was born in eighteen sixty three"),
        (
            "In 1805 and 1900 and 2005 and 2024.",
            "in eighteen oh five and nineteen hundred and two thousand five and twenty twenty four",
        ),
        (
            "He had 3 dogs, 42 cats and 1,500 men.",
            "he had three dogs forty two cats and one thousand five hundred men",
        ),
        (
            "9999 and 0 and 105",
            "nine thousand nine hundred ninety nine and zero and one hundred five",
        ),
        (
            "The 1st, 2nd, 3rd, 11th, 22nd and 100th.",
            "the first second third eleventh twenty second and one hundredth",
        ),
        ("In the 1860s.", "in the eighteen sixties"),
        ("Mr. Smith, Mrs. Jones and Dr. Brown", "mister smith missus jones and doctor brown"),
        ("Bury St. Edmunds", "bury saint edmunds"),
        ("The U.S. Army & J. Smith", "the u s army and j smith"),
        ("Don't stop; it's John's.", "don't stop it's john's"),
        ("'Tis the season,' she said.", "tis the season she said"),
        ("A well-known (sort of) writer!", "a well known sort of writer"),
        ("“Café” — naïve…", "cafe naive"),
        ("  Many    spaces\t", "many spaces"),
        ("50% of them", "fifty percent of them"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["It cost 3.5 pounds.", "Page a4 is gone.", "It cost $5.", "Elm St. is closed.", "", "...!",
     "Ελληνικά", "1th place", "007 licence", "10:30 train"],
)  # fmt: skip
def test_normalize_text_drops_what_it_cannot_spell(raw: str) -> None:
    assert normalize_text(raw) is None


def test_speech_text_keeps_pauses_and_same_words() -> None:
    raw = "Mr. Smith, who was born in 1863, said: stop!"
    spoken = speech_text(raw)
    assert spoken == "mister smith, who was born in eighteen sixty three, said, stop!"
    assert normalize_text(raw) == spoken.replace(",", "").replace("!", "")


def test_read_sentences_dedups_in_file_order(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    first.write_text("Hello there.\nHELLO, there!\nIt cost 3.5 pounds.\nSecond line\n")
    second = tmp_path / "b.txt"
    second.write_text("second line.\nA third one.\n\n")
    assert read_sentences([first, second]) == ["hello there", "second line", "a third one"]
    assert read_spoken_sentences([first]) == {
        "hello there": "hello there.",
        "second line": "second line",
    }
    with pytest.raises(S2TError, match=r"missing\.txt"):
        read_sentences([tmp_path / "missing.txt"])


def test_voice_id_is_stable_and_excludes_prosody() -> None:
    a = Voice("espeak", "en-us", "f3", rate=150, pitch=40, gap=1)
    b = Voice("espeak", "en-us", "f3", rate=190, pitch=60, gap=0)
    assert a.id == b.id == "espeak:en-us+f3"
    assert Voice("espeak", "en-gb-x-rp").id == "espeak:en-gb-x-rp"
    assert Voice("flite", "slt").id == "flite:slt"


INVENTORY = VoiceInventory((("en-us", "gmw/en-US"),), ("", "f1"), ("kal16", "slt"))
WEIGHTS = (("espeak", 0.5), ("flite:kal16", 0.25), ("flite:slt", 0.25))


def test_voice_sampler_is_deterministic_and_in_range() -> None:
    sampler = VoiceSampler(INVENTORY, WEIGHTS)
    voices = [sampler.draw(np.random.default_rng(i)) for i in range(200)]
    assert voices == [sampler.draw(np.random.default_rng(i)) for i in range(200)]
    espeak = [v for v in voices if v.engine == "espeak"]
    assert 60 < len(espeak) < 140
    for v in espeak:
        assert v.rate is not None and v.pitch is not None and v.gap is not None
        assert 140 <= v.rate <= 200 and 30 <= v.pitch <= 70 and 0 <= v.gap <= 3
    assert {v.id for v in voices} == {"espeak:en-us", "espeak:en-us+f1", "flite:kal16", "flite:slt"}
    assert sampler.engine_arg(espeak[0]) == "gmw/en-US"
    assert sampler.engine_arg(Voice("flite", "slt")) == "slt"


def test_plan_holds_out_test_and_dev_and_is_deterministic() -> None:
    sentences = {f"sentence number {i}": f"sentence, number {i}." for i in range(40)}
    options = CorpusOptions(
        dev_sentences=5, test_sentences=6, voices_per_test_sentence=3, voices_per_train_sentence=2
    )
    sampler = VoiceSampler(INVENTORY, WEIGHTS)
    plans = plan_corpus(sentences, options, sampler)
    assert plans == plan_corpus(sentences, options, sampler)
    texts = {split: [job.text for job in jobs] for split, jobs in plans.items()}
    assert len(texts["test"]) == 18 and len(set(texts["test"])) == 6
    assert len(texts["dev"]) == 5 and len(texts["train"]) == 2 * (40 - 11)
    assert not set(texts["train"]) & (set(texts["test"]) | set(texts["dev"]))
    for split, count in (("test", 3), ("train", 2)):  # in rounds, a new voice each round
        jobs = plans[split]
        rounds = [jobs[r * len(jobs) // count : (r + 1) * len(jobs) // count] for r in range(count)]
        assert all([j.text for j in r] == [j.text for j in rounds[0]] for r in rounds)
        for same_sentence in zip(*rounds, strict=True):
            assert len({job.voice.id for job in same_sentence}) == count
    single = plan_corpus(
        sentences, dataclasses.replace(options, voices_per_train_sentence=1), sampler
    )
    assert single["train"] == plans["train"][: 40 - 11]  # the first round does not move
    assert all(job.augment == AugmentPlan() for job in plans["test"] + plans["dev"])
    assert any(job.augment != AugmentPlan() for job in plans["train"])
    assert plans["train"][0].speech_text == sentences[plans["train"][0].text]
    other = plan_corpus(sentences, dataclasses.replace(options, seed=1), sampler)
    assert [j.text for j in other["test"]] != texts["test"]


def speech_like(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A 200 Hz tone with a syllable-rate envelope, peak 0.5."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    tone = envelope * np.sin(2 * np.pi * 200 * t) + noise
    return (0.5 * tone / np.abs(tone).max()).astype(np.float32)


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE)[spectrum.argmax()])


@pytest.mark.parametrize("factor", [0.9, 0.95, 1.1])
def test_speed_perturb_scales_length_and_pitch(factor: float) -> None:
    x = speech_like(1.0)
    y = speed_perturb(x, factor)
    assert abs(y.size - x.size / factor) <= 2
    assert peak_hz(y) == pytest.approx(200 * factor, abs=3)


def test_peak_normalize_hits_the_level() -> None:
    y = peak_normalize(speech_like(), -6.0)
    assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-6.0, abs=1e-3)
    assert not peak_normalize(np.zeros(10, np.float32), -6.0).any()


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_add_noise_hits_the_snr_and_is_deterministic(kind: str) -> None:
    x = speech_like(2.0)
    y = add_noise(x, 15.0, np.random.default_rng(1), kind=kind)
    noise = y.astype(np.float64) - x
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(15.0, abs=0.1)
    np.testing.assert_array_equal(y, add_noise(x, 15.0, np.random.default_rng(1), kind=kind))
    assert not np.array_equal(y, add_noise(x, 15.0, np.random.default_rng(2), kind=kind))


def test_pink_noise_has_more_low_than_high_energy() -> None:
    x = np.zeros(SAMPLE_RATE, np.float32)
    pink = add_noise(x, 0.0, np.random.default_rng(0), kind="pink", signal_power=1.0)
    spectrum = np.abs(np.fft.rfft(pink)) ** 2
    freqs = np.fft.rfftfreq(pink.size, 1 / SAMPLE_RATE)
    low = spectrum[(freqs > 50) & (freqs < 500)].mean()
    high = spectrum[(freqs > 4000) & (freqs < 7500)].mean()
    assert low > 5 * high


def test_add_reverb_adds_a_decaying_tail() -> None:
    impulse = np.zeros(SAMPLE_RATE // 2, np.float32)
    impulse[0] = 0.5
    y = add_reverb(impulse, 0.4, np.random.default_rng(0))
    tail = round(0.4 * SAMPLE_RATE)
    assert y.size == impulse.size + tail - 1
    assert np.abs(y).argmax() == 0 and np.abs(y).max() == pytest.approx(0.5)
    early = np.sum(y[100:2000].astype(np.float64) ** 2)
    late = np.sum(y[tail - 2000 : tail - 100].astype(np.float64) ** 2)
    assert late < early / 100  # decays ~40+ dB between the two windows
    np.testing.assert_array_equal(y, add_reverb(impulse, 0.4, np.random.default_rng(0)))


def test_pad_silence_adds_samples_with_a_quiet_floor() -> None:
    x = speech_like(0.5)
    y = pad_silence(x, 0.25, 0.1, np.random.default_rng(0))
    lead, trail = round(0.25 * SAMPLE_RATE), round(0.1 * SAMPLE_RATE)
    assert y.size == x.size + lead + trail
    np.testing.assert_array_equal(y[lead : lead + x.size], x)
    floor = y[:lead]
    assert floor.any() and np.abs(floor).max() < 10 ** (-50 / 20)


def test_apply_augment_stays_in_range_and_is_deterministic() -> None:
    loud = np.clip(3 * speech_like(1.0), -1, 1).astype(np.float32)
    plan = AugmentPlan(
        speed=1.05, reverb_rt60_s=0.5, pad_s=(0.2, 0.3), noise=("white", 10.0), gain_dbfs=-1.0
    )
    y = apply_augment(loud, plan, np.random.default_rng(3))
    assert y.dtype == np.float32 and np.abs(y).max() <= 1.0
    np.testing.assert_array_equal(y, apply_augment(loud, plan, np.random.default_rng(3)))
    assert plan.labels() == [
        "speed1.05",
        "reverb0.50",
        "pad0.20+0.30",
        "noise-white10.0",
        "gain-1.0",
    ]
    np.testing.assert_array_equal(
        apply_augment(loud, AugmentPlan(), np.random.default_rng(0)), loud
    )


def test_draw_augment_respects_probabilities() -> None:
    never = AugmentOptions(0.0, 0.0, 0.0, 0.0, 0.0)
    always = AugmentOptions(1.0, 1.0, 1.0, 1.0, 1.0)
    assert draw_augment(np.random.default_rng(0), never) == AugmentPlan()
    plan = draw_augment(np.random.default_rng(0), always)
    assert plan == draw_augment(np.random.default_rng(0), always)
    assert plan.reverb_rt60_s is not None and 0.15 <= plan.reverb_rt60_s <= 0.6
    assert plan.pad_s is not None and plan.noise is not None and plan.gain_dbfs is not None
    with pytest.raises(ValueError, match="speed_prob"):
        AugmentOptions(speed_prob=1.5)


def test_options_validate_fields() -> None:
    with pytest.raises(ValueError, match="train_hours"):
        CorpusOptions(train_hours=0)
    with pytest.raises(ValueError, match="voice_weights"):
        CorpusOptions(voice_weights=(("festival", 1.0),))


SENTENCES = """\
The quick brown fox jumps over the lazy dog.
Mr. Smith arrived in 1863 with 3 horses.
She sells sea shells by the sea shore.
A stitch in time saves nine.
The rain in Spain stays mainly in the plain.
Every cloud has a silver lining.
It cost 3.5 pounds, which nobody could spell.
Peter Piper picked a peck of pickled peppers.
How much wood would a woodchuck chuck?
All that glitters is not gold.
Fortune favours the bold, they said.
Actions speak louder than words.
Better late than never.
"""


def _tiny_options(tmp_path: Path, out: str, resume: bool = False) -> CorpusOptions:
    text = tmp_path / "sentences.txt"
    text.write_text(SENTENCES, encoding="utf-8")
    options = CorpusOptions(
        text_paths=(text,),
        out_dir=tmp_path / out,
        seed=7,
        train_hours=12.0 / 3600,  # a few utterances: stops after ~12 s of audio
        dev_sentences=2,
        test_sentences=2,
        voice_weights=(("espeak", 0.7), ("flite:kal16", 0.3)),
        jobs=2,
    )
    return dataclasses.replace(options, resume=resume)


def _manifest(out: Path, split: str) -> list[dict[str, Any]]:
    lines = (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.audio("espeak-ng", "flite")
@pytest.mark.slow
def test_tiny_corpus_end_to_end(tmp_path: Path) -> None:
    options = _tiny_options(tmp_path, "a")
    summary = build_corpus(options)
    out = options.out_dir
    manifests = {split: _manifest(out, split) for split in ("train", "dev", "test")}
    assert len(manifests["test"]) == 2 and len(manifests["dev"]) == 2
    assert 1 <= len(manifests["train"]) < 8  # capped by train_hours, not all 8 sentences
    train_s = sum(float(e["duration"]) for e in manifests["train"])
    assert train_s >= 12.0
    for split, entries in manifests.items():
        for entry in entries:
            assert set(entry) == {"audio", "text", "duration", "voice", "augment"}
            info = sf.info(out / str(entry["audio"]))
            assert info.samplerate == SAMPLE_RATE and info.channels == 1
            assert info.frames / SAMPLE_RATE == pytest.approx(entry["duration"], abs=1e-3)
            assert normalize_text(str(entry["text"])) == entry["text"]
            if split != "train":
                assert entry["augment"] == []
    train_texts = {e["text"] for e in manifests["train"]}
    held_out = {e["text"] for e in manifests["test"] + manifests["dev"]}
    assert not train_texts & held_out
    assert len(read_sentences(options.text_paths)) == 12  # the "3.5 pounds" line is dropped
    audio_files = sorted(p.name for p in (out / "audio" / "train").iterdir())
    assert len(audio_files) == len(manifests["train"])  # files past the cap are pruned
    assert summary.utterances["test"] == 2
    assert json.loads((out / "summary.json").read_text())["seed"] == 7

    again = _tiny_options(tmp_path, "b")
    build_corpus(again)
    for split in ("train", "dev", "test"):
        assert (out / f"{split}.jsonl").read_bytes() == (
            again.out_dir / f"{split}.jsonl"
        ).read_bytes()
        first = sf.read(out / str(manifests[split][0]["audio"]))[0]
        second = sf.read(again.out_dir / str(manifests[split][0]["audio"]))[0]
        np.testing.assert_array_equal(first, second)

    before = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.flac")}
    resumed = build_corpus(_tiny_options(tmp_path, "a", resume=True))
    assert resumed.synthesized == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.flac")} == before


def test_corpus_command_reports_a_missing_text_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["corpus", "--text", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("s2t-stream: error: ") and "nope.txt: text file not found" in error


def test_corpus_flags_map_onto_the_options() -> None:
    def options(*flags: str) -> CorpusOptions:
        return corpus_options(build_parser().parse_args(["corpus", *flags]))

    assert options() == CorpusOptions()
    changed = options(
        "--text", "a.txt", "--text", "b.txt", "--out", "c", "--seed", "3", "--train-hours", "2",
        "--dev-sentences", "4", "--test-sentences", "5", "--max-words", "6",
        "--voices-per-test-sentence", "2", "--voices-per-train-sentence", "3",
        "--speed-prob", "0.1", "--pad-prob", "0", "--augment-test",
        "--voice-weights", "espeak=1,flite:slt=0.5", "--jobs", "1", "--resume",
    )  # fmt: skip
    assert changed == CorpusOptions(
        text_paths=(Path("a.txt"), Path("b.txt")),
        out_dir=Path("c"),
        seed=3,
        train_hours=2.0,
        dev_sentences=4,
        test_sentences=5,
        max_words=6,
        voices_per_test_sentence=2,
        voices_per_train_sentence=3,
        augment=AugmentOptions(speed_prob=0.1, pad_prob=0.0),
        augment_test=True,
        voice_weights=(("espeak", 1.0), ("flite:slt", 0.5)),
        jobs=1,
        resume=True,
    )


def test_corpus_flag_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["corpus", "--voice-weights", "espeak"]) == 2
    assert capsys.readouterr().err == (
        "s2t-stream: error: argument --voice-weights: expected NAME=WEIGHT,..., got 'espeak'\n"
    )


def test_default_text_is_inside_the_repository() -> None:
    paths = CorpusOptions().text_paths
    assert [p.name for p in paths] == ["ljspeech_sentences.txt", "vctk_prompts.txt"]
    for path in paths:
        assert path.resolve().is_relative_to(REPO_ROOT.resolve()), path
        assert path.is_file(), path
    assert DEFAULT_TEXT_DIR == REPO_ROOT / "data" / "text"
    readme = (DEFAULT_TEXT_DIR / "README.md").read_text(encoding="utf-8")
    assert "public domain" in readme and "CSTR VCTK Corpus, University of Edinburgh" in readme


def test_journal_line_is_the_manifest_line_plus_index_and_key() -> None:
    utterance = Utterance(
        Path("audio/train/000007.flac"), "a b", "flite:slt", 1.25, ("speed1.05", "gain-3.0")
    )
    finished = Synthesized(utterance, 7, "0123abcd")
    line = finished.to_json()
    assert line == {
        "audio": "audio/train/000007.flac",
        "text": "a b",
        "duration": 1.25,
        "voice": "flite:slt",
        "augment": ["speed1.05", "gain-3.0"],
        "index": 7,
        "key": "0123abcd",
    }
    assert list(line) == ["audio", "text", "duration", "voice", "augment", "index", "key"]
    assert Synthesized.from_json(json.loads(json.dumps(line))) == finished
    with pytest.raises(KeyError):
        Synthesized.from_json({k: v for k, v in line.items() if k != "key"})


def test_missing_engine_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(S2TError, match=r"espeak-ng not found.*apt-get install .* espeak-ng"):
        discover_voices(DEFAULT_VOICE_WEIGHTS)
    with pytest.raises(S2TError, match=r"flite not found.*flite"):
        discover_voices((("flite:slt", 1.0),))


def test_no_surviving_sentence_is_an_error(tmp_path: Path) -> None:
    text = tmp_path / "numbers.txt"
    text.write_text("It cost 3.5 pounds.\n$5\n", encoding="utf-8")
    with pytest.raises(S2TError, match="survives normalising"):
        build_corpus(CorpusOptions(text_paths=(text,), out_dir=tmp_path / "out"))
