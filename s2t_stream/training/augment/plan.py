"""The plan of one utterance's augmentations: `AugmentOptions` (each kind's probability),
`AugmentPlan` (what applies, with which parameters) and its manifest labels, read back by
`AugmentPlan.from_labels`."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from s2t_stream.training.augment.filters import EqBand, MicPlan


@dataclass(frozen=True)
class AugmentOptions:
    """Probability that each augmentation is applied to a training utterance; first, with
    `clean_prob`, the utterance is left clean. The five first fields keep their old positions.

    With the defaults about 12 % of utterances stay clean, 15 % go through a telephone
    channel, 15 % get babble and 40 % noise (`python bench/bench_augment.py` measures).
    """

    speed_prob: float = 0.5
    gain_prob: float = 0.8
    noise_prob: float = 0.45
    reverb_prob: float = 0.3
    pad_prob: float = 0.8
    clean_prob: float = 0.12
    tempo_prob: float = 0.2
    pitch_prob: float = 0.2
    mic_prob: float = 0.3
    babble_prob: float = 0.17
    telephone_prob: float = 0.17
    level_prob: float = 0.2

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"AugmentOptions.{f.name} must be in [0, 1], got {value!r}")

    @classmethod
    def off(cls) -> AugmentOptions:
        """Every probability 0 (clean_prob too): `draw_augment` then always draws AugmentPlan()."""
        return cls(**{f.name: 0.0 for f in dataclasses.fields(cls)})


KINDS = ("speed", "tempo", "pitch", "reverb", "mic", "pad", "noise", "babble", "telephone",
         "level", "gain")  # fmt: skip
"""The augmentation kinds, in application order (`AugmentPlan.kinds`)."""


@dataclass(frozen=True)
class AugmentPlan:
    """The augmentations drawn for one utterance (None = not applied), in application order.
    AugmentPlan() is a clean utterance.

    speed: factor (pitch and tempo together); tempo: factor (pitch kept); pitch_cents: shift
    (tempo kept); reverb_rt60_s: room; mic: colouration; pad_s: (lead, trail) seconds;
    noise: (kind, SNR dB); babble: (talkers, SNR dB), the talkers' speech given to
    `apply_augment`; telephone: codec ("linear", "ulaw", "alaw"; prefixed "8k-": an 8 kHz
    recording, not band-passed, `channel.telephone_band`); level_db: fluctuation points
    (dB); gain_dbfs: peak level (above 0: clipped).
    """

    speed: float | None = None
    tempo: float | None = None
    pitch_cents: int | None = None
    reverb_rt60_s: float | None = None
    mic: MicPlan | None = None
    pad_s: tuple[float, float] | None = None
    noise: tuple[str, float] | None = None
    babble: tuple[int, float] | None = None
    telephone: str | None = None
    level_db: tuple[float, ...] | None = None
    gain_dbfs: float | None = None

    def kinds(self) -> list[str]:
        """The applied kinds (names from KINDS), in application order."""
        return [kind for kind, field in zip(KINDS, dataclasses.fields(self), strict=True)
                if getattr(self, field.name) is not None]  # fmt: skip

    def labels(self) -> list[str]:
        """Manifest labels, one per applied kind (a coloured mic: one per band and high-pass);
        `from_labels` reads them back."""
        labels = []
        if self.speed is not None:
            labels.append(f"speed{self.speed:.2f}")
        if self.tempo is not None:
            labels.append(f"tempo{self.tempo:.2f}")
        if self.pitch_cents is not None:
            labels.append(f"pitch{self.pitch_cents:+d}")
        if self.reverb_rt60_s is not None:
            labels.append(f"reverb{self.reverb_rt60_s:.2f}")
        if self.mic is not None:
            labels += _mic_labels(self.mic)
        if self.pad_s is not None:
            labels.append(f"pad{self.pad_s[0]:.2f}+{self.pad_s[1]:.2f}")
        if self.noise is not None:
            labels.append(f"noise-{self.noise[0]}{self.noise[1]:.1f}")
        if self.babble is not None:
            labels.append(f"babble{self.babble[0]}@{self.babble[1]:.1f}")
        if self.telephone is not None:
            labels.append(f"tel-{self.telephone}")
        if self.level_db is not None:
            labels.append("level" + "/".join(f"{db:+.1f}" for db in self.level_db))
        if self.gain_dbfs is not None:
            labels.append(f"gain{self.gain_dbfs:.1f}")
        return labels

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> AugmentPlan:
        """The plan `labels()` came from (exact for drawn plans, whose values are rounded to the
        labels' digits). Raises ValueError for a label it does not know."""
        fields: dict[str, Any] = {}
        bands: list[EqBand] = []
        highpass: float | None = None
        for label in labels:
            band = _parse_band(label)
            if band is not None:
                bands.append(band)
            elif (match := re.fullmatch(r"mic-hp(\d+)", label)) is not None:
                highpass = float(match[1])
            elif label != "mic":
                fields.update(_parse_label(label))
        if bands or highpass is not None or "mic" in labels:
            fields["mic"] = MicPlan(tuple(bands), highpass)
        return cls(**fields)


_NUMBER = r"([+-]?\d+(?:\.\d+)?)"
_LABELS: dict[str, tuple[str, Callable[[re.Match[str]], Any]]] = {
    "speed": (rf"speed{_NUMBER}", lambda m: float(m[1])),
    "tempo": (rf"tempo{_NUMBER}", lambda m: float(m[1])),
    "pitch_cents": (r"pitch([+-]\d+)", lambda m: int(m[1])),
    "reverb_rt60_s": (rf"reverb{_NUMBER}", lambda m: float(m[1])),
    "pad_s": (rf"pad{_NUMBER}\+{_NUMBER}", lambda m: (float(m[1]), float(m[2]))),
    "noise": (rf"noise-([a-z]+){_NUMBER}", lambda m: (m[1], float(m[2]))),
    "babble": (rf"babble(\d+)@{_NUMBER}", lambda m: (int(m[1]), float(m[2]))),
    "telephone": (r"tel-((?:8k-)?[a-z]+)", lambda m: m[1]),
    "level_db": (r"level([+-]\d+\.\d(?:/[+-]\d+\.\d)+)",
                 lambda m: tuple(float(v) for v in m[1].split("/"))),
    "gain_dbfs": (rf"gain{_NUMBER}", lambda m: float(m[1])),
}  # fmt: skip
"""Per AugmentPlan field (but mic): its label's pattern and the value from the match."""
_BAND_KINDS = {"ls": "lowshelf", "hs": "highshelf", "pk": "peak"}


def _mic_labels(mic: MicPlan) -> list[str]:
    """Labels of a coloured mic: one per band as mic-pk1200-3.5q1.40 (kind ls/pk/hs, Hz, dB,
    Q), mic-hp150 for the high-pass; "mic" alone for a plan with neither."""
    short = {kind: code for code, kind in _BAND_KINDS.items()}
    labels = [f"mic-{short[b.kind]}{b.freq_hz:.0f}{b.gain_db:+.1f}q{b.q:.2f}" for b in mic.bands]
    if mic.highpass_hz is not None:
        labels.append(f"mic-hp{mic.highpass_hz:.0f}")
    return labels or ["mic"]


def _parse_band(label: str) -> EqBand | None:
    match = re.fullmatch(rf"mic-(ls|hs|pk)(\d+){_NUMBER}q{_NUMBER}", label)
    if match is None:
        return None
    return EqBand(_BAND_KINDS[match[1]], float(match[2]), float(match[3]), float(match[4]))


def _parse_label(label: str) -> dict[str, Any]:
    """{AugmentPlan field: value} for one label other than a mic's. Raises ValueError."""
    for name, (pattern, value) in _LABELS.items():
        match = re.fullmatch(pattern, label)
        if match is not None:
            return {name: value(match)}
    raise ValueError(f"unknown augmentation label {label!r}")
