"""The voice catalogue: what a `Voice` is, every engine's English voices and prosody ranges, the
voices reserved for evaluation (never synthesised here) and held out from training, default
weights and licences. Pure data and rules: no engine runs in this module."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from s2t_stream.errors import S2TError

Purpose = Literal["train", "eval"]
"""What speech is made for: `train` (training and tuning data) or `eval` (our own unseen-voice
validation, the only use of `HELD_OUT_VOICES`)."""
PURPOSES: tuple[Purpose, ...] = ("train", "eval")


@dataclass(frozen=True)
class Voice:
    """One synthesiser setting; `id` (engine, voice, variant) is what per-voice WER groups by.

    `variant` is an espeak-ng variant (`f3`, `klatt`), or for a Kokoro blend the second voice
    whose style vector is averaged with `name`'s. Prosody is not part of the id:
    `rate` (words/min) `pitch` (0-99) and `gap` (10 ms units) for espeak-ng and MBROLA; `rate`
    and `pitch` in percent of the voice's default for RHVoice; `speed` (a multiplier, > 1 is
    faster) for flite, Festival, Piper and Kokoro.
    """

    engine: str
    name: str
    variant: str = ""
    rate: int | None = None
    pitch: int | None = None
    gap: int | None = None
    speed: float | None = None

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}" + (f"+{self.variant}" if self.variant else "")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# fmt: off
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                 "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = ("", "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7",
                   "klatt", "klatt2")
FLITE_VOICES = ("kal16", "slt", "awb", "rms")  # kal is 8 kHz: not used
RHVOICE_VOICES = ("alan", "bdl", "clb")
FESTIVAL_VOICES = ("ked", "rab", "don")  # the diphone voices voice_{name}_diphone
MBROLA_VOICES = ("us3", "en1")  # through espeak-ng's mb-{name}
PIPER_VOICES = ("joe",)
KOKORO_VOICES = (
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole",
    "af_nova", "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir",
    "am_liam", "am_michael", "am_onyx", "am_puck", "am_santa", "bf_alice", "bf_emma",
    "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george", "bm_lewis",
)  # kokoro-js 1.2.1's English voices (a: US, b: UK; f/m), the reserved ones included
# fmt: on

ESPEAK_RATE = (140, 200)
ESPEAK_PITCH = (30, 70)
ESPEAK_GAP = (0, 3)
MBROLA_RATE = (140, 190)
MBROLA_PITCH = (35, 65)
RHVOICE_RATE = (85, 125)
RHVOICE_PITCH = (90, 112)
FLITE_SPEED = (0.85, 1.15)
FESTIVAL_SPEED = (0.85, 1.15)
PIPER_SPEED = (0.85, 1.2)
KOKORO_SPEED = (0.85, 1.2)
KOKORO_BLEND_SHARE = 0.4
"""Share of Kokoro draws that average two allowed training voices' styles (a virtual speaker)."""

RESERVED_VOICES = (
    "pico2wave:*",
    "mbrola:us1",
    "mbrola:us2",
    "festival:cmu_us_slt_arctic_hts",
    "rhvoice:slt",
    "flite:slt",
    "kokoro:af_nicole",
    "kokoro:am_michael",
    "kokoro:bf_isabella",
    "kokoro:bm_george",
    "rhvoice:evgeniy-eng",
    "rhvoice:lyubov",
)
"""Reserved for evaluation by the project's environment notes: never synthesised here, for
training, tuning or our own validation. A Kokoro blend that includes one is reserved too. flite
slt is not on that list but speaks as the same person (CMU ARCTIC's slt) as the reserved RHVoice
slt and Festival cmu_us_slt_arctic_hts, so it is reserved here as well (stages 1-9 of the demo
model, made before this was noticed, did train on it)."""

HELD_OUT_VOICES = (
    "rhvoice:clb",
    "festival:don",
    "kokoro:af_sarah",
    "kokoro:am_puck",
    "kokoro:bf_lily",
    "kokoro:bm_lewis",
    "espeak:+f4",
)
"""Allowed voices kept out of training for our own unseen-voice validation (`purpose="eval"`):
RHVoice clb (US female), Festival don (UK male, 10 kHz diphones), Kokoro US female and male and
UK female and male, and espeak-ng's variant f4 with every accent."""

# Default group weights: Kokoro sounds most natural but costs ~1.5 CPU-s per audio-s, the
# others 0.001-0.2 (measured: docs/voices.md). flite slt is reserved (RESERVED_VOICES).
DEFAULT_VOICE_WEIGHTS = (
    ("espeak", 0.35), ("flite:kal16", 0.04), ("flite:slt", 0.0), ("flite:awb", 0.03),
    ("flite:rms", 0.03), ("rhvoice", 0.15), ("festival", 0.12), ("mbrola", 0.08),
    ("piper", 0.08), ("kokoro", 0.12),
)  # fmt: skip

WEIGHT_GROUPS = (
    "espeak", *(f"flite:{v}" for v in FLITE_VOICES), "rhvoice", "festival", "mbrola", "piper",
    "kokoro",
)  # fmt: skip
"""Every name `voice_weights` may weight: an engine, or one flite voice (their speeds differ
25-fold, so each has its own weight)."""

VOICE_LICENCES = {
    "espeak": "GPL-3.0-or-later: eSpeak NG (Jonathan Duddington, Reece Dunn and contributors)",
    "flite": "BSD-style Flite licence: CMU Flite voices kal16, awb, rms, slt (Carnegie Mellon "
    "University)",
    "rhvoice": "LGPL-2.1-or-later: RHVoice (Olga Yakovleva), English voices alan, bdl, clb",
    "festival": "free (permission to use, modify and distribute, credit kept): Festival diphone "
    "voices ked, rab, don (Centre for Speech Technology Research, University of Edinburgh)",
    "mbrola": "MBROLA licence, non-commercial (the voices may not be sold): MBROLA project, "
    "Faculté Polytechnique de Mons; us3 diphones owned by the Oregon Graduate Institute, en1",
    "piper": "CC0-1.0 voice data (NabuCasa voice-datasets): Piper voice en_US-joe-medium, "
    "fine-tuned from Piper's lessac voice (its model card); engine piper-tts "
    "GPL-3.0-or-later (used as a tool, not shipped)",
    "kokoro": "Apache-2.0: Kokoro-82M weights and voice styles (hexgrad); int8 ONNX export by "
    "kokoro-onnx (thewh1teagle, MIT); styles as packaged by kokoro-js",
}
"""Engine -> licence and credit, for the model card (every voice of an engine shares one)."""


CATALOGUE: dict[str, tuple[str, ...]] = {
    "espeak": ESPEAK_VOICES,
    "flite": FLITE_VOICES,
    "rhvoice": RHVOICE_VOICES,
    "festival": FESTIVAL_VOICES,
    "mbrola": MBROLA_VOICES,
    "piper": PIPER_VOICES,
    "kokoro": KOKORO_VOICES,
}
"""Engine -> the voice names it may speak with (variants: espeak-ng's, or a Kokoro voice)."""
ENGINES = tuple(CATALOGUE)


def voice_parts(voice: Voice) -> tuple[str, ...]:
    """The catalogue keys a voice is made of: `engine:*`, `engine:name`, its id, and
    `engine:+variant` (an espeak-ng variant of any accent) or, for a Kokoro blend, the second
    voice `kokoro:variant`."""
    parts = [f"{voice.engine}:*", f"{voice.engine}:{voice.name}", voice.id]
    if voice.variant:
        blend = voice.engine == "kokoro"
        parts.append(
            f"{voice.engine}:{voice.variant}" if blend else f"{voice.engine}:+{voice.variant}"
        )
    return tuple(parts)


def is_reserved(voice: Voice) -> bool:
    """Whether any part of `voice` is in `RESERVED_VOICES`."""
    return not set(voice_parts(voice)).isdisjoint(RESERVED_VOICES)


def is_held_out(voice: Voice) -> bool:
    """Whether any part of `voice` is in `HELD_OUT_VOICES` (a blend with one counts)."""
    return not set(voice_parts(voice)).isdisjoint(HELD_OUT_VOICES)


def in_pool(voice: Voice, purpose: Purpose) -> bool:
    """Whether a sampler for `purpose` may draw `voice`: never a reserved voice; for `train`
    every other voice but the held-out ones, for `eval` only the held-out ones."""
    if is_reserved(voice):
        return False
    return is_held_out(voice) == (purpose == "eval")


def check_allowed(voice: Voice, purpose: Purpose) -> None:
    """Raise S2TError for a reserved voice, or a held-out voice asked for training (`eval` may
    synthesise any voice that is not reserved)."""
    if purpose not in PURPOSES:
        raise S2TError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if is_reserved(voice):
        raise S2TError(
            f"{voice.id} is reserved for evaluation (RESERVED_VOICES): it is never synthesised "
            "here, for training or for validation"
        )
    _check_known(voice)
    if purpose == "train" and is_held_out(voice):
        raise S2TError(
            f"{voice.id} is held out from training (HELD_OUT_VOICES): only purpose='eval' "
            "may synthesise it"
        )


def _check_known(voice: Voice) -> None:
    """Only catalogued voices: an unknown one has no checked licence and no place in the lists."""
    if voice.engine not in CATALOGUE:
        raise S2TError(f"Voice.engine must be one of {ENGINES}, got {voice.engine!r}")
    names = CATALOGUE[voice.engine]
    variants = {"espeak": ESPEAK_VARIANTS, "kokoro": ("", *KOKORO_VOICES)}.get(voice.engine, ("",))
    if voice.name not in names or voice.variant not in variants or voice.variant == voice.name:
        raise S2TError(
            f"{voice.id} is not in the catalogue: {voice.engine} voices are {names}, variants "
            f"{variants}"
        )
