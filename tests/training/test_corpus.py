"""The corpus stage: the plan of every split (held-out sentences, styles and voices, telephone and
noisy copies of the test split, short sentences, the training cap), the options and the `corpus`
command's flags, the resume journal, and a tiny real corpus. Text normalisation, styles,
augmentation and voices have their own test modules."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
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
from s2t_stream.training import corpus
from s2t_stream.training.augment import NOISE_KINDS, AugmentOptions, AugmentPlan
from s2t_stream.training.corpus import (
    BABBLE_VOICE_WEIGHTS,
    HELD_OUT_VOICE_WEIGHTS,
    SPLITS,
    TRAIN_PHONE_CODECS,
    CorpusOptions,
    Samplers,
    Synthesized,
    Talker,
    build_corpus,
    plan_corpus,
)
from s2t_stream.training.manifest import Utterance
from s2t_stream.training.textnorm import normalize_text
from s2t_stream.training.texts import TEXT_SOURCES, StyledSentence, TextSource
from s2t_stream.training.voices import (
    Voice,
    VoiceInventory,
    VoiceSampler,
    discover_voices,
    is_held_out,
)


def test_voice_id_is_stable_and_excludes_prosody() -> None:
    a = Voice("espeak", "en-us", "f3", rate=150, pitch=40, gap=1)
    b = Voice("espeak", "en-us", "f3", rate=190, pitch=60, gap=0)
    assert a.id == b.id == "espeak:en-us+f3"
    assert Voice("espeak", "en-gb-x-rp").id == "espeak:en-gb-x-rp"
    assert Voice("flite", "kal16", speed=1.2).id == "flite:kal16"
    assert Voice("kokoro", "af_bella", "am_adam", speed=0.9).id == "kokoro:af_bella+am_adam"


# ---------------------------------------------------------------------------------------------
# The plan, from sentences in memory and voices of a made-up machine (no synthesiser)
# ---------------------------------------------------------------------------------------------

# training voices: espeak 2 accents x 3 variants, flite kal16 and awb, rhvoice alan (9);
# held-out voices: espeak en-us+f4 and en-gb+f4, rhvoice clb
INVENTORY = VoiceInventory(
    espeak=(("en-us", "gmw/en-US"), ("en-gb", "gmw/en")), variants=("", "f1", "f4", "m3"),
    flite=("kal16", "awb"), rhvoice=("alan", "clb"),
)  # fmt: skip
WEIGHTS = (("espeak", 0.6), ("flite:kal16", 0.2), ("flite:awb", 0.1), ("rhvoice", 0.1))
SAMPLERS = Samplers(
    train=VoiceSampler(INVENTORY, WEIGHTS),
    held_out=VoiceSampler(INVENTORY, HELD_OUT_VOICE_WEIGHTS, purpose="eval"),
    babble=VoiceSampler(INVENTORY, BABBLE_VOICE_WEIGHTS),  # espeak and rhvoice: no mbrola
)


def _sentence(style: str, words: str) -> StyledSentence:
    return StyledSentence(style, words, f"{words}.", f"{words.capitalize()}.", f"{style}.txt")


# read and news: 36 long and 3 two-word sentences each; dictionary: held out; poetry: no share
SENTENCES = [
    *(_sentence(style, f"{style} sentence {i} of the plan") for style in ("read", "news")
      for i in range(36)),
    *(_sentence(style, f"{style} {i}") for style in ("read", "news") for i in range(3)),
    *(_sentence("dictionary", f"a dictionary example {i}") for i in range(10)),
    *(_sentence("poetry", f"a line of verse {i}") for i in range(5)),
]  # fmt: skip
BY_WORDS = {s.words: s for s in SENTENCES}
OPTIONS = CorpusOptions(
    seed=3, train_hours=1.0, dev_sentences=5, test_sentences_per_style=6,
    style_shares=(("read", 0.5), ("news", 0.5)), style_test_sentences=6,
    held_out_voice_utterances=5, short_sentence_voices=4, voice_weights=WEIGHTS, jobs=1,
    train_words=0, test_words=0,
)  # fmt: skip
PLANS = plan_corpus(SENTENCES, OPTIONS, SAMPLERS)
WORD_OPTIONS = dataclasses.replace(OPTIONS, train_words=6, word_voices=3, test_words=2)
WORD_PLANS = plan_corpus(SENTENCES, WORD_OPTIONS, SAMPLERS)


def _texts(split: str, plans: dict[str, list[corpus.UtteranceJob]] = PLANS) -> list[str]:
    return [job.text for job in plans[split]]


def test_plan_holds_out_test_dev_and_style_sentences() -> None:
    assert list(PLANS) == list(SPLITS)
    assert Counter(BY_WORDS[t].style for t in _texts("test")) == {"read": 6, "news": 6}
    assert len(_texts("dev")) == 5 and len(_texts("test-style")) == 6
    held = [set(_texts(split)) for split in ("test", "dev", "train", "test-style")]
    assert sum(len(s) for s in held) == len(set().union(*held))  # no sentence in two splits
    # 78 read and news sentences: 12 test, 5 dev, the other 61 train (1 h is no cap here)
    assert len(held[2]) == 61
    assert held[0] | held[1] | held[2] == {s.words for s in SENTENCES[:78]}  # read and news
    assert {BY_WORDS[t].style for t in _texts("test-style")} == {"dictionary"}
    for split in SPLITS:
        for job in PLANS[split]:
            s = BY_WORDS[job.text]
            assert (job.style, job.caption, job.speech_text) == (s.style, s.caption, s.speech)
            assert job.split == split
    for split in ("test", "dev", "test-style", "test-voices"):
        assert all(job.augment == AugmentPlan() and job.babble == () for job in PLANS[split])
    assert sum(job.augment != AugmentPlan() for job in PLANS["train"]) > 30


def test_test_voices_are_test_sentences_in_held_out_voices_only() -> None:
    voices = PLANS["test-voices"]
    assert len(voices) == 5 and set(_texts("test-voices")) <= set(_texts("test"))
    assert all(is_held_out(job.voice) and job.purpose == "eval" for job in voices)
    assert {job.voice.id for job in voices} <= {"espeak:en-us+f4", "espeak:en-gb+f4", "rhvoice:clb"}
    for split in ("test", "dev", "train", "test-style"):
        assert not [job.voice.id for job in PLANS[split] if is_held_out(job.voice)]
        assert {job.purpose for job in PLANS[split]} == {"train"}
    talkers = [t for split in SPLITS for job in PLANS[split] for t in job.babble]
    assert talkers and not [t.voice.id for t in talkers if is_held_out(t.voice)]


def test_phone_and_noisy_are_the_test_utterances_through_a_channel() -> None:
    kinds = set()
    assert len(PLANS["test"]) == len(PLANS["test-phone"]) == len(PLANS["test-noisy"]) == 12
    for test, phone, noisy in zip(PLANS["test"], PLANS["test-phone"], PLANS["test-noisy"]):  # noqa: B905
        for job in (phone, noisy):
            same = (job.text, job.voice, job.voice_arg, job.index, job.purpose, job.style)
            assert same == (test.text, test.voice, test.voice_arg, test.index, "train", test.style)
        assert phone.augment == AugmentPlan(telephone="ulaw") and phone.babble == ()
        plan = noisy.augment
        if plan.babble is not None:
            kinds.add("babble")
            assert plan == AugmentPlan(babble=(2, plan.babble[1]))
            assert 5.0 <= plan.babble[1] <= 20.0
            assert len(noisy.babble) == 2 and all(isinstance(t, Talker) for t in noisy.babble)
        else:
            assert plan.noise is not None and plan == AugmentPlan(noise=plan.noise)
            kinds.add(plan.noise[0])
            assert plan.noise[0] in NOISE_KINDS and 5.0 <= plan.noise[1] <= 20.0
            assert noisy.babble == ()
    assert "babble" in kinds and len(kinds) >= 3  # not vacuous: several kinds, babble too


def test_train_phone_is_a_share_of_the_training_utterances_at_8khz() -> None:
    train = {job.index: job for job in PLANS["train"]}
    phone = PLANS["train-phone"]
    lines = [job for job in train.values() if job.augment.telephone is None]
    assert 0.15 * len(lines) < len(phone) < 0.45 * len(lines)  # OPTIONS: the 0.3 default
    for job in phone:
        source = train[job.index]
        assert source.augment.telephone is None  # not twice through a telephone channel
        same = (job.text, job.voice, job.voice_arg, job.style, job.caption, job.purpose)
        assert same == (source.text, source.voice, source.voice_arg, source.style,
                        source.caption, source.purpose)  # fmt: skip
        assert job.augment == AugmentPlan(telephone=job.augment.telephone) and job.babble == ()
        assert job.noise_seed == int(source.key()[:8], 16)  # a changed source changes the copy
    assert {job.augment.telephone for job in phone} == set(corpus.TRAIN_PHONE_CODECS)
    none = plan_corpus(SENTENCES, dataclasses.replace(OPTIONS, train_phone_share=0), SAMPLERS)
    every = plan_corpus(SENTENCES, dataclasses.replace(OPTIONS, train_phone_share=1), SAMPLERS)
    assert none["train-phone"] == [] and len(every["train-phone"]) == len(lines)
    assert none["train"] == every["train"] == PLANS["train"]  # the training plan is untouched


def test_a_derived_split_with_gaps_is_kept_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """train-phone's indices are those of its train utterances: 3, 7, 8 (not 0, 1, 2)."""
    jobs = [dataclasses.replace(PLANS["test"][0], split="train-phone", index=i) for i in (3, 7, 8)]

    def fake(job: corpus.UtteranceJob, out_dir: Path) -> Synthesized:
        audio = Path(f"audio/train-phone/{job.index:06d}.flac")
        return Synthesized(Utterance(audio, job.text, duration=1.0), job.index, job.key())

    monkeypatch.setattr(corpus, "synthesize_job", fake)
    options = dataclasses.replace(OPTIONS, out_dir=tmp_path)
    with ThreadPoolExecutor(2) as pool:
        runner = corpus._SplitRunner(pool, "train-phone", jobs, options, corpus._Progress())  # type: ignore[arg-type]
        kept = runner.run()
    assert [s.index for s in kept] == [3, 7, 8]


def test_isolated_words_are_extra_splits_that_leave_the_others_as_they_were() -> None:
    assert {s: p for s, p in WORD_PLANS.items() if s not in ("train-words", "test-words")} == {
        s: p for s, p in PLANS.items() if s not in ("train-words", "test-words")
    }
    assert PLANS["train-words"] == PLANS["test-words"] == []
    # training-sentence words by count: "of", "plan", "sentence", "the" (one in each long
    # sentence), then "news" and "read", then the numbers: the 8 most frequent, 2 held out
    train = [job.text for job in WORD_PLANS["train-words"]]
    test = [job.text for job in WORD_PLANS["test-words"]]
    top = ["of", "plan", "sentence", "the", "news", "read"]
    assert not set(train) & set(test) and len(set(test)) == 2
    assert set(top) <= set(train) | set(test)
    digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert train[-30:] == [d for d in digits for _ in range(3)]  # rare here, but always there
    for job in WORD_PLANS["train-words"]:
        voices = {j.voice.id for j in WORD_PLANS["train-words"] if j.text == job.text}
        assert len(voices) == 3 and not is_held_out(job.voice)
        assert (job.style, job.caption, job.purpose) == ("words", job.text.capitalize(), "train")
    assert sum(job.augment != AugmentPlan() for job in WORD_PLANS["train-words"]) > 10
    for job in WORD_PLANS["test-words"]:
        assert is_held_out(job.voice) and job.purpose == "eval"
        assert job.augment == AugmentPlan() and job.babble == ()


def test_short_training_sentences_get_several_distinct_voices() -> None:
    voices: dict[str, list[str]] = defaultdict(list)
    for job in PLANS["train"]:
        voices[job.text].append(job.voice.id)
    short = [text for text in voices if len(text.split()) <= 2]
    assert short  # some two-word sentences were left for training
    for text, ids in voices.items():
        assert len(ids) == len(set(ids)) == (4 if text in short else 1), text
    assert len(PLANS["train"]) == 61 + 3 * len(short)


def test_plan_is_deterministic_per_seed_and_capped_by_train_hours() -> None:
    assert plan_corpus(SENTENCES, OPTIONS, SAMPLERS) == PLANS
    other = plan_corpus(SENTENCES, dataclasses.replace(OPTIONS, seed=4), SAMPLERS)
    assert _texts("test", other) != _texts("test")
    assert [j.voice for j in other["dev"]] != [j.voice for j in PLANS["dev"]]
    # 20 s at no less than 1 s an utterance: 20 training sentences planned, the same first ones
    capped = plan_corpus(SENTENCES, dataclasses.replace(OPTIONS, train_hours=20 / 3600), SAMPLERS)
    assert len(set(_texts("train", capped))) == 20
    prefix = PLANS["train"][: len(capped["train"])]
    assert [(j.text, j.voice) for j in capped["train"]] == [(j.text, j.voice) for j in prefix]
    assert capped["test"] == PLANS["test"] and capped["dev"] == PLANS["dev"]
    # the babble talkers come from a fixed pool: the cap changes neither them nor the keys
    assert capped["test-noisy"] == PLANS["test-noisy"]
    assert [j.key() for j in capped["train"]] == [j.key() for j in prefix]


def test_too_few_test_sentences_for_test_voices_is_said(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        plans = plan_corpus(
            SENTENCES, dataclasses.replace(OPTIONS, held_out_voice_utterances=100), SAMPLERS
        )
    assert len(plans["test-voices"]) == 12
    assert "test-voices: 100 utterances asked for, but only 12 test sentences" in caplog.text


def test_extra_voices_come_in_rounds_that_leave_the_first_as_it_was() -> None:
    twice = dataclasses.replace(OPTIONS, voices_per_train_sentence=2, voices_per_test_sentence=2)
    plans = plan_corpus(SENTENCES, twice, SAMPLERS)
    first = len(PLANS["train"])
    assert plans["train"][:first] == PLANS["train"] and plans["test"][:12] == PLANS["test"]
    second = plans["train"][first:]
    assert [j.text for j in second] == list(dict.fromkeys(_texts("train")))  # each once more
    for job in second:
        assert job.voice.id not in {j.voice.id for j in PLANS["train"] if j.text == job.text}
    assert len(plans["test"]) == len(plans["test-phone"]) == len(plans["test-noisy"]) == 24
    assert len(plans["test-voices"]) == 5


def test_samplers_without_held_out_voices_plan_no_test_voices(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    no_f4 = dataclasses.replace(INVENTORY, variants=("", "f1"), rhvoice=("alan",))
    monkeypatch.setattr(corpus, "discover_voices", lambda weights: no_f4)
    with caplog.at_level(logging.WARNING):
        samplers = Samplers.discover(OPTIONS)
    assert samplers.held_out is None and "no held-out voice here" in caplog.text
    assert samplers.babble.groups == ["espeak", "rhvoice"]  # flite is too slow for babble
    plans = plan_corpus(SENTENCES, OPTIONS, samplers)
    assert plans["test-voices"] == [] and len(plans["test"]) == 12
    none = Samplers.discover(dataclasses.replace(OPTIONS, held_out_voice_utterances=0))
    assert none.held_out is None
    flite = Samplers.discover(dataclasses.replace(OPTIONS, voice_weights=(("flite:awb", 1.0),)))
    assert flite.babble is flite.train  # no fast engine: babble in the training voices


# ---------------------------------------------------------------------------------------------
# Options, flags, errors
# ---------------------------------------------------------------------------------------------


def test_options_validate_fields() -> None:
    with pytest.raises(ValueError, match="train_hours"):
        CorpusOptions(train_hours=0)
    with pytest.raises(ValueError, match=r"voice_weights: expected weights >= 0 .* got pico=1.0"):
        CorpusOptions(voice_weights=(("pico", 1.0),))
    with pytest.raises(ValueError, match=r"styles \['news'\] are both held out and given a"):
        CorpusOptions(style_shares=(("read", 1.0), ("news", 0.5)), held_out_styles=("news",))
    with pytest.raises(ValueError, match="style_shares is out of range"):
        CorpusOptions(style_shares=(("read", 1.0), ("news", -0.1)))
    with pytest.raises(ValueError, match="style_shares is out of range"):
        CorpusOptions(style_shares=(("read", 0.0),))
    with pytest.raises(ValueError, match=r"train_phone_share is out of range: 1\.5"):
        CorpusOptions(train_phone_share=1.5)
    with pytest.raises(ValueError, match=r"word_voices is out of range: 0"):
        CorpusOptions(word_voices=0)
    with pytest.raises(ValueError, match=r"test_words is out of range: -1"):
        CorpusOptions(test_words=-1)
    CorpusOptions(style_shares=(("read", 1.0), ("news", 0.0)), held_out_styles=("news",))


def _options(*flags: str) -> CorpusOptions:
    return corpus_options(build_parser().parse_args(["corpus", *flags]))


def test_corpus_flags_map_onto_the_options() -> None:
    assert _options() == CorpusOptions()
    changed = _options(
        "--text", "read=a.txt", "--text", "b.txt.gz", "--out", "c", "--seed", "3",
        "--train-hours", "2", "--dev-sentences", "4", "--test-sentences-per-style", "5",
        "--style-shares", "read=2,b=1", "--held-out-styles", "news,dictionary",
        "--style-test-sentences", "7", "--held-out-voice-utterances", "8", "--max-words", "9",
        "--voices-per-test-sentence", "2", "--voices-per-train-sentence", "3",
        "--short-sentence-voices", "6", "--speed-prob", "0.1", "--pad-prob", "0",
        "--telephone-prob", "0.3", "--voice-weights", "espeak=1,flite:awb=0.5",
        "--jobs", "1", "--resume", "--real-dir", "real", "--train-phone-share", "0.5",
        "--train-words", "10", "--word-voices", "2", "--test-words", "4",
        "--fsdd-dir", "fsdd/recordings", "--fsdd-held-out-speakers", "george",
    )  # fmt: skip
    assert changed == CorpusOptions(
        texts=(TextSource(str(Path.cwd() / "a.txt"), "read", "given by --text read=a.txt"),
               TextSource(str(Path.cwd() / "b.txt.gz"), "b", "given by --text b.txt.gz")),
        out_dir=Path("c"), seed=3, train_hours=2.0, dev_sentences=4, test_sentences_per_style=5,
        style_shares=(("read", 2.0), ("b", 1.0)), held_out_styles=("news", "dictionary"),
        style_test_sentences=7, held_out_voice_utterances=8, max_words=9,
        voices_per_test_sentence=2, voices_per_train_sentence=3, short_sentence_voices=6,
        augment=AugmentOptions(speed_prob=0.1, pad_prob=0.0, telephone_prob=0.3),
        voice_weights=(("espeak", 1.0), ("flite:awb", 0.5)), jobs=1,
        resume=True, real_dir=Path("real"), train_phone_share=0.5, train_words=10, word_voices=2,
        test_words=4, fsdd_dir=Path("fsdd/recordings"), fsdd_held_out_speakers=("george",),
    )  # fmt: skip


def test_given_texts_get_equal_shares_but_the_held_out_styles() -> None:
    given = _options("--text", "news=n.txt", "--text", "x/my_digits.txt.gz",
                     "--text", "dictionary=d.txt", "--text", "news=m.txt")  # fmt: skip
    assert [(t.style, Path(t.file_name).name) for t in given.texts] == [
        ("news", "n.txt"), ("my_digits", "my_digits.txt.gz"), ("dictionary", "d.txt"),
        ("news", "m.txt"),
    ]  # fmt: skip
    assert all(Path(t.file_name).is_absolute() for t in given.texts)
    assert given.style_shares == (("news", 1.0), ("my_digits", 1.0))
    assert given.held_out_styles == ("dictionary",)
    other = _options("--text", "news=n.txt", "--text", "read=r.txt", "--held-out-styles", "read")
    assert other.style_shares == (("news", 1.0),) and other.held_out_styles == ("read",)
    odd = _options("--text", "runs/a=b/lines.txt")  # "=" inside a path: no STYLE= prefix
    assert [(t.style, t.file_name) for t in odd.texts] == [
        ("lines", str(Path("runs/a=b/lines.txt").resolve()))
    ]


def test_nothing_left_to_train_on_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["corpus", "--text", "dictionary=d.txt"]) == 2
    assert capsys.readouterr().err == (
        "s2t-stream: error: no text style left to train on: every --text style is held out "
        "(dictionary) or --style-shares gives none a share\n"
    )
    assert main(["corpus", "--style-shares", ""]) == 2
    assert "no text style left to train on" in capsys.readouterr().err


def test_corpus_flag_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["corpus", "--voice-weights", "espeak"]) == 2
    assert capsys.readouterr().err == (
        "s2t-stream: error: argument --voice-weights: expected NAME=WEIGHT,..., got 'espeak'\n"
    )
    assert main(["corpus", "--style-shares", "read=lots"]) == 2
    assert capsys.readouterr().err == (
        "s2t-stream: error: argument --style-shares: expected NAME=WEIGHT,..., got 'read=lots'\n"
    )
    assert main(["corpus", "--text", "read=a.txt", "--style-shares", "read=1,dictionary=1"]) == 2
    assert capsys.readouterr().err == (
        "s2t-stream: error: CorpusOptions: styles ['dictionary'] are both held out and given a "
        "training share\n"
    )


def test_default_text_is_inside_the_repository() -> None:
    options = CorpusOptions()
    assert options.texts == TEXT_SOURCES and options.text_dir == REPO_ROOT / "data" / "text"
    for source in options.texts:
        path = options.text_dir / source.file_name
        assert path.is_file() and path.resolve().is_relative_to(REPO_ROOT.resolve()), path
    assert {s.style for s in options.texts} >= {s for s, _ in options.style_shares}
    assert {s.style for s in options.texts} >= set(options.held_out_styles)


def test_journal_line_is_the_manifest_line_plus_index_and_key() -> None:
    utterance = Utterance(
        Path("audio/train/000007.flac"), "a b", "flite:slt", 1.25, ("speed1.05", "gain-3.0"),
        style="dialogue", caption="A, b.",
    )  # fmt: skip
    finished = Synthesized(utterance, 7, "0123abcd")
    line = finished.to_json()
    assert line == {
        "audio": "audio/train/000007.flac", "text": "a b", "duration": 1.25, "voice": "flite:slt",
        "augment": ["speed1.05", "gain-3.0"], "style": "dialogue", "caption": "A, b.",
        "index": 7, "key": "0123abcd",
    }  # fmt: skip
    assert list(line)[-2:] == ["index", "key"]
    assert Synthesized.from_json(json.loads(json.dumps(line))) == finished
    with pytest.raises(KeyError):
        Synthesized.from_json({k: v for k, v in line.items() if k != "key"})
    with pytest.raises(TypeError):
        Synthesized.from_json(line | {"index": "7"})


def test_missing_engine_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng there
    with pytest.raises(S2TError, match=r"espeak-ng not found.*apt-get install .*espeak-ng"):
        discover_voices((("espeak", 1.0),))


def test_no_surviving_sentence_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "numbers.txt").write_text("It cost 1/4 pound.\nPage a4 is gone.\n")
    options = CorpusOptions(
        texts=(TextSource("numbers.txt", "read", "-"),), text_dir=tmp_path,
        style_shares=(("read", 1.0),), out_dir=tmp_path / "out",
    )  # fmt: skip
    with pytest.raises(S2TError, match=r"no sentence in \['numbers.txt'\] survives normalising"):
        build_corpus(options)


def test_corpus_command_reports_a_missing_text_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["corpus", "--text", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("s2t-stream: error: ") and "nope.txt: text file not found" in error
    assert error.count("\n") == 1 and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# A tiny real corpus
# ---------------------------------------------------------------------------------------------

TEXTS = {
    "read": ["The quick brown fox jumps over the lazy dog.", "She sells sea shells by the shore.",
             "A stitch in time saves nine, they said.", "Every cloud has a silver lining.",
             "Peter Piper picked a peck of pickled peppers."],
    "news": ["The council met on Monday to discuss the budget.", "Mr. Smith came in 1863.",
             "Prices rose by 5% in the last quarter.", "The match was called off after rain.",
             "It cost 1/4 of the price.", "Shares fell sharply in early trading today."],
    "dictionary": ["A bright idea came to her", "He ran the length of the field",
                   "They fished the river all day"],
}  # fmt: skip
CHANGED = {"Mr. Smith came in 1863.": "Mr. Smith came in eighteen sixty three.",
           "Prices rose by 5% in the last quarter.": "Prices rose by five percent in the last "
           "quarter.", "It cost 1/4 of the price.": None}  # fmt: skip
CAPTIONS = {CHANGED.get(line, line) for lines in TEXTS.values() for line in lines} - {None}


def _real_folder(root: Path) -> Path:
    clips = [root / "ljspeech" / "LJ001-0001.flac", root / "ljspeech" / "LJ001-0002.flac",
             root / "fsdd" / "0_george_0.flac", root / "fsdd" / "7_theo_3.flac"]  # fmt: skip
    for clip in clips:
        clip.parent.mkdir(parents=True, exist_ok=True)
        sf.write(clip, np.zeros(1600, dtype=np.float32), SAMPLE_RATE)
    (root / "ljspeech" / "transcripts.tsv").write_text(
        "LJ001-0001\tPrinting, in the only sense\nLJ001-0002\tin 1863 it was modern.\n"
    )
    for take in ("4_george_4", "4_george_5", "6_theo_9"):  # the whole FSDD: WAV at 8 kHz
        (root / "recordings").mkdir(exist_ok=True)
        sf.write(root / "recordings" / f"{take}.wav", np.zeros(800, dtype=np.float32), 8000)
    return root


def _manifest(out: Path, split: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]


def _above_4khz_db(path: Path) -> float:
    """Power above 4 kHz relative to the power in 300-3400 Hz, in dB."""
    samples, rate = sf.read(path, dtype="float64")
    assert rate == SAMPLE_RATE and samples.ndim == 1
    power = np.abs(np.fft.rfft(samples * np.hanning(samples.size))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    speech = power[(freqs >= 300) & (freqs < 3400)].sum()
    return float(10 * np.log10(power[freqs >= 4000].sum() / speech))


def _band_spectra(path: Path) -> np.ndarray:
    """Log power spectrum in 500-3000 Hz (inside every telephone band), in 50 Hz bins."""
    samples, rate = sf.read(path, dtype="float64")
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    bins = np.arange(500, 3000, 50)
    return np.log10([power[(freqs >= f) & (freqs < f + 50)].sum() for f in bins])


@pytest.mark.slow
@pytest.mark.audio("espeak-ng", "flite", "sox")
def test_tiny_corpus_end_to_end(tmp_path: Path) -> None:
    for style, text in TEXTS.items():
        (tmp_path / f"{style}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    _real_folder(tmp_path / "real")
    out = tmp_path / "corpus"
    flags = [
        *(f"--text={style}={tmp_path / style}.txt" for style in TEXTS), f"--out={out}",
        "--seed=7", f"--train-hours={6 / 3600}", "--dev-sentences=1",
        "--test-sentences-per-style=1", "--style-test-sentences=2",
        "--held-out-voice-utterances=1", "--voice-weights=espeak=1", "--jobs=2",
        f"--real-dir={tmp_path / 'real'}", f"--fsdd-dir={tmp_path / 'real' / 'recordings'}",
        "--fsdd-held-out-speakers=theo", "--train-phone-share=1",
        "--train-words=2", "--word-voices=1", "--test-words=1",
    ]  # fmt: skip
    summary = build_corpus(_options(*flags))
    lines = {split: _manifest(out, split) for split in SPLITS}
    counts = {split: len(entries) for split, entries in lines.items()}
    expected = {"test": 2, "dev": 1, "test-style": 2, "test-voices": 1, "test-phone": 2}
    untouched = [e for e in lines["train"] if not any(a.startswith("tel-") for a in e["augment"])]
    assert untouched  # the train-phone checks below need some
    assert counts == expected | {
        "train": counts["train"], "test-noisy": 2, "train-phone": len(untouched),
        "train-words": counts["train-words"], "test-words": 1,
    }  # fmt: skip
    # the two most frequent training words but one (held out for test-words), and the digits
    assert 11 <= counts["train-words"] <= 12
    words = {e["text"] for e in lines["train-words"]}
    assert {"zero", "five", "nine"} <= words and not words & {lines["test-words"][0]["text"]}
    # 10 read and news sentences, "1/4" dropped: 2 test, 1 dev, 6 for training, of which the
    # first few (2-3 s each) reach the 6 s cap
    train_s = [entry["duration"] for entry in lines["train"]]
    assert 2 <= counts["train"] < 6 and sum(train_s) >= 6.0 > sum(train_s[:-1])
    assert summary.utterances == counts and summary.synthesized >= sum(counts.values())
    for split, entries in lines.items():
        for entry in entries:
            info = sf.info(out / entry["audio"])
            assert info.samplerate == SAMPLE_RATE and info.channels == 1
            assert info.frames / SAMPLE_RATE == pytest.approx(entry["duration"], abs=1e-3)
            assert normalize_text(entry["caption"]) == entry["text"]
            isolated = split in ("train-words", "test-words")
            assert entry["caption"] in CAPTIONS or (isolated and len(entry["text"].split()) == 1)
            assert (entry["style"] == "dictionary") == (split == "test-style")
            assert (entry["style"] == "words") == isolated
            assert entry["voice"].startswith("espeak:")
            assert entry["voice"].endswith("+f4") == (split in ("test-voices", "test-words"))
            if split not in ("train", "train-words"):  # a training one may be drawn clean too
                derived = ("test-phone", "test-noisy", "train-phone")
                assert (entry["augment"] == []) == (split not in derived)
    assert {e["style"] for e in lines["test"]} == {"read", "news"}
    assert {e["style"] for e in lines["train"] + lines["dev"]} <= {"read", "news"}
    for test, phone in zip(lines["test"], lines["test-phone"], strict=True):
        assert (phone["text"], phone["voice"], phone["augment"]) == (
            test["text"], test["voice"], ["tel-ulaw"]
        )  # fmt: skip
        assert _above_4khz_db(out / phone["audio"]) < -40 < _above_4khz_db(out / test["audio"])
    for source, phone in zip(untouched, lines["train-phone"], strict=True):
        # the training utterance's own (augmented) audio again, through one 8 kHz channel
        assert Path(source["audio"]).name == Path(phone["audio"]).name
        assert (phone["text"], phone["voice"]) == (source["text"], source["voice"])
        [channel] = phone["augment"]
        assert channel.removeprefix("tel-") in TRAIN_PHONE_CODECS
        wide, narrow = _band_spectra(out / source["audio"]), _band_spectra(out / phone["audio"])
        assert wide.shape == narrow.shape and np.corrcoef(wide, narrow)[0, 1] > 0.9
        assert _above_4khz_db(out / phone["audio"]) < -40
    for test, noisy in zip(lines["test"], lines["test-noisy"], strict=True):
        # the very same speech as the test utterance (read back, not synthesised again) + noise
        clean, _ = sf.read(out / test["audio"])
        mixed, _ = sf.read(out / noisy["audio"])
        assert mixed.shape == clean.shape and np.corrcoef(clean, mixed)[0, 1] > 0.25
        assert not np.array_equal(clean, mixed)
    real = {name: _manifest(out, name) for name in ("real-lj", "real-fsdd")}
    assert [e["text"] for e in real["real-lj"]] == [
        "printing in the only sense", "in eighteen sixty three it was modern"
    ]  # fmt: skip
    assert [e["voice"] for e in real["real-fsdd"]] == ["real:fsdd:george", "real:fsdd:theo"]
    # FSDD's training takes (5-49) of the speakers not held out, as given and augmented as
    # train is
    given, real_take = _manifest(out, "train-real")
    assert given["text"] == real_take["text"] == "four"
    assert given["augment"] == [] and Path(given["audio"]).name == "4_george_5.wav"
    assert Path(given["audio"]).is_absolute()  # the recording where it lies
    assert re.fullmatch(r"audio/train-real/4_george_5-[0-9a-f]{8}\.flac", real_take["audio"])
    assert json.loads((out / "summary.json").read_text())["seed"] == 7

    before = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.flac")}
    manifests = {split: (out / f"{split}.jsonl").read_bytes() for split in SPLITS}
    resumed = build_corpus(_options(*flags, "--resume"))
    assert resumed.synthesized == 0 and resumed.utterances == counts
    assert {split: (out / f"{split}.jsonl").read_bytes() for split in SPLITS} == manifests
    assert {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.flac")} == before
