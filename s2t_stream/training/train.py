"""Training: a synthetic-speech corpus (manifests from `corpus`) → a small Speech2Text model,
resumable, with periodic dev WER, checkpoint averaging and export in the published HF layout."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from s2t_stream.defaults import pick_device
from s2t_stream.errors import S2TError
from s2t_stream.model.addons import vocabulary_fingerprint
from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import Bundle, load_bundle, save_bundle
from s2t_stream.model.config import DecodingOptions, GenerationConfig
from s2t_stream.model.ctc import CTCConfig, CTCHead
from s2t_stream.model.features import FeatureOptions, extract_features
from s2t_stream.model.network import EncoderOutput, Speech2Text, encode_batch, pad_batch
from s2t_stream.model.search import SearchSettings, search
from s2t_stream.model.tokenizer import Tokenizer, train_sentencepiece
from s2t_stream.training.bleu import corpus_bleu
from s2t_stream.training.manifest import read_manifest
from s2t_stream.training.options import TrainOptions
from s2t_stream.training.targets import normalize_translation
from s2t_stream.training.vocab_transfer import transfer_embeddings
from s2t_stream.training.wer import corpus_wer

log = logging.getLogger(__name__)

# the weights that depend on the vocabulary (the output layer is tied to the embeddings)
TOKEN_WEIGHTS = frozenset({"model.decoder.embed_tokens.weight", "lm_head.weight"})


# --- data ---------------------------------------------------------------------------------------


@dataclass
class Split:
    """One manifest's utterances, with features cached as one float16 array."""

    texts: list[str]
    voices: list[str]
    features: np.ndarray  # (total_frames, 80) float16
    offsets: np.ndarray  # (n + 1,) frame offsets into `features`
    translations: list[Mapping[str, str]] = field(default_factory=list)  # per utterance
    captions: list[str | None] = field(default_factory=list)  # per utterance (None: not known)

    def __len__(self) -> int:
        return len(self.texts)

    def frames(self, i: int) -> np.ndarray:
        return self.features[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def concat(cls, splits: Sequence[Split]) -> Split:
        """The utterances of `splits`, in order, as one split."""
        starts = np.cumsum([0] + [len(s.features) for s in splits[:-1]])
        offsets = [s.offsets[1:] + start for s, start in zip(splits, starts, strict=True)]
        return cls(
            [t for s in splits for t in s.texts],
            [v for s in splits for v in s.voices],
            np.concatenate([s.features for s in splits]),
            np.concatenate([[0], *offsets]),
            [t for s in splits for t in s.translations],
            [c for s in splits for c in s.captions],
        )


FEATURE_PROGRESS_EVERY = 1000
"""Utterances between two progress lines while a split's features are computed."""


def _features_of(path: str, band_mask: bool = False) -> np.ndarray:
    return extract_features(load_audio(path), band_mask=band_mask).astype(np.float16)


def load_split(corpus: Path, name: str, jobs: int = 2, *, band_mask: bool = False) -> Split:
    """Read `{name}.jsonl` and its audio; features are cached in `{name}.features.npz`, or with
    `band_mask` (the empty band of audio from a lower rate zeroed, `features.mask_empty_band`:
    Li et al. 2012's mixed-bandwidth training) in `{name}.features-band.npz`."""
    manifest = corpus / f"{name}.jsonl"
    entries = read_manifest(manifest)
    cache = corpus / f"{name}.features{'-band' if band_mask else ''}.npz"
    if cache.is_file() and cache.stat().st_mtime >= manifest.stat().st_mtime:
        data = np.load(cache)
        features, offsets = data["features"], data["offsets"]
    else:
        start = time.monotonic()
        paths = [str(e.audio) for e in entries]
        arrays: list[np.ndarray] = []
        with ProcessPoolExecutor(jobs) as pool:
            for array in pool.map(partial(_features_of, band_mask=band_mask), paths, chunksize=64):
                arrays.append(array)
                if len(arrays) % FEATURE_PROGRESS_EVERY == 0:
                    log.info("%s: features of %d/%d utterances", name, len(arrays), len(paths))
        offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays])])
        features = np.concatenate(arrays)
        np.savez(cache, features=features, offsets=offsets)
        log.info(
            "%s: features of %d utterances (%.1f h) in %.0f s",
            name,
            len(entries),
            len(features) / 360000,
            time.monotonic() - start,
        )
    return Split(
        [e.text for e in entries],
        [e.voice for e in entries],
        features,
        offsets,
        [e.translations for e in entries],
        [e.caption for e in entries],
    )


def load_training(corpus: Path, names: Sequence[str], *, band_mask: bool = False) -> Split:
    """The training splits `names` of `corpus` as one split; one other than `train` that the
    corpus lacks (made before it existed, or with `--train-phone-share 0` or `--train-words 0`)
    is skipped with a warning. `band_mask`: as `load_split`."""
    found = [n for n in names if n == "train" or (corpus / f"{n}.jsonl").is_file()]
    for name in sorted(set(names) - set(found)):
        log.warning("%s has no %s.jsonl: training without it", corpus, name)
    return Split.concat([load_split(corpus, name, band_mask=band_mask) for name in found])


def batches(lengths: np.ndarray, max_frames: int, rng: random.Random) -> list[list[int]]:
    """Length-sorted buckets of utterances, at most `max_frames` padded frames each, shuffled."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    result: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) + 1) * int(lengths[i]) > max_frames:
            result.append(current)
            current = []
        current.append(i)
    if current:
        result.append(current)
    rng.shuffle(result)
    return result


def spec_augment(feats: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator) -> None:
    """In place: 2 frequency masks (≤ 15 bins) and 2 time masks (≤ 40 frames, ≤ 10 %) each."""
    batch, _, bins = feats.shape
    for b in range(batch):
        length = int(lengths[b])
        for _ in range(2):
            width = int(torch.randint(0, 16, (1,), generator=generator))
            start = int(torch.randint(0, max(1, bins - width), (1,), generator=generator))
            feats[b, :length, start : start + width] = 0.0
            width = int(torch.randint(0, min(40, length // 10) + 1, (1,), generator=generator))
            start = int(torch.randint(0, max(1, length - width), (1,), generator=generator))
            feats[b, start : start + width] = 0.0


@dataclass(frozen=True)
class Example:
    """One training pair: an utterance of the split and the target ids the model learns for it
    (`[<lang:xx>]? + pieces + [</s>]`)."""

    utterance: int
    target: list[int]


def require_captions(manifest: Path) -> None:
    """Raises S2TError unless every utterance of `manifest` has a caption."""
    missing = sum(entry.caption is None for entry in read_manifest(manifest))
    if missing:
        raise S2TError(
            f"{manifest}: {missing} utterances have no caption (--targets captions needs a "
            "corpus made by `s2t-stream corpus`, which writes each sentence's caption)"
        )


def asr_targets(split: Split, targets: str) -> list[str]:
    """Each utterance's ASR target: its text (`targets` "words") or its caption ("captions";
    `require_captions` has checked there is one)."""
    if targets == "words":
        return split.texts
    return [caption or "" for caption in split.captions]


def examples(
    split: Split, tokenizer: Tokenizer, languages: Sequence[str], texts: Sequence[str] = ()
) -> list[Example]:
    """ASR (no `languages`): each utterance with its target from `texts` (default: its text).
    Speech translation: each utterance once per language it has a translation into, the target
    its normalised translation after the language tag (fairseq's multilingual ST targets,
    `prepend_tgt_lang_tag`)."""
    if not languages:
        return [Example(i, tokenizer.encode(text)) for i, text in enumerate(texts or split.texts)]
    return [
        Example(i, tokenizer.encode(normalize_translation(found[lang]), tgt_lang=lang))
        for lang in languages
        for i, found in enumerate(split.translations)
        if found.get(lang)
    ]


def make_batch(
    split: Split, batch: Sequence[Example], pad_id: int, start_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features (B, T, 80), mask (B, T), decoder inputs (B, L) and targets (B, L) (pad = ignore)."""
    feats, mask = pad_batch([split.frames(e.utterance).astype(np.float32) for e in batch])
    return feats, mask, *teacher_forcing([e.target for e in batch], pad_id, start_id)


def teacher_forcing(
    rows: Sequence[Sequence[int]], pad_id: int, start_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder inputs (B, L) — `start_id`, then each target shifted right — and the targets
    (B, L), right-padded with `pad_id` (which the loss ignores)."""
    width = max(len(r) for r in rows)
    labels = torch.full((len(rows), width), pad_id, dtype=torch.long)
    inputs = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for b, row in enumerate(rows):
        labels[b, : len(row)] = torch.tensor(row)
        inputs[b, 0] = start_id
        inputs[b, 1 : len(row)] = torch.tensor(row[:-1])
    return inputs, labels


def warmup_cosine(peak: float, step: int, warmup_steps: int, decayed: float) -> float:
    """The learning rate at update `step`: linear warm-up to `peak` over `warmup_steps`, then
    cosine decay to 2 % of it, `decayed` (0–1) being the fraction of the decay done."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, decayed))))


def guided_attention_loss(
    weights: torch.Tensor, tokens: torch.Tensor, frames: torch.Tensor, sigma: float = 0.2
) -> torch.Tensor:
    """Attention mass far from the diagonal, per target token (Tachibana et al. 2017):
    `weights` (B, L, S) cross-attention (rows sum to 1), `tokens` (B,) and `frames` (B,) the
    valid lengths. Token n of N is expected near frame n/N·T; mass at relative distance d
    costs 1 − exp(−d²/2σ²). Speech is roughly monotonic, and the streaming policy (AlignAtt)
    and word timings read this attention, so it pays to learn it early."""
    _, length, source = weights.shape
    n = (torch.arange(length, device=weights.device) + 0.5)[None, :, None] / tokens[:, None, None]
    t = (torch.arange(source, device=weights.device) + 0.5)[None, None, :] / frames[:, None, None]
    penalty = 1 - torch.exp(-((n - t) ** 2) / (2 * sigma**2))
    valid = torch.arange(length, device=weights.device)[None, :] < tokens[:, None]
    per_token = (weights.float() * penalty).sum(-1)  # padded frames carry no weight
    return per_token[valid].mean()


def initialise(model: Speech2Text) -> None:
    """fairseq's initialisation: Xavier-uniform projections, zero biases, token embeddings
    N(0, d^-1/2) with a zero padding row (PyTorch's N(0, 1) default makes the tied, √d-scaled
    embeddings produce logits in the hundreds at step 0)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    embed = model.decoder.embed_tokens
    torch.nn.init.normal_(embed.weight, std=model.config.d_model**-0.5)
    with torch.no_grad():
        embed.weight[model.config.pad_token_id].zero_()


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device` (None: plain fp32). `auto` picks bf16 where
    the hardware has it (CUDA bf16, or a CPU with AVX512-BF16/AMX: ~1.4x faster steps here)."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if precision == "bf16" or (precision == "auto" and native):
        return torch.bfloat16
    if precision == "auto":
        return None
    raise ValueError(f"--precision: expected auto, bf16 or fp32, got {precision!r}")


# --- training loop ------------------------------------------------------------------------------


@dataclass
class _Meter:
    """What the log lines of one `Trainer.run` report: losses, input frames, start time."""

    losses: list[float] = field(default_factory=list)
    frames: int = 0  # valid input frames (10 ms each) trained on
    started: float = field(default_factory=time.monotonic)

    def recent_loss(self) -> float:
        """The mean loss of the last 25 steps."""
        return float(np.mean(self.losses[-25:]))


class Trainer:
    """Named steps of one run: prepare (data, tokenizer, model), train, evaluate, save, export."""

    def __init__(self, options: TrainOptions) -> None:
        self.options = options
        self.device = torch.device(pick_device(options.device))  # a bad --device fails first
        self.out = Path(options.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if options.threads:
            torch.set_num_threads(options.threads)
        corpus = Path(options.corpus)
        if options.targets == "captions":  # before minutes of feature extraction
            require_captions(corpus / "train.jsonl")
        self.train = load_training(corpus, options.splits(), band_mask=options.band_mask)
        self.dev = load_split(corpus, "dev", band_mask=options.band_mask)
        self.languages = options.languages()
        untranslated = [
            lang for lang in self.languages if not any(t.get(lang) for t in self.train.translations)
        ]
        if untranslated:
            raise S2TError(
                f"{corpus / 'train.jsonl'}: no translation into {', '.join(untranslated)}; "
                f"make them with `s2t-stream corpus --tgt-langs {options.tgt_langs}`"
            )
        self.targets = asr_targets(self.train, options.targets) if not self.languages else []
        self.tokenizer = self._tokenizer()
        self.examples = examples(self.train, self.tokenizer, self.languages, self.targets)
        torch.manual_seed(options.seed)
        self.model = Speech2Text(options.model_config())
        initialise(self.model)
        # CTC head over the encoder output (blank = <s>, never a target), exported beside the
        # Speech2Text checkpoint in its ctc/ folder for joint decoding (`model/ctc.py`).
        self.ctc_head = torch.nn.Linear(options.d_model, options.vocab_size)
        if options.init_from:
            self._start_from(Path(options.init_from))
        self.model.to(self.device)
        self.ctc_head.to(self.device)
        self.autocast = autocast_dtype(options.precision, self.device)
        self.optimizer = torch.optim.AdamW(
            [*self.model.parameters(), *self.ctc_head.parameters()],
            lr=options.lr,
            betas=(0.9, 0.98),
            weight_decay=options.weight_decay,
        )
        self.step = 0
        self.trained_s = 0.0  # wall time spent training, across resumes
        self.rng = random.Random(options.seed)
        self.generator = torch.Generator().manual_seed(options.seed)
        self.history: list[dict[str, Any]] = []

    def _start_from(self, folder: Path) -> None:
        """Start from another run's last checkpoint (weights and CTC head, fresh optimizer and
        schedule) or from an exported model's weights (and its `ctc/` head, if it has one).
        With its tokenizer in use, every weight;
        with another vocabulary, every weight but the token embeddings (tied to the output
        layer) and the CTC head. The token embeddings of another vocabulary for the same
        languages (a captions run from a words model) are carried over by piece
        (`vocab_transfer`); those of a speech-translation run from an ASR model start fresh."""
        run = folder / "checkpoint_last.pt"
        ctc_head: dict[str, torch.Tensor] | None = None
        if run.is_file():
            state = torch.load(run, map_location="cpu", weights_only=False)  # our own file
            known = {
                k: v for k, v in state["options"].items() if k in TrainOptions.__dataclass_fields__
            }
            config, weights = TrainOptions(**known).model_config(), state["model"]
            ctc_head = state["ctc_head"]
        else:
            bundle = load_bundle(folder)
            config, weights = bundle.config, bundle.model.state_dict()
            if bundle.ctc is not None:  # its ctc/ head (a run's export, scripts/fit_ctc_head.py)
                ctc_head = bundle.ctc.proj.state_dict()
        ours, theirs = self.options.model_config().to_dict(), config.to_dict()
        differs = {key for key in ours if ours[key] != theirs.get(key)}
        if differs - {"vocab_size"}:
            raise ValueError(
                f"--init-from {folder}: its config differs from this run's model options in "
                f"{sorted(differs)}"
            )
        source = _source_tokenizer(folder)
        if differs or source.pieces() != self.tokenizer.pieces():
            kept = {k: v for k, v in weights.items() if k not in TOKEN_WEIGHTS}
            missing = self.model.load_state_dict(kept, strict=False).missing_keys
            assert set(missing) <= TOKEN_WEIGHTS, missing
            moved = 0
            if set(source.lang_codes) == set(self.tokenizer.lang_codes):
                moved = transfer_embeddings(
                    source,
                    weights["model.decoder.embed_tokens.weight"].float(),
                    self.tokenizer,
                    self.model.get_parameter("model.decoder.embed_tokens.weight"),
                )
            log.info(
                "starting from the weights of %s; %d of this run's %d token embeddings start "
                "from its embeddings, by piece",
                folder, moved, ours["vocab_size"],
            )  # fmt: skip
            return
        self.model.load_state_dict(weights)
        if ctc_head is not None:
            self.ctc_head.load_state_dict(ctc_head)
        log.info("starting from the weights of %s", folder)

    def _tokenizer(self) -> Tokenizer:
        """The run's own (a rerun), else `init_from`'s when it has this run's languages and
        spells every ASR target without <unk> (a lower-case one cannot spell captions), else one
        trained on the training targets (English words or captions, or the translations with
        their language tags)."""
        folder = self.out / "tokenizer"
        if (folder / "vocab.json").is_file():
            tokenizer = Tokenizer.from_dir(folder)
            unspelled = _unspelled(tokenizer, self.targets)
            if unspelled is not None:
                raise S2TError(
                    f"{folder}: this run's vocabulary cannot spell its --targets "
                    f"{self.options.targets} (e.g. {unspelled!r}): it was made for other "
                    "targets; rerun with those, or give a new --out"
                )
            return tokenizer
        if self.options.init_from:
            tokenizer = _source_tokenizer(Path(self.options.init_from))
            unspelled = _unspelled(tokenizer, self.targets)
            if tokenizer.lang_codes == self.languages and unspelled is None:
                tokenizer.save(folder)
                return tokenizer
            if unspelled is not None:
                log.warning(
                    "a new vocabulary: the one of %s cannot spell this run's targets (e.g. %r)",
                    self.options.init_from,
                    unspelled,
                )
        texts = self.targets
        if self.languages:
            texts = [
                normalize_translation(found[lang])
                for lang in self.languages
                for found in self.train.translations
                if found.get(lang)
            ]
        return train_sentencepiece(
            texts, folder, self.options.vocab_size, lang_codes=self.languages
        )

    def progress(self) -> float:
        """Fraction of the run done: by steps, or by wall time when that budget is nearer."""
        o = self.options
        by_steps = self.step / o.max_steps
        by_time = self.trained_s / (60 * o.max_minutes) if o.max_minutes > 0 else 0.0
        return max(by_steps, by_time)

    def learning_rate(self) -> float:
        """`warmup_cosine`, the decay spread over the run after the warm-up."""
        o = self.options
        warm = o.warmup_steps / o.max_steps
        decayed = max(0.0, (self.progress() - warm) / max(1e-9, 1 - warm))
        return warmup_cosine(o.lr, self.step, o.warmup_steps, decayed)

    def epoch_batches(self) -> Iterator[list[int]]:
        """Endless epochs of batches of indices into `examples`."""
        lengths = self.train.lengths()[[e.utterance for e in self.examples]]
        while True:
            yield from batches(lengths, self.options.max_frames, self.rng)

    def train_step(self, indices: list[int]) -> tuple[float, int]:
        """One optimizer update on the examples `indices`: (its loss, its valid input frames)."""
        feats, mask, inputs, labels = make_batch(
            self.train,
            [self.examples[i] for i in indices],
            self.tokenizer.pad_id,
            self.tokenizer.eos_id,
        )
        if self.options.spec_augment:
            spec_augment(feats, mask.sum(-1), self.generator)
        feats, mask, inputs, labels = (t.to(self.device) for t in (feats, mask, inputs, labels))
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        with torch.autocast(
            self.device.type,
            dtype=self.autocast or torch.bfloat16,
            enabled=self.autocast is not None,
        ):
            loss = self.loss(feats, mask, inputs, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], 5.0)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach()), int(mask.sum())

    def loss(
        self, feats: torch.Tensor, mask: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Label-smoothed cross-entropy of the decoder, mixed with the encoder's CTC loss
        (`ctc_weight`), plus the guided-attention prior (`guided_attention`)."""
        o = self.options
        encoder = self.model.encode(feats, mask)
        cache = self.model.new_cache(encoder)
        if o.guided_attention > 0:
            cache.align_layers = tuple(range(o.decoder_layers))
        logits = self.model.decode(inputs, cache)
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            ignore_index=self.tokenizer.pad_id,
            label_smoothing=o.label_smoothing,
        )
        if o.ctc_weight > 0:
            loss = (1 - o.ctc_weight) * loss + o.ctc_weight * self.ctc_loss(encoder, labels)
        if o.guided_attention > 0:
            assert cache.alignment is not None
            loss = loss + o.guided_attention * guided_attention_loss(
                cache.alignment,
                (labels != self.tokenizer.pad_id).sum(-1),
                self.encoder_lengths(encoder),
            )
        return loss

    @staticmethod
    def encoder_lengths(encoder: EncoderOutput) -> torch.Tensor:
        batch, frames = encoder.hidden.shape[:2]
        if encoder.mask is not None:
            return encoder.mask.sum(-1)
        return torch.full((batch,), frames, dtype=torch.long, device=encoder.hidden.device)

    def ctc_loss(self, encoder: EncoderOutput, labels: torch.Tensor) -> torch.Tensor:
        """CTC of the encoder frames against the target tokens (eos, language tags and padding
        removed)."""
        logits = self.ctc_head(encoder.hidden).float()
        log_probs = F.log_softmax(logits, -1).transpose(0, 1)  # (S, B, V)
        lengths = self.encoder_lengths(encoder)
        special = [
            self.tokenizer.pad_id,
            self.tokenizer.eos_id,
            *self.tokenizer.lang_code_to_id.values(),
        ]
        keep = ~torch.isin(labels, torch.tensor(special, device=labels.device))
        targets = labels[keep]
        return F.ctc_loss(
            log_probs,
            targets,
            lengths,
            keep.sum(-1),
            blank=self.tokenizer.bos_id,
            zero_infinity=True,
        )

    def run(self) -> None:
        """Train until the run is done: `max_steps` updates, or `max_minutes` of training time
        if that comes first (`progress()` reaches 1; a rerun first resumes from the last
        checkpoint, and a finished run does nothing).

        Each iteration, in this order: stop if done; one update on the next batch (only its
        time counts towards `max_minutes`); every 25 steps, a log line; every `eval_every`
        steps and after the last one, the dev WER (appended to `history`); every `save_every`
        steps and after the last one, a checkpoint (after the evaluation, so it carries that
        history)."""
        o = self.options
        self.resume()
        self._log_start()
        meter = _Meter()
        for indices in self.epoch_batches():
            if self.progress() >= 1.0:
                break
            self._timed_step(indices, meter)
            if self.step % 25 == 0:
                self._log_step(meter)
            last = self.progress() >= 1.0
            if self.step % o.eval_every == 0 or last:
                self._evaluate(meter)
            if self.step % o.save_every == 0 or last:
                self.save()

    def _log_start(self) -> None:
        log.info(
            "training %.1f M parameters on %d utterances (%.1f h), step %d of %d",
            sum(p.numel() for p in self.model.parameters()) / 1e6,
            len(self.train),
            self.train.lengths().sum() / 360000,
            self.step,
            self.options.max_steps,
        )

    def _timed_step(self, indices: list[int], meter: _Meter) -> None:
        """`train_step` in training mode, its time added to `trained_s`, its loss to `meter`."""
        self.model.train()
        tick = time.monotonic()
        loss, frames = self.train_step(indices)
        self.trained_s += time.monotonic() - tick
        meter.losses.append(loss)
        meter.frames += frames

    def _log_step(self, meter: _Meter) -> None:
        log.info(
            "step %d (%.0f %%)  loss %.3f  lr %.2e  %.0f audio-s/s",
            self.step,
            100 * self.progress(),
            meter.recent_loss(),
            self.learning_rate(),
            meter.frames / 100 / max(time.monotonic() - meter.started, 1e-9),
        )

    def _evaluate(self, meter: _Meter) -> None:
        entry: dict[str, Any] = {"step": self.step, "loss": meter.recent_loss()}
        if self.languages:
            entry["dev_bleu"] = bleu = self.dev_bleu()
            log.info("step %d  dev BLEU %s", self.step, _scores(bleu))
        else:
            entry["dev_wer"] = wer = self.dev_wer()
            log.info("step %d  dev WER %.2f %%", self.step, 100 * wer)
        self.history.append(entry)

    def dev_error(self, model: Speech2Text | None = None) -> float:
        """What export minimises: the dev WER, or 1 − the mean dev BLEU / 100."""
        if self.languages:
            return 1 - float(np.mean(list(self.dev_bleu(model).values()))) / 100
        return self.dev_wer(model)

    def dev_wer(self, model: Speech2Text | None = None) -> float:
        """Greedy WER of `model` (default: the one being trained) on the first dev utterances."""
        count = min(len(self.dev), self.options.dev_limit)
        return corpus_wer(self.dev.texts[:count], self._dev_hypotheses(model, count))

    def dev_bleu(self, model: Speech2Text | None = None) -> dict[str, float]:
        """Greedy BLEU (0–100) of `model` (default: the one being trained) per target language,
        on the first dev utterances translated into it."""
        scores: dict[str, float] = {}
        for lang in self.languages:
            found = [i for i, t in enumerate(self.dev.translations) if t.get(lang)]
            chosen = found[: self.options.dev_limit]
            hyps = self._dev_hypotheses(model, chosen, lang)
            refs = [self.dev.translations[i][lang] for i in chosen]
            scores[lang] = corpus_bleu(refs, hyps)
        return scores

    def _dev_hypotheses(
        self, model: Speech2Text | None, utterances: int | Sequence[int], lang: str | None = None
    ) -> list[str]:
        """Greedy decodes of the dev `utterances` (a count: the first ones), into `lang`."""
        model = model or self.model
        model.eval()
        forced = self.tokenizer.lang_code_to_id[lang] if lang else None
        settings = SearchSettings.resolve(
            DecodingOptions(num_beams=1, max_length=200, forced_bos_token_id=forced),
            self.bundle(model).generation,
        )
        chosen = range(utterances) if isinstance(utterances, int) else utterances
        hyps: list[str] = []
        for start in range(0, len(chosen), 16):
            feats = [self.dev.frames(i).astype(np.float32) for i in chosen[start : start + 16]]
            with torch.inference_mode():
                results = search(model, encode_batch(model, feats), settings)
            hyps += [self.tokenizer.decode(h.tokens) for h in results]
        return hyps

    # --- checkpoints ----------------------------------------------------------------------------

    def save(self) -> None:
        state = {
            "step": self.step,
            "trained_s": self.trained_s,
            "model": self.model.state_dict(),
            "ctc_head": self.ctc_head.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "options": asdict(self.options),
            "history": self.history,
            "rng": self.rng.getstate(),
            "generator": self.generator.get_state(),
        }
        path = self.out / f"checkpoint_{self.step:06d}.pt"
        torch.save(state, path)
        torch.save(state, self.out / "checkpoint_last.pt")
        for old in sorted(self.out.glob("checkpoint_0*.pt"))[: -self.options.keep_checkpoints]:
            old.unlink()
        log.info("saved %s", path)

    def resume(self) -> None:
        path = self.out / "checkpoint_last.pt"
        if not path.is_file():
            return
        state = torch.load(path, map_location="cpu", weights_only=False)  # our own file
        theirs = state["options"].get("targets", "words")
        if theirs != self.options.targets:
            raise S2TError(
                f"{path}: this run was trained with --targets {theirs}, not "
                f"{self.options.targets}; rerun with --targets {theirs}, or give a new --out"
            )
        self.model.load_state_dict(state["model"])
        if "ctc_head" in state:
            self.ctc_head.load_state_dict(state["ctc_head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.trained_s = state.get("trained_s", 0.0)
        self.history = state.get("history", [])
        self.rng.setstate(state["rng"])
        self.generator.set_state(state["generator"])
        log.info("resumed from %s at step %d", path, self.step)

    def averaged_model(self, count: int) -> tuple[Speech2Text, CTCHead]:
        """The mean of the last `count` saved checkpoints' weights (smoother than the last
        one): the model and its CTC head."""
        paths = sorted(self.out.glob("checkpoint_0*.pt"))[-count:]
        total: dict[str, dict[str, torch.Tensor]] = {"model": {}, "ctc_head": {}}
        for path in paths:
            state = torch.load(path, map_location="cpu", weights_only=False)
            for part, sums in total.items():
                for key, value in state.get(part, {}).items():  # older runs: no head saved
                    sums[key] = sums.get(key, 0) + value.double() / len(paths)
        model = Speech2Text(self.options.model_config())
        model.load_state_dict({k: v.float() for k, v in total["model"].items()})
        head = self.ctc({k: v.float() for k, v in total["ctc_head"].items()} or None)
        log.info("averaged %d checkpoints: %s", len(paths), ", ".join(p.name for p in paths))
        return model.to(self.device).eval(), head.eval()

    def ctc(self, weights: Mapping[str, torch.Tensor] | None = None) -> CTCHead:
        """The run's CTC head, or one with `weights` (averaged ones), as an exportable head,
        its weight 0: joint decoding stays off until a weight is chosen on a dev set (`eval
        --ctc-weight`)."""
        config = CTCConfig(
            self.options.vocab_size,
            self.options.d_model,
            blank=self.tokenizer.bos_id,
            vocabulary=vocabulary_fingerprint(self.tokenizer.pieces()),
        )
        head = CTCHead(config)
        head.proj.load_state_dict(self.ctc_head.state_dict() if weights is None else weights)
        return head.to("cpu")

    def bundle(self, model: Speech2Text, ctc: CTCHead | None = None) -> Bundle:
        generation = GenerationConfig(num_beams=5, max_length=200, early_stopping=True)
        return Bundle(model, self.tokenizer, generation, FeatureOptions(), str(self.out), ctc=ctc)


def stage_summary(step: int, trained_s: float, options: dict[str, Any]) -> dict[str, Any]:
    """What a model card says about one training stage (runs older than `precision` were fp32)."""
    keys = "out init_from lr warmup_steps max_frames ctc_weight guided_attention spec_augment"
    return {
        "steps": step,
        "minutes": round(trained_s / 60, 1),
        **{k: options.get(k) for k in keys.split()},
        "precision": options.get("precision", "fp32"),
    }


def lineage(run: Path) -> list[dict[str, Any]]:
    """Every training stage behind a run's last checkpoint, oldest first: the run and the runs
    its `init_from` chains back through (an exported model ends the chain: its card has the
    rest)."""
    stages: list[dict[str, Any]] = []
    source = str(run)
    while source and (Path(source) / "checkpoint_last.pt").is_file():
        path = Path(source) / "checkpoint_last.pt"
        state = torch.load(path, map_location="cpu", weights_only=False)  # our own file
        stages.insert(
            0, stage_summary(state["step"], state.get("trained_s", 0.0), state["options"])
        )
        source = state["options"].get("init_from", "")
    if source:
        stages.insert(0, {"init_from": source})
    return stages


def export(trainer: Trainer, destination: Path, average: int, ctc_weight: float = 0.0) -> Path:
    """Average the last checkpoints, keep them if they beat the last one on dev (WER, or BLEU
    for speech translation), write the HF layout; a speech-recognition run trained with a CTC
    loss adds its CTC head in `ctc/`, with `ctc_weight` (μ, chosen on dev; 0: off) as the
    default joint-decoding weight of beam search."""
    last = trainer.dev_error()
    averaged, averaged_head = trainer.averaged_model(average)
    averaged_error = trainer.dev_error(averaged)
    best = averaged if averaged_error <= last else trainer.model
    head: CTCHead | None = averaged_head if best is averaged else trainer.ctc()
    if not trainer.options.exports_ctc_head():
        head = None
    if head is not None:
        head.config = replace(head.config, weight=ctc_weight)
    log.info("dev: last %s, averaged %s", _shown(trainer, last), _shown(trainer, averaged_error))
    save_bundle(trainer.bundle(best, head), destination, dtype=torch.float16)
    if trainer.languages:  # the mean BLEU (0-100)
        scores = {
            "dev_bleu_last": 100 * (1 - last),
            "dev_bleu_averaged": 100 * (1 - averaged_error),
        }
    else:
        scores = {"dev_wer_last": last, "dev_wer_averaged": averaged_error}
    summary = {
        **scores,
        "used": "averaged" if best is averaged else "last",
        "step": trainer.step,
        "options": asdict(trainer.options),
        "history": trainer.history,
    }
    (Path(trainer.options.out) / "export.json").write_text(json.dumps(summary, indent=2))
    return destination


def _unspelled(tokenizer: Tokenizer, texts: Sequence[str]) -> str | None:
    """The first text `tokenizer` encodes with an unknown piece (None: it spells them all)."""
    return next((t for t in texts if tokenizer.unk_id in tokenizer.encode(t)), None)


def _source_tokenizer(folder: Path) -> Tokenizer:
    """The tokenizer of a run directory (its `tokenizer/`) or of an exported model."""
    return Tokenizer.from_dir(folder / "tokenizer" if (folder / "tokenizer").is_dir() else folder)


def _shown(trainer: Trainer, error: float) -> str:
    """A `dev_error` as people read it: the mean BLEU, or the WER in per cent."""
    return f"BLEU {100 * (1 - error):.2f}" if trainer.languages else f"WER {100 * error:.2f} %"


def _scores(scores: Mapping[str, float]) -> str:
    return ", ".join(f"{key} {value:.2f}" for key, value in scores.items())
