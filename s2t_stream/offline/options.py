"""How to transcribe offline (torch-free, so the command line builds its parser cheaply)."""

from __future__ import annotations

from dataclasses import dataclass, field

from s2t_stream.errors import OptionsError
from s2t_stream.model.config import DecodingOptions
from s2t_stream.streaming.endpoint import EndpointOptions


@dataclass(frozen=True)
class TranscribeOptions:
    """What to produce and how. `vad`: transcribe only the segments the streaming engine's voice
    activity detection and endpoint rules find (silence and noise give no text); without it
    all of each recording is decoded. Either way audio longer than `max_segment_s` (or than the
    model's input limit) is cut at pauses, never dropped: without `vad` and with
    `max_segment_s=math.inf`, a recording up to that limit is one utterance, as the reference
    decodes it. `loop_guard`: hypotheses are cut back where a repetition loop begins and held to
    a plausible number of tokens for their audio (`model.loops`); off, the search's result is
    the reference's. `band_mask`: the empty band of audio from a lower rate (8 kHz telephone
    audio) is zeroed in the features (`features.mask_empty_band`); off, the features are the
    reference's. `batch_size`: segments decoded together."""

    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    tgt_lang: str | None = None
    batch_size: int = 8
    vad: bool = True
    endpoint: EndpointOptions = field(default_factory=EndpointOptions)
    max_segment_s: float = 15.0
    loop_guard: bool = True
    band_mask: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise OptionsError(f"batch size must be ≥ 1, got {self.batch_size}")
        if self.max_segment_s < 1:
            raise OptionsError(f"max segment must be ≥ 1 s, got {self.max_segment_s}")
