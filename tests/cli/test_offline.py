"""The command line end to end: `s2t-stream transcribe` on a saved tiny model and WAV files,
its JSON output and `--output-dir` files, `python -m s2t_stream`, and one-line errors with exit
status 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import Speech2TextForConditionalGeneration

from s2t_stream.cli import build_parser, main
from s2t_stream.cli.arguments import load_options
from s2t_stream.model.checkpoint import Bundle, LoadOptions, load_bundle, save_bundle
from s2t_stream.model.config import GenerationConfig, ModelConfig
from s2t_stream.model.features import FeatureOptions, extract_features
from s2t_stream.model.network import Speech2Text
from s2t_stream.model.tokenizer import train_sentencepiece
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from tests.helpers import SAMPLES, TINY, needs_apertium

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "streaming speech recognition turns audio into text",
    "it was a bright cold day in april and the clocks were striking thirteen",
    "she sells sea shells by the sea shore",
] * 5


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model saved in the published layout, with beam 3 / 12 tokens defaults."""
    root = tmp_path_factory.mktemp("model")
    tokenizer = train_sentencepiece(SENTENCES, root / "spm", vocab_size=50)
    torch.manual_seed(0)
    model = Speech2Text(ModelConfig(**{**TINY, "vocab_size": tokenizer.vocab_size})).eval()
    generation = GenerationConfig(num_beams=3, max_length=12, early_stopping=True)
    save_bundle(Bundle(model, tokenizer, generation, FeatureOptions(), "test"), root / "tiny")
    return root / "tiny"


@pytest.fixture(scope="module")
def st_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random speech-translation model (language tags es and ca) in the published
    layout: what it writes does not matter here, only that it has languages."""
    root = tmp_path_factory.mktemp("st-model")
    tokenizer = train_sentencepiece(SENTENCES, root / "spm", vocab_size=50, lang_codes=["es", "ca"])
    torch.manual_seed(0)
    model = Speech2Text(ModelConfig(**{**TINY, "vocab_size": tokenizer.vocab_size})).eval()
    generation = GenerationConfig(num_beams=1, max_length=12)
    save_bundle(Bundle(model, tokenizer, generation, FeatureOptions(), "test"), root / "tiny-st")
    return root / "tiny-st"


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two short files: 16 kHz mono and 44.1 kHz stereo."""
    root = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    first = root / "a.wav"
    sf.write(first, (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    second = root / "b.flac"
    sf.write(second, (0.1 * rng.standard_normal((22050, 2))).astype(np.float32), 44100)
    return [first, second]


def test_json_output_matches_the_library(
    model_dir: Path, wavs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", *map(str, wavs), "--model", str(model_dir), "--format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    transcriber = Transcriber(load_bundle(model_dir))
    expected = list(transcriber.transcribe_files(wavs))
    assert [line["path"] for line in lines] == [str(p) for p in wavs]
    assert [line["text"] for line in lines] == [t.text for t in expected]
    assert [line["duration_s"] for line in lines] == [1.0, 0.5]


def test_text_output_and_generation_defaults_follow_the_reference(
    model_dir: Path, wavs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Our tokens for the first file equal the reference's `generate` (beam 3, 12 tokens, from
    the saved generation config) on the same features: with the whole file as one utterance and
    no loop guard, the search is the reference's."""
    exact = ["--no-vad", "--no-loop-guard", "--no-band-mask"]
    assert main(["transcribe", str(wavs[0]), "--model", str(model_dir), *exact]) == 0
    printed = capsys.readouterr().out.strip()
    bundle = load_bundle(model_dir)
    feats = torch.from_numpy(extract_features(sf.read(wavs[0], dtype="float32")[0]))[None]
    reference = Speech2TextForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        tokens = reference.eval().generate(feats)[0, 1:].tolist()
    assert printed == bundle.tokenizer.decode(tokens)
    assert Transcriber(bundle).settings.num_beams == 3


def test_band_mask_is_on_unless_turned_off() -> None:
    from s2t_stream.cli.offline import transcribe_options

    for command in ("transcribe", "eval"):
        assert transcribe_options(build_parser().parse_args([command, "a.wav"])).band_mask
        args = build_parser().parse_args([command, "a.wav", "--no-band-mask"])
        assert not transcribe_options(args).band_mask


def test_beam_flag_overrides_the_checkpoint(model_dir: Path) -> None:
    bundle = load_bundle(model_dir)
    from s2t_stream.model.config import DecodingOptions

    greedy = Transcriber(bundle, TranscribeOptions(decoding=DecodingOptions(num_beams=1)))
    assert greedy.settings.num_beams == 1
    assert greedy.settings.max_length == 12


def test_python_dash_m_runs_the_cli(model_dir: Path, wavs: list[Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "s2t_stream", "transcribe", str(wavs[0]), "--model", str(model_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == Transcriber(load_bundle(model_dir)).transcribe_files([wavs[0]]).__next__().text
    )


def test_a_closed_pipe_ends_quietly(model_dir: Path, wavs: list[Path]) -> None:
    """`s2t-stream transcribe … | head -0`: exit status 141 as with SIGPIPE, no traceback."""
    command = [sys.executable, "-m", "s2t_stream", "transcribe", *map(str, wavs)]
    with subprocess.Popen(
        [*command, "--model", str(model_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        errors = proc.stderr.read().decode()
    assert proc.returncode == 141, errors
    assert "Traceback" not in errors and "Exception" not in errors


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tgt-lang", "fr"], "--tgt-lang fr: --model "),
        (["--dtype", "float16", "--device", "cpu"], "needs a CUDA device"),
        (
            ["--quantize", "int8", "--device", "cuda"],
            "--quantize int8 runs on the CPU in float32 (--device cpu or auto, --dtype float32); "
            "got --device cuda",
        ),
        (
            ["--quantize", "int8", "--device", "cuda:1", "--dtype", "float16"],
            "got --device cuda:1 and --dtype float16",
        ),
        (["--quantize", "int8", "--dtype", "bfloat16"], "got --dtype bfloat16"),
        (["--quantize", "int4"], "argument --quantize: invalid choice: 'int4'"),
        (["--beam", "0"], "argument --beam: expected an integer ≥ 1, got 0"),
    ],
)
def test_bad_options_print_one_line_and_exit_2(
    model_dir: Path,
    wavs: list[Path],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    assert main(["transcribe", str(wavs[0]), "--model", str(model_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("s2t-stream: error: ")
    assert message in err


@pytest.mark.parametrize(
    "command",
    [
        ["transcribe", "a.wav"],
        ["eval", "test.jsonl"],
        ["stream", "a.wav"],
        ["mic"],
        ["serve"],
    ],
)
def test_every_command_that_loads_a_model_takes_quantize(command: list[str]) -> None:
    """The flag reaches `LoadOptions` (serve's too: `server.py` is `s2t-stream serve`), and
    `--device auto` means the CPU for int8 whatever the machine has."""
    args = build_parser().parse_args([*command, "--quantize", "int8"])
    assert load_options(args) == LoadOptions(device="cpu", quantize="int8")
    args = build_parser().parse_args(command)
    assert load_options(args).quantize == "none"


def test_missing_audio_and_model_are_clear_errors(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.wav"
    assert main(["transcribe", str(missing), "--model", str(model_dir)]) == 1  # a file failed
    err = capsys.readouterr().err
    assert "nope.wav: expected an audio file, but no such file exists" in err
    assert "1 of 1 files failed" in err
    assert main(["transcribe", str(missing), "--model", str(tmp_path / "no-model")]) == 2
    assert "no-model" in capsys.readouterr().err


def test_output_dir_writes_each_result_with_its_formats_extension(
    model_dir: Path, wavs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--output-dir` writes DIR/<name>.txt, .jsonl, .srt or .vtt, each what the command would
    have printed for that file alone."""
    for form, suffix in (("text", "txt"), ("json", "jsonl"), ("srt", "srt"), ("vtt", "vtt")):
        out = tmp_path / form
        command = ["transcribe", *map(str, wavs), "--model", str(model_dir), "--format", form]
        assert main([*command, "--output-dir", str(out)]) == 0
        assert capsys.readouterr().out == ""
        assert sorted(p.name for p in out.iterdir()) == [f"a.{suffix}", f"b.{suffix}"]
        for wav in wavs:
            assert main(["transcribe", str(wav), "--model", str(model_dir), "--format", form]) == 0
            printed = capsys.readouterr().out
            assert (out / f"{wav.stem}.{suffix}").read_text(encoding="utf-8") == printed


def test_inputs_that_would_write_the_same_output_file_are_refused_before_transcribing(
    model_dir: Path,
    wavs: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """es.wav, es.flac and es.mp3 all make DIR/es.srt: the command once wrote one and lost two
    results. Now it refuses before loading the model, naming the inputs and the file, exit 2."""
    audio = sf.read(wavs[0], dtype="float32")[0]
    (tmp_path / "other").mkdir()
    same = [tmp_path / "es.wav", tmp_path / "es.flac", tmp_path / "other" / "es.wav"]
    for path in same:
        sf.write(path, audio, 16000)
    out = tmp_path / "out"

    def no_model(*_: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("s2t_stream.cli.offline.load_model", no_model)
    command = ["transcribe", *map(str, same), str(wavs[0]), "--model", str(model_dir)]
    assert main([*command, "--format", "srt", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("s2t-stream: error: ")
    assert f"{same[0]}, {same[1]} and {same[2]} would all write {out / 'es.srt'}" in err
    assert "separate --output-dir" in err and str(wavs[0]) not in err
    assert not out.exists()
    command = [*command[:3], "--model", str(model_dir)]  # es.wav and es.flac
    assert main([*command, "--format", "text", "--output-dir", str(out)]) == 2
    assert f"{same[0]} and {same[1]} would both write {out / 'es.txt'}" in capsys.readouterr().err
    monkeypatch.undo()
    twice = ["transcribe", str(wavs[0]), str(wavs[0]), "--model", str(model_dir)]
    assert main([*twice, "--output-dir", str(out)]) == 0  # the same file twice: the same result
    assert [p.name for p in out.iterdir()] == ["a.txt"]


def test_empty_standard_input_is_said_to_be_empty(model_dir: Path) -> None:
    """`s2t-stream transcribe - </dev/null` named `<_io.BufferedReader name='<stdin>'>` and
    said it could not be decoded; it says standard input is empty, and what it expected."""
    done = subprocess.run(
        [sys.executable, "-m", "s2t_stream", "transcribe", "-", "--model", str(model_dir)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert (
        "s2t-stream: error: standard input is empty: expected audio in a supported format: WAV, "
        "FLAC, Ogg Vorbis or Opus, MP3, AIFF or another format libsndfile reads\n"
    ) in done.stderr
    assert "<_io" not in done.stderr and "<stdin>" not in done.stderr


def test_undecodable_standard_input_is_named_as_such(
    model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(noise)))
    assert main(["transcribe", "-", "--model", str(model_dir)]) == 1
    err = capsys.readouterr().err
    assert (
        "s2t-stream: error: standard input could not be decoded (Format not recognised): "
        "expected audio in a supported format: WAV, FLAC"
    ) in err
    assert "<_io" not in err and "object at" not in err


@needs_apertium
@pytest.mark.model
def test_transcribe_with_mt_adds_each_segments_translation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from s2t_stream.translation.apertium import ApertiumTranslator

    wav = str(SAMPLES / "sample4-espeak-en-029-m1.wav")
    mt = ["--mt", "apertium", "--tgt-lang", "es"]
    assert main(["transcribe", wav, "--format", "json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["transcribe", wav, "--format", "json", *mt]) == 0
    translated = json.loads(capsys.readouterr().out)
    assert [s["text"] for s in translated["segments"]] == [s["text"] for s in plain["segments"]]
    assert "translation" not in plain and "translation" not in plain["segments"][0]
    with ApertiumTranslator("es") as spanish:  # what Apertium says for the same text
        expected = [spanish.translate(s["text"]) for s in plain["segments"]]
    assert [s["translation"] for s in translated["segments"]] == expected
    assert translated["translation"] == " ".join(t for t in expected if t) != plain["text"]
    assert main(["transcribe", wav, *mt]) == 0
    assert capsys.readouterr().out == f"{plain['text']}\n→ {translated['translation']}\n"


@pytest.mark.st_model
@needs_apertium
def test_a_target_language_alone_takes_the_better_bundled_way_to_translate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cascade where Apertium has the pair (it measured better), else the end-to-end
    model; `--model` picks the end-to-end model explicitly."""
    from s2t_stream.defaults import BUNDLED_ST_MODEL, MODEL_ENV
    from s2t_stream.translation.apertium import ApertiumTranslator

    monkeypatch.delenv(MODEL_ENV, raising=False)
    wav = SAMPLES / "sample1-espeak-en-gb-x-rp-f4.wav"
    assert main(["transcribe", str(wav)]) == 0
    english = capsys.readouterr().out.strip()
    assert english.split()[0] == "they"
    assert main(["transcribe", str(wav), "--tgt-lang", "es"]) == 0  # no --model, no --mt
    with ApertiumTranslator("es") as spanish:
        assert capsys.readouterr().out == f"{english}\n→ {spanish.translate(english)}\n"
    end_to_end = Transcriber(load_bundle(BUNDLED_ST_MODEL), TranscribeOptions(tgt_lang="ca"))
    (expected,) = end_to_end.transcribe_files([wav])
    assert main(["transcribe", str(wav), "--tgt-lang", "ca", "--model", str(BUNDLED_ST_MODEL)]) == 0
    assert capsys.readouterr().out == f"{expected.text}\n"
    monkeypatch.setattr("s2t_stream.translation.apertium.available_languages", lambda: [])
    assert main(["transcribe", str(wav), "--tgt-lang", "ca"]) == 0  # no pair: end to end
    assert capsys.readouterr().out == f"{expected.text}\n"


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a refused command printed on stderr (no "loading model" line before it)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("s2t-stream: error: "), err
    return err.removeprefix("s2t-stream: error: ").strip()


@pytest.mark.st_model
def test_a_target_language_nothing_here_has_lists_those_there_are_before_loading(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    wavs: list[Path],
    tmp_path: Path,
) -> None:
    """`--tgt-lang fr` without --model: refused at once (the default model is then the bundled
    ASR model, known without loading it), naming what translates here instead of the model's
    missing language tags; for a language whose Apertium pair is missing, what to install; with
    nothing to translate with, how to get something."""
    from s2t_stream.defaults import BUNDLED_ST_MODEL, MODEL_ENV
    from s2t_stream.translation.apertium import available_languages as available

    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # outside the repository: the bundled model's whole path
    monkeypatch.setattr("s2t_stream.translation.apertium.available_languages", lambda: ["es", "gl"])

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model loaded")

    monkeypatch.setattr("s2t_stream.cli.offline.load_model", no_load)
    monkeypatch.setattr("s2t_stream.cli.stream.load_model", no_load)
    for command in ("transcribe", "stream"):
        assert main([command, str(wavs[0]), "--tgt-lang", "fr"]) == 2
        said = one_error(capsys)
        assert said.startswith("--tgt-lang fr: the default model s2t-demo-en transcribes only; ")
        assert said.endswith(
            f"here: es, ca (--model {BUNDLED_ST_MODEL}) and es, gl (--mt apertium)"
        )
    monkeypatch.setattr("s2t_stream.translation.apertium.available_languages", available)
    (tmp_path / "modes").mkdir()
    monkeypatch.setenv("APERTIUM_DATADIR", str(tmp_path))  # no pair installed there
    assert main(["transcribe", str(wavs[0]), "--tgt-lang", "gl"]) == 2
    said = one_error(capsys)
    assert f"here: es, ca (--model {BUNDLED_ST_MODEL}); --mt apertium has gl too, but " in said
    assert said.endswith("apt-get install apertium-en-gl")
    monkeypatch.setattr("s2t_stream.cli.arguments.bundled_translation_languages", lambda: ())
    assert main(["transcribe", str(wavs[0]), "--tgt-lang", "fr"]) == 2
    assert one_error(capsys) == (
        "--tgt-lang fr: the default model s2t-demo-en transcribes only, and nothing here "
        "translates: give --model a speech-translation model with fr, or install Apertium and "
        "its pairs for --mt apertium (es, ca, gl)"
    )


def test_a_language_the_given_model_lacks_is_said_with_what_has_it(
    model_dir: Path,
    st_model_dir: Path,
    wavs: list[Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("s2t_stream.translation.apertium.available_languages", lambda: ["es"])
    assert main(["transcribe", str(wavs[0]), "--model", str(model_dir), "--tgt-lang", "es"]) == 2
    said = one_error(capsys)
    assert said.startswith(f"--tgt-lang es: --model {model_dir} transcribes only; here: ")
    assert said.endswith("es (--mt apertium)") and "language tags" not in said
    assert main(["transcribe", str(wavs[0]), "--model", str(st_model_dir), "--tgt-lang", "fr"]) == 2
    said = one_error(capsys)
    assert said.startswith(f"--tgt-lang fr: --model {st_model_dir} translates into es, ca only")


def test_a_translation_model_needs_a_target_language(
    st_model_dir: Path, wavs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --tgt-lang a speech-translation model would write whichever language its
    decoder falls into: refused, naming its languages and the flag."""
    for command in ("transcribe", "stream"):
        assert main([command, str(wavs[0]), "--model", str(st_model_dir)]) == 2
        assert one_error(capsys) == (
            f"--model {st_model_dir} translates speech into es, ca: choose one with --tgt-lang "
            "(without it the model picks a language by itself)"
        )
    assert main(["transcribe", str(wavs[0]), "--model", str(st_model_dir), "--tgt-lang", "ca"]) == 0


def test_the_cascade_needs_an_asr_model(
    st_model_dir: Path,
    wavs: list[Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--mt` translates English text: a model that writes Spanish or Catalan is refused
    (with a stand-in translator, so that Apertium need not be installed)."""

    class Idle:
        closed = False

        def close(self) -> None:
            self.closed = True

    idle = Idle()
    monkeypatch.setattr("s2t_stream.translation.translator.open_translator", lambda options: idle)
    mt = ["--mt", "apertium", "--tgt-lang", "es"]
    for command in ("transcribe", "stream"):
        assert main([command, str(wavs[0]), "--model", str(st_model_dir), *mt]) == 2
        said = one_error(capsys)
        assert said.startswith("--mt apertium translates English text, so the cascade needs a ")
        assert f"--model {st_model_dir} is a speech-translation model (into es, ca)" in said
        assert idle.closed
        idle.closed = False


def test_train_takes_words_or_captions_as_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["train"]).targets == "words"
    assert build_parser().parse_args(["train", "--targets", "captions"]).targets == "captions"
    assert main(["train", "--targets", "cased"]) == 2
    assert "argument --targets: invalid choice: 'cased'" in capsys.readouterr().err


def test_train_writes_a_decoding_weight_only_into_a_head_it_exports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert build_parser().parse_args(["train"]).export_ctc_weight == 0.0
    args = build_parser().parse_args(["train", "--export-ctc-weight", "0.2"])
    assert args.export_ctc_weight == 0.2
    assert main(["train", "--export-ctc-weight", "1.5"]) == 2  # μ < 1
    assert "--export-ctc-weight" in capsys.readouterr().err
    for flags in (["--ctc-weight", "0"], ["--tgt-langs", "es"], []):  # no head, or no export
        export = [] if not flags else ["--export", "out"]
        assert main(["train", "--export-ctc-weight", "0.2", *export, *flags]) != 0
        error = capsys.readouterr().err
        assert "--export-ctc-weight 0.2: expected --export and a speech-recognition run" in error


def test_text_pairs_and_text_pretraining_have_their_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["corpus", "--out", str(tmp_path), "--text-pairs", "10"]) == 2
    assert "--text-pairs translates: give --tgt-langs too" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before any synthesis
    args = build_parser().parse_args(["pretrain-text", "--max-minutes", "5", "--lr", "3e-4"])
    assert (args.max_minutes, args.lr, args.tgt_langs) == (5.0, 3e-4, "es,ca")
    assert main(["pretrain-text", "--pairs", str(tmp_path / "none.jsonl")]) == 2
    assert (
        "no text pairs; make them with `s2t-stream corpus --text-pairs N" in capsys.readouterr().err
    )


def test_lm_trains_an_lm_that_transcribe_fuses_and_a_model_without_one_refuses_the_weight(
    model_dir: Path, wavs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    text = tmp_path / "domain.txt"
    lines = [f"{a} and {b}" for a in SENTENCES for b in SENTENCES]  # 16 distinct sentences
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["lm", "--model", str(model_dir), "--out", str(tmp_path / "run"), "--text", str(text),
            "--max-steps", "4", "--eval-every", "2", "--embed-dim", "8", "--hidden-dim", "16",
            "--weight", "0.3", "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    fused = tmp_path / "fused"
    shutil.copytree(model_dir, fused)
    shutil.copytree(tmp_path / "run" / "export" / "lm", fused / "lm")
    assert load_bundle(fused).lm is not None
    assert Transcriber(load_bundle(fused), TranscribeOptions()).settings.lm_weight == 0.3
    capsys.readouterr()
    assert main(["transcribe", str(wavs[0]), "--model", str(fused), "--lm-weight", "0.5"]) == 0
    assert main(["transcribe", str(wavs[0]), "--model", str(model_dir), "--lm-weight", "0.5"]) == 2
    assert "--lm-weight 0.5: the model has no language model" in capsys.readouterr().err


def test_ctc_weight_steers_transcribe_and_eval_and_a_model_without_a_head_refuses_it(
    model_dir: Path, wavs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The random model writes nothing (eos first) in each of its many short pieces of the
    file; a CTC head certain that every frame says "a" (one of the decoder's likelier pieces,
    which CTC reads as one "a") makes it write one "a" per piece at --ctc-weight 0.9, and at
    the head's tuned weight by default. Eval reports the weight and decodes with it."""
    import shutil

    from s2t_stream.model.ctc import CTCConfig, CTCHead, save_ctc

    def one_a_per_piece(text: str) -> bool:
        return len(text.split()) > 1 and set(text.split()) == {"a"}

    exact = ["--no-vad", "--no-loop-guard"]
    assert main(["transcribe", str(wavs[0]), "--model", str(model_dir), *exact]) == 0
    assert capsys.readouterr().out.strip() == ""  # the premise
    joint = tmp_path / "joint"
    shutil.copytree(model_dir, joint)
    bundle = load_bundle(model_dir)
    head = CTCHead(CTCConfig(bundle.config.vocab_size, bundle.config.d_model, weight=0.5))
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.fill_(-30.0)
        head.proj.bias[bundle.tokenizer.piece_to_id("a")] = 30.0
    save_ctc(head, joint)
    assert Transcriber(load_bundle(joint), TranscribeOptions()).settings.ctc_weight == 0.5
    for beam in ("1", "3"):
        args = ["transcribe", str(wavs[0]), "--model", str(joint), *exact, "--beam", beam]
        assert main([*args, "--ctc-weight", "0.9"]) == 0
        assert one_a_per_piece(capsys.readouterr().out)
        assert main([*args, "--ctc-weight", "0"]) == 0
        assert capsys.readouterr().out.strip() == ""
    assert main(["transcribe", str(wavs[0]), "--model", str(joint), *exact]) == 0
    assert one_a_per_piece(capsys.readouterr().out)  # the head's tuned weight

    manifest = tmp_path / "set.jsonl"
    manifest.write_text(json.dumps({"audio": str(wavs[0]), "text": "a"}) + "\n")
    report_path = tmp_path / "report.json"
    args = ["eval", str(manifest), "--model", str(joint), "--beams", "1,3", "--ctc-weight", "0.9"]
    assert main([*args, *exact, "--json", str(report_path)]) == 0
    results = json.loads(report_path.read_text())["sets"][0]["results"]
    assert [r["ctc_weight"] for r in results] == [0.9, 0.9]
    for result in results:
        assert one_a_per_piece(result["hypotheses"][0]["hypothesis"])
    assert main([*args[:-2], *exact, "--json", str(report_path)]) == 0  # the tuned weight
    results = json.loads(report_path.read_text())["sets"][0]["results"]
    assert [r["ctc_weight"] for r in results] == [0.0, 0.5]  # beam search's only

    assert main(["transcribe", str(wavs[0]), "--model", str(model_dir), "--ctc-weight", "0.5"]) == 2
    assert "--ctc-weight 0.5: the model has no CTC head" in capsys.readouterr().err
    assert main(["transcribe", str(wavs[0]), "--model", str(joint), "--ctc-weight", "1"]) == 2
    assert "--ctc-weight: expected a number ≥ 0 and < 1, got 1" in capsys.readouterr().err


def test_long_jobs_log_their_progress_without_v(model_dir: Path, tmp_path: Path) -> None:
    """corpus, train, pretrain-text and lm run for minutes to hours: their progress reaches
    stderr without -v; the other commands stay quiet unless asked."""
    parser = build_parser()
    for command in (["corpus"], ["train"], ["pretrain-text"], ["lm"]):
        assert parser.parse_args(command).progress
    assert not getattr(parser.parse_args(["transcribe", "a.wav"]), "progress", False)
    text = tmp_path / "domain.txt"
    text.write_text("\n".join(f"{a} and {b}" for a in SENTENCES for b in SENTENCES) + "\n")
    args = ["lm", "--model", str(model_dir), "--out", str(tmp_path / "run"), "--text", str(text),
            "--max-steps", "2", "--eval-every", "2", "--embed-dim", "8", "--hidden-dim", "16",
            "--device", "cpu"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "s2t_stream", *args], capture_output=True, text=True, check=True
    )
    assert "INFO s2t_stream.training" in done.stderr
    assert "exported to" in done.stderr
