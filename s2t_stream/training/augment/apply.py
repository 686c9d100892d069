"""Rendering an `AugmentPlan` on speech: each kind's module in application order, then clip."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from s2t_stream.training.augment.channel import telephone_band
from s2t_stream.training.augment.filters import mic_colour
from s2t_stream.training.augment.level import fluctuate_level, peak_normalize
from s2t_stream.training.augment.noise import add_babble, add_noise
from s2t_stream.training.augment.plan import AugmentPlan
from s2t_stream.training.augment.room import add_reverb
from s2t_stream.training.augment.timing import pad_silence, speed_perturb, tempo_pitch


def apply_augment(
    samples: np.ndarray,
    plan: AugmentPlan,
    rng: np.random.Generator,
    *,
    babble_sources: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Render `plan` on (n,) float audio at 16 kHz -> (m,) float32 in [-1, 1].

    Speed, tempo/pitch, reverb, microphone, padding, noise and babble (SNR against the speech,
    not the pads), telephone channel, level fluctuation, peak gain; clip. `babble_sources`:
    the other talkers' speech ((k,) float at 16 kHz each), the first `plan.babble[0]` used.
    Raises ValueError when the plan has babble and fewer sources are given; S2TError when
    tempo or pitch is planned and sox is missing.
    """
    voices = _babble_voices(plan, babble_sources)
    out = np.asarray(samples, dtype=np.float32)
    if plan.speed is not None:
        out = speed_perturb(out, plan.speed)
    if plan.tempo is not None or plan.pitch_cents is not None:
        out = tempo_pitch(out, tempo=plan.tempo, cents=plan.pitch_cents)
    if plan.reverb_rt60_s is not None:
        out = add_reverb(out, plan.reverb_rt60_s, rng)
    if plan.mic is not None:
        out = mic_colour(out, plan.mic)
    speech_power = float(np.mean(np.square(out, dtype=np.float64)))
    if plan.pad_s is not None:
        out = pad_silence(out, *plan.pad_s, rng)
    if plan.noise is not None:
        out = add_noise(out, plan.noise[1], rng, kind=plan.noise[0], signal_power=speech_power)
    if plan.babble is not None:
        out = add_babble(out, voices, plan.babble[1], rng, signal_power=speech_power)
    if plan.telephone is not None:
        out = telephone_band(out, plan.telephone)
    if plan.level_db is not None:
        out = fluctuate_level(out, plan.level_db)
    if plan.gain_dbfs is not None:
        out = peak_normalize(out, plan.gain_dbfs)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _babble_voices(plan: AugmentPlan, sources: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    """The babble talkers' speech the plan needs (none without babble). Raises ValueError."""
    if plan.babble is None:
        return []
    talkers = plan.babble[0]
    given = 0 if sources is None else len(sources)
    if sources is None or given < talkers:
        raise ValueError(
            f"the plan mixes in babble of {talkers} talkers: pass their speech as "
            f"apply_augment(..., babble_sources=[...]), got {given}"
        )
    return [np.asarray(source, dtype=np.float32) for source in sources[:talkers]]
