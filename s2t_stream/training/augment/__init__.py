"""Augmentation: clean speech -> acoustically varied training speech. In application order, as
the sound travels: speed, tempo and pitch (the talker) -> room reverb -> microphone colouration
-> leading/trailing silence -> noise and babble -> telephone channel -> level -> clip.

Every random draw comes from the utterance's own generator: `draw_augment` draws an
`AugmentPlan` (what applies, with which parameters; its `labels()` go into the manifest), and
`apply_augment` renders it, drawing only the noise samples, room and babble offsets.

- `plan`: `AugmentOptions`, `KINDS`, `AugmentPlan` and its labels;
- `draw`: the parameter ranges and shares, `draw_augment`;
- `apply`: `apply_augment`, each kind's module in application order:
- `timing`: speed perturbation, tempo and pitch (sox), leading/trailing silence;
- `room`: synthetic room impulse response, reverb;
- `filters`: RBJ biquads and FFT filtering, the microphone colouration (`EqBand`, `MicPlan`);
- `noise`: coloured noise, hum, tones, babble, mixing at an SNR;
- `channel`: the telephone channel (8 kHz, G.711, 300–3400 Hz);
- `level`: peak gain, level fluctuation.
"""

from __future__ import annotations

from s2t_stream.training.augment.apply import apply_augment
from s2t_stream.training.augment.channel import g711, telephone_band
from s2t_stream.training.augment.draw import TELEPHONE_CODECS, draw_augment
from s2t_stream.training.augment.filters import (
    Biquad,
    EqBand,
    MicPlan,
    biquad_response,
    eq_peak_db,
    filter_biquads,
    limit_eq,
    mic_colour,
    rbj_biquad,
)
from s2t_stream.training.augment.level import level_curve, peak_normalize
from s2t_stream.training.augment.noise import (
    NOISE_KINDS,
    add_noise,
    babble,
    colored_noise,
    hum,
    tones,
)
from s2t_stream.training.augment.plan import KINDS, AugmentOptions, AugmentPlan
from s2t_stream.training.augment.room import add_reverb
from s2t_stream.training.augment.timing import pad_silence, speed_perturb

__all__ = [
    "KINDS",
    "NOISE_KINDS",
    "TELEPHONE_CODECS",
    "AugmentOptions",
    "AugmentPlan",
    "Biquad",
    "EqBand",
    "MicPlan",
    "add_noise",
    "add_reverb",
    "apply_augment",
    "babble",
    "biquad_response",
    "colored_noise",
    "draw_augment",
    "eq_peak_db",
    "filter_biquads",
    "g711",
    "hum",
    "level_curve",
    "limit_eq",
    "mic_colour",
    "pad_silence",
    "peak_normalize",
    "rbj_biquad",
    "speed_perturb",
    "telephone_band",
    "tones",
]
