"""bench/bench_stream.py with `--tgt-lang`: a translation model's run is scored as a translation
(BLEU against the manifest's translations, AL/LAAL on target words), a model or manifest that
cannot translate into the language is refused, and without the flag the report is ASR's."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from s2t_stream.model.hf import save_bundle
from s2t_stream.training.train import Trainer
from tests.helpers import sample_paths, sample_texts, script_module, tiny_train_options
from tests.training.test_harness_st import CA, ES, tiny_translator


def bench() -> ModuleType:
    return script_module("bench_stream")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled samples with es/ca translations (train, dev, test) and without (bare)."""
    root = tmp_path_factory.mktemp("bench-st")
    rows = list(zip(sample_paths(), sample_texts(), ES, CA, strict=True))
    for split in ("train", "dev", "test"):
        with (root / f"{split}.jsonl").open("w") as f:
            for path, text, es, ca in rows:
                row = {"audio": str(path), "text": text, "translations": {"es": es, "ca": ca}}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (root / "bare").mkdir()
    with (root / "bare" / "test.jsonl").open("w") as f:
        for path, text, *_ in rows:
            f.write(json.dumps({"audio": str(path), "text": text}) + "\n")
    return root


@pytest.fixture(scope="module")
def models(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A saved es/ca translation model and a saved (barely trained) English ASR model."""
    root = tmp_path_factory.mktemp("bench-models")
    save_bundle(tiny_translator(corpus, root / "st-run"), root / "st")
    asr = Trainer(tiny_train_options(corpus, root / "asr-run", max_steps=2, max_frames=12000))
    save_bundle(asr.bundle(asr.model.eval()), root / "asr")
    return {"st": root / "st", "asr": root / "asr"}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = bench().main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_a_translation_run(
    corpus: Path, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "st.json"
    args = ["--model", str(models["st"]), "--manifest", str(corpus / "test.jsonl")]
    args += ["--minutes", "0.3", "--variants", "alignatt,baseline", "--tgt-lang", "es"]
    code, table, _ = run([*args, "--json", str(out)], capsys)
    assert code == 0
    result = json.loads(out.read_text())
    assert result["tgt_lang"] == "es"
    assert "tgt_lang='es'" in result["variants"]["alignatt"]
    for report in result["reports"].values():
        assert report["tgt_lang"] == "es" and "wer_streaming" not in report
        assert report["bleu_offline_clean_files"] > 80  # it translated into Spanish
        for key in ("bleu_streaming", "bleu_ratio", "al_aware_s", "laal_unaware_s"):
            assert key in report
    assert "| BLEU ratio (streaming / offline) |" in table
    assert "| LAAL aware (mean s) |" in table and "WER" not in table
    mean = result["reports"]["alignatt"]["al_unaware_s"]["mean"]
    assert f"| AL unaware (mean s) | {mean:.3f} |" in table  # the mean, as SimulEval reports


@pytest.mark.slow
def test_without_tgt_lang_the_report_is_asrs(
    corpus: Path, models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "asr.json"
    args = ["--model", str(models["asr"]), "--manifest", str(corpus / "bare" / "test.jsonl")]
    code, table, _ = run(
        [*args, "--minutes", "0.2", "--variants", "alignatt", "--json", str(out)], capsys
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert "tgt_lang" not in result
    report = result["reports"]["alignatt"]
    assert "wer_streaming" in report and "bleu_streaming" not in report
    assert "| WER ratio |" in table and "BLEU" not in table


@pytest.mark.slow
def test_what_cannot_translate_is_refused(
    corpus: Path, models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--minutes", "0.1", "--variants", "alignatt"]
    st, asr = ["--model", str(models["st"])], ["--model", str(models["asr"])]
    manifest = ["--manifest", str(corpus / "test.jsonl")]
    bare = ["--manifest", str(corpus / "bare" / "test.jsonl")]
    code, _, err = run([*st, *manifest, *common, "--tgt-lang", "de"], capsys)
    assert code == 2 and "unknown target language 'de' (this model knows: ca, es)" in err
    code, _, err = run([*asr, *manifest, *common, "--tgt-lang", "es"], capsys)
    assert code == 2 and "this model has no language tags" in err
    code, _, err = run([*st, *bare, *common, "--tgt-lang", "es"], capsys)
    assert code == 2 and "have no 'es' translation" in err
