"""Checkpoint loading and saving: HF directories written by the reference itself, our writer,
fairseq `.pt` checkpoints with their data files, hub ids (offline cache and a local fake hub),
and one clear CheckpointError, naming the file and key, per kind of bad input."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import pytest
import torch
import transformers
import yaml
from safetensors.torch import load_file, save_file
from torch import Tensor

from s2t_stream.errors import CheckpointError
from s2t_stream.model.checkpoint import Bundle, LoadOptions, load_bundle, save_bundle
from s2t_stream.model.config import GenerationConfig
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.tokenizer import SPM_FILE, Tokenizer, train_sentencepiece
from tests.helpers import TINY, random_features, reference_pair

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A chain fixed to staples at his back passed round his chest.",
    "Nor is Mister Quilter's manner less interesting than his matter.",
    "The prisoners were taken to the court house early in the morning.",
    "She sells sea shells by the sea shore, or so they say.",
    "When the sunlight strikes raindrops in the air, they act as a prism.",
    "Streaming speech recognition turns audio into text while the speaker talks.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
] * 4
TEXT = "the quick brown fox strikes the clocks"
REPO = "facebook/s2t-small-librispeech-asr"
COMMIT = "0f9e8d7c6b5a49382716f5e4d3c2b1a098765432"

PUBLISHED_GENERATION = GenerationConfig(num_beams=5, max_length=200, early_stopping=True)

FEATURES, MASK = random_features([23, 11], seed=3)
DECODER_IDS = torch.tensor([[2, 5, 9, 17, 30, 44], [2, 40, 8, 3, 61, 12]])  # no pad id (1)

# HF name prefix → fairseq name prefix: the inverse of spec §1.10.
TO_FAIRSEQ = (
    ("model.encoder.conv.", "encoder.subsample."),
    ("model.encoder.layers.", "encoder.transformer_layers."),
    ("model.encoder.layer_norm.", "encoder.layer_norm."),
    ("model.decoder.", "decoder."),
    ("lm_head.weight", "decoder.output_projection.weight"),
)


class FairseqConfig(dict[str, Any]):
    """Stands in for fairseq's omegaconf `cfg`: a class the weights-only unpickler refuses."""


@dataclass(frozen=True)
class Reference:
    """A reference model and the directory its own `save_pretrained` wrote (never modified)."""

    model: transformers.Speech2TextForConditionalGeneration
    directory: Path


@dataclass
class FakeHub:
    """What the fake hub server serves ({repo: {file name: bytes}}) and the requests it got."""

    endpoint: str = ""
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- fixtures, helpers


@pytest.fixture(scope="module")
def spm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spm")
    train_sentencepiece(CORPUS, path, TINY["vocab_size"])
    return path


@pytest.fixture(scope="module")
def tokenizer(spm_dir: Path) -> Tokenizer:
    return Tokenizer.from_dir(spm_dir)


@pytest.fixture(scope="module")
def refs(tokenizer: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Reference]:
    """Tied and untied reference models, each saved with the reference's own `save_pretrained`
    (safetensors), our tokenizer files and the reference feature extractor's config."""
    out = {}
    for tie in (True, False):
        ref, _ = reference_pair(
            TINY, seed=int(tie), vocab_size=tokenizer.vocab_size, tie_word_embeddings=tie
        )
        directory = tmp_path_factory.mktemp("tied" if tie else "untied")
        ref.save_pretrained(directory)
        tokenizer.save(directory)
        transformers.Speech2TextFeatureExtractor().save_pretrained(directory)
        out[tie] = Reference(ref, directory)
    return out


def _copy(directory: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(directory, tmp_path / "model"))


def _logits(model: Any) -> Tensor:
    with torch.no_grad():
        if isinstance(model, transformers.Speech2TextForConditionalGeneration):
            out = model(input_features=FEATURES, attention_mask=MASK, decoder_input_ids=DECODER_IDS)
            return out.logits
        return model(FEATURES, MASK, DECODER_IDS)


def _assert_same_logits(bundle: Bundle, ref: Reference, atol: float = 1e-5) -> None:
    assert not bundle.model.training
    torch.testing.assert_close(_logits(bundle.model), _logits(ref.model), atol=atol, rtol=0)


def _edit_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def _edit_weights(directory: Path, edit: Callable[[dict[str, Tensor]], object]) -> None:
    state = load_file(directory / "model.safetensors")
    edit(state)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})


# --------------------------------------------------------------------------- HF layout


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_loads_reference_save_pretrained(
    refs: dict[bool, Reference], tokenizer: Tokenizer, tie: bool
) -> None:
    ref = refs[tie]
    # the reference stores one copy of tied weights: this exercises re-tying on load
    assert ("lm_head.weight" in load_file(ref.directory / "model.safetensors")) is not tie
    bundle = load_bundle(ref.directory)
    _assert_same_logits(bundle, ref)
    assert bundle.config.tie_word_embeddings is tie
    assert (bundle.model.lm_head.weight is bundle.model.decoder.embed_tokens.weight) is tie
    assert bundle.features == FeatureOptions()
    assert bundle.tokenizer.encode(TEXT) == tokenizer.encode(TEXT)
    assert bundle.source == str(ref.directory)


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_loads_pytorch_model_bin(refs: dict[bool, Reference], tie: bool, tmp_path: Path) -> None:
    # transformers v5 ignores save_pretrained(safe_serialization=False) and always writes
    # safetensors; the published repos' pytorch_model.bin is a plain torch.save(state_dict()).
    ref = refs[tie]
    directory = _copy(ref.directory, tmp_path)
    (directory / "model.safetensors").unlink()
    torch.save(ref.model.state_dict(), directory / "pytorch_model.bin")
    _assert_same_logits(load_bundle(directory), ref)


def test_preprocessor_config_sets_features(refs: dict[bool, Reference], tmp_path: Path) -> None:
    directory = _copy(refs[True].directory, tmp_path)
    extractor = transformers.Speech2TextFeatureExtractor(sampling_rate=8000, normalize_vars=False)
    extractor.save_pretrained(directory)
    expected = FeatureOptions(sample_rate=8000, normalize_vars=False)
    assert load_bundle(directory).features == expected
    (directory / "preprocessor_config.json").unlink()
    assert load_bundle(directory).features == FeatureOptions()  # the reference's defaults


def test_generation_config_json_wins_over_config_json(
    refs: dict[bool, Reference], tmp_path: Path
) -> None:
    directory = _copy(refs[True].directory, tmp_path)
    # the published file, verbatim (spec §3.3)
    published = {
        "_from_model_config": True,
        "bos_token_id": 0,
        "decoder_start_token_id": 2,
        "early_stopping": True,
        "eos_token_id": 2,
        "max_length": 200,
        "num_beams": 5,
        "pad_token_id": 1,
        "transformers_version": "4.27.0.dev0",
    }
    (directory / "generation_config.json").write_text(json.dumps(published), encoding="utf-8")
    _edit_json(directory / "config.json", num_beams=3, max_length=50, early_stopping=False)
    assert load_bundle(directory).generation == PUBLISHED_GENERATION


def test_generation_falls_back_to_config_json(refs: dict[bool, Reference], tmp_path: Path) -> None:
    directory = _copy(refs[True].directory, tmp_path)
    (directory / "generation_config.json").unlink()
    _edit_json(
        directory / "config.json",
        num_beams=4,
        max_length=150,
        early_stopping=True,
        length_penalty=0.8,
    )
    expected = GenerationConfig(
        num_beams=4, max_length=150, early_stopping=True, length_penalty=0.8
    )
    assert load_bundle(directory).generation == expected


def test_bad_generation_key_in_config_json_names_config_json(
    refs: dict[bool, Reference], tmp_path: Path
) -> None:
    directory = _copy(refs[True].directory, tmp_path)
    (directory / "generation_config.json").unlink()
    _edit_json(directory / "config.json", num_beams=0)
    with pytest.raises(CheckpointError, match=r"model/config\.json: num_beams must be a positive"):
        load_bundle(directory)


def test_tied_file_with_only_lm_head_loads(refs: dict[bool, Reference], tmp_path: Path) -> None:
    directory = _copy(refs[True].directory, tmp_path)

    def keep_head_only(state: dict[str, Tensor]) -> None:
        state["lm_head.weight"] = state.pop("model.decoder.embed_tokens.weight")

    _edit_weights(directory, keep_head_only)
    _assert_same_logits(load_bundle(directory), refs[True])


def test_tied_file_with_differing_lm_head_uses_embedding(
    refs: dict[bool, Reference], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = _copy(refs[True].directory, tmp_path)

    def add_other_head(state: dict[str, Tensor]) -> None:
        state["lm_head.weight"] = torch.randn_like(state["model.decoder.embed_tokens.weight"])

    _edit_weights(directory, add_other_head)
    with caplog.at_level(logging.WARNING, logger="s2t_stream.model.checkpoint"):
        bundle = load_bundle(directory)
    _assert_same_logits(bundle, refs[True])
    assert "lm_head.weight differs from the tied decoder embedding" in caplog.text


def test_legacy_position_tables_are_ignored(refs: dict[bool, Reference], tmp_path: Path) -> None:
    directory = _copy(refs[False].directory, tmp_path)

    def add_tables(state: dict[str, Tensor]) -> None:
        state["model.encoder.embed_positions.weights"] = torch.randn(66, 64)
        state["model.decoder.embed_positions.weights"] = torch.randn(66, 64)

    _edit_weights(directory, add_tables)
    _assert_same_logits(load_bundle(directory), refs[False])


def test_untrusted_pickle_in_hf_dir(refs: dict[bool, Reference], tmp_path: Path) -> None:
    ref = refs[False]
    directory = _copy(ref.directory, tmp_path)
    (directory / "model.safetensors").unlink()
    checkpoint = {"state_dict": ref.model.state_dict(), "meta": FairseqConfig(epoch=3)}
    torch.save(checkpoint, directory / "pytorch_model.bin")
    with pytest.raises(
        CheckpointError,
        match=r"pytorch_model\.bin: needs full unpickling.*FairseqConfig.*--trust-checkpoint",
    ):
        load_bundle(directory)
    _assert_same_logits(load_bundle(directory, LoadOptions(trust_pickle=True)), ref)


# --------------------------------------------------------------------------- our writer


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_save_bundle_round_trip(refs: dict[bool, Reference], tie: bool, tmp_path: Path) -> None:
    ref = refs[tie]
    bundle = load_bundle(ref.directory)
    out = tmp_path / "saved"
    save_bundle(bundle, out)
    assert ("lm_head.weight" in load_file(out / "model.safetensors")) is not tie

    again = load_bundle(out)
    _assert_same_logits(again, ref)
    assert again.config == bundle.config
    assert again.generation == bundle.generation
    assert again.features == bundle.features
    assert again.tokenizer.encode(TEXT) == bundle.tokenizer.encode(TEXT)

    hf, info = transformers.Speech2TextForConditionalGeneration.from_pretrained(
        out, dtype=torch.float32, output_loading_info=True
    )
    for problem in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        assert not info[problem], (problem, info[problem])
    assert hf.config.tie_word_embeddings is tie
    torch.testing.assert_close(_logits(hf.eval()), _logits(ref.model), atol=1e-5, rtol=0)
    hf_tokenizer = transformers.Speech2TextTokenizer.from_pretrained(str(out))
    assert hf_tokenizer(TEXT).input_ids == bundle.tokenizer.encode(TEXT)
    extractor = transformers.Speech2TextFeatureExtractor.from_pretrained(str(out))
    assert (extractor.num_mel_bins, extractor.sampling_rate) == (80, 16000)


def test_save_bundle_fp16(refs: dict[bool, Reference], tmp_path: Path) -> None:
    ref = refs[False]
    bundle = load_bundle(ref.directory)
    out = tmp_path / "fp16"
    save_bundle(bundle, out, dtype=torch.float16)
    stored = load_file(out / "model.safetensors")
    assert {t.dtype for t in stored.values()} == {torch.float16}

    again = load_bundle(out)
    original = bundle.model.state_dict()
    for name, tensor in again.model.state_dict().items():
        assert tensor.dtype == torch.float32, name
        expected = original[name].half().float()  # exactly the fp16-rounded weights
        torch.testing.assert_close(tensor, expected, atol=0, rtol=0, msg=name)
    assert not torch.equal(again.model.lm_head.weight, bundle.model.lm_head.weight)
    _assert_same_logits(again, ref, atol=2e-2)


# --------------------------------------------------------------------------- fairseq


def _fairseq_state(ref: Reference) -> dict[str, Tensor]:
    """The reference's weights under fairseq names, with fairseq's bookkeeping tensors."""
    state = {}
    for key, tensor in ref.model.state_dict().items():
        old, new = next((o, n) for o, n in TO_FAIRSEQ if key.startswith(o))
        state[new + key[len(old) :]] = tensor.clone()
    for part in ("encoder", "decoder"):
        state[f"{part}.version"] = torch.tensor([3.0])
        state[f"{part}.embed_positions._float_tensor"] = torch.tensor([1.0])
    return state


def _fairseq_args(tie: bool, **changes: Any) -> argparse.Namespace:
    args = dict(
        arch="s2t_transformer_s",
        task="speech_to_text",
        encoder_embed_dim=TINY["d_model"],
        decoder_embed_dim=TINY["d_model"],
        encoder_ffn_embed_dim=TINY["encoder_ffn_dim"],
        decoder_ffn_embed_dim=TINY["decoder_ffn_dim"],
        encoder_layers=TINY["encoder_layers"],
        decoder_layers=TINY["decoder_layers"],
        encoder_attention_heads=TINY["encoder_attention_heads"],
        decoder_attention_heads=TINY["decoder_attention_heads"],
        conv_kernel_sizes="5,5",
        conv_channels=TINY["conv_channels"],
        conv_version="s2t_transformer",
        input_feat_per_channel=80,
        input_channels=1,
        max_source_positions=TINY["max_source_positions"],
        max_target_positions=TINY["max_target_positions"],
        share_decoder_input_output_embed=tie,
        encoder_normalize_before=True,
        decoder_normalize_before=True,
        no_scale_embedding=False,
        decoder_learned_pos=False,
        layernorm_embedding=False,
        no_token_positional_embeddings=False,
        adaptive_softmax_cutoff=None,
        activation_fn="relu",
        dropout=0.1,
        attention_dropout=0.1,
        activation_dropout=0.1,
    )
    args.update(changes)
    return argparse.Namespace(**args)


def _write_fairseq(
    folder: Path,
    ref: Reference,
    tokenizer: Tokenizer,
    spm_dir: Path,
    *,
    checkpoint: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Path:
    """checkpoint_best.pt, config.yaml, the SentencePiece model and the fairseq dictionary."""
    folder.mkdir()
    if checkpoint is None:
        checkpoint = {"args": _fairseq_args(ref.model.config.tie_word_embeddings)}
    checkpoint = {
        "model": _fairseq_state(ref),
        "optimizer_history": [{"criterion_name": "LabelSmoothedCrossEntropy", "num_updates": 9}],
        "extra_state": {"epoch": 3},
        **checkpoint,
    }
    torch.save(checkpoint, folder / "checkpoint_best.pt")
    config = {
        "bpe_tokenizer": {"bpe": "sentencepiece", "sentencepiece_model": "spm_unigram64.model"},
        "vocab_filename": "spm_unigram64.txt",
        "input_channels": 1,
        "input_feat_per_channel": 80,
        "transforms": {"*": ["utterance_cmvn"], "_train": ["utterance_cmvn", "specaugment"]},
        **(data or {}),
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    shutil.copy(spm_dir / SPM_FILE, folder / "spm_unigram64.model")
    pieces = [tokenizer.id_to_piece(i) for i in range(4, tokenizer.vocab_size)]
    (folder / "spm_unigram64.txt").write_text("".join(f"{p} 1\n" for p in pieces), encoding="utf-8")
    return folder / "checkpoint_best.pt"


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_fairseq_checkpoint_loads(
    refs: dict[bool, Reference], tokenizer: Tokenizer, spm_dir: Path, tie: bool, tmp_path: Path
) -> None:
    ref = refs[tie]
    checkpoint = _write_fairseq(tmp_path / "fairseq", ref, tokenizer, spm_dir)
    for spec in (checkpoint, checkpoint.parent):
        bundle = load_bundle(spec)
        _assert_same_logits(bundle, ref)
        assert bundle.config.tie_word_embeddings is tie
        assert bundle.config.vocab_size == tokenizer.vocab_size
        assert bundle.source == str(checkpoint)
        assert bundle.generation == PUBLISHED_GENERATION  # what HF's converter hard-codes
        assert bundle.features == FeatureOptions()
        assert [bundle.tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size)] == [
            tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size)
        ]
        assert bundle.tokenizer.encode(TEXT) == tokenizer.encode(TEXT)


def test_fairseq_cfg_needs_trust(
    refs: dict[bool, Reference], tokenizer: Tokenizer, spm_dir: Path, tmp_path: Path
) -> None:
    ref = refs[True]
    cfg = FairseqConfig(model=_fairseq_args(tie=True), task={"data": "/data/librispeech"})
    checkpoint = _write_fairseq(
        tmp_path / "fairseq", ref, tokenizer, spm_dir, checkpoint={"args": None, "cfg": cfg}
    )
    for spec in (checkpoint, checkpoint.parent):
        with pytest.raises(
            CheckpointError,
            match=r"checkpoint_best\.pt: needs full unpickling.*FairseqConfig.*--trust-checkpoint",
        ):
            load_bundle(spec)
        _assert_same_logits(load_bundle(spec, LoadOptions(trust_pickle=True)), ref)


@pytest.mark.parametrize(
    "checkpoint",
    [{"args": None, "cfg": {"task": {"data": "/data"}}}, {"args": None, "cfg": None}, {}],
    ids=["cfg-without-model", "cfg-none", "neither"],
)
def test_fairseq_checkpoint_without_model_args(
    refs: dict[bool, Reference],
    tokenizer: Tokenizer,
    spm_dir: Path,
    tmp_path: Path,
    checkpoint: dict[str, Any],
) -> None:
    path = _write_fairseq(
        tmp_path / "fairseq", refs[True], tokenizer, spm_dir, checkpoint=checkpoint
    )
    with pytest.raises(
        CheckpointError, match=r"checkpoint_best\.pt: fairseq checkpoint has neither 'args' nor"
    ):
        load_bundle(path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"encoder_normalize_before": False},
            r"checkpoint_best\.pt: args\.encoder_normalize_before is False; .* needs True",
        ),
        (
            {"decoder_normalize_before": False},
            r"checkpoint_best\.pt: args\.decoder_normalize_before is False",
        ),
        ({"arch": "transformer"}, r"checkpoint_best\.pt: args\.arch is 'transformer'"),
        ({"no_scale_embedding": True}, r"checkpoint_best\.pt: args\.no_scale_embedding is True"),
        ({"conv_version": "convtransformer"}, r"checkpoint_best\.pt: args\.conv_version is"),
    ],
    ids=["encoder-post-ln", "decoder-post-ln", "arch", "no-scale", "conv-version"],
)
def test_fairseq_other_architectures_are_refused(
    refs: dict[bool, Reference],
    tokenizer: Tokenizer,
    spm_dir: Path,
    tmp_path: Path,
    changes: dict[str, Any],
    match: str,
) -> None:
    args = _fairseq_args(tie=True, **changes)
    checkpoint = _write_fairseq(
        tmp_path / "fairseq", refs[True], tokenizer, spm_dir, checkpoint={"args": args}
    )
    with pytest.raises(CheckpointError, match=match):
        load_bundle(checkpoint)


def _remove(name: str) -> Callable[[Path], object]:
    return lambda folder: (folder / name).unlink()


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_remove("config.yaml"), r"fairseq/config\.yaml: file not found"),
        (_remove("spm_unigram64.txt"), r"fairseq/spm_unigram64\.txt not found"),
        (_remove("spm_unigram64.model"), r"fairseq/spm_unigram64\.model not found"),
        (
            lambda folder: (folder / "checkpoint_last.pt").write_bytes(b"x"),
            r"fairseq: expected a Hugging Face S2T directory .* exactly one fairseq \.pt",
        ),
    ],
    ids=["no-config-yaml", "no-dictionary", "no-spm-model", "two-checkpoints"],
)
def test_fairseq_dir_missing_files(
    refs: dict[bool, Reference],
    tokenizer: Tokenizer,
    spm_dir: Path,
    tmp_path: Path,
    damage: Callable[[Path], object],
    match: str,
) -> None:
    checkpoint = _write_fairseq(tmp_path / "fairseq", refs[True], tokenizer, spm_dir)
    damage(checkpoint.parent)
    with pytest.raises(CheckpointError, match=match):
        load_bundle(checkpoint.parent)


def test_fairseq_global_cmvn_is_refused(
    refs: dict[bool, Reference], tokenizer: Tokenizer, spm_dir: Path, tmp_path: Path
) -> None:
    data = {
        "global_cmvn": {"stats_npz_path": "gcmvn.npz"},
        "transforms": {"*": ["global_cmvn"], "_train": ["global_cmvn", "specaugment"]},
    }
    checkpoint = _write_fairseq(tmp_path / "fairseq", refs[True], tokenizer, spm_dir, data=data)
    with pytest.raises(CheckpointError, match=r"fairseq/config\.yaml: uses global CMVN"):
        load_bundle(checkpoint)


# --------------------------------------------------------------------------- hub ids


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _hub_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self.respond(with_body=False)

        def do_GET(self) -> None:
            self.respond(with_body=True)

        def respond(self, *, with_body: bool) -> None:
            hub.requests.append((self.command, self.path))
            status, body, headers = self.route(self.path.split("?")[0])
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def route(self, path: str) -> tuple[int, bytes, dict[str, str]]:
            """repo info (→ commit), recursive tree listing, and file downloads."""
            as_json = {"Content-Type": "application/json"}
            for repo, files in hub.repos.items():
                if path == f"/api/models/{repo}/revision/main":
                    return 200, json.dumps({"id": repo, "sha": COMMIT}).encode(), as_json
                if path == f"/api/models/{repo}/tree/{COMMIT}":
                    tree = [
                        {"type": "file", "path": name, "size": len(data), "oid": _git_oid(data)}
                        for name, data in files.items()
                    ]
                    return 200, json.dumps(tree).encode(), as_json
                name = path.removeprefix(f"/{repo}/resolve/{COMMIT}/")
                if name in files:
                    data = files[name]
                    return 200, data, {"X-Repo-Commit": COMMIT, "ETag": f'"{_git_oid(data)}"'}
            if path.startswith("/api/models/"):
                not_found = {**as_json, "X-Error-Code": "RepoNotFound"}
                return 404, b'{"error": "Repository not found"}', not_found
            return 404, b"{}", as_json

    return Handler


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """Points huggingface_hub at a fake hub on 127.0.0.1: no test here can reach the network."""
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _hub_handler(hub))
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    constants = huggingface_hub.constants
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)  # send no real token
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agent_harnesses.json"))
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def saved_files(refs: dict[bool, Reference], tmp_path: Path) -> dict[str, bytes]:
    """The files of the tied reference bundle as written by `save_bundle`."""
    saved = tmp_path / "saved"
    save_bundle(load_bundle(refs[True].directory), saved)
    return {path.name: path.read_bytes() for path in saved.iterdir()}


def _populate_hub_cache(cache: Path, repo: str, files: dict[str, bytes]) -> Path:
    """huggingface_hub's cache layout: blobs, snapshots/<commit>/<name> symlinks, refs/main."""
    storage = cache / ("models--" + repo.replace("/", "--"))
    snapshot = storage / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (storage / "blobs").mkdir()
    for name, data in files.items():
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(COMMIT, encoding="utf-8")
    return snapshot


@pytest.mark.network
def test_hub_id_from_offline_cache(
    refs: dict[bool, Reference], saved_files: dict[str, bytes], fake_hub: FakeHub, tmp_path: Path
) -> None:
    snapshot = _populate_hub_cache(tmp_path / "hub", REPO, saved_files)
    bundle = load_bundle(REPO, LoadOptions(offline=True, cache_dir=tmp_path / "hub"))
    assert Path(bundle.source).resolve() == snapshot.resolve()
    _assert_same_logits(bundle, refs[True])
    assert fake_hub.requests == []


@pytest.mark.network
def test_hub_id_missing_from_offline_cache(
    saved_files: dict[str, bytes], fake_hub: FakeHub, tmp_path: Path
) -> None:
    _populate_hub_cache(tmp_path / "hub", REPO, saved_files)
    with pytest.raises(
        CheckpointError, match=r"facebook/s2t-missing: not in the local model cache"
    ):
        load_bundle("facebook/s2t-missing", LoadOptions(offline=True, cache_dir=tmp_path / "hub"))
    assert fake_hub.requests == []


@pytest.mark.network
def test_hub_offline_by_default_follows_hf_hub_offline(
    refs: dict[bool, Reference],
    saved_files: dict[str, bytes],
    fake_hub: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "hub"
    _populate_hub_cache(cache, REPO, saved_files)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    _assert_same_logits(load_bundle(REPO, LoadOptions(cache_dir=cache)), refs[True])
    with pytest.raises(
        CheckpointError, match=r"facebook/s2t-missing: not in the local model cache .*offline=True"
    ):
        load_bundle("facebook/s2t-missing", LoadOptions(cache_dir=cache))
    assert fake_hub.requests == []


@pytest.mark.network
def test_hub_id_downloads_from_hub(
    refs: dict[bool, Reference], saved_files: dict[str, bytes], fake_hub: FakeHub, tmp_path: Path
) -> None:
    extra = {"README.md": b"# s2t\n", "tf_model.h5": b"\0" * 64, "pytorch_model.bin": b"\0" * 64}
    fake_hub.repos[REPO] = {**saved_files, **extra}
    cache = tmp_path / "hub"
    bundle = load_bundle(REPO, LoadOptions(offline=False, cache_dir=cache))
    _assert_same_logits(bundle, refs[True])
    downloaded = {path.rsplit("/", 1)[1] for _, path in fake_hub.requests if "/resolve/" in path}
    assert downloaded & set(extra) == set()  # only the checkpoint's files, weights once
    assert set(saved_files) <= downloaded

    # now in the cache: offline loading makes no request
    fake_hub.repos.clear()
    fake_hub.requests.clear()
    again = load_bundle(REPO, LoadOptions(offline=True, cache_dir=cache))
    assert again.source == bundle.source
    _assert_same_logits(again, refs[True])
    assert fake_hub.requests == []


@pytest.mark.network
def test_hub_id_falls_back_to_pytorch_model_bin(
    refs: dict[bool, Reference], saved_files: dict[str, bytes], fake_hub: FakeHub, tmp_path: Path
) -> None:
    files = dict(saved_files)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(files.pop("model.safetensors"))
    buffer = tmp_path / "pytorch_model.bin"
    torch.save(load_file(weights), buffer)
    fake_hub.repos[REPO] = {**files, "pytorch_model.bin": buffer.read_bytes()}
    bundle = load_bundle(REPO, LoadOptions(offline=False, cache_dir=tmp_path / "hub"))
    _assert_same_logits(bundle, refs[True])
    assert (Path(bundle.source) / "pytorch_model.bin").is_file()


@pytest.mark.network
def test_hub_id_unknown_to_hub(fake_hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(
        CheckpointError, match=r"facebook/s2t-missing: could not fetch from the hub"
    ):
        load_bundle("facebook/s2t-missing", LoadOptions(offline=False, cache_dir=tmp_path / "hub"))
    assert ("GET", "/api/models/facebook/s2t-missing/revision/main") in fake_hub.requests


# --------------------------------------------------------------------------- bad input


def _write(name: str, data: bytes) -> Callable[[Path], object]:
    return lambda directory: (directory / name).write_bytes(data)


def _config(**changes: Any) -> Callable[[Path], object]:
    return lambda directory: _edit_json(directory / "config.json", **changes)


def _weights(edit: Callable[[dict[str, Tensor]], object]) -> Callable[[Path], object]:
    return lambda directory: _edit_weights(directory, edit)


def _to_bin(directory: Path) -> None:
    state = load_file(directory / "model.safetensors")
    (directory / "model.safetensors").unlink()
    torch.save(state, directory / "pytorch_model.bin")


def _damaged_bin(data: Callable[[bytes], bytes]) -> Callable[[Path], object]:
    def damage(directory: Path) -> None:
        _to_bin(directory)
        path = directory / "pytorch_model.bin"
        path.write_bytes(data(path.read_bytes()))

    return damage


def _empty_dir(directory: Path) -> None:
    for file in directory.iterdir():
        file.unlink()


RANDOM_BYTES = bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize(
    ("tie", "damage", "match"),
    [
        (True, _remove("model.safetensors"), r"model: no weights file \(expected one of model"),
        (True, _remove("config.json"), r"model/config\.json: file not found"),
        (True, _empty_dir, r"model: expected a Hugging Face S2T directory"),
        (True, _write("config.json", b'{"d_model": 64,'), r"model/config\.json: not valid JSON"),
        (True, _write("config.json", b"[1, 2]"), r"model/config\.json: expected a JSON object"),
        (
            True,
            _config(model_type="wav2vec2"),
            r"model/config\.json: model_type is 'wav2vec2'; expected 'speech_to_text'",
        ),
        (
            True,
            _config(conv_kernel_sizes=[5, 5, 5]),
            r"model/config\.json: ModelConfig\.conv_kernel_sizes has 3 entries but "
            r"num_conv_layers is 2",
        ),
        (
            True,
            _config(d_model=66),
            r"model/config\.json: ModelConfig\.d_model \(66\) must be divisible by "
            r"encoder_attention_heads",
        ),
        (
            True,
            _write("model.safetensors", RANDOM_BYTES),
            r"model/model\.safetensors: not a readable safetensors file",
        ),
        (
            True,
            _write("model.safetensors", b""),
            r"model/model\.safetensors: not a readable safetensors file",
        ),
        (
            True,
            _damaged_bin(lambda data: RANDOM_BYTES),
            r"model/pytorch_model\.bin: not a readable PyTorch checkpoint",
        ),
        (
            True,
            _damaged_bin(lambda data: data[: len(data) // 2]),
            r"model/pytorch_model\.bin: not a readable PyTorch checkpoint",
        ),
        (
            True,
            _damaged_bin(lambda data: b"hello world\n" * 8),
            r"model/pytorch_model\.bin: not a readable PyTorch checkpoint",
        ),
        (
            True,
            _damaged_bin(lambda data: b"abc"),
            r"model/pytorch_model\.bin: not a readable PyTorch checkpoint",
        ),
        (
            True,
            _weights(lambda state: state.update({"model.encoder.adapter.weight": torch.ones(2)})),
            r"model/model\.safetensors: unexpected key 'model\.encoder\.adapter\.weight'",
        ),
        (
            True,
            _weights(lambda state: state.pop("model.encoder.layer_norm.bias")),
            r"model/model\.safetensors: missing key 'model\.encoder\.layer_norm\.bias'",
        ),
        (
            True,
            _config(encoder_ffn_dim=96),
            r"model/model\.safetensors: key 'model\.encoder\.layers\.\d\.fc[12]\.\w+' has shape "
            r"\((128,|64, 128|128, 64)\), the config expects \((96,|64, 96|96, 64)\)",
        ),
        (
            True,
            _weights(
                lambda state: state.update(
                    {"model.encoder.layer_norm.weight": torch.ones(64, dtype=torch.long)}
                )
            ),
            r"model/model\.safetensors: key 'model\.encoder\.layer_norm\.weight' has dtype "
            r"torch\.int64",
        ),
        (
            False,
            _weights(lambda state: state.pop("lm_head.weight")),
            r"model/model\.safetensors: missing key 'lm_head\.weight'",
        ),
        (True, _remove("vocab.json"), r"model/vocab\.json: file not found"),
        (True, _remove(SPM_FILE), r"model/sentencepiece\.bpe\.model not found"),
        (True, _remove("tokenizer_config.json"), r"model/tokenizer_config\.json: file not found"),
        (
            True,
            lambda directory: _edit_json(directory / "preprocessor_config.json", feature_size=40),
            r"model/preprocessor_config\.json: .*feature_size \(40\) must equal num_mel_bins",
        ),
        (
            True,
            lambda directory: _edit_json(directory / "generation_config.json", max_length=0),
            r"model/generation_config\.json: max_length must be a positive integer",
        ),
    ],
    ids=[
        "no-weights",
        "no-config",
        "empty-dir",
        "corrupt-config",
        "config-not-object",
        "model-type",
        "conv-kernels",
        "heads",
        "corrupt-safetensors",
        "empty-safetensors",
        "random-bin",
        "truncated-bin",
        "text-bin",
        "tiny-bin",
        "extra-key",
        "missing-key",
        "shape",
        "int-dtype",
        "untied-no-lm-head",
        "no-vocab",
        "no-spm-model",
        "no-tokenizer-config",
        "preprocessor",
        "generation",
    ],
)
def test_bad_hf_dir_raises_one_clear_error(
    refs: dict[bool, Reference],
    tmp_path: Path,
    tie: bool,
    damage: Callable[[Path], object],
    match: str,
) -> None:
    directory = _copy(refs[tie].directory, tmp_path)
    damage(directory)
    with pytest.raises(CheckpointError, match=match):
        load_bundle(directory)


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nowhere: no such file or directory"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=r"\./nowhere/at/all: no such file or directory"):
        load_bundle("./nowhere/at/all")
