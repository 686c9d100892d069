"""One microphone's or connection's streaming state, sans I/O, and the segments it owns through
their whole lifecycle: open → updated → closing → final."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from s2t_stream.errors import AudioError, OptionsError
from s2t_stream.model.audio import StreamResampler, check_samples, quantize16
from s2t_stream.model.config import MAX_CTC_WEIGHT, MAX_LM_WEIGHT, check_weight
from s2t_stream.model.features import FeatureOptions, OnlineFbank
from s2t_stream.model.loops import TOKENS_PER_S, collapse_repeats, heard
from s2t_stream.streaming.cmvn import CmvnOptions, Normaliser
from s2t_stream.streaming.endpoint import Boundary, Endpointer, EndpointOptions
from s2t_stream.streaming.events import Event, Final, Partial
from s2t_stream.streaming.policy import Policy, PolicyOptions, make_policy, word_boundary
from s2t_stream.streaming.vad import make_vad
from s2t_stream.streaming.words import FBANK_FRAME_S, Vocabulary, timed_words

MIN_WINDOW = 20  # fbank frames: shorter windows are not worth an update


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
    tokens_per_s: float = TOKENS_PER_S  # generation budget per second of window
    loop_guard: bool = True  # cut repetition loops back to where they began (model.loops)
    band_mask: bool = True  # zero the empty band of audio from a lower rate (features)
    tgt_lang: str | None = None
    align_layers: tuple[int, ...] | None = None  # decoder layers for alignment (None: all)
    lm_weight: float | None = None  # shallow fusion with the model's LM (None: off)
    ctc_weight: float | None = None  # joint decoding with the model's CTC head (None: off)

    def __post_init__(self) -> None:
        if self.step_s <= 0:
            raise OptionsError(f"step must be > 0 s, got {self.step_s}")
        if self.compute_factor < 0:
            raise OptionsError(f"compute factor must be ≥ 0, got {self.compute_factor}")
        if not 0 <= self.step_growth <= 1:
            raise OptionsError(f"step growth must be in [0, 1], got {self.step_growth}")
        if self.max_segment_s < 1:
            raise OptionsError(f"max segment must be ≥ 1 s, got {self.max_segment_s}")
        if self.lm_weight is not None:
            check_weight(self.lm_weight, "LM weight", MAX_LM_WEIGHT)
        if self.ctc_weight is not None:
            check_weight(self.ctc_weight, "CTC weight", MAX_CTC_WEIGHT)


@dataclass(eq=False)  # segments are compared by identity
class Segment:
    """The decoding state of one segment: its window start, committed tokens and policy."""

    start: int  # absolute fbank frame where its window starts
    policy: Policy
    end: int | None = None  # absolute frame where it closed (None: still open)
    committed: list[int] = field(default_factory=list)
    anchors: list[int] = field(default_factory=list)  # absolute frame of each committed token
    log_probs: list[float] = field(default_factory=list)  # each committed token's (re-estimated)
    draft: list[int] = field(default_factory=list)  # the last update's tentative tokens
    updated_at: int = 0  # frames available at its last update
    shown: tuple[str, str] = ("", "")  # the last partial's (committed, tentative)
    id: int | None = None  # given when it first emits an event


@dataclass
class Job:
    """One segment's window for the engine to encode and decode in this step."""

    stream: Stream
    segment: Segment
    stop: int  # absolute frame one past the window's end
    final: bool = False  # decode to the end and close the segment
    cut: bool = False  # the window is max_segment_s long: close at a committed word boundary


T = TypeVar("T")


@dataclass(frozen=True)
class Tail:
    """Tokens decoded after a segment's committed ones, each with its absolute fbank frame
    (`anchors`) and natural-log probability."""

    tokens: list[int] = field(default_factory=list)
    anchors: list[int] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)

    def after(self, count: int) -> Tail:
        """The tokens after the first `count`."""
        return Tail(self.tokens[count:], self.anchors[count:], self.log_probs[count:])


def _pick(values: Sequence[T], head: int, kept: list[int]) -> list[T]:
    """`values` of the `head` tokens before the new ones, then those of the new tokens kept."""
    return [*values[:head], *(values[head + i] for i in kept)]


@dataclass(frozen=True)
class Result:
    """What the engine computed for one job: `tokens` generated after the committed prefix and
    `frames[i]`, the encoder frame most attended while predicting token i of the prefix (after
    the start token) followed by `tokens`, and `log_probs[i]`, the probability the model gave
    that token (natural log; see `model.incremental.Continuation`)."""

    tokens: Sequence[int]
    frames: Sequence[int]
    log_probs: Sequence[float]


class Stream:
    """One microphone's or connection's state. It takes audio (`accept`, any chunk size), turns
    it into fbank frames, finds segment boundaries with its endpointer, and tells the engine
    which segment windows are `due` for an update; the engine hands each result back to
    `apply`, where the stream commits stable tokens (its segment's policy), cuts over-long
    segments and emits `Partial` and `Final` events, taken with `events()`.

    One word per meaning: `end_input` (no more audio will come; the next step emits the last
    final), `input_ended`, `finalize` (close the current segment now), `complete` (input ended
    and every final emitted). Not thread-safe: one thread at a time drives a stream (several
    threads may drive different streams)."""

    def __init__(
        self,
        options: StreamOptions,
        features: FeatureOptions,
        vocabulary: Vocabulary,
        sample_rate: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.vocabulary = vocabulary
        self.sample_rate = sample_rate
        self.clock = clock
        self.opened_at = clock()
        self.resampler = StreamResampler(sample_rate, features.sample_rate)
        self.upsampled = sample_rate < features.sample_rate  # fill the empty band: `quantize16`
        self.fbank = OnlineFbank(features)
        self.normaliser = Normaliser(options.cmvn, features, band_mask=options.band_mask)
        endpoint = options.endpoint
        self.vad = make_vad(features.sample_rate, endpoint.vad) if endpoint else None
        self.endpointer = Endpointer(endpoint, self.vad.frame_s) if self.vad and endpoint else None
        self.raw = np.zeros((0, features.num_mel_bins), dtype=np.float32)
        self.raw_start = 0  # absolute frame of raw[0]
        self.samples_in = 0
        self.open: Segment | None = None if endpoint else self._new_segment(0)
        self.closing: list[Segment] = []
        self.outbox: list[Event] = []
        self.next_id = 0
        self.last_compute_s = 0.0  # the last model round this stream waited for
        self.input_ended = False

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
    def complete(self) -> bool:
        """Input ended and every segment's final emitted."""
        return self.input_ended and self.open is None and not self.closing

    def accept(self, samples: np.ndarray) -> None:
        """Take mono float samples in [-1, 1] at the stream's rate (any count, including 0).
        Raises AudioError for non-mono or non-finite samples, RuntimeError after `end_input`."""
        if self.input_ended:
            raise RuntimeError("Stream.accept() called after end_input()")
        array = check_samples(samples, where="Stream.accept")
        if array.ndim != 1:
            raise AudioError(f"Stream.accept: expected mono samples (n,), got {array.shape}")
        self.samples_in += len(array)
        self._take(self._resampled(self.resampler.process(array)), self.fbank.accept)

    def end_input(self) -> None:
        """No more audio: the open segment closes at the last frame (idempotent)."""
        if self.input_ended:
            return
        self._take(self._resampled(self.resampler.flush()), self.fbank.accept)
        self._take(np.zeros(0, dtype=np.float32), lambda _: self.fbank.finish())
        self.input_ended = True
        self.finalize()

    def _resampled(self, samples: np.ndarray) -> np.ndarray:
        return quantize16(samples) if self.upsampled else samples

    def finalize(self) -> None:
        """Close the open segment now (the next step emits its final); audio goes on."""
        self.label_speech()
        if self.open is None:
            return
        self._close_open(self.available)
        if self.endpointer is not None:
            self.endpointer.interrupt(self.available * FBANK_FRAME_S)
        elif not self.input_ended:  # without endpointing the next segment starts right away
            self.open = self._new_segment(self.available)

    def events(self) -> list[Event]:
        """The events made since the last call, oldest first."""
        out, self.outbox = self.outbox, []
        return out

    def _new_segment(self, start: int, end: int | None = None) -> Segment:
        frame_s = self.vocabulary.subsampling * FBANK_FRAME_S
        policy = make_policy(self.options.policy, frame_s, translating=bool(self.options.tgt_lang))
        return Segment(start, policy, end=end, updated_at=start)

    def _take(self, samples: np.ndarray, fbank: Callable[[np.ndarray], np.ndarray]) -> None:
        frames = fbank(samples)
        if len(frames):
            self.raw = np.concatenate([self.raw, frames])
        if self.vad is not None:
            self.vad.push(samples)  # labelled at the next `label_speech` (many streams at once)
        self._forget_old_frames()

    def label_speech(self) -> None:
        """Label the audio accepted since the last call (speech or not: the engine may have
        labelled many streams' audio together, `vad.label_together`) and move the segment
        boundaries the endpoint rules find."""
        if self.vad is not None and self.endpointer is not None:
            for boundary in self.endpointer.accept(self.vad.labels()):
                self._boundary(boundary)
            self._forget_old_frames()

    def _boundary(self, boundary: Boundary) -> None:
        frame = round(boundary.time_s / FBANK_FRAME_S)
        if boundary.kind == "start":
            self.open = self._new_segment(frame)
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
        labelled = self.available  # a segment may still start anywhere after this, less pre-roll
        if self.endpointer is not None:
            labelled = min(labelled, round(self.endpointer.time_s / FBANK_FRAME_S))
        keep = min(starts, default=labelled - round((pre_roll + 0.5) / FBANK_FRAME_S))
        drop = keep - self.raw_start
        if drop > 0:
            self.raw = self.raw[drop:]
            self.raw_start += drop

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Raw fbank frames [start, stop) (absolute indices; forgotten ones are left out)."""
        return self.raw[max(0, start - self.raw_start) : max(0, stop - self.raw_start)]

    def _heard_speech_since(self, frame: int) -> bool:
        if self.endpointer is None:
            return True
        return self.endpointer.last_speech_s > frame * FBANK_FRAME_S

    # --- scheduling -----------------------------------------------------------------------------

    def due(self, finals_only: bool = False) -> list[Job]:
        """Updates to run now: finals of closed segments, then (unless `finals_only`) the open
        segment's update once `step_s` of new audio arrived (or more: `step_growth` × its
        length, `compute_factor` × the last update's compute time). A segment longer than
        `max_segment_s` gets a window of that length, which `apply` cuts."""
        self.label_speech()
        longest = round(self.options.max_segment_s / FBANK_FRAME_S)
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
            length_s = (self.available - current.start) * FBANK_FRAME_S
            step = max(
                options.step_s,
                options.step_growth * length_s,
                options.compute_factor * self.last_compute_s,
            )
            new = self.available - current.updated_at
            if self.available - current.start > longest:
                jobs.append(Job(self, current, current.start + longest, cut=True))
            elif (
                new >= round(step / FBANK_FRAME_S) and self.available - current.start >= MIN_WINDOW
            ):
                spoke = self._heard_speech_since(current.updated_at)
                current.updated_at = self.available
                if spoke:  # trailing silence changes nothing worth a re-encode
                    jobs.append(Job(self, current, self.available))
        return jobs

    def window(self, job: Job) -> np.ndarray | None:
        """The job's normalised (T, bins) window, or None when it is too short to decode (it can
        only be a final's, of a blip with nothing to say: `apply(job, None)` closes it)."""
        window = self.normaliser(self.frames(job.segment.start, job.stop))
        return window if len(window) >= MIN_WINDOW else None

    # --- applying the engine's results ----------------------------------------------------------

    def apply(self, job: Job, result: Result | None, window_frames: int = 0) -> None:
        """Take the engine's result for `job` (a window of `window_frames` fbank frames):
        re-anchor the committed tokens, drop what the loop guard calls invented, commit what
        the policy calls stable (whole words only), then emit a partial, close the segment
        (final) or cut it (over-long). `result` None: the window was too short to decode, the
        segment closes with what it has."""
        if result is None:
            self._close(job, Tail())
            return
        segment, vocabulary = job.segment, self.vocabulary
        known = vocabulary.prefix_length - 1 + len(segment.committed)  # tokens predicted before
        frames = vocabulary.encoder_frames(window_frames)
        tokens, attended, log_probs = list(result.tokens), list(result.frames), result.log_probs
        if self.options.loop_guard:
            kept = self._guard(segment, tokens, attended, frames if job.final else 0)
            tokens = [tokens[i] for i in kept]
            attended, log_probs = _pick(attended, known, kept), _pick(log_probs, known, kept)
        sub = vocabulary.subsampling
        anchors = [segment.start + f * sub + sub // 2 for f in attended]
        segment.anchors = anchors[vocabulary.prefix_length - 1 : known]  # re-estimated
        segment.log_probs = list(log_probs[vocabulary.prefix_length - 1 : known])
        new = Tail(tokens, anchors[known:], list(log_probs[known:]))
        if job.final:
            self._close(job, new)
            return
        stable = segment.policy.stable(tokens, attended[known:], frames, new.log_probs)
        count = word_boundary(tokens, stable, vocabulary.starts_word)
        segment.policy.committed(count)
        segment.committed += tokens[:count]
        segment.anchors += new.anchors[:count]
        segment.log_probs += new.log_probs[:count]
        new = new.after(count)
        segment.draft = new.tokens
        if job.cut:
            self._cut(job, new)
        else:
            self._partial(segment, new.tokens)

    def _guard(
        self, segment: Segment, tokens: list[int], attended: list[int], final_frames: int
    ) -> list[int]:
        """Which new tokens to keep (their indices): those outside repetition loops, and for a
        final (`final_frames`: its window's encoder frames) only what the audio holds
        (`loops.heard`). `attended` holds every token's frame (the prefix's, after the start
        token, first). Committed tokens are never dropped."""
        done = len(segment.committed)
        head = self.vocabulary.prefix_length - 1 + done  # frames before the new tokens
        keep = [i - done for i in collapse_repeats([*segment.committed, *tokens], fixed=done)]
        new = [i for i in keep if i >= 0]
        if final_frames:
            spoken = [*segment.committed, *(tokens[i] for i in new)]
            aligned = _pick(attended, head, new)[self.vocabulary.prefix_length - 1 :]
            new = new[: max(0, heard(spoken, aligned, final_frames) - done)]
        return new

    def _partial(self, segment: Segment, tentative: list[int]) -> None:
        decode = self.vocabulary.decode
        shown = (decode(segment.committed), decode(tentative))
        if shown == segment.shown:
            return
        segment.shown = shown
        self.outbox.append(Partial(self._id(segment), *shown, self.audio_s, self._wall()))

    def _cut(self, job: Job, tentative: Tail) -> None:
        """Close the over-long segment after its committed words (all words when none are
        committed); a new segment continues from there with the same end, if it had one."""
        segment = job.segment
        if segment.committed:
            last = segment.anchors[-1]
            cut = (last + tentative.anchors[0]) // 2 if tentative.anchors else job.stop
            cut = min(max(cut, last + 1), job.stop)
        else:
            segment.committed, segment.anchors = tentative.tokens, tentative.anchors
            segment.log_probs, cut = tentative.log_probs, job.stop
        rest = self._new_segment(cut, end=segment.end)
        segment.end = cut
        self._close(Job(self, segment, cut, final=True), Tail())
        if rest.end is None:
            self.open = rest
        else:
            self.closing.insert(0, rest)
        if self.endpointer is not None:
            self.endpointer.restart(cut * FBANK_FRAME_S)

    def _close(self, job: Job, last: Tail) -> None:
        """Emit the segment's final (unless it never said anything) and forget it; `last`: the
        tokens decoded after the committed ones."""
        segment = job.segment
        if segment in self.closing:
            self.closing.remove(segment)
        all_tokens, all_anchors = segment.committed + last.tokens, segment.anchors + last.anchors
        text = self.vocabulary.decode(all_tokens)
        end = segment.end if segment.end is not None else job.stop
        self.normaliser.learn(self.frames(segment.start, end))
        if not text and segment.shown == ("", ""):
            return
        log_probs = segment.log_probs + last.log_probs
        words = timed_words(all_tokens, all_anchors, segment.start, end, self.vocabulary, log_probs)
        start_s = words[0].start_s if words else segment.start * FBANK_FRAME_S
        end_s = words[-1].end_s if words else end * FBANK_FRAME_S
        final = Final(
            self._id(segment),
            text,
            start_s,
            end_s,
            self.audio_s,
            self._wall(),
            tuple(words),
            segment_end_s=end * FBANK_FRAME_S,
        )
        self.outbox.append(final)

    def _id(self, segment: Segment) -> int:
        if segment.id is None:
            segment.id, self.next_id = self.next_id, self.next_id + 1
        return segment.id

    def _wall(self) -> float:
        return self.clock() - self.opened_at
