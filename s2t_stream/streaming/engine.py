"""The streaming engine, sans I/O: one shared model serving many `Stream`s, each round of due
updates run as one batched model call."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.ctc import CTCPrefixScorer, resolve_ctc_weight
from s2t_stream.model.incremental import continue_greedy
from s2t_stream.model.lm import resolve_lm_weight
from s2t_stream.model.loops import token_budget
from s2t_stream.model.network import EncoderOutput, concat_outputs, encode_batch
from s2t_stream.model.search import CTC_CANDIDATES
from s2t_stream.streaming.stream import Job, Result, Stream, StreamOptions
from s2t_stream.streaming.vad import label_together
from s2t_stream.streaming.words import FBANK_FRAME_S, Vocabulary

BUCKET_SLACK = 1.3  # windows batched together differ in length by at most this factor


class Engine:
    """One loaded checkpoint serving any number of streams. `step` takes the updates that are
    due on the streams it is given, runs them as one batched model call, and hands each result
    back to its stream, which commits, cuts and emits events itself. Per segment it re-encodes
    the window the stream asks for, re-forces the committed tokens in one teacher-forced pass
    (checking the last update's tentative tokens in the same pass, so those that still hold
    cost no decoding step) and continues greedily, stopping shortly after the first token that
    attends past the policy's border (AlignAtt).

    Thread-safety contract: after construction an engine holds no mutable state of its own and
    the model is only read (its position table grows under a lock), so several threads may call
    `step` at once, each with its own streams; a `Stream` is driven by one thread at a time.
    (The `clock` attribute is read by streams opened afterwards: set it before opening them.)
    Nothing here opens sockets, sleeps or starts threads."""

    def __init__(
        self,
        bundle: Bundle,
        options: StreamOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.bundle = bundle
        self.options = options = options or StreamOptions()
        self.clock = clock  # stamps events' wall_s (read by each stream opened afterwards)
        self.timer = timer  # measures compute time
        config, generation, tokenizer = bundle.config, bundle.generation, bundle.tokenizer
        forced = bundle.language_token(options.tgt_lang)
        if forced is None:
            forced = generation.forced_bos_token_id
        self.prefix = (generation.decoder_start_token_id, *([forced] if forced is not None else []))
        layers = options.align_layers or tuple(range(config.decoder_layers))
        if not all(0 <= i < config.decoder_layers for i in layers):
            raise ValueError(
                f"align_layers must name decoder layers 0…{config.decoder_layers - 1}, got {layers}"
            )
        self.align_layers = layers
        self.vocabulary = Vocabulary.of(
            tokenizer.id_to_piece,
            tokenizer.decode,
            config.vocab_size,
            subsampling=2**config.num_conv_layers,
            prefix_length=len(self.prefix),
        )
        self.word_starts = torch.tensor(self.vocabulary.starts_word)
        self.lm_weight = resolve_lm_weight(options.lm_weight, bundle.lm, bundle.source, greedy=True)
        self.ctc_weight = resolve_ctc_weight(
            options.ctc_weight, bundle.ctc, bundle.source, greedy=True
        )

    @property
    def sample_rate(self) -> int:
        """The model's input rate (streams resample to it)."""
        return self.bundle.features.sample_rate

    def open(self, sample_rate: int | None = None) -> Stream:
        """A new stream taking audio at `sample_rate` Hz (default: the model's rate)."""
        rate = self.sample_rate if sample_rate is None else sample_rate
        return Stream(self.options, self.bundle.features, self.vocabulary, rate, self.clock)

    def step(self, streams: Sequence[Stream], *, finals_only: bool = False) -> int:
        """Run every update due on these streams, batched; events land in each stream.
        `finals_only`: just the finals (a server sends them before the slower partials).
        Returns the number of segment updates run (0: nothing was due)."""
        label_together([s.vad for s in streams if s.vad is not None])  # one VAD call for all
        count = 0
        while jobs := [job for stream in streams for job in stream.due(finals_only)]:
            started = self.timer()
            self._run(jobs, [job.stream.window(job) for job in jobs])
            elapsed = self.timer() - started
            for job in jobs:  # each stream waited for the whole round
                job.stream.last_compute_s = elapsed
            count += len(jobs)
        return count

    # --- one batched update ---------------------------------------------------------------------

    def _encode(self, windows: list[np.ndarray]) -> EncoderOutput:
        """Encode windows (shortest first) in batches of similar length, where padding would
        waste compute, and join the outputs into one batch for the search (a decoding step
        costs about the same for one row as for many)."""
        batches: list[list[np.ndarray]] = []
        for window in windows:
            if batches and len(window) <= BUCKET_SLACK * len(batches[-1][0]):
                batches[-1].append(window)
            else:
                batches.append([window])
        model = self.bundle.model
        return concat_outputs([encode_batch(model, batch, isolate_rows=True) for batch in batches])

    def _run(self, jobs: list[Job], windows: list[np.ndarray | None]) -> None:
        """Decode the jobs' windows in one search, then hand each job its result in the jobs'
        own order — each stream's audio order, so that its events and the ids its segments
        get are in audio order too. A job without a window (too short to decode) gets None."""
        rows = [(i, window) for i, window in enumerate(windows) if window is not None]
        found = self._search([jobs[i] for i, _ in rows], [window for _, window in rows])
        results = {i: result for (i, _), result in zip(rows, found, strict=True)}
        for i, (job, window) in enumerate(zip(jobs, windows, strict=True)):
            job.stream.apply(job, results.get(i), 0 if window is None else len(window))

    def _search(self, jobs: list[Job], windows: list[np.ndarray]) -> list[Result]:
        """One batched search over the windows, encoded shortest first (`_encode`); each job's
        result, in the order given."""
        if not jobs:
            return []
        order = sorted(range(len(jobs)), key=lambda i: len(windows[i]))
        jobs, windows = [jobs[i] for i in order], [windows[i] for i in order]
        subsampling = self.vocabulary.subsampling
        rate = self.options.tokens_per_s
        budgets = [token_budget(len(w) * FBANK_FRAME_S, rate) for w in windows]
        encoder = self._encode(windows)
        generation = self.bundle.generation
        joint = CTCPrefixScorer(
            self.bundle.ctc,
            self.ctc_weight,
            encoder,
            candidates=CTC_CANDIDATES,
            skip=(generation.pad_token_id, *self.prefix[1:]),
            eos=generation.eos_token_id,
        )
        results = continue_greedy(
            self.bundle.model,
            encoder,
            [[*self.prefix, *j.segment.committed] for j in jobs],
            eos_id=generation.eos_token_id,
            pad_id=generation.pad_token_id,
            max_new=budgets,
            align_layers=self.align_layers,
            word_starts=self.word_starts,
            at_boundary=[bool(j.segment.committed) for j in jobs],
            border=[
                None if j.final else j.segment.policy.border(math.ceil(len(w) / subsampling))
                for j, w in zip(jobs, windows, strict=True)
            ],
            lookahead=self.options.policy.lookahead,
            drafts=[j.segment.draft for j in jobs],
            lm=self.bundle.lm,
            lm_weight=self.lm_weight,
            ctc=joint,
        )
        unsorted: list[Result | None] = [None] * len(jobs)
        for i, result in zip(order, results, strict=True):
            unsorted[i] = Result(result.tokens, result.frames, result.log_probs)
        return [result for result in unsorted if result is not None]
