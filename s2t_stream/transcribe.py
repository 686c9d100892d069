"""Offline transcription: audio samples or files → features → encoder → search → text.
One `Transcriber` per loaded checkpoint; it holds no per-utterance state."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.features import extract_features
from s2t_stream.model.network import encode_batch
from s2t_stream.model.search import DecodingOptions, Hypothesis, SearchSettings, search

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscribeOptions:
    """What to produce: search settings, target language (translation models), batch size."""

    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    tgt_lang: str | None = None
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"TranscribeOptions.batch_size must be ≥ 1, got {self.batch_size}")


@dataclass(frozen=True)
class Transcript:
    """One input's result."""

    text: str
    tokens: tuple[int, ...]
    score: float
    duration_s: float
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "text": self.text, "duration_s": round(self.duration_s, 3)}


class Transcriber:
    """Transcribe (or translate) whole utterances with one checkpoint."""

    def __init__(self, bundle: Bundle, options: TranscribeOptions = TranscribeOptions()) -> None:
        self.bundle = bundle
        self.options = options
        self.settings = SearchSettings.resolve(self._with_language(options), bundle.generation)

    def _with_language(self, options: TranscribeOptions) -> DecodingOptions:
        token = self.bundle.language_token(options.tgt_lang)
        if token is None:
            return options.decoding
        return replace(options.decoding, forced_bos_token_id=token)

    @property
    def sample_rate(self) -> int:
        return self.bundle.features.sample_rate

    def hypotheses(self, waveforms: Sequence[np.ndarray]) -> list[Hypothesis]:
        """Best hypothesis for each mono float32 waveform at the model's rate, in one batch."""
        features = [extract_features(w, self.bundle.features) for w in waveforms]
        longest, limit = max(len(f) for f in features), self.bundle.config.max_source_positions
        if longest > limit:
            log.warning(
                "input has %d feature frames, more than the %d the model was trained on; "
                "accuracy may drop (the streaming engine segments long audio)",
                longest,
                limit,
            )
        model = self.bundle.model
        encoder = encode_batch(model, features)
        with torch.inference_mode():
            return search(model, encoder, self.settings)

    def transcribe(self, waveforms: Sequence[np.ndarray]) -> list[Transcript]:
        """Text for each waveform, batched by `options.batch_size`."""
        results: list[Transcript] = []
        size = self.options.batch_size
        for start in range(0, len(waveforms), size):
            batch = waveforms[start : start + size]
            for wave, hyp in zip(batch, self.hypotheses(batch), strict=True):
                text = self.bundle.tokenizer.decode(hyp.tokens)
                results.append(
                    Transcript(text, hyp.tokens, hyp.score, len(wave) / self.sample_rate)
                )
        return results

    def transcribe_files(self, paths: Iterable[str | Path]) -> Iterator[Transcript]:
        """Load, transcribe and yield each file's transcript in order (batches of batch_size)."""
        pending: list[tuple[str, np.ndarray]] = []
        for path in paths:
            pending.append((str(path), load_audio(path, self.sample_rate)))
            if len(pending) == self.options.batch_size:
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def _flush(self, pending: list[tuple[str, np.ndarray]]) -> Iterator[Transcript]:
        if not pending:
            return
        results = self.transcribe([wave for _, wave in pending])
        for (path, _), result in zip(pending, results, strict=True):
            yield Transcript(result.text, result.tokens, result.score, result.duration_s, path)
