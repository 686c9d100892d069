"""Which voices work on this machine (`discover_voices`) and drawing random voices from them by
group weight (`VoiceSampler`), for training or, with `purpose="eval"`, from the held-out ones."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2t_stream.errors import S2TError
from s2t_stream.training.voices.catalog import (
    ESPEAK_GAP,
    ESPEAK_PITCH,
    ESPEAK_RATE,
    FESTIVAL_SPEED,
    FLITE_SPEED,
    KOKORO_BLEND_SHARE,
    KOKORO_SPEED,
    MBROLA_PITCH,
    MBROLA_RATE,
    PIPER_SPEED,
    PURPOSES,
    RHVOICE_PITCH,
    RHVOICE_RATE,
    WEIGHT_GROUPS,
    Purpose,
    Voice,
    in_pool,
)
from s2t_stream.training.voices.engines import (
    espeak_files,
    espeak_inventory,
    festival_inventory,
    flite_inventory,
    mbrola_inventory,
    rhvoice_inventory,
)
from s2t_stream.training.voices.kokoro import kokoro_inventory
from s2t_stream.training.voices.piper import piper_inventory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceInventory:
    """The voices that work on this machine, reserved ones never included. `espeak` pairs a
    voice name with its `-v` file; the other engines list voice names."""

    espeak: tuple[tuple[str, str], ...]
    variants: tuple[str, ...]
    flite: tuple[str, ...]
    rhvoice: tuple[str, ...] = ()
    festival: tuple[str, ...] = ()
    mbrola: tuple[str, ...] = ()
    piper: tuple[str, ...] = ()
    kokoro: tuple[str, ...] = ()

    def describe(self) -> str:
        """One log line: how many voices each engine has here."""
        counts = {
            "espeak-ng": f"{len(self.espeak)}x{len(self.variants)}",
            **{e: len(getattr(self, e)) for e in ("flite", "rhvoice", "festival", "mbrola")},
            **{e: len(getattr(self, e)) for e in ("piper", "kokoro")},
        }
        return ", ".join(f"{engine} {n}" for engine, n in counts.items() if n)


def _engine(group: str) -> str:
    return group.split(":")[0]


_INVENTORIES: dict[str, Callable[[], Any]] = {
    "espeak": espeak_inventory,
    "flite": flite_inventory,
    "rhvoice": rhvoice_inventory,
    "festival": festival_inventory,
    "mbrola": mbrola_inventory,
    "piper": piper_inventory,
    "kokoro": kokoro_inventory,
}


def discover_voices(weights: Sequence[tuple[str, float]]) -> VoiceInventory:
    """Check the engines that have weight > 0 and list their working English voices.

    An engine that does not work is logged as a warning saying what is missing and how to
    install it (scripts/install_voices.sh installs them all), and its weight goes to the others
    (`VoiceSampler` renormalises; the weights in use are logged). S2TError when none works, or
    for a weight group that does not exist (`WEIGHT_GROUPS`).
    """
    unknown = sorted({name for name, _ in weights} - set(WEIGHT_GROUPS))
    if unknown:
        raise S2TError(f"voice weights: expected names in {WEIGHT_GROUPS}, got {unknown}")
    wanted = [e for e in _INVENTORIES if any(_engine(g) == e and w > 0 for g, w in weights)]
    found: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for engine in wanted:
        try:
            found[engine] = _INVENTORIES[engine]()
        except S2TError as e:
            problems[engine] = str(e)
    if not found:
        raise S2TError(
            "no weighted voice engine works here: "
            + "; ".join(f"{engine}: {why}" for engine, why in problems.items())
        )
    espeak, variants = found.pop("espeak", ((), ("",)))
    inventory = VoiceInventory(
        espeak=espeak, variants=variants, flite=found.pop("flite", ()), **found
    )
    logger.info("voices here: %s", inventory.describe())
    for engine, why in problems.items():
        logger.warning(
            "voice engine %s is not used (its weight goes to the others): %s", engine, why
        )
    if problems:
        shares = VoiceSampler(inventory, weights).weights
        logger.warning(
            "voice weights renormalised to %s", ", ".join(f"{g}={p:.3f}" for g, p in shares)
        )
    return inventory


# ---------------------------------------------------------------------------------------------
# Drawing voices
# ---------------------------------------------------------------------------------------------


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return round(float(rng.uniform(bounds[0], bounds[1])), 2)


def _integer(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


class VoiceSampler:
    """Draws random voices: a weight group (`WEIGHT_GROUPS`) by weight, then one of its voices
    in the pool for `purpose`, then prosody in the engine's ranges, all from the caller's rng.

    `purpose="train"` draws every inventory voice but the reserved and held-out ones (plus
    Kokoro blends of two of them); `purpose="eval"` only the held-out ones. Weights of groups
    with no voice in the pool are dropped and the rest renormalised (`weights`).
    """

    def __init__(
        self,
        inventory: VoiceInventory,
        weights: Sequence[tuple[str, float]],
        purpose: Purpose = "train",
    ) -> None:
        if purpose not in PURPOSES:
            raise S2TError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
        unknown = sorted({name for name, _ in weights} - set(WEIGHT_GROUPS))
        if unknown:
            raise S2TError(f"voice weights: expected names in {WEIGHT_GROUPS}, got {unknown}")
        self.inventory = inventory
        self.purpose = purpose
        self._espeak_args = dict(inventory.espeak)
        self._pools = {g: self._pool(g) for g, w in weights if w > 0}
        self.groups = [g for g, w in weights if w > 0 and self._pools[g]]
        for group in sorted(set(self._pools) - set(self.groups)):
            logger.warning("voice group %s has no voice allowed for %s: not used", group, purpose)
        if not self.groups:
            raise S2TError(
                f"none of the weighted voices {dict(weights)} is available here for {purpose}"
            )
        p = np.array([dict(weights)[name] for name in self.groups], dtype=np.float64)
        self.p = p / p.sum()

    @property
    def weights(self) -> tuple[tuple[str, float], ...]:
        """The groups in use and their probabilities (summing to 1)."""
        return tuple(zip(self.groups, (float(p) for p in self.p), strict=True))

    def _pool(self, group: str) -> list[Voice]:
        """Every voice of `group` this sampler may draw (prosody left unset)."""
        inv, engine = self.inventory, _engine(group)
        if engine == "espeak":
            voices = [Voice(engine, n, v) for n, _ in inv.espeak for v in inv.variants]
        elif engine == "flite":
            name = group.removeprefix("flite:")
            voices = [Voice(engine, name)] if name in inv.flite else []
        else:
            voices = [Voice(engine, name) for name in getattr(inv, engine)]
        voices = [v for v in voices if in_pool(v, self.purpose)]
        if engine == "kokoro":
            names = [v.name for v in voices]
            blends = [Voice(engine, a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
            voices += (
                [v for v in blends if in_pool(v, self.purpose)] if self.purpose == "train" else []
            )
        return voices

    def voices(self) -> tuple[Voice, ...]:
        """Every voice (without prosody) that `draw` can return, in group order."""
        return tuple(v for group in self.groups for v in self._pools[group])

    def draw(self, rng: np.random.Generator) -> Voice:
        group = self.groups[int(rng.choice(len(self.groups), p=self.p))]
        pool = self._pools[group]
        engine = _engine(group)
        if engine == "kokoro":
            plain = [v for v in pool if not v.variant]
            blend = len(plain) < len(pool) and rng.random() < KOKORO_BLEND_SHARE
            pool = [v for v in pool if v.variant] if blend else plain
        voice = pool[int(rng.integers(len(pool)))]
        return _with_prosody(voice, rng)

    def engine_arg(self, voice: Voice) -> str:
        """What the engine is given: espeak-ng's `-v` voice file, else `default_engine_arg`."""
        if voice.engine == "espeak":
            return self._espeak_args[voice.name]
        return default_engine_arg(voice)


def _with_prosody(voice: Voice, rng: np.random.Generator) -> Voice:
    """`voice` with rate/pitch/gap/speed drawn in its engine's ranges (catalog.py)."""
    engine = voice.engine
    if engine == "espeak":
        return Voice(
            engine, voice.name, voice.variant, rate=_integer(rng, ESPEAK_RATE),
            pitch=_integer(rng, ESPEAK_PITCH), gap=_integer(rng, ESPEAK_GAP),
        )  # fmt: skip
    if engine == "mbrola":
        return Voice(
            engine, voice.name, rate=_integer(rng, MBROLA_RATE), pitch=_integer(rng, MBROLA_PITCH)
        )
    if engine == "rhvoice":
        return Voice(
            engine, voice.name, rate=_integer(rng, RHVOICE_RATE), pitch=_integer(rng, RHVOICE_PITCH)
        )
    speeds = {
        "flite": FLITE_SPEED,
        "festival": FESTIVAL_SPEED,
        "piper": PIPER_SPEED,
        "kokoro": KOKORO_SPEED,
    }
    return Voice(engine, voice.name, voice.variant, speed=_uniform(rng, speeds[engine]))


def default_engine_arg(voice: Voice) -> str:
    """What each engine is given for `voice`: espeak-ng's `-v` file (looked up once per
    process), `mb-{name}` for MBROLA, `voice_{name}_diphone` for Festival, else the name."""
    if voice.engine == "espeak":
        files = espeak_files()
        if voice.name not in files:
            raise S2TError(f"espeak-ng has no voice {voice.name!r} here (it has {sorted(files)})")
        return files[voice.name]
    if voice.engine == "mbrola":
        return f"mb-{voice.name}"
    if voice.engine == "festival":
        return f"voice_{voice.name}_diphone"
    return voice.name
