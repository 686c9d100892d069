"""The streaming engine, sans I/O: one shared model, one `Stream` state per microphone or
connection. Push audio into a stream (`accept`, any chunk size), call `Engine.step` with one or
many streams — every update that is due runs in one batched model call — and drain each stream's
events. No threads, sockets or sleeps: the CLI, the server, the GUI and the tests drive it alike.

Per segment (found by the endpointer) the engine re-encodes the segment's audio every `step_s`
seconds of new audio (or `step_growth` × the segment's length, when more: a long segment's
re-encodes would otherwise cost the square of its length; more still when compute falls behind),
re-forces the committed tokens in one teacher-forced pass (checking the last update's tentative
tokens in the same pass, so those that still hold cost no decoding step), continues greedily,
and lets the commit policy move stable tokens from tentative to committed. A segment ends with
a `final` after trailing silence, or is cut at a committed word boundary when it grows longer
than `max_segment_s`, so the cost of an update never grows with the length of the stream."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from s2t_stream.audio import StreamResampler, check_samples
from s2t_stream.checkpoint import Bundle
from s2t_stream.cmvn import CmvnOptions, Normaliser
from s2t_stream.endpoint import Boundary, Endpointer, EndpointOptions, VoiceActivity
from s2t_stream.errors import AudioError
from s2t_stream.events import Event, Final, Partial, Word
from s2t_stream.features import OnlineFbank, pad_batch
from s2t_stream.incremental import Continuation, continue_greedy
from s2t_stream.model import EncoderOutput, concat_outputs
from s2t_stream.policy import Policy, PolicyOptions, make_policy, word_boundary
from s2t_stream.transcribe import language_token

FRAME_S = 0.01  # one fbank frame (10 ms shift)
MIN_WINDOW = 20  # frames: shorter windows are not worth an update
BUCKET_SLACK = 1.3  # windows batched together differ in length by at most this factor


@dataclass(frozen=True)
class StreamOptions:
    """How the engine streams. `endpoint=None` turns segmentation off: the whole stream is one
    segment, cut only at `max_segment_s` (the whisper_streaming-like baseline)."""

    step_s: float = 1.0  # new audio between two updates of the open segment
    step_growth: float = 0.5  # the step grows to this × the open segment's length
    compute_factor: float = 4.0  # the step grows to this × the last update's compute time
    policy: PolicyOptions = field(default_factory=PolicyOptions)
    cmvn: CmvnOptions = field(default_factory=CmvnOptions)
    endpoint: EndpointOptions | None = field(default_factory=EndpointOptions)
    max_segment_s: float = 15.0
    tokens_per_s: float = 8.0  # generation budget per second of window (stops runaway loops)
    tgt_lang: str | None = None
    align_layers: tuple[int, ...] | None = None  # decoder layers for alignment (None: all)

    def __post_init__(self) -> None:
        if self.step_s <= 0:
            raise ValueError(f"StreamOptions.step_s must be > 0, got {self.step_s}")
        if self.compute_factor < 0:
            raise ValueError(f"StreamOptions.compute_factor must be ≥ 0, got {self.compute_factor}")
        if not 0 <= self.step_growth <= 1:
            raise ValueError(f"StreamOptions.step_growth must be in [0, 1], got {self.step_growth}")
        if self.max_segment_s < 1:
            raise ValueError(f"StreamOptions.max_segment_s must be ≥ 1, got {self.max_segment_s}")


@dataclass(eq=False)  # segments are compared by identity
class Segment:
    """The decoding state of one segment: its window start, committed tokens and policy."""

    start: int  # absolute fbank frame where its window starts
    policy: Policy
    end: int | None = None  # absolute frame where it closed (None: still open)
    committed: list[int] = field(default_factory=list)
    anchors: list[int] = field(default_factory=list)  # absolute frame of each committed token
    draft: list[int] = field(default_factory=list)  # the last update's tentative tokens
    updated_at: int = 0  # frames available at its last update
    shown: tuple[str, str] = ("", "")  # the last partial's (committed, tentative)
    id: int | None = None  # given when it first emits an event


class Stream:
    """One microphone's or connection's state. `accept` audio, let the engine `step`, then
    `events()`; `finish` at the end of input (the next step emits the last final)."""

    def __init__(self, engine: Engine, sample_rate: int, opened_at: float) -> None:
        self.options = engine.options
        self.features = engine.bundle.features
        self.sample_rate = sample_rate
        self.opened_at = opened_at
        self.resampler = StreamResampler(sample_rate, self.features.sample_rate)
        self.fbank = OnlineFbank(self.features)
        self.normaliser = Normaliser(self.options.cmvn, self.features)
        endpoint = self.options.endpoint
        self.vad = VoiceActivity(self.features.sample_rate, endpoint) if endpoint else None
        self.endpointer = Endpointer(endpoint) if endpoint else None
        self.make_policy = engine.make_policy
        self.raw = np.zeros((0, self.features.num_mel_bins), dtype=np.float32)
        self.raw_start = 0  # absolute frame of raw[0]
        self.samples_in = 0
        self.open: Segment | None = None if endpoint else Segment(0, engine.make_policy())
        self.closing: list[Segment] = []
        self.outbox: list[Event] = []
        self.next_id = 0
        self.last_compute_s = 0.0
        self.finished = False

    # --- input ----------------------------------------------------------------------------------

    @property
    def audio_s(self) -> float:
        """Seconds of input accepted so far."""
        return self.samples_in / self.sample_rate

    @property
    def available(self) -> int:
        """Absolute index one past the last fbank frame computed."""
        return self.raw_start + len(self.raw)

    @property
    def done(self) -> bool:
        """Input finished and every segment finalised."""
        return self.finished and self.open is None and not self.closing

    def accept(self, samples: np.ndarray) -> None:
        """Take mono float samples in [-1, 1] at the stream's rate (any count, including 0)."""
        if self.finished:
            raise RuntimeError("Stream.accept() called after finish()")
        array = check_samples(samples, where="Stream.accept")
        if array.ndim != 1:
            raise AudioError(f"Stream.accept: expected mono samples (n,), got {array.shape}")
        self.samples_in += len(array)
        self._take(self.resampler.process(array), self.fbank.accept)

    def finish(self) -> None:
        """End of input: the open segment closes at the last frame."""
        if self.finished:
            return
        self._take(self.resampler.flush(), self.fbank.accept)
        self._take(np.zeros(0, dtype=np.float32), lambda _: self.fbank.finish())
        self.finished = True
        self.finalize()

    def finalize(self) -> None:
        """Close the open segment now (the next step emits its final); audio goes on."""
        if self.open is None:
            return
        self._close_open(self.available)
        if self.endpointer is not None:
            self.endpointer.interrupt(self.available * FRAME_S)
        elif not self.finished:  # without endpointing the next segment starts right away
            self.open = Segment(self.available, self.make_policy(), updated_at=self.available)

    def events(self) -> list[Event]:
        """The events made since the last call, oldest first."""
        out, self.outbox = self.outbox, []
        return out

    def _take(self, samples: np.ndarray, fbank: Callable[[np.ndarray], np.ndarray]) -> None:
        frames = fbank(samples)
        if len(frames):
            self.raw = np.concatenate([self.raw, frames])
        if self.vad is not None and self.endpointer is not None:
            for boundary in self.endpointer.accept(self.vad.accept(samples)):
                self._boundary(boundary)
        self._forget_old_frames()

    def _boundary(self, boundary: Boundary) -> None:
        frame = round(boundary.time_s / FRAME_S)
        if boundary.kind == "start":
            self.open = Segment(frame, self.make_policy(), updated_at=frame)
        elif self.open is not None:
            self._close_open(frame)

    def _close_open(self, frame: int) -> None:
        """The open segment ends at `frame`; its final is due at the next step."""
        assert self.open is not None
        self.open.end = max(frame, self.open.start)
        self.closing.append(self.open)
        self.open = None

    def _forget_old_frames(self) -> None:
        """Drop frames no segment needs (a pre-roll's worth is kept for the next one)."""
        starts = [s.start for s in [*self.closing, *([self.open] if self.open else [])]]
        pre_roll = self.options.endpoint.pre_roll_s if self.options.endpoint else 0.0
        keep = min(starts, default=self.available - round((pre_roll + 0.5) / FRAME_S))
        drop = keep - self.raw_start
        if drop > 0:
            self.raw = self.raw[drop:]
            self.raw_start += drop

    def frames(self, start: int, stop: int) -> np.ndarray:
        return self.raw[max(0, start - self.raw_start) : max(0, stop - self.raw_start)]

    def _heard_speech_since(self, frame: int) -> bool:
        if self.endpointer is None:
            return True
        return self.endpointer.last_speech_s > frame * FRAME_S

    # --- scheduling -----------------------------------------------------------------------------

    def due(self, finals_only: bool = False) -> list[Job]:
        """Updates to run now: finals of closed segments, then (unless `finals_only`) the open
        segment's update once `step_s` of new audio arrived (or more: `step_growth` × its
        length, `compute_factor` × the last update's compute time). A segment longer than
        `max_segment_s` gets a window of that length, which the engine cuts."""
        longest = round(self.options.max_segment_s / FRAME_S)
        jobs = []
        for segment in self.closing:
            assert segment.end is not None
            if segment.end - segment.start > longest:
                jobs.append(Job(self, segment, segment.start + longest, cut=True))
            else:
                jobs.append(Job(self, segment, segment.end, final=True))
        current = self.open
        if current is not None and not finals_only:
            options = self.options
            length_s = (self.available - current.start) * FRAME_S
            step = max(
                options.step_s,
                options.step_growth * length_s,
                options.compute_factor * self.last_compute_s,
            )
            new = self.available - current.updated_at
            if self.available - current.start > longest:
                jobs.append(Job(self, current, current.start + longest, cut=True))
            elif new >= round(step / FRAME_S) and self.available - current.start >= MIN_WINDOW:
                spoke = self._heard_speech_since(current.updated_at)
                current.updated_at = self.available
                if spoke:  # trailing silence changes nothing worth a re-encode
                    jobs.append(Job(self, current, self.available))
        return jobs


@dataclass
class Job:
    """One segment's window to encode and decode in this step."""

    stream: Stream
    segment: Segment
    stop: int  # absolute frame one past the window's end
    final: bool = False  # decode to the end and close the segment
    cut: bool = False  # the window is max_segment_s long: close at a committed word boundary


class Engine:
    """One loaded checkpoint serving any number of streams."""

    def __init__(
        self,
        bundle: Bundle,
        options: StreamOptions = StreamOptions(),
        *,
        clock: Callable[[], float] = time.monotonic,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.bundle = bundle
        self.options = options
        self.clock = clock
        self.timer = timer
        config, generation, tokenizer = bundle.config, bundle.generation, bundle.tokenizer
        self.subsampling = 2**config.num_conv_layers
        forced = language_token(bundle, options.tgt_lang)
        if forced is None:
            forced = generation.forced_bos_token_id
        self.prefix = [generation.decoder_start_token_id, *([forced] if forced is not None else [])]
        layers = options.align_layers or tuple(range(config.decoder_layers))
        if not all(0 <= i < config.decoder_layers for i in layers):
            raise ValueError(
                f"align_layers must name decoder layers 0…{config.decoder_layers - 1}, got {layers}"
            )
        self.layers = layers
        self.starts_word = [
            tokenizer.id_to_piece(i).startswith("\u2581") for i in range(config.vocab_size)
        ]
        self.word_starts = torch.tensor(self.starts_word)

    @property
    def sample_rate(self) -> int:
        """The model's input rate (streams resample to it)."""
        return self.bundle.features.sample_rate

    def make_policy(self) -> Policy:
        return make_policy(self.options.policy, self.subsampling * FRAME_S)

    def open(self, sample_rate: int | None = None) -> Stream:
        """A new stream taking audio at `sample_rate` Hz (default: the model's rate)."""
        rate = self.bundle.features.sample_rate if sample_rate is None else sample_rate
        return Stream(self, rate, self.clock())

    def step(self, streams: Sequence[Stream], *, finals_only: bool = False) -> int:
        """Run every update due on these streams, batched; events land in each stream.
        `finals_only`: just the finals (a server sends them before the slower partials).
        Returns the number of segment updates run (0: nothing was due)."""
        count = 0
        while jobs := [job for stream in streams for job in stream.due(finals_only)]:
            started = self.timer()
            if windows := self._windows(jobs):
                self._run(windows)
            elapsed = self.timer() - started
            for job in jobs:  # each stream waited for the whole round
                job.stream.last_compute_s = elapsed
            count += len(jobs)
        return count

    # --- one batched update ---------------------------------------------------------------------

    def _windows(self, jobs: list[Job]) -> list[tuple[Job, np.ndarray]]:
        """Each job's normalised window, shortest first; a window too short to decode can only
        be a final's, of a blip with nothing to say."""
        windows = []
        for job in jobs:
            window = job.stream.normaliser(job.stream.frames(job.segment.start, job.stop))
            if len(window) >= MIN_WINDOW:
                windows.append((job, window))
            else:
                self._close(job, [], [])
        return sorted(windows, key=lambda pair: len(pair[1]))

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
        param = next(model.parameters())
        outputs = []
        with torch.inference_mode():
            for batch in batches:
                feats, mask = pad_batch(batch)
                outputs.append(
                    model.encode(
                        feats.to(param.device, param.dtype),
                        mask.to(param.device) if len(batch) > 1 else None,
                        isolate_rows=True,
                    )
                )
        return concat_outputs(outputs)

    def _run(self, pairs: list[tuple[Job, np.ndarray]]) -> None:
        jobs = [job for job, _ in pairs]
        windows = [window for _, window in pairs]
        prefixes = [[*self.prefix, *j.segment.committed] for j in jobs]
        budgets = [10 + math.ceil(len(w) * FRAME_S * self.options.tokens_per_s) for w in windows]
        results = continue_greedy(
            self.bundle.model,
            self._encode(windows),
            prefixes,
            eos_id=self.bundle.generation.eos_token_id,
            pad_id=self.bundle.generation.pad_token_id,
            max_new=budgets,
            record=self.layers,
            word_starts=self.word_starts,
            at_boundary=[bool(j.segment.committed) for j in jobs],
            border=[
                None if j.final else j.segment.policy.border(self._encoder_frames(len(w)))
                for j, w in zip(jobs, windows, strict=True)
            ],
            lookahead=self.options.policy.lookahead,
            drafts=[j.segment.draft for j in jobs],
        )
        for job, window, result in zip(jobs, windows, results, strict=True):
            self._apply(job, result, len(window))

    def _apply(self, job: Job, result: Continuation, frames: int) -> None:
        segment = job.segment
        known = len(self.prefix) - 1 + len(segment.committed)  # tokens predicted before these
        anchors = [
            segment.start + f * self.subsampling + self.subsampling // 2 for f in result.frames
        ]
        segment.anchors = anchors[len(self.prefix) - 1 : known]  # re-estimated on this window
        new_anchors = anchors[known:]
        tokens = list(result.tokens)
        if job.final:
            self._close(job, tokens, new_anchors)
            return
        stable = segment.policy.stable(tokens, result.frames[known:], self._encoder_frames(frames))
        count = word_boundary(tokens, stable, self.starts_word)
        segment.policy.committed(count)
        segment.committed += tokens[:count]
        segment.anchors += new_anchors[:count]
        tokens, new_anchors = tokens[count:], new_anchors[count:]
        segment.draft = tokens
        if job.cut:
            self._cut(job, tokens, new_anchors)
        else:
            self._partial(job.stream, segment, tokens)

    def _encoder_frames(self, frames: int) -> int:
        return math.ceil(frames / self.subsampling)

    def _partial(self, stream: Stream, segment: Segment, tentative: list[int]) -> None:
        decode = self.bundle.tokenizer.decode
        shown = (decode(segment.committed), decode(tentative))
        if shown == segment.shown:
            return
        segment.shown = shown
        stream.outbox.append(
            Partial(self._id(stream, segment), *shown, stream.audio_s, self._wall(stream))
        )

    def _cut(self, job: Job, tentative: list[int], anchors: list[int]) -> None:
        """Close the over-long segment after its committed words (all words when none are
        committed); a new segment continues from there with the same end, if it had one."""
        segment, stream = job.segment, job.stream
        if segment.committed:
            last = segment.anchors[-1]
            cut = (last + anchors[0]) // 2 if anchors else job.stop
            cut = min(max(cut, last + 1), job.stop)
        else:
            segment.committed, segment.anchors, cut = tentative, anchors, job.stop
        rest = Segment(cut, self.make_policy(), end=segment.end, updated_at=cut)
        segment.end = cut
        self._close(Job(stream, segment, cut, final=True), [], [])
        if rest.end is None:
            stream.open = rest
        else:
            stream.closing.insert(0, rest)
        if stream.endpointer is not None:
            stream.endpointer.restart(cut * FRAME_S)

    def _close(self, job: Job, tokens: list[int], anchors: list[int]) -> None:
        """Emit the segment's final (unless it never said anything) and forget it."""
        segment, stream = job.segment, job.stream
        if segment in stream.closing:
            stream.closing.remove(segment)
        all_tokens, all_anchors = segment.committed + tokens, segment.anchors + anchors
        text = self.bundle.tokenizer.decode(all_tokens)
        end = segment.end if segment.end is not None else job.stop
        stream.normaliser.learn(stream.frames(segment.start, end))
        if not text and segment.shown == ("", ""):
            return
        words = self._words(all_tokens, all_anchors, segment.start, end)
        start_s = words[0].start_s if words else segment.start * FRAME_S
        end_s = words[-1].end_s if words else end * FRAME_S
        stream.outbox.append(
            Final(
                self._id(stream, segment),
                text,
                start_s,
                end_s,
                stream.audio_s,
                self._wall(stream),
                tuple(words),
            )
        )

    def _words(self, tokens: list[int], anchors: list[int], start: int, end: int) -> list[Word]:
        """Group tokens into words; a word spans from midway after the previous word's last
        token to midway before the next word's first one (times from the token anchors)."""
        groups: list[tuple[list[int], int, int]] = []
        latest = start
        for token, anchor in zip(tokens, anchors, strict=True):
            latest = max(latest, min(anchor, end))  # anchors made monotonic
            if not groups or self.starts_word[token]:
                groups.append(([token], latest, latest))
            else:
                groups[-1][0].append(token)
                groups[-1] = (groups[-1][0], groups[-1][1], latest)
        words = []
        edge = self.subsampling * 2
        for i, (ids, first, last) in enumerate(groups):
            text = self.bundle.tokenizer.decode(ids).strip()
            if not text:
                continue
            begin = (groups[i - 1][2] + first) / 2 if i else max(start, first - edge)
            finish = (last + groups[i + 1][1]) / 2 if i + 1 < len(groups) else min(end, last + edge)
            words.append(Word(text, begin * FRAME_S, max(finish, begin) * FRAME_S))
        return words

    def _id(self, stream: Stream, segment: Segment) -> int:
        if segment.id is None:
            segment.id, stream.next_id = stream.next_id, stream.next_id + 1
        return segment.id

    def _wall(self, stream: Stream) -> float:
        return self.clock() - stream.opened_at
