"""Segmentation: a voice-activity detector (`vad.py`) labels frames; endpoint rules turn the
labels into segment starts and ends, live (`Endpointer`) or over a whole recording."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from s2t_stream.errors import OptionsError
from s2t_stream.streaming.vad import VadOptions, VoiceActivity, make_vad


@dataclass(frozen=True)
class EndpointOptions:
    """The detector (`vad`) and the endpoint rules' durations, in seconds (see `Endpointer`)."""

    vad: VadOptions = field(default_factory=VadOptions)
    min_speech_s: float = 0.09
    pre_roll_s: float = 0.3
    end_silence_s: float = 0.35

    def __post_init__(self) -> None:
        for name in ("min_speech_s", "pre_roll_s", "end_silence_s"):
            value = getattr(self, name)
            if value < 0:
                what = name.removesuffix("_s").replace("_", " ")
                raise OptionsError(f"{what} must be ≥ 0 s, got {value}")


@dataclass(frozen=True)
class Boundary:
    """A segment starts (`start`) or ends (`end`) at `time_s`."""

    kind: str
    time_s: float


class Endpointer:
    """Frame labels in, segment boundaries out. Rules (times in seconds of stream audio):

    - a segment starts at the first of `min_speech_s` of speech frames, minus `pre_roll_s`;
    - it ends once `end_silence_s` of non-speech follow its last speech frame (the stream then
      decodes it a last time and emits a `final`);
    - a segment longer than `StreamOptions.max_segment_s` is cut by the stream at a committed
      word boundary (`restart`), and the stream may close one early (`interrupt`)."""

    def __init__(self, options: EndpointOptions, frame_s: float) -> None:
        self.options = options
        self.frame_s = frame_s  # the detector's frame
        self.frames = 0  # labels seen
        self.in_segment = False
        self.floor_s = 0.0  # a new segment cannot start before the last one ended
        self.speech_run = 0  # consecutive speech frames (outside a segment)
        self.last_speech_s = 0.0  # end of the last speech frame (inside a segment)

    @property
    def time_s(self) -> float:
        return self.frames * self.frame_s

    def accept(self, labels: list[bool]) -> list[Boundary]:
        found: list[Boundary] = []
        needed = max(1, round(self.options.min_speech_s / self.frame_s))
        for speech in labels:
            self.frames += 1
            now = self.time_s
            if not self.in_segment:
                self.speech_run = self.speech_run + 1 if speech else 0
                if self.speech_run >= needed:
                    onset = now - self.speech_run * self.frame_s
                    start = max(self.floor_s, onset - self.options.pre_roll_s)
                    found.append(Boundary("start", start))
                    self.in_segment, self.last_speech_s = True, now
            elif speech:
                self.last_speech_s = now
            elif now - self.last_speech_s >= self.options.end_silence_s:
                found.append(Boundary("end", now))
                self.in_segment, self.floor_s, self.speech_run = False, now, 0
        return found

    def interrupt(self, time_s: float) -> None:
        """The open segment was closed from outside at `time_s`: wait for new speech."""
        self.in_segment, self.floor_s, self.speech_run = False, time_s, 0

    def restart(self, time_s: float) -> None:
        """The engine cut the open segment at `time_s`; a new one continues from there."""
        self.floor_s = time_s


@dataclass(frozen=True)
class Span:
    """A stretch of audio, in samples: [start, stop)."""

    start: int
    stop: int


def find_segments(
    samples: np.ndarray, sample_rate: int, options: EndpointOptions, max_segment_s: float
) -> list[Span]:
    """The segments the streaming engine would find in `samples` (the same voice activity and
    endpoint rules, run over the whole recording at once), in order. A segment longer than
    `max_segment_s` is split at its longest pause in its second half (where none, at its
    quietest 30 ms), so no audio is dropped and none exceeds what the model can take."""
    vad = make_vad(sample_rate, options.vad)
    labels = vad.accept(samples)
    spans, start = [], None
    for boundary in Endpointer(options, vad.frame_s).accept(labels):
        if boundary.kind == "start":
            start = boundary.time_s
        elif start is not None:
            spans.append((round(start / vad.frame_s), round(boundary.time_s / vad.frame_s)))
            start = None
    if start is not None:
        spans.append((round(start / vad.frame_s), len(labels) + 1))
    return _pieces(samples, spans, labels, vad, max_segment_s)


def split_long(
    samples: np.ndarray, sample_rate: int, options: EndpointOptions, max_segment_s: float
) -> list[Span]:
    """All of `samples` as one segment, cut at pauses (as `find_segments` cuts) into pieces of
    at most `max_segment_s`."""
    if len(samples) <= max_segment_s * sample_rate:
        return [Span(0, len(samples))]
    vad = make_vad(sample_rate, options.vad)
    labels = vad.accept(samples)
    return _pieces(samples, [(0, len(labels) + 1)], labels, vad, max_segment_s)


def _pieces(
    samples: np.ndarray, spans: list[tuple[int, int]], labels: list[bool], vad: VoiceActivity,
    max_segment_s: float,
) -> list[Span]:  # fmt: skip
    """Frame spans → sample spans, long ones split at pauses."""
    count, frame = len(labels), vad.frame
    blocks = samples[: count * frame].astype(np.float64).reshape(count, frame)
    loudness = np.sqrt(np.mean(blocks**2, axis=1))
    longest = max(1, round(max_segment_s / vad.frame_s))
    out = [
        Span(a * frame, min(b * frame, len(samples)))
        for first, last in spans
        for a, b in split_at_pauses(first, last, labels, loudness, longest)
    ]
    return [span for span in out if span.stop > span.start]


def split_at_pauses(
    first: int, last: int, labels: list[bool], loudness: np.ndarray, longest: int
) -> list[tuple[int, int]]:
    """Frames [first, last) as pieces of at most `longest` frames, each cut in the middle of the
    longest non-speech run in the second half of the piece before it (else at its quietest
    frame): pauses, not words, are cut."""
    pieces = []
    while last - first > longest:
        window = range(first + max(1, longest // 2), min(first + longest, len(labels)))
        cut = _middle_of_longest_pause(window, labels)
        if cut is None:
            quiet = loudness[window.start : window.stop]
            cut = window.start + int(np.argmin(quiet)) if len(quiet) else first + longest
        pieces.append((first, cut))  # cut > first: every piece holds at least one frame
        first = cut
    pieces.append((first, last))
    return pieces


def _middle_of_longest_pause(window: range, labels: list[bool]) -> int | None:
    best, best_length, run_start = None, 0, None
    for i in [*window, window.stop]:
        quiet = i < window.stop and not labels[i]
        if quiet and run_start is None:
            run_start = i
        elif not quiet and run_start is not None:
            if i - run_start > best_length:
                best, best_length = (run_start + i) // 2, i - run_start
            run_start = None
    return best
