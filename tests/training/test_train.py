"""The trainer on a tiny corpus: batching, SpecAugment, the learning-rate schedule, a loss that
falls when overfitting, resumable checkpoints, averaging and export in the HF layout."""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import s2t_stream.training.train as train_module
from s2t_stream.errors import S2TError
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.training.train import (
    TOKEN_WEIGHTS,
    Trainer,
    TrainOptions,
    autocast_dtype,
    batches,
    export,
    guided_attention_loss,
    lineage,
    load_split,
    load_training,
    spec_augment,
    warmup_cosine,
)
from s2t_stream.training.wer import corpus_wer
from tests.helpers import bare_corpus, tiny_train_options

TEXTS = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "the sun is hot today",
    "we like green tea",
    "rain falls on the town",
    "birds sing in the trees",
]
CAPTIONS = [
    "The cat sat on the mat.",
    "A dog ran in the park!",
    "The sun is hot today.",
    "We like green tea?",
    "Rain falls on the town.",
    "Birds sing in the trees, by the bay.",  # a lower-case "b" too
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 'utterances' of coloured noise with distinct spectra, and their texts."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "audio").mkdir()
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("dev", 2)):
        with (root / f"{split}.jsonl").open("w") as f:
            for i in range(count):
                tone = np.sin(np.arange(12000) * (0.05 + 0.08 * i)) * 0.3
                wave = (tone + 0.02 * rng.standard_normal(12000)).astype(np.float32)
                name = f"audio/{split}{i}.wav"
                sf.write(root / name, wave, 16000)
                row = {"audio": name, "text": TEXTS[i], "duration": 0.75, "voice": f"v{i % 2}"}
                row["caption"] = CAPTIONS[i]
                f.write(json.dumps(row) + "\n")
    return root


def tiny_options(corpus: Path, out: Path, **changes: object) -> TrainOptions:
    defaults: dict[str, object] = {"eval_every": 4, "save_every": 4, "keep_checkpoints": 3}
    return tiny_train_options(corpus, out, **(defaults | changes))


def test_batches_hold_at_most_max_frames_and_cover_everything() -> None:
    lengths = np.array([100, 250, 90, 400, 30, 220, 180, 60])
    result = batches(lengths, 500, random.Random(0))
    assert sorted(i for b in result for i in b) == list(range(8))
    assert all(len(b) * max(lengths[b]) <= 500 or len(b) == 1 for b in result)


def test_spec_augment_masks_only_valid_frames() -> None:
    feats = torch.ones(2, 100, 80)
    spec_augment(feats, torch.tensor([100, 50]), torch.Generator().manual_seed(1))
    assert (feats == 0).any()
    assert (feats[1, 50:] == 1).all()  # padding untouched


def test_learning_rate_warms_up_then_decays(corpus: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny_options(corpus, tmp_path / "run", max_steps=100, warmup_steps=10))
    rates = []
    for step in (0, 9, 10, 55, 99):
        trainer.step = step
        rates.append(trainer.learning_rate())
    assert rates[0] < rates[1] <= 3e-3
    assert rates[2] > rates[3] > rates[4] >= 0.02 * 3e-3


def test_the_schedule_is_linear_warm_up_then_cosine_to_two_percent() -> None:
    assert warmup_cosine(1.0, 0, 10, 0.0) == pytest.approx(0.1)
    assert warmup_cosine(1.0, 9, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(1.0, 10, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(2.0, 50, 10, 0.5) == pytest.approx(2.0 * (0.02 + 0.98 * 0.5))
    assert warmup_cosine(1.0, 99, 10, 1.0) == pytest.approx(0.02)
    assert warmup_cosine(1.0, 99, 10, 1.7) == pytest.approx(0.02)  # past the end: the floor


@pytest.mark.slow
def test_overfits_then_resumes_and_exports(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    trainer = Trainer(tiny_options(corpus, out, max_steps=60, eval_every=20, save_every=30))
    trainer.run()
    first, last = trainer.history[0]["loss"], trainer.history[-1]["loss"]
    assert last < 0.5 * first
    assert (out / "checkpoint_000060.pt").is_file()

    resumed = Trainer(tiny_options(corpus, out, max_steps=64, eval_every=1000, save_every=32))
    resumed.run()
    assert resumed.step == 64
    state = torch.load(out / "checkpoint_last.pt", weights_only=False)
    assert state["step"] == 64

    destination = export(resumed, tmp_path / "model", average=2)
    bundle = load_bundle(destination)
    assert bundle.config.d_model == 32
    assert bundle.generation.num_beams == 5
    used = json.loads((out / "export.json").read_text())["used"]
    assert used in ("last", "averaged")
    assert resumed.tokenizer.decode(resumed.tokenizer.encode(TEXTS[0])) == TEXTS[0]

    # the CTC head goes with the model: the mean of the same checkpoints, or the last one
    assert bundle.ctc is not None
    assert bundle.ctc.config.weight == 0.0  # joint decoding off until a weight is chosen
    assert bundle.ctc.config.blank == resumed.tokenizer.bos_id
    heads = [
        torch.load(path, weights_only=False)["ctc_head"]["weight"]
        for path in sorted(out.glob("checkpoint_0*.pt"))[-2:]
    ]
    expected = (heads[0] + heads[1]) / 2 if used == "averaged" else resumed.ctc_head.weight
    torch.testing.assert_close(bundle.ctc.proj.weight, expected.detach(), atol=2e-3, rtol=1e-3)

    # a decoding weight chosen on dev goes into the head's config; the weights stay the same
    tuned = load_bundle(export(resumed, tmp_path / "tuned", average=2, ctc_weight=0.2))
    assert tuned.ctc is not None
    assert tuned.ctc.config.weight == 0.2
    torch.testing.assert_close(tuned.ctc.proj.weight, bundle.ctc.proj.weight)

    # a run from the exported model starts from its CTC head too
    again = Trainer(tiny_options(corpus, tmp_path / "again", init_from=str(destination)))
    torch.testing.assert_close(again.ctc_head.weight, bundle.ctc.proj.weight)


def test_a_bad_device_fails_before_any_work(tmp_path: Path) -> None:
    missing = tmp_path / "no-corpus"  # not read: the device is checked first
    with pytest.raises(S2TError, match=r"--device: expected auto, cpu, cuda or cuda:N, got 'tpu'"):
        Trainer(tiny_options(missing, tmp_path / "run", device="tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(S2TError, match=r"--device cuda:0: CUDA is not available"):
            Trainer(tiny_options(missing, tmp_path / "run", device="cuda:0"))


def test_precision_choice() -> None:
    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert autocast_dtype("auto", cpu) is (torch.bfloat16 if native else None)
    with pytest.raises(ValueError, match="expected auto, bf16 or fp32, got 'fp16'"):
        autocast_dtype("fp16", cpu)


def test_a_run_continues_another_and_its_lineage_lists_both(corpus: Path, tmp_path: Path) -> None:
    first = Trainer(
        tiny_options(corpus, tmp_path / "a", max_steps=8, eval_every=100, guided_attention=1.0)
    )
    first.run()
    second = Trainer(
        tiny_options(corpus, tmp_path / "b", max_steps=4, init_from=str(tmp_path / "a"), lr=1e-3)
    )
    for name, value in first.model.state_dict().items():  # starts from the first run's weights
        assert torch.equal(second.model.state_dict()[name], value), name
    second.run()
    stages = lineage(tmp_path / "b")
    assert [s["steps"] for s in stages] == [8, 4]
    assert [s["init_from"] for s in stages] == ["", str(tmp_path / "a")]
    assert [s["lr"] for s in stages] == [first.options.lr, 1e-3]
    assert [s["guided_attention"] for s in stages] == [1.0, 0.0]


def test_caption_targets_get_a_cased_vocabulary_and_keep_a_words_model_s_weights(
    corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    words = Trainer(tiny_options(corpus, tmp_path / "words", max_steps=4))
    words.run()
    captions = Trainer(
        tiny_options(
            corpus,
            tmp_path / "captions",
            targets="captions",
            init_from=str(tmp_path / "words"),
            vocab_size=40,
        )
    )
    tokenizer = captions.tokenizer  # not the lower-case one, which cannot spell the captions
    assert "a new vocabulary: the one of" in caplog.text and "'The cat sat" in caplog.text
    assert [tokenizer.decode(e.target) for e in captions.examples] == CAPTIONS
    assert {"T", "."} <= set(tokenizer.pieces()) and "T" not in words.tokenizer.pieces()
    theirs = words.model.state_dict()
    for name, value in captions.model.state_dict().items():
        if name not in TOKEN_WEIGHTS:
            assert torch.equal(value, theirs[name]), name
    name = "model.decoder.embed_tokens.weight"
    for piece in ("T", "a", "</s>"):  # carried from "t", "a", "</s>"
        row = theirs[name][words.tokenizer.piece_to_id(piece.lower())]
        assert torch.equal(captions.model.state_dict()[name][tokenizer.piece_to_id(piece)], row)
    assert captions.dev_wer() == pytest.approx(
        corpus_wer(TEXTS[:2], captions._dev_hypotheses(None, 2))
    )


def test_a_rerun_keeps_its_targets(corpus: Path, tmp_path: Path) -> None:
    Trainer(tiny_options(corpus, tmp_path / "words", max_steps=2)).run()
    with pytest.raises(S2TError, match=r"vocabulary cannot spell its --targets captions"):
        Trainer(tiny_options(corpus, tmp_path / "words", targets="captions", vocab_size=40))
    Trainer(tiny_options(corpus, tmp_path / "cased", targets="captions", vocab_size=40)).run()
    again = Trainer(tiny_options(corpus, tmp_path / "cased", vocab_size=40))  # words by default
    with pytest.raises(S2TError, match=r"trained with --targets captions, not words"):
        again.run()


def test_caption_targets_need_captions(tmp_path: Path) -> None:
    bare_corpus(tmp_path)
    with pytest.raises(S2TError, match=r"train.jsonl: 1 utterances have no caption"):
        Trainer(tiny_options(tmp_path, tmp_path / "run", targets="captions", vocab_size=8))
    with pytest.raises(ValueError, match="targets: expected one of words, captions, got 'cased'"):
        TrainOptions(targets="cased")
    with pytest.raises(ValueError, match="--targets captions is for ASR: a speech-translation"):
        TrainOptions(targets="captions", tgt_langs="es")


def test_guided_attention_loss_prefers_the_diagonal_and_ignores_padding() -> None:
    tokens, frames = 5, 20

    def one_hot(columns: list[int]) -> torch.Tensor:
        weights = torch.zeros(1, tokens, frames)
        weights[0, torch.arange(tokens), torch.tensor(columns)] = 1.0
        return weights

    diagonal = one_hot([int((n + 0.5) / tokens * frames) for n in range(tokens)])
    uniform = torch.full((1, tokens, frames), 1 / frames)
    reversed_ = diagonal.flip(-1)
    n, t = torch.tensor([tokens]), torch.tensor([frames])
    losses = [float(guided_attention_loss(w, n, t)) for w in (diagonal, uniform, reversed_)]
    assert losses[0] < 0.02 < 0.3 < losses[1] < losses[2]
    # a padded row: its padded tokens do not count, its lengths scale the diagonal
    padded = torch.zeros(2, tokens + 3, frames + 10)
    padded[0, :tokens, :frames] = diagonal[0]
    padded[1, :tokens, :frames] = diagonal[0]
    padded[0, tokens:] = 1.0  # garbage on padded positions
    both = guided_attention_loss(padded, torch.tensor([tokens, tokens]), torch.tensor([frames] * 2))
    assert float(both) == pytest.approx(losses[0])


def test_load_split_reads_the_manifest_and_caches_features(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(train_module, "FEATURE_PROGRESS_EVERY", 1)  # a long split's progress
    (corpus / "dev.features.npz").unlink(missing_ok=True)  # computed afresh (the fixture is shared)
    with caplog.at_level(logging.INFO):
        dev = load_split(corpus, "dev")
    assert "dev: features of 1/2 utterances" in caplog.text
    assert dev.texts == TEXTS[:2] and dev.voices == ["v0", "v1"]
    # 12000 samples, 25 ms windows every 10 ms: 1 + (12000 - 400) // 160 = 73 frames each
    assert list(dev.lengths()) == [73, 73] and dev.frames(1).shape == (73, 80)
    assert (corpus / "dev.features.npz").is_file()
    np.testing.assert_array_equal(load_split(corpus, "dev").features, dev.features)


def test_band_mask_zeroes_the_empty_band_of_8khz_audio_only(tmp_path: Path) -> None:
    """`--band-mask true`: an 8 kHz recording's features lose the rounding noise above 4 kHz
    (zeros, as inference writes), a 16 kHz one's stay as they were; each kind has its cache."""
    rng = np.random.default_rng(1)
    (tmp_path / "audio").mkdir()
    rows = []
    for name, rate in (("narrow", 8000), ("wide", 16000)):
        sf.write(tmp_path / f"audio/{name}.wav", 0.1 * rng.standard_normal(rate), rate)
        rows.append(json.dumps({"audio": f"audio/{name}.wav", "text": name, "voice": "v"}))
    (tmp_path / "dev.jsonl").write_text("\n".join(rows) + "\n")
    plain = load_split(tmp_path, "dev")
    masked = load_split(tmp_path, "dev", band_mask=True)
    assert (tmp_path / "dev.features.npz").is_file()
    assert (tmp_path / "dev.features-band.npz").is_file()
    top = slice(70, 80)  # mel bins far above 4 kHz (80 bins up to 8 kHz)
    assert np.abs(plain.frames(0)[:, top]).max() > 0.1
    assert not masked.frames(0)[:, top].any()
    np.testing.assert_array_equal(masked.frames(0)[:, :40], plain.frames(0)[:, :40])
    np.testing.assert_array_equal(masked.frames(1), plain.frames(1))


def test_training_splits_are_joined_and_a_missing_one_is_said(
    corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        alone = load_training(corpus, ("train", "train-phone"))
    assert alone.texts == TEXTS and "has no train-phone.jsonl: training without it" in caplog.text
    both = tmp_path / "corpus"
    shutil.copytree(corpus, both)
    lines = (corpus / "train.jsonl").read_text().splitlines()
    (both / "train-phone.jsonl").write_text(f"{lines[4]}\n{lines[1]}\n")  # the same audio again
    joined = load_training(both, ("train", "train-phone"))
    assert joined.texts == [*TEXTS, TEXTS[4], TEXTS[1]] and len(joined.captions) == 8
    assert list(joined.lengths()) == [73] * 8 and joined.offsets[-1] == len(joined.features)
    np.testing.assert_array_equal(joined.frames(6), alone.frames(4))
    np.testing.assert_array_equal(joined.frames(7), alone.frames(1))
    splits = TrainOptions(train_splits=" train, train-phone,train").splits()
    assert splits == ("train", "train-phone")  # each once: no utterance learnt twice as often
    # real recordings only when asked for: a default run learns from synthesised speech alone
    assert TrainOptions().splits() == ("train", "train-phone", "train-words")
    assert TrainOptions(train_splits="train,train-real").splits() == ("train", "train-real")
    for bad in ("train,phone", "train-phone", ""):
        with pytest.raises(ValueError, match="train_splits: expected train and any of"):
            TrainOptions(train_splits=bad)


def test_run_evaluates_then_saves_and_stops_by_steps(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    trainer = Trainer(tiny_options(corpus, out, max_steps=6, eval_every=4, save_every=5))
    trainer.run()
    assert trainer.step == 6
    assert [h["step"] for h in trainer.history] == [4, 6]  # every 4 steps, and the last
    assert sorted(p.name for p in out.glob("checkpoint_0*.pt")) == [
        "checkpoint_000005.pt",  # every 5 steps, and the last
        "checkpoint_000006.pt",
    ]
    state = torch.load(out / "checkpoint_last.pt", weights_only=False)
    assert [h["step"] for h in state["history"]] == [4, 6]  # saved after evaluating
    again = Trainer(tiny_options(corpus, out, max_steps=6, eval_every=4, save_every=5))
    again.run()  # a finished run resumes and does nothing
    assert again.step == 6 and len(again.history) == 2


def test_run_stops_by_training_time(corpus: Path, tmp_path: Path) -> None:
    # a budget of a few microseconds: the first update uses it up, then evaluate, save, stop
    options = tiny_options(corpus, tmp_path / "run", max_steps=1000, max_minutes=1e-7)
    trainer = Trainer(options)
    trainer.run()
    assert trainer.step == 1 and trainer.progress() >= 1.0
    assert [h["step"] for h in trainer.history] == [1]
    assert (tmp_path / "run" / "checkpoint_000001.pt").is_file()
