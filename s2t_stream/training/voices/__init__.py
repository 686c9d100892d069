"""Voices stage: text + a voice -> 16 kHz mono speech for the training corpus, from seven
engines: espeak-ng, flite, RHVoice, Festival and MBROLA (programs), Piper and Kokoro (neural,
in-process). Voices reserved for evaluation are never synthesised; held-out voices are kept for
our own unseen-voice validation (`purpose="eval"`). Speeds, licences and set-up: docs/voices.md.

- `catalog`: `Voice`, every engine's voices and prosody ranges, `RESERVED_VOICES`,
  `HELD_OUT_VOICES`, `DEFAULT_VOICE_WEIGHTS`, `WEIGHT_GROUPS`, `VOICE_LICENCES`;
- `engines`, `piper`, `kokoro`: running each engine;
- `inventory`: `discover_voices` and `VoiceSampler`;
- `synthesis`: `synthesize`.
"""

from __future__ import annotations

from s2t_stream.training.voices.catalog import (
    DEFAULT_VOICE_WEIGHTS,
    ENGINES,
    ESPEAK_GAP,
    ESPEAK_PITCH,
    ESPEAK_RATE,
    ESPEAK_VARIANTS,
    ESPEAK_VOICES,
    FLITE_VOICES,
    HELD_OUT_VOICES,
    RESERVED_VOICES,
    VOICE_LICENCES,
    WEIGHT_GROUPS,
    Purpose,
    Voice,
    check_allowed,
    is_held_out,
    is_reserved,
)
from s2t_stream.training.voices.inventory import (
    VoiceInventory,
    VoiceSampler,
    default_engine_arg,
    discover_voices,
)
from s2t_stream.training.voices.synthesis import synthesize

__all__ = [
    "DEFAULT_VOICE_WEIGHTS",
    "ENGINES",
    "ESPEAK_GAP",
    "ESPEAK_PITCH",
    "ESPEAK_RATE",
    "ESPEAK_VARIANTS",
    "ESPEAK_VOICES",
    "FLITE_VOICES",
    "HELD_OUT_VOICES",
    "RESERVED_VOICES",
    "VOICE_LICENCES",
    "WEIGHT_GROUPS",
    "Purpose",
    "Voice",
    "VoiceInventory",
    "VoiceSampler",
    "check_allowed",
    "default_engine_arg",
    "discover_voices",
    "is_held_out",
    "is_reserved",
    "synthesize",
]
