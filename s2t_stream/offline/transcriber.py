"""`Transcriber`: recordings of any length → segments at voice activity (as the streaming engine
cuts them) → batched search, loop guard → text with segment and word times."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.features import extract_features
from s2t_stream.model.incremental import align_tokens
from s2t_stream.model.loops import collapse_repeats, heard, token_budget
from s2t_stream.model.network import encode_batch
from s2t_stream.model.search import Hypothesis, SearchSettings, search
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcription import TimedText, Transcription
from s2t_stream.streaming.endpoint import Span, find_segments, split_long
from s2t_stream.streaming.stream import MIN_WINDOW
from s2t_stream.streaming.words import FBANK_FRAME_S, Vocabulary, timed_words

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    recording: int
    span: Span


class Transcriber:
    """Transcribe (or translate) recordings with one checkpoint; it holds no per-recording state."""

    def __init__(self, bundle: Bundle, options: TranscribeOptions = TranscribeOptions()) -> None:
        self.bundle = bundle
        self.options = options
        decoding = options.decoding
        token = bundle.language_token(options.tgt_lang)
        if token is not None:
            decoding = replace(decoding, forced_bos_token_id=token)
        self.settings = SearchSettings.resolve(decoding, bundle.generation, bundle.lm, bundle.ctc)
        forced = self.settings.forced_bos_token_id
        self.prefix = (self.settings.start_id, *([forced] if forced is not None else []))
        config = bundle.config
        self.vocabulary = Vocabulary.of(
            bundle.tokenizer.id_to_piece,
            bundle.tokenizer.decode,
            config.vocab_size,
            subsampling=2**config.num_conv_layers,
            prefix_length=len(self.prefix),
        )

    @property
    def sample_rate(self) -> int:
        return self.bundle.features.sample_rate

    def transcribe(self, waveforms: Sequence[np.ndarray]) -> list[Transcription]:
        """A transcription of each mono float32 waveform at the model's rate. The segments of
        all of them are decoded together, `batch_size` at a time, longest first."""
        jobs = [_Job(n, span) for n, wave in enumerate(waveforms) for span in self.spans(wave)]
        jobs.sort(key=lambda job: job.span.stop - job.span.start, reverse=True)
        results: dict[_Job, TimedText] = {}
        size = self.options.batch_size
        for first in range(0, len(jobs), size):
            batch = jobs[first : first + size]
            pieces = [waveforms[j.recording][j.span.start : j.span.stop] for j in batch]
            results.update(zip(batch, self._decode(pieces, [j.span for j in batch]), strict=True))
        ordered = sorted(results, key=lambda job: job.span.start)
        return [
            Transcription(
                tuple(results[job] for job in ordered if job.recording == n),
                len(wave) / self.sample_rate,
            )
            for n, wave in enumerate(waveforms)
        ]

    def transcribe_files(self, paths: Iterable[str | Path]) -> Iterator[Transcription]:
        """Load and transcribe each file in order (AudioError for one that cannot be read)."""
        for path in paths:
            (result,) = self.transcribe([load_audio(path, self.sample_rate)])
            yield replace(result, path=str(path))

    def spans(self, wave: np.ndarray) -> list[Span]:
        """Where `wave` is transcribed: its speech segments (`vad`; blips too short to decode
        left out), else all of it; long stretches cut at pauses."""
        options, rate = self.options, self.sample_rate
        if not options.vad:  # never longer than the model's input limit (fairseq's filter)
            limit_s = self.bundle.config.max_source_positions * FBANK_FRAME_S - 1.0
            return split_long(wave, rate, options.endpoint, min(limit_s, options.max_segment_s))
        spans = find_segments(wave, rate, options.endpoint, options.max_segment_s)
        shortest = round(MIN_WINDOW * FBANK_FRAME_S * rate)
        return [span for span in spans if span.stop - span.start >= shortest]

    def _decode(self, pieces: list[np.ndarray], spans: list[Span]) -> list[TimedText]:
        """Search, loop guard and word times for one batch of audio pieces."""
        model = self.bundle.model
        mask = self.options.band_mask
        features = [extract_features(p, self.bundle.features, band_mask=mask) for p in pieces]
        encoder = encode_batch(model, features, isolate_rows=True)
        budgets = [token_budget(len(p) / self.sample_rate) for p in pieces]
        settings = self.settings
        if self.options.loop_guard:  # no hypothesis may outgrow its audio: stop the search there
            longest = len(self.prefix) + max(budgets) + 1
            settings = replace(settings, max_length=min(settings.max_length, longest))
        hypotheses = search(model, encoder, settings, self.bundle.lm, self.bundle.ctc)
        tokens = [self._tokens(h, b) for h, b in zip(hypotheses, budgets, strict=True)]
        alignments = align_tokens(
            model,
            encoder,
            [[*self.prefix, *t] for t in tokens],
            pad_id=settings.pad_id,
            align_layers=tuple(range(self.bundle.config.decoder_layers)),
        )
        skip = len(self.prefix) - 1  # the forced language tag's
        frames = [list(a.frames[skip:]) for a in alignments]
        log_probs = [list(a.log_probs[skip:]) for a in alignments]
        if self.options.loop_guard:  # no text invented after the audio ran out
            lengths = [self.vocabulary.encoder_frames(len(feat)) for feat in features]
            supported = [heard(t, f, n) for t, f, n in zip(tokens, frames, lengths, strict=True)]
            tokens = [t[:k] for t, k in zip(tokens, supported, strict=True)]
        return [
            self._timed(t, f, p, len(feat), span)
            for t, f, p, feat, span in zip(tokens, frames, log_probs, features, spans, strict=True)
        ]

    def _tokens(self, hypothesis: Hypothesis, budget: int) -> list[int]:
        """The hypothesis's words: forced language tag and eos removed, loops cut back."""
        tokens = list(hypothesis.tokens[len(self.prefix) - 1 :])
        if tokens and tokens[-1] == self.settings.eos_id:
            tokens.pop()
        if self.options.loop_guard:
            tokens = tokens[:budget]
            tokens = [tokens[i] for i in collapse_repeats(tokens)]
        return tokens

    def _timed(
        self, tokens: list[int], frames: list[int], log_probs: list[float], length: int, span: Span
    ) -> TimedText:
        """One segment's text and words; `frames` and `log_probs` may run past `tokens` (the
        loop guard's cut), the rest is ignored."""
        sub = self.vocabulary.subsampling
        anchors = [f * sub + sub // 2 for f in frames[: len(tokens)]]
        words = timed_words(tokens, anchors, 0, length, self.vocabulary, log_probs[: len(tokens)])
        offset = span.start / self.sample_rate
        shifted = tuple(
            replace(w, start_s=w.start_s + offset, end_s=w.end_s + offset) for w in words
        )
        return TimedText(
            offset,
            span.stop / self.sample_rate,
            self.bundle.tokenizer.decode(tokens),
            tuple(tokens),
            shifted,
        )
