"""What several test modules share: the bundled assets, the reference models for parity tests
(`transformers`' Speech2Text on random weights, and ours loaded with the very same weights), and
helpers that build inputs. Environment needs are markers (see conftest.py), not ad-hoc skips."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from transformers import Speech2TextConfig, Speech2TextForConditionalGeneration

from s2t_stream.defaults import BUNDLED_MODEL, REPO_ROOT
from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import ModelConfig
from s2t_stream.model.network import Speech2Text
from s2t_stream.streaming.events import Final
from s2t_stream.training.options import TrainOptions

SAMPLES = REPO_ROOT / "assets" / "samples"
__all__ = ["BUNDLED_MODEL", "SAMPLES"]


def sample_paths() -> list[Path]:
    """The bundled samples, in samples.jsonl order."""
    with (SAMPLES / "samples.jsonl").open() as f:
        return [SAMPLES / json.loads(line)["audio"] for line in f]


def sample_texts() -> list[str]:
    """The bundled samples' reference texts, in samples.jsonl order."""
    with (SAMPLES / "samples.jsonl").open() as f:
        return [json.loads(line)["text"] for line in f]


def load_samples() -> list[np.ndarray]:
    """The bundled samples at 16 kHz, in samples.jsonl order."""
    return [load_audio(path) for path in sample_paths()]


TINY: dict[str, Any] = dict(
    vocab_size=64,
    d_model=64,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=128,
    decoder_ffn_dim=128,
    conv_channels=96,
    max_source_positions=64,
    max_target_positions=64,
)
# facebook/s2t-small-librispeech-asr: 12+6 layers, d_model 256, vocab 10000, tied head.
SMALL: dict[str, Any] = dict(vocab_size=10000, tie_word_embeddings=True)
# facebook/s2t-medium-mustc-multilingual-st: d_model 512, 8 heads, untied head, 8 language tags.
MULTILINGUAL: dict[str, Any] = dict(
    vocab_size=10000,
    d_model=512,
    encoder_attention_heads=8,
    decoder_attention_heads=8,
    tie_word_embeddings=False,
)
EOS = 2


def bare_corpus(root: Path) -> Path:
    """A corpus of one half-second of silence with its text only (no caption, no translation),
    as train and dev: what a trainer that needs more must refuse."""
    import soundfile as sf

    (root / "audio").mkdir()
    sf.write(root / "audio" / "a.wav", np.zeros(8000, np.float32), 16000)
    for split in ("train", "dev"):
        (root / f"{split}.jsonl").write_text('{"audio": "audio/a.wav", "text": "hi"}\n')
    return root


def tiny_train_options(corpus: Path, out: Path, **changes: Any) -> TrainOptions:
    """Training options of a tiny model (32 wide, one layer each side) that trains in seconds
    on a few utterances; `changes` override any field."""
    options = TrainOptions(
        corpus=str(corpus),
        out=str(out),
        vocab_size=30,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        heads=2,
        ffn_dim=64,
        conv_channels=32,
        dropout=0.0,
        max_frames=1000,
        max_steps=8,
        warmup_steps=2,
        lr=3e-3,
        eval_every=1000,
        save_every=1000,
        spec_augment=False,
        threads=1,
    )
    return replace(options, **changes)


def reference_pair(
    shape: dict[str, Any], seed: int = 0, eos_bias: float = 0.0, **overrides: Any
) -> tuple[Speech2TextForConditionalGeneration, Speech2Text]:
    """A random reference model and ours with identical weights, both in eval mode.

    `eos_bias` > 0 tilts the final decoder LayerNorm towards the eos output row so that random
    models end hypotheses with eos (they otherwise always run to max_length)."""
    kwargs = {**shape, "dropout": 0.0, **overrides}
    torch.manual_seed(seed)
    ref = Speech2TextForConditionalGeneration(Speech2TextConfig(**kwargs)).eval()
    if eos_bias:
        with torch.no_grad():
            row = ref.lm_head.weight[EOS]
            ref.model.decoder.layer_norm.bias.copy_(eos_bias * row / row.norm())
    ours = Speech2Text(ModelConfig(**kwargs)).eval()
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def random_features(
    lengths: list[int], dim: int = 80, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded random features (B, T, dim) with zeros in the padding, and the (B, T) mask."""
    generator = torch.Generator().manual_seed(seed)
    frames = max(lengths)
    mask = (torch.arange(frames)[None, :] < torch.tensor(lengths)[:, None]).long()
    feats = torch.randn(len(lengths), frames, dim, generator=generator) * mask[..., None]
    return feats, mask


# --- a fake PortAudio (the parts of `sounddevice` that io/capture.py uses) ------------------


class FakeStream:
    def __init__(self, backend: FakeBackend, **kwargs: Any) -> None:
        if backend.open_error:
            raise backend.open_error
        self.kwargs = kwargs
        self.callback: Callable[..., None] = kwargs["callback"]
        self.finished_callback: Callable[[], None] = kwargs["finished_callback"]
        self.active = False
        backend.streams.append(self)

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False

    def feed(self, block: np.ndarray, overflow: bool = False) -> None:
        status = type("Status", (), {"input_overflow": overflow})() if overflow else None
        self.callback(block.astype(np.float32), len(block), None, status)

    def lose(self) -> None:
        self.active = False
        self.finished_callback()


class FakeBackend:
    """The parts of `sounddevice` that capture.py uses."""

    def __init__(self, rate: int = 48000, channels: int = 2) -> None:
        self.devices = [
            {
                "name": "HDMI out",
                "max_input_channels": 0,
                "default_samplerate": 48000,
                "hostapi": 0,
            },
            {
                "name": "USB mic",
                "max_input_channels": channels,
                "default_samplerate": rate,
                "hostapi": 0,
            },
            {
                "name": "Monitor of speakers",
                "max_input_channels": 2,
                "default_samplerate": 44100,
                "hostapi": 0,
            },
        ]
        self.default = type("Default", (), {"device": (1, 0)})()
        self.streams: list[FakeStream] = []
        self.open_error: Exception | None = None

    def query_devices(self) -> list[dict[str, Any]]:
        return self.devices

    def query_hostapis(self) -> list[dict[str, Any]]:
        return [{"name": "ALSA"}]

    def InputStream(self, **kwargs: Any) -> FakeStream:
        return FakeStream(self, **kwargs)


# --- an in-process server ---------------------------------------------------------------------


class Running:
    """A server on its own event loop in a thread."""

    def __init__(self, server: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.server, self.loop, self.port = server, loop, 0
        self.stop: asyncio.Event | None = None
        self.thread: threading.Thread | None = None

    def shut_down(self, timeout: float = 60) -> float:
        """Stop serving (as SIGTERM does: drain, then close) and wait; the seconds it took."""
        assert self.stop is not None and self.thread is not None
        began = time.monotonic()
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout)
        return time.monotonic() - began

    def url(self, path: str = "/v1/stream") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}") as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@contextmanager
def running(
    bundle: Bundle,
    limits: Any = None,
    workers: int = 1,
    mt: str | None = None,
    port: int = 0,
    translation: Bundle | None = None,
    **options: Any,
) -> Iterator[Running]:
    """A `StreamingServer` for `bundle` on `port` (0: any free one), on its own event loop in a
    thread (`mt`: `serve --mt`'s engine, e.g. "apertium"; `translation`: a speech-translation
    model beside it, `serve --translation-model`)."""
    from s2t_stream.server.app import StreamingServer
    from s2t_stream.server.options import Limits
    from s2t_stream.streaming.stream import StreamOptions

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Running] = {}

    async def main() -> None:
        server = StreamingServer(
            bundle, StreamOptions(**options), limits or Limits(), workers, mt, translation
        )
        run = holder["run"] = Running(server, loop)
        run.stop = asyncio.Event()
        async with server.running("127.0.0.1", port) as bound:
            run.port = bound
            ready.set()
            await run.stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30), "server did not start"
    run = holder["run"]
    run.thread = thread
    try:
        yield run
    finally:
        run.shut_down()
        loop.close()


# --- speech and noise made in the test ------------------------------------------------------------


def synthesise(text: str, voice: str = "en-us") -> np.ndarray:
    """`text` spoken by espeak-ng, mono float32 at 16 kHz on the 16-bit grid, as a WAV file of
    it would hold (tests using it carry the `audio("espeak-ng")` marker)."""
    import io
    import subprocess

    import soundfile as sf

    from s2t_stream.model.audio import quantize16, resample, to_mono

    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], check=True, capture_output=True
    ).stdout
    data, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return quantize16(resample(to_mono(data), int(rate), 16000))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * 16000), dtype=np.float32)


# --- Apertium (the cascade's machine translation) -------------------------------------------------


def _apertium_languages() -> list[str]:
    from s2t_stream.translation.apertium import available_languages

    return available_languages()


needs_apertium = pytest.mark.skipif(
    not {"es", "ca"} <= set(_apertium_languages()),
    reason="Apertium with its eng-spa and eng-cat pairs is not installed: apt-get install "
    "apertium apertium-eng-spa apertium-eng-cat (scripts/setup.sh installs them)",
)


def assert_same_stream(got: list[Final], want: list[Final]) -> None:
    """`got` (finals of a resumed stream) covers the stream as `want` (uninterrupted) does:
    the same segments at the same times, none lost or doubled. The segment the drain cut is
    decoded again in the new session, whose voice detector starts afresh, so its window can
    differ by a detector frame and its words read differently (the demo model reads one
    sample "it is perfects isn't it" or "it is part for the course isn't it" by a frame): the
    texts agree within a quarter of their words."""
    assert len(got) == len(want), (got, want)
    for mine, theirs in zip(got, want, strict=True):
        assert abs(mine.start_s - theirs.start_s) < 0.5 and abs(mine.end_s - theirs.end_s) < 0.5
    texts = [" ".join(f.text for f in finals) for finals in (want, got)]
    from s2t_stream.training.wer import word_errors

    assert word_errors(texts[:1], texts[1:]).wer <= 0.25, texts


def unclaimed_port() -> int:
    """A free port below the kernel's ephemeral range. Binds to port 0 (every other test's
    server) and outgoing connections are given ports from that range only, so no test running
    beside this one can take the port before its server binds it, or between two runs of it."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    first_ephemeral = int(ranges.read_text().split()[0]) if ranges.exists() else 32768
    for port in random.sample(range(10_000, first_ephemeral), 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in 10000-{first_ephemeral - 1} after 100 tries")


def script_module(name: str, folder: str = "bench") -> ModuleType:
    """The module of `{folder}/{name}.py` (the benchmarks and `scripts/` are scripts, not a
    package), registered in `sys.modules` (a dataclass there looks its module up)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
