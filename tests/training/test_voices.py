"""The voices stage: every engine speaks (skipped, with the reason, where it is not installed),
reserved voices are refused and never drawn, held-out voices stay out of training, the sampler is
deterministic, missing engines renormalise the weights, and the Kokoro voice pack."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from s2t_stream.errors import S2TError
from s2t_stream.model.audio import SAMPLE_RATE
from s2t_stream.training.voices import (
    DEFAULT_VOICE_WEIGHTS,
    HELD_OUT_VOICES,
    RESERVED_VOICES,
    VOICE_LICENCES,
    WEIGHT_GROUPS,
    Voice,
    VoiceInventory,
    VoiceSampler,
    discover_voices,
    engines,
    inventory,
    is_held_out,
    is_reserved,
    kokoro,
    piper,
    synthesis,
    synthesize,
)
from s2t_stream.training.voices.catalog import (
    ENGINES,
    ESPEAK_RATE,
    FESTIVAL_SPEED,
    FLITE_SPEED,
    KOKORO_SPEED,
    MBROLA_RATE,
    PIPER_SPEED,
    RHVOICE_PITCH,
    RHVOICE_RATE,
)

SENTENCE = "The quick brown fox jumps over the lazy dog."

# ---------------------------------------------------------------------------------------------
# Every engine speaks
# ---------------------------------------------------------------------------------------------

# engine -> (inventory probe, a voice at its slowest and at its fastest)
ENGINE_CASES: dict[str, tuple[Callable[[], Any], Voice, Voice]] = {
    "espeak": (
        engines.espeak_inventory,
        Voice("espeak", "en-us", "f1", rate=ESPEAK_RATE[0], pitch=50, gap=1),
        Voice("espeak", "en-us", "f1", rate=ESPEAK_RATE[1], pitch=50, gap=1),
    ),
    "flite": (
        engines.flite_inventory,
        Voice("flite", "kal16", speed=FLITE_SPEED[0]),
        Voice("flite", "kal16", speed=FLITE_SPEED[1]),
    ),
    "rhvoice": (
        engines.rhvoice_inventory,
        Voice("rhvoice", "alan", rate=RHVOICE_RATE[0], pitch=RHVOICE_PITCH[0]),
        Voice("rhvoice", "alan", rate=RHVOICE_RATE[1], pitch=RHVOICE_PITCH[1]),
    ),
    "festival": (
        engines.festival_inventory,
        Voice("festival", "rab", speed=FESTIVAL_SPEED[0]),
        Voice("festival", "rab", speed=FESTIVAL_SPEED[1]),
    ),
    "mbrola": (
        engines.mbrola_inventory,
        Voice("mbrola", "us3", rate=MBROLA_RATE[0], pitch=40),
        Voice("mbrola", "us3", rate=MBROLA_RATE[1], pitch=40),
    ),
    "piper": (
        piper.piper_inventory,
        Voice("piper", "joe", speed=PIPER_SPEED[0]),
        Voice("piper", "joe", speed=PIPER_SPEED[1]),
    ),
    "kokoro": (
        kokoro.kokoro_inventory,
        Voice("kokoro", "bm_fable", "af_bella", speed=KOKORO_SPEED[0]),  # a UK + US blend
        Voice("kokoro", "bm_fable", "af_bella", speed=KOKORO_SPEED[1]),
    ),
}


def _installed(engine: str) -> Any:
    """The engine's inventory, or skip the test saying what is missing."""
    try:
        return ENGINE_CASES[engine][0]()
    except S2TError as e:
        pytest.skip(f"{engine} not installed: run scripts/install_voices.sh ({e})")


def _check_speech(samples: np.ndarray, min_s: float, max_s: float) -> None:
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert min_s * SAMPLE_RATE < samples.size < max_s * SAMPLE_RATE, samples.size / SAMPLE_RATE
    assert np.isfinite(samples).all() and np.abs(samples).max() <= 1.0
    assert float(np.sqrt(np.mean(samples**2))) > 0.01  # speech, not silence


def test_the_engine_cases_cover_every_engine() -> None:
    assert set(ENGINE_CASES) == set(ENGINES)


@pytest.mark.slow
@pytest.mark.parametrize("engine", list(ENGINE_CASES))
def test_each_engine_speaks_at_16_khz_and_its_rate_is_applied(engine: str) -> None:
    _installed(engine)
    _, slow, fast = ENGINE_CASES[engine]
    slow_samples = synthesize(SENTENCE, slow)
    fast_samples = synthesize(SENTENCE, fast)
    _check_speech(slow_samples, 1.0, 8.0)
    _check_speech(fast_samples, 1.0, 8.0)
    assert fast_samples.size < 0.9 * slow_samples.size  # the rate / speed reached the engine


@pytest.mark.slow
def test_held_out_voices_speak_for_evaluation() -> None:
    _installed("festival")
    _installed("rhvoice")
    don = synthesize(SENTENCE, Voice("festival", "don", speed=1.0), purpose="eval")  # 10 kHz
    _check_speech(don, 1.0, 8.0)
    _check_speech(synthesize(SENTENCE, Voice("rhvoice", "clb"), purpose="eval"), 1.0, 8.0)


@pytest.mark.slow
def test_kokoro_runs_one_onnxruntime_thread_per_process_and_loads_once() -> None:
    _installed("kokoro")
    synthesize("Hello.", Voice("kokoro", "am_fenrir", speed=1.0))
    model = kokoro._model(os.getpid(), kokoro.kokoro_dir())
    assert kokoro._model(os.getpid(), kokoro.kokoro_dir()) is model
    assert model.sess.get_session_options().intra_op_num_threads == 1


def test_a_kokoro_blend_is_the_mean_of_two_styles() -> None:
    styles = {"af_bella": np.full((510, 1, 256), 1.0), "am_adam": np.full((510, 1, 256), 3.0)}

    class FakeKokoro:
        def get_voice_style(self, name: str) -> np.ndarray:
            return styles[name]

    blend = kokoro._style(FakeKokoro(), Voice("kokoro", "af_bella", "am_adam"))
    assert blend.shape == (510, 1, 256) and np.allclose(blend, 2.0)
    assert np.allclose(kokoro._style(FakeKokoro(), Voice("kokoro", "am_adam")), 3.0)


def test_importing_voices_loads_no_neural_package() -> None:
    code = (
        "import sys, s2t_stream.training.voices; "
        "print(sorted({'piper', 'kokoro_onnx', 'onnxruntime'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# Reserved and held-out voices
# ---------------------------------------------------------------------------------------------


def test_reserved_voices_are_the_environment_list_and_flite_slt() -> None:
    assert set(RESERVED_VOICES) == {
        "pico2wave:*", "mbrola:us1", "mbrola:us2", "festival:cmu_us_slt_arctic_hts",
        "rhvoice:slt", "flite:slt", "kokoro:af_nicole", "kokoro:am_michael", "kokoro:bf_isabella",
        "kokoro:bm_george", "rhvoice:evgeniy-eng", "rhvoice:lyubov",
    }  # fmt: skip


RESERVED = [
    Voice("pico2wave", "en-US"),
    Voice("mbrola", "us1", rate=150, pitch=50),
    Voice("mbrola", "us2"),
    Voice("festival", "cmu_us_slt_arctic_hts"),
    Voice("rhvoice", "slt"),
    Voice("flite", "slt", speed=1.0),
    Voice("rhvoice", "evgeniy-eng"),
    Voice("rhvoice", "lyubov"),
    Voice("kokoro", "af_nicole", speed=1.0),
    Voice("kokoro", "am_michael"),
    Voice("kokoro", "bf_isabella"),
    Voice("kokoro", "bm_george"),
    Voice("kokoro", "af_bella", "af_nicole"),  # a blend including a reserved voice
    Voice("kokoro", "bm_george", "bm_fable"),
]


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any engine is started: refusals must come before synthesis."""

    def started(*args: object) -> np.ndarray:
        raise AssertionError(f"an engine was started with {args}")

    monkeypatch.setattr(synthesis, "speak_espeak", started)
    for engine in synthesis._SPEAK:
        monkeypatch.setitem(synthesis._SPEAK, engine, started)


@pytest.mark.usefixtures("no_engine")
@pytest.mark.parametrize("voice", RESERVED, ids=lambda v: v.id)
@pytest.mark.parametrize("purpose", ["train", "eval"])
def test_synthesize_refuses_reserved_voices(voice: Voice, purpose: Any) -> None:
    assert is_reserved(voice)
    with pytest.raises(S2TError, match=re.escape(f"{voice.id} is reserved for evaluation")):
        synthesize(SENTENCE, voice, purpose=purpose)


@pytest.mark.usefixtures("no_engine")
def test_synthesize_refuses_reserved_voices_behind_another_name() -> None:
    with pytest.raises(S2TError, match="MBROLA voice: use the mbrola engine"):
        synthesize(SENTENCE, Voice("espeak", "en-us", rate=150, pitch=50, gap=0), "mb/mb-us1")
    with pytest.raises(S2TError, match="expected the engine argument 'mb-us3', got 'mb-us1'"):
        synthesize(SENTENCE, Voice("mbrola", "us3"), "mb-us1")
    with pytest.raises(S2TError, match="not in the catalogue"):
        synthesize(SENTENCE, Voice("rhvoice", "aleksandr"))  # unknown: licence not checked


HELD_OUT = [
    Voice("rhvoice", "clb"),
    Voice("festival", "don"),
    Voice("kokoro", "af_sarah"),
    Voice("kokoro", "am_puck"),
    Voice("kokoro", "bf_lily"),
    Voice("kokoro", "bm_lewis"),
    Voice("espeak", "en-gb", "f4"),
    Voice("kokoro", "af_bella", "am_puck"),  # a blend with a held-out voice
]


@pytest.mark.parametrize("voice", HELD_OUT, ids=lambda v: v.id)
def test_held_out_voices_are_refused_for_training_only(
    voice: Voice, monkeypatch: pytest.MonkeyPatch
) -> None:
    spoken = np.full(SAMPLE_RATE, 0.1, dtype=np.float32)
    monkeypatch.setattr(synthesis, "speak_espeak", lambda *args: spoken)
    monkeypatch.setitem(synthesis._SPEAK, voice.engine, lambda *args: spoken)
    assert is_held_out(voice) and not is_reserved(voice)
    arg = "gmw/en" if voice.engine == "espeak" else None
    with pytest.raises(S2TError, match=re.escape(f"{voice.id} is held out from training")):
        synthesize(SENTENCE, voice, arg)
    assert np.array_equal(synthesize(SENTENCE, voice, arg, purpose="eval"), spoken)


def test_held_out_list_is_a_spread_of_allowed_voices() -> None:
    assert len(HELD_OUT_VOICES) == 7
    kokoro_held = [v.removeprefix("kokoro:") for v in HELD_OUT_VOICES if v.startswith("kokoro:")]
    assert sorted(name[:2] for name in kokoro_held) == ["af", "am", "bf", "bm"]
    assert not set(HELD_OUT_VOICES) & set(RESERVED_VOICES)


# every engine, with reserved and held-out voices in it (as if the machine had them)
FULL = VoiceInventory(
    espeak=(("en-us", "gmw/en-US"), ("en-gb", "gmw/en")),
    variants=("", "f1", "f4", "m3"),
    flite=("kal16", "awb"),
    rhvoice=("alan", "bdl", "clb", "slt", "evgeniy-eng"),
    festival=("ked", "rab", "don", "cmu_us_slt_arctic_hts"),
    mbrola=("us1", "us3", "en1"),
    piper=("joe",),
    kokoro=("af_heart", "af_bella", "af_nicole", "af_sarah", "am_adam", "am_michael", "bf_emma",
            "bf_lily", "bm_fable", "bm_george"),
)  # fmt: skip
WEIGHTS = tuple((group, 1.0) for group in WEIGHT_GROUPS)


def test_training_sampler_never_draws_reserved_or_held_out_voices() -> None:
    sampler = VoiceSampler(FULL, WEIGHTS)
    drawn = [sampler.draw(np.random.default_rng(seed)) for seed in range(3000)]
    assert not [v.id for v in drawn if is_reserved(v) or is_held_out(v)]
    assert {v.id for v in drawn} <= {v.id for v in sampler.voices()}
    assert {v.engine for v in drawn} == set(ENGINES)  # not vacuous: every engine drawn
    assert any(v.engine == "kokoro" and v.variant for v in drawn)  # blends too
    assert not [v for v in sampler.voices() if is_reserved(v) or is_held_out(v)]
    # 5 allowed training Kokoro voices -> 5 plain + 10 blends
    assert len([v for v in sampler.voices() if v.engine == "kokoro"]) == 5 + 10


def test_evaluation_sampler_draws_only_the_held_out_voices() -> None:
    sampler = VoiceSampler(FULL, WEIGHTS, purpose="eval")
    assert {v.id for v in sampler.voices()} == {
        "espeak:en-us+f4", "espeak:en-gb+f4", "rhvoice:clb", "festival:don", "kokoro:af_sarah",
        "kokoro:bf_lily",
    }  # fmt: skip
    drawn = {sampler.draw(np.random.default_rng(seed)).id for seed in range(500)}
    assert drawn == {v.id for v in sampler.voices()}


# ---------------------------------------------------------------------------------------------
# Sampler: determinism, prosody, weights
# ---------------------------------------------------------------------------------------------


def test_sampler_is_deterministic_per_seed_with_prosody_in_range() -> None:
    sampler = VoiceSampler(FULL, DEFAULT_VOICE_WEIGHTS)
    first = [sampler.draw(np.random.default_rng(seed)) for seed in range(400)]
    other = VoiceSampler(FULL, DEFAULT_VOICE_WEIGHTS)
    again = [other.draw(np.random.default_rng(seed)) for seed in range(400)]
    assert first == again
    rng = np.random.default_rng(0)
    assert [sampler.draw(rng) for _ in range(50)] != [sampler.draw(rng) for _ in range(50)]
    ranges = {"flite": FLITE_SPEED, "festival": FESTIVAL_SPEED, "piper": PIPER_SPEED}
    for v in first:
        if v.engine in ranges | {"kokoro": KOKORO_SPEED}:
            low, high = (ranges | {"kokoro": KOKORO_SPEED})[v.engine]
            assert v.speed is not None and low <= v.speed <= high
        elif v.engine == "rhvoice":
            assert v.rate is not None and RHVOICE_RATE[0] <= v.rate <= RHVOICE_RATE[1]
            assert v.pitch is not None and RHVOICE_PITCH[0] <= v.pitch <= RHVOICE_PITCH[1]
        else:
            assert v.rate is not None and v.pitch is not None
    assert len({v.speed for v in first if v.engine == "kokoro"}) > 5  # speeds are drawn


def test_sampler_follows_the_weights() -> None:
    sampler = VoiceSampler(FULL, (("espeak", 0.6), ("kokoro", 0.3), ("piper", 0.1)))
    drawn = [sampler.draw(np.random.default_rng(seed)).engine for seed in range(3000)]
    for engine, share in (("espeak", 0.6), ("kokoro", 0.3), ("piper", 0.1)):
        assert abs(drawn.count(engine) / len(drawn) - share) < 0.03


def test_default_weights_mix_every_engine_with_a_small_kokoro_share() -> None:
    weights = dict(DEFAULT_VOICE_WEIGHTS)
    assert set(weights) == set(WEIGHT_GROUPS)
    assert abs(sum(weights.values()) - 1.0) < 1e-9
    assert 0 < weights["kokoro"] <= 0.15
    assert all(weights[g] > 0 for g in WEIGHT_GROUPS if g != "flite:slt")
    assert set(VOICE_LICENCES) == set(ENGINES)


def test_engine_args() -> None:
    sampler = VoiceSampler(FULL, WEIGHTS)
    assert sampler.engine_arg(Voice("espeak", "en-gb", "f1")) == "gmw/en"
    assert sampler.engine_arg(Voice("mbrola", "us3")) == "mb-us3"
    assert sampler.engine_arg(Voice("festival", "rab")) == "voice_rab_diphone"
    assert sampler.engine_arg(Voice("kokoro", "af_bella", "am_adam")) == "af_bella"


def _fake_inventories(monkeypatch: pytest.MonkeyPatch, missing: set[str]) -> list[str]:
    """Replace every engine's probe: the `missing` ones fail with an install hint. Returns the
    list of engines probed, in order."""
    probed: list[str] = []
    found = {
        "espeak": (FULL.espeak, FULL.variants), "flite": FULL.flite, "rhvoice": ("alan", "bdl"),
        "festival": ("ked",), "mbrola": ("us3",), "piper": ("joe",), "kokoro": ("af_heart",),
    }  # fmt: skip

    def probe(engine: str) -> Callable[[], Any]:
        def run() -> Any:
            probed.append(engine)
            if engine in missing:
                raise S2TError(f"{engine} is missing: run scripts/install_voices.sh")
            return found[engine]

        return run

    for engine in ENGINES:
        monkeypatch.setitem(inventory._INVENTORIES, engine, probe(engine))
    return probed


def test_missing_engine_is_dropped_and_weights_renormalised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    probed = _fake_inventories(monkeypatch, missing={"kokoro"})
    weights = (("espeak", 0.5), ("kokoro", 0.25), ("piper", 0.25), ("festival", 0.0))
    with caplog.at_level(logging.WARNING):
        found = discover_voices(weights)
    assert probed == ["espeak", "piper", "kokoro"]  # only weighted engines are checked
    assert found.kokoro == () and found.piper == ("joe",)
    log = caplog.text
    assert "voice engine kokoro is not used" in log and "scripts/install_voices.sh" in log
    assert "renormalised to espeak=0.667, piper=0.333" in log
    shares = dict(VoiceSampler(found, weights).weights)
    assert shares == pytest.approx({"espeak": 2 / 3, "piper": 1 / 3})


def test_no_working_engine_is_an_error_naming_each(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_inventories(monkeypatch, missing={"espeak", "kokoro"})
    with pytest.raises(S2TError, match=r"espeak: espeak is missing.*kokoro: kokoro is missing"):
        discover_voices((("espeak", 0.5), ("kokoro", 0.5)))
    with pytest.raises(S2TError, match="expected names in"):
        discover_voices((("pico", 1.0),))


def test_a_missing_program_names_its_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines.shutil, "which", lambda name: None)
    with pytest.raises(S2TError, match=r"text2wave not found.*festvox-don.*install_voices\.sh"):
        engines.festival_inventory()
    with pytest.raises(S2TError, match=r"RHVoice-test not found.*rhvoice rhvoice-english"):
        engines.rhvoice_inventory()


# ---------------------------------------------------------------------------------------------
# Kokoro files
# ---------------------------------------------------------------------------------------------


def _bins(folder: Path, names: list[str], size: int = 510 * 256) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        np.full(size, i, dtype="<f4").tofile(folder / f"{name}.bin")


def test_voice_pack_keeps_the_allowed_english_voices_only(tmp_path: Path) -> None:
    _bins(tmp_path / "voices", [*kokoro.ALLOWED_VOICES, "af_nicole", "bm_george", "jf_alpha"])
    names = kokoro.write_voice_pack(tmp_path / "voices", tmp_path / "pack.npz")
    assert names == list(kokoro.ALLOWED_VOICES) and len(names) == 24
    assert kokoro.check_voice_pack(tmp_path / "pack.npz") == kokoro.ALLOWED_VOICES
    with np.load(tmp_path / "pack.npz") as pack:
        assert pack["af_heart"].shape == (510, 1, 256) and "af_nicole" not in pack.files


def test_voice_pack_errors(tmp_path: Path) -> None:
    _bins(tmp_path / "short", list(kokoro.ALLOWED_VOICES), size=100)
    with pytest.raises(S2TError, match=r"expected 130560 float32 values .*, got 100"):
        kokoro.write_voice_pack(tmp_path / "short", tmp_path / "pack.npz")
    styles = {n: np.zeros((510, 1, 256), np.float32) for n in (*kokoro.ALLOWED_VOICES, "af_nicole")}
    np.savez(tmp_path / "reserved.npz", **styles)  # type: ignore[arg-type]
    with pytest.raises(S2TError, match=r"reserved \['af_nicole'\]"):
        kokoro.check_voice_pack(tmp_path / "reserved.npz")


def test_kokoro_folder_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(kokoro.KOKORO_DIR_ENV, str(tmp_path))
    assert kokoro.kokoro_dir() == tmp_path
    if kokoro.importlib.util.find_spec("kokoro_onnx") is None:
        pytest.skip("kokoro-onnx not installed: pip install -e '.[train]'")
    with pytest.raises(S2TError, match=rf"{tmp_path}.*not found: run scripts/install_voices.sh"):
        kokoro.kokoro_inventory()
