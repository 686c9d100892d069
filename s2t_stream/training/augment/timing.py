"""Timing: what changes an utterance's length — speed perturbation (numpy), tempo and pitch
(the sox command-line tool), leading and trailing near-silence."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

import numpy as np

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE, resample

SOX_HEADROOM = 0.25
"""Peak sox gets its input at: sox works in 32-bit integers and would clip overshoots."""
PAD_FLOOR_DBFS = -65.0


def speed_perturb(samples: np.ndarray, factor: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Play (n,) audio `factor` times faster: length / factor, pitch * factor.

    The resample trick of Kaldi speed perturbation: treat the audio as recorded at
    factor * rate and resample it back to the rate.
    """
    return resample(samples, round(sample_rate * factor), sample_rate)


def sox_effects(
    samples: np.ndarray, effects: Sequence[str], sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Run (n,) float audio through the `sox` command-line tool's `effects` (e.g. ["pitch",
    "200"]) as raw float32 on stdin/stdout; returns (m,) float32 at the same rate and level.

    The input is scaled to a SOX_HEADROOM peak first and back after (sox computes in 32-bit
    integers and clips overshoots); `-R` makes sox repeatable, `-D` turns dither off. Raises
    S2TError when sox is not on PATH or fails.
    """
    program = shutil.which("sox")
    if program is None:
        raise S2TError(
            "tempo and pitch augmentation need the `sox` command-line tool on PATH "
            "(Debian/Ubuntu: apt-get install sox), found none"
        )
    peak = float(np.max(np.abs(samples), initial=0.0))
    scale = SOX_HEADROOM / peak if peak > 0 else 1.0
    raw = (np.asarray(samples, dtype=np.float64) * scale).astype(np.float32).tobytes()
    rate = str(sample_rate)
    command = [program, "-R", "-D", "-V1", "-t", "f32", "-r", rate, "-c", "1", "-",
               "-t", "f32", "-r", rate, "-c", "1", "-", *effects]  # fmt: skip
    done = subprocess.run(command, input=raw, capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise S2TError(f"sox {' '.join(effects)} failed (exit {done.returncode}): {message}")
    return (np.frombuffer(done.stdout, dtype=np.float32) / scale).astype(np.float32)


def tempo_pitch(
    samples: np.ndarray,
    *,
    tempo: float | None = None,
    cents: int | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """(n,) audio at `tempo` times the speed with its pitch kept (length n / tempo; sox `tempo
    -s`, WSOLA tuned for speech) and/or its pitch moved by `cents` (2 ** (cents / 1200) times
    the frequency) with its length kept (sox `pitch`). One sox run; S2TError without sox."""
    effects = []
    if tempo is not None:
        effects += ["tempo", "-s", f"{tempo:g}"]
    if cents is not None:
        effects += ["pitch", str(cents)]
    if not effects or samples.size == 0:
        return np.asarray(samples, dtype=np.float32)
    return sox_effects(samples, effects, sample_rate)


def pad_silence(
    samples: np.ndarray,
    lead_s: float,
    trail_s: float,
    rng: np.random.Generator,
    *,
    floor_dbfs: float = PAD_FLOOR_DBFS,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Add `lead_s` / `trail_s` seconds of near-silence (a white noise floor) at each end."""
    lead = rng.standard_normal(round(lead_s * sample_rate)) * 10 ** (floor_dbfs / 20)
    trail = rng.standard_normal(round(trail_s * sample_rate)) * 10 ** (floor_dbfs / 20)
    return np.concatenate([lead, samples, trail]).astype(np.float32)
