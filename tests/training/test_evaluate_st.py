"""`s2t-stream eval --tgt-lang`: BLEU and chrF of translations (expected values computed here by
sacrebleu on literal, hand-normalised strings), end to end and by the cascade (fake decoders and
a fake translator), skipped utterances, tables and JSON; and the command on tiny models trained
here (an ST model with es and ca, an ASR model), with its errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sacrebleu.metrics import BLEU, CHRF

from s2t_stream.cli import main
from s2t_stream.errors import S2TError
from s2t_stream.model.audio import load_audio
from s2t_stream.model.checkpoint import load_bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.offline.transcription import TimedText, Transcription
from s2t_stream.training.evaluate_st import (
    CASCADE,
    E2E,
    Decoded,
    Systems,
    decode,
    evaluate_set,
    score_cascade,
    score_e2e,
    score_translations,
    summary_table,
    table,
    translation_json,
    with_translation,
)
from s2t_stream.training.manifest import Utterance
from s2t_stream.training.targets import normalize_translation
from s2t_stream.training.train import Trainer, export
from tests.helpers import needs_apertium, tiny_train_options


def bleu(hyps: list[str], refs: list[str]) -> float:
    return float(BLEU().corpus_score(hyps, [refs]).score)


def chrf(hyps: list[str], refs: list[str]) -> float:
    return float(CHRF().corpus_score(hyps, [refs]).score)


def utterance(
    name: str, text: str, voice: str = "v", style: str | None = None, **tr: str
) -> Utterance:
    return Utterance(Path(name), text, voice, style=style, translations=tr)


def transcription(*texts: str) -> Transcription:
    segments = tuple(TimedText(float(i), i + 1.0, t, (), ()) for i, t in enumerate(texts))
    return Transcription(segments, float(len(texts)))


class FakeTranslator:
    """Translates by a table (unknown texts: "?"), remembering what it was asked."""

    name = "fake"
    version = "fake 1.0"

    def __init__(self, table: dict[str, str] | None = None, prefix: str = "") -> None:
        self.table = table
        self.prefix = prefix
        self.asked: list[str] = []
        self.closed = False

    def translate(self, text: str) -> str:
        self.asked.append(text)
        if self.table is None:
            return f"{self.prefix}{text}"
        return self.table.get(text, "?")

    def close(self) -> None:
        self.closed = True


class FakeDecoder:
    """Answers each waveform by its length (samples → text)."""

    sample_rate = 16000

    def __init__(self, answers: dict[int, str]) -> None:
        self.answers = answers

    def transcribe(self, waveforms: Sequence[np.ndarray]) -> list[Transcription]:
        return [transcription(self.answers[len(w)]) for w in waveforms]


# --- scoring --------------------------------------------------------------------------------


def test_bleu_and_chrf_overall_per_voice_and_per_style_against_the_machine_references() -> None:
    utterances = [
        utterance("a.wav", "the cat sat", "v1", "dialogue", es="El gato se sentó en la alfombra."),
        utterance("b.wav", "a dog ran", "v1", "news", es="Un perro corrió en el parque."),
        utterance("c.wav", "we like tea", "v2", es="Nos gusta el té verde."),
    ]
    # a: right once normalised (case, punctuation); b: one word wrong; c: nothing
    hyps = ["¡El GATO se sentó en la alfombra!", "un perro corre en el parque", ""]
    result = score_translations(utterances, hyps, lang="es", system=E2E, num_beams=5, skipped=2)
    refs = [
        "el gato se sentó en la alfombra",
        "un perro corrió en el parque",
        "nos gusta el té verde",
    ]
    normalised = ["el gato se sentó en la alfombra", "un perro corre en el parque", ""]
    assert result.references == tuple(refs)
    assert result.hypotheses == tuple(normalised)
    assert result.bleu == pytest.approx(bleu(normalised, refs))
    assert 0 < result.bleu < 100
    assert result.chrf == pytest.approx(chrf(normalised, refs))
    assert result.per_voice == pytest.approx({"v1": bleu(normalised[:2], refs[:2]), "v2": 0.0})
    # utterance c has no style: left out of per_style
    assert result.per_style == pytest.approx(
        {"dialogue": 100.0, "news": bleu(normalised[1:2], refs[1:2])}
    )
    assert result.transcripts is None and result.transcript_wer is None
    report = result.to_json(detailed=True)
    assert (report["utterances"], report["skipped"], report["num_beams"]) == (3, 2, 5)
    assert report["bleu"] == round(bleu(normalised, refs), 2)
    assert "mt_s" not in report and "transcript_wer" not in report
    assert report["hypotheses"][1] == {
        "audio": "b.wav",
        "voice": "v1",
        "style": "news",
        "reference": "un perro corrió en el parque",
        "hypothesis": "un perro corre en el parque",
    }
    assert "hypotheses" not in result.to_json()


def test_the_reference_is_the_translation_into_the_language_scored() -> None:
    utterances = [
        utterance(
            "a.wav", "the cat", es="El gato se sentó en la alfombra.", ca="El gat seia a l'estora."
        )
    ]
    hyp = ["el gat seia a la alfombra"]
    catalan = score_translations(utterances, hyp, lang="ca", system=E2E, num_beams=1)
    spanish = score_translations(utterances, hyp, lang="es", system=E2E, num_beams=1)
    assert catalan.bleu == pytest.approx(bleu(hyp, ["el gat seia a l'estora"]))
    assert spanish.bleu == pytest.approx(bleu(hyp, ["el gato se sentó en la alfombra"]))
    assert catalan.chrf == pytest.approx(chrf(hyp, ["el gat seia a l'estora"]))
    assert catalan.bleu != pytest.approx(spanish.bleu)


def test_scoring_refuses_what_does_not_pair_up() -> None:
    one = [utterance("a.wav", "hi", es="Hola.")]
    with pytest.raises(ValueError, match="expected 1 translations, one per utterance, got 2"):
        score_translations(one, ["a", "b"], lang="es", system=E2E, num_beams=1)
    with pytest.raises(ValueError, match="expected at least one utterance to score, got none"):
        score_translations([], [], lang="es", system=E2E, num_beams=1)
    with pytest.raises(ValueError, match=r"into 'ca'; a.wav has es"):
        score_translations(one, ["a"], lang="ca", system=E2E, num_beams=1)
    with pytest.raises(ValueError, match=r"expected a system in \('e2e', 'cascade'\), got 'mt'"):
        score_translations(one, ["a"], lang="es", system="mt", num_beams=1)
    with pytest.raises(ValueError, match="expected 1 transcripts, one per utterance, got 0"):
        score_translations(one, ["a"], lang="es", system=CASCADE, num_beams=1, transcripts=[])


def test_utterances_without_the_language_are_skipped_and_none_at_all_is_an_error() -> None:
    utterances = [
        utterance("a.wav", "a", es="A.", ca="A."),
        utterance("b.wav", "b", es="B."),
        utterance("c.wav", "c", ca=""),  # an empty translation is no reference
    ]
    kept, skipped = with_translation(utterances, "ca", "test.jsonl")
    assert [u.audio.name for u in kept] == ["a.wav"] and skipped == 2
    with pytest.raises(S2TError, match=r"test.jsonl: no utterance has a translation into 'gl'"):
        with_translation(utterances, "gl", "test.jsonl")
    with pytest.raises(S2TError, match=r"found only ca, es\)"):
        with_translation(utterances, "gl", "test.jsonl")
    with pytest.raises(S2TError, match=r"found none\)"):
        with_translation([utterance("a.wav", "a")], "es", "test.jsonl")


def test_e2e_scores_the_decoded_text_with_its_times() -> None:
    utterances = [
        utterance("a.wav", "the cat", es="El gato se sentó en la alfombra."),
        utterance("b.wav", "a dog", es="Un perro corrió en el parque."),
    ]
    decoded = Decoded(
        (
            transcription("el gato se sentó", "en la alfombra"),
            transcription("un perro en el parque"),
        ),
        seconds=1.5,
        audio_s=6.0,
    )
    result = score_e2e(decoded, utterances, lang="es", num_beams=1, skipped=1)
    hyps = ["el gato se sentó en la alfombra", "un perro en el parque"]
    assert result.hypotheses == tuple(hyps)
    refs = ["el gato se sentó en la alfombra", "un perro corrió en el parque"]
    assert result.bleu == pytest.approx(bleu(hyps, refs))
    assert 50 < result.bleu < 100
    assert (result.seconds, result.audio_s, result.rtf) == (1.5, 6.0, 0.25)
    assert result.to_json()["rtf"] == 0.25


def test_the_cascade_translates_each_segment_and_scores_the_joined_translation() -> None:
    utterances = [
        utterance("a.wav", "the cat sat on the mat", es="El gato se sentó en la alfombra."),
        utterance("b.wav", "a dog ran", es="Un perro corrió."),
    ]
    translator = FakeTranslator(
        {"the cat sat": "El gato se sentó", "on the mat": "en la alfombra."}
    )
    decoded = Decoded(
        (transcription("the cat sat", "", "on the mat"), transcription()), seconds=2.0, audio_s=4.0
    )
    result = score_cascade(decoded, translator, utterances, lang="es", num_beams=3)
    assert translator.asked == ["the cat sat", "on the mat"]  # blank segments are not sent
    assert result.system == CASCADE
    assert result.hypotheses == ("el gato se sentó en la alfombra", "")
    assert result.transcripts == ("the cat sat on the mat", "")
    assert result.bleu == pytest.approx(
        bleu(
            ["el gato se sentó en la alfombra", ""],
            ["el gato se sentó en la alfombra", "un perro corrió"],
        )
    )
    assert result.transcript_wer == pytest.approx(3 / 9)  # b's three words deleted
    assert result.seconds == pytest.approx(2.0 + result.mt_seconds)
    report = result.to_json(detailed=True)
    assert report["transcript_wer"] == pytest.approx(3 / 9, abs=1e-5)
    assert "mt_s" in report
    assert report["hypotheses"][0]["transcript"] == "the cat sat on the mat"


def test_decode_times_the_decoder_and_measures_the_audio() -> None:
    decoder = FakeDecoder({8000: "one", 24000: "two"})
    decoded = decode(decoder, [np.zeros(8000, np.float32), np.zeros(24000, np.float32)])
    assert [t.text for t in decoded.transcriptions] == ["one", "two"]
    assert decoded.audio_s == 2.0 and decoded.seconds >= 0


# --- one set, several languages, beams and systems ----------------------------------------------


@pytest.fixture
def three(tmp_path: Path) -> list[Utterance]:
    """Three recordings of distinct lengths (1000, 2000, 3000 samples at 16 kHz); the third has
    no Catalan reference."""
    rows = [
        ("the cat sat on the mat", "El gato se sentó en la alfombra.", "El gat seia a l'estora."),
        ("a dog ran in the park", "Un perro corrió en el parque.", "Un gos corria al parc."),
        ("we like green tea", "Nos gusta el té verde.", None),
    ]
    out = []
    for i, (text, es, ca) in enumerate(rows):
        path = tmp_path / f"{i}.wav"
        sf.write(path, np.zeros(1000 * (i + 1), np.float32), 16000)
        translations = {"es": es} | ({"ca": ca} if ca else {})
        out.append(Utterance(path, text, f"v{i % 2}", translations=translations))
    return out


def test_a_set_is_scored_per_language_beam_and_system(three: list[Utterance]) -> None:
    e2e_asked: list[tuple[int, str]] = []
    asr_asked: list[int] = []

    def e2e(num_beams: int, lang: str) -> FakeDecoder:
        e2e_asked.append((num_beams, lang))
        return FakeDecoder(
            {1000: "el gato se sentó en la alfombra", 2000: "un perro en el parque", 3000: "té"}
        )

    def asr(num_beams: int) -> FakeDecoder:
        asr_asked.append(num_beams)
        return FakeDecoder({1000: "the cat", 2000: "a dog", 3000: "green tea"})

    spanish = FakeTranslator(
        {
            "the cat": "El gato se sentó en la alfombra.",
            "a dog": "Un perro corrió en el parque.",
            "green tea": "Nos gusta el té verde.",
        }
    )
    catalan = FakeTranslator({"the cat": "El gat seia a l'estora.", "a dog": "Un gos corria."})
    systems = Systems(e2e, frozenset({"es"}), asr, {"es": spanish, "ca": catalan})
    results = evaluate_set(three, ["es", "ca"], [1, 4], systems, "test.jsonl")
    assert [(r.lang, r.system, r.num_beams) for r in results] == [
        ("es", E2E, 1), ("es", CASCADE, 1), ("es", E2E, 4), ("es", CASCADE, 4),
        ("ca", CASCADE, 1), ("ca", CASCADE, 4),
    ]  # fmt: skip
    assert e2e_asked == [(1, "es"), (4, "es")]
    # ca covers other utterances than es: its ASR decoding is its own
    assert asr_asked == [1, 4, 1, 4]
    by = {(r.lang, r.system, r.num_beams): r for r in results}
    e2e_es = by["es", E2E, 1]
    refs = [
        "el gato se sentó en la alfombra",
        "un perro corrió en el parque",
        "nos gusta el té verde",
    ]
    hyps = ["el gato se sentó en la alfombra", "un perro en el parque", "té"]
    assert e2e_es.bleu == pytest.approx(bleu(hyps, refs))
    assert 0 < e2e_es.bleu < 100
    assert by["es", CASCADE, 1].bleu == pytest.approx(100.0)
    assert [len(by["ca", CASCADE, 1].items), by["ca", CASCADE, 1].skipped] == [2, 1]
    assert [len(e2e_es.items), e2e_es.skipped] == [3, 0]
    assert by["ca", CASCADE, 4].hypotheses == ("el gat seia a l'estora", "un gos corria")
    assert by["ca", CASCADE, 4].bleu == pytest.approx(
        bleu(
            ["el gat seia a l'estora", "un gos corria"],
            ["el gat seia a l'estora", "un gos corria al parc"],
        )
    )
    assert e2e_es.audio_s == pytest.approx(6000 / 16000)
    assert set(e2e_es.per_voice) == {"v0", "v1"}

    rows = [row.split() for row in table([r for r in results if r.lang == "es"]).splitlines()]
    assert rows[0][-8:] == ["e2e", "b1", "e2e", "b4", "cascade", "b1", "cascade", "b4"]
    all_bleu = next(row for row in rows if row[:2] == ["ALL", "BLEU"])
    assert all_bleu[2:] == [f"{e2e_es.bleu:.2f}"] * 2 + ["100.00"] * 2
    assert ["voice", "v1", f"{e2e_es.per_voice['v1']:.2f}"] == rows[3][:3]
    assert any(row[:4] == ["cascade", "b4:", "3", "utterances"] for row in rows)

    report = translation_json({"test": results})
    assert list(report["test"]) == ["es", "ca"]
    assert list(report["test"]["es"]) == [E2E, CASCADE]
    assert list(report["test"]["ca"]) == [CASCADE]
    assert list(report["test"]["es"][E2E]) == ["1", "4"]
    assert report["test"]["es"][E2E]["1"]["bleu"] == round(e2e_es.bleu, 2)
    assert report["test"]["ca"][CASCADE]["4"]["skipped"] == 1

    summary = [
        row.split() for row in summary_table({"test": results, "dev": results[:1]}).splitlines()
    ]
    assert summary[0] == [
        "set",
        "lang",
        "system",
        "b1",
        "BLEU",
        "b1",
        "chrF",
        "b4",
        "BLEU",
        "b4",
        "chrF",
    ]
    assert summary[2][:4] == ["test", "es", "e2e", f"{e2e_es.bleu:.2f}"]
    assert summary[3][:4] == ["test", "es", "cascade", "100.00"]
    assert summary[4][:3] == ["test", "ca", "cascade"]
    assert summary[5] == ["dev", "es", "e2e", f"{e2e_es.bleu:.2f}", f"{e2e_es.chrf:.2f}"]


def test_languages_covering_the_same_utterances_share_the_asr_decoding(
    three: list[Utterance],
) -> None:
    asked: list[int] = []

    def asr(num_beams: int) -> FakeDecoder:
        asked.append(num_beams)
        return FakeDecoder({1000: "the cat", 2000: "a dog", 3000: "green tea"})

    utterances = [replace(u, translations={"es": "x", "gl": "y"}) for u in three]
    translators = {"es": FakeTranslator(), "gl": FakeTranslator()}
    results = evaluate_set(
        utterances, ["es", "gl"], [2], Systems(asr=asr, translators=translators), "t"
    )
    assert asked == [2]
    assert [r.lang for r in results] == ["es", "gl"]
    assert translators["gl"].asked == ["the cat", "a dog", "green tea"]


def test_a_language_without_references_fails_before_anything_is_decoded(
    three: list[Utterance],
) -> None:
    asked: list[int] = []

    def asr(num_beams: int) -> FakeDecoder:
        asked.append(num_beams)
        return FakeDecoder({})

    systems = Systems(asr=asr, translators={"es": FakeTranslator(), "gl": FakeTranslator()})
    with pytest.raises(S2TError, match=r"test.jsonl: no utterance has a translation into 'gl'"):
        evaluate_set(three, ["es", "gl"], [1], systems, "test.jsonl")
    assert asked == []


# --- the command, on tiny models trained here ---------------------------------------------------

ROWS = [
    ("the cat sat on the mat", "El gato se sentó en la alfombra.", "El gat seia a l'estora."),
    ("a dog ran in the park", "Un perro corrió en el parque.", "Un gos corria al parc."),
    ("the sun is hot today", "El sol está caliente hoy.", "El sol és calent avui."),
    ("we like green tea", "Nos gusta el té verde.", None),
]
CATALAN_4 = "Ens agrada el te verd."  # in the training corpus, not in test.jsonl
WHOLE = ["--no-vad", "--no-loop-guard"]  # each recording decoded whole, as the trainer does


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A corpus of four tones with texts and translations, an ST model (es, ca) and an ASR
    model overfit on it (150 steps, about 2 s each), and the evaluation manifest `test.jsonl`
    (the same recordings, the last without its Catalan reference; a French one for each, which
    neither model has)."""
    root = tmp_path_factory.mktemp("st-eval")
    (root / "audio").mkdir()
    rng = np.random.default_rng(0)
    full, test = [], []
    for i, (text, es, ca) in enumerate(ROWS):
        wave = np.sin(np.arange(12000) * (0.05 + 0.1 * i)) * 0.3 + 0.02 * rng.standard_normal(12000)
        sf.write(root / "audio" / f"{i}.wav", wave.astype(np.float32), 16000)
        line = {"audio": f"audio/{i}.wav", "text": text, "voice": f"v{i % 2}"}
        full.append(line | {"translations": {"es": es, "ca": ca or CATALAN_4}})
        others = {"ca": ca} if ca else {}
        test.append(line | {"translations": {"es": es, **others, "fr": "Une phrase en français."}})
    for split, rows in (("train", full), ("dev", full), ("test", test)):
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (root / f"{split}.jsonl").write_text(text, encoding="utf-8")
    options = tiny_train_options(
        root, root / "st", vocab_size=50, max_frames=2000, max_steps=150, lr=5e-3,
        tgt_langs="es,ca",
    )  # fmt: skip
    st = Trainer(options)
    st.run()
    asr = Trainer(replace(options, out=str(root / "asr"), tgt_langs="", vocab_size=28))
    asr.run()
    return {
        "st": export(st, root / "st-model", average=1),
        "asr": export(asr, root / "asr-model", average=1),
        "test": root / "test.jsonl",
    }


def decoded_texts(model: Path, manifest: Path, num_beams: int, lang: str | None) -> list[str]:
    """What the library decodes for the manifest's recordings (whole, as with `WHOLE`)."""
    options = TranscribeOptions(
        decoding=DecodingOptions(num_beams=num_beams), tgt_lang=lang, vad=False, loop_guard=False
    )
    transcriber = Transcriber(load_bundle(model), options)
    with manifest.open() as f:
        paths = [manifest.parent / json.loads(line)["audio"] for line in f]
    return [t.text for t in transcriber.transcribe([load_audio(p) for p in paths])]


def test_eval_tgt_lang_scores_the_model_end_to_end_per_language_and_beam(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "st.json"
    command = ["eval", str(models["test"]), "--model", str(models["st"]), *WHOLE]
    assert main([*command, "--tgt-lang", "es,ca", "--beams", "1,2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "== test (" in printed and ") → ca" in printed and "ALL BLEU" in printed
    summary = json.loads(printed.strip().splitlines()[-1])
    report = json.loads(out.read_text())
    assert report["model"] == summary["model"] == load_bundle(models["st"]).source
    assert report["asr_model"] is None and report["mt"] is None
    assert report["languages"] == ["es", "ca"]
    sets = report["translation"]
    assert list(sets) == ["test"] and list(sets["test"]) == ["es", "ca"]
    assert "hypotheses" not in summary["translation"]["test"]["es"]["e2e"]["1"]
    for lang, column in (("es", 1), ("ca", 2)):
        kept = [i for i, row in enumerate(ROWS) if row[column]]
        refs = [normalize_translation(str(ROWS[i][column])) for i in kept]
        assert list(sets["test"][lang]) == ["e2e"]
        for beams in (1, 2):
            result = sets["test"][lang]["e2e"][str(beams)]
            texts = decoded_texts(models["st"], models["test"], beams, lang)
            hyps = [normalize_translation(texts[i]) for i in kept]
            assert [h["hypothesis"] for h in result["hypotheses"]] == hyps
            assert [h["reference"] for h in result["hypotheses"]] == refs
            assert result["bleu"] == pytest.approx(bleu(hyps, refs), abs=0.006)
            assert result["chrf"] == pytest.approx(chrf(hyps, refs), abs=0.006)
            assert result["bleu"] > 50  # the overfit model speaks the language it is asked for
            assert (result["utterances"], result["skipped"]) == (len(kept), len(ROWS) - len(kept))
            assert result["audio_s"] == pytest.approx(len(kept) * 0.75)
    assert sets["test"]["ca"]["e2e"]["1"]["skipped"] == 1


def test_eval_with_mt_scores_the_cascade_beside_the_end_to_end_model(
    models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[FakeTranslator] = []

    def fake_translator(options: object) -> FakeTranslator:
        opened.append(FakeTranslator(prefix="dice "))
        return opened[-1]

    monkeypatch.setattr("s2t_stream.translation.translator.open_translator", fake_translator)
    out = tmp_path / "cascade.json"
    command = [
        "eval",
        str(models["test"]),
        "--model",
        str(models["st"]),
        *WHOLE,
        "--beams",
        "1",
    ]
    command += ["--mt", "apertium", "--asr-model", str(models["asr"]), "--tgt-lang", "es"]
    assert main([*command, "--json", str(out)]) == 0
    capsys.readouterr()
    report = json.loads(out.read_text())
    assert report["asr_model"] == load_bundle(models["asr"]).source
    assert report["model"] == load_bundle(models["st"]).source
    assert report["mt"] == {"engine": "apertium", "versions": {"es": "fake 1.0"}}
    assert list(report["translation"]["test"]["es"]) == ["e2e", "cascade"]
    cascade = report["translation"]["test"]["es"]["cascade"]["1"]
    transcripts = decoded_texts(models["asr"], models["test"], 1, None)
    hyps = [normalize_translation(f"dice {t}") if t else "" for t in transcripts]
    refs = [normalize_translation(row[1]) for row in ROWS]
    assert [h["transcript"] for h in cascade["hypotheses"]] == transcripts
    assert [h["hypothesis"] for h in cascade["hypotheses"]] == hyps
    assert cascade["bleu"] == pytest.approx(bleu(hyps, refs), abs=0.006)
    assert cascade["mt_s"] >= 0 and "transcript_wer" in cascade
    assert len(opened) == 1 and opened[0].closed


def test_eval_with_mt_and_a_model_without_the_language_scores_only_the_cascade(
    models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "s2t_stream.translation.translator.open_translator", lambda options: FakeTranslator()
    )
    asr = str(models["asr"])
    command = ["eval", str(models["test"]), "--model", asr, "--asr-model", asr, "--beams", "1"]
    assert main([*command, *WHOLE, "--mt", "apertium", "--tgt-lang", "ca"]) == 0
    captured = capsys.readouterr()
    assert "cannot translate into ca end to end (it has no target languages)" in captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["model"] is None
    assert list(summary["translation"]["test"]["ca"]) == ["cascade"]
    assert summary["translation"]["test"]["ca"]["cascade"]["1"]["skipped"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--model", "{st}", "--tgt-lang", "es,fr"],
            "--model {st_source} cannot translate into fr end to end (its languages are es, ca): "
            "expected a speech-translation model with a language tag for each --tgt-lang, or "
            "--mt apertium to score the cascade",
        ),
        (["--model", "{asr}", "--tgt-lang", "es"], "(it has no target languages)"),
        (["--mt", "apertium"], "--mt is for scoring translations: it needs --tgt-lang"),
        (["--asr-model", "{asr}"], "--asr-model is for scoring translations"),
        (["--asr-model", "{asr}", "--tgt-lang", "es"], "--asr-model is the cascade's model"),
        (["--tgt-lang", " , "], "--tgt-lang: expected language codes separated by commas"),
        (
            ["--model", "{st}", "--mt", "apertium", "--asr-model", "{st}", "--tgt-lang", "es"],
            "--asr-model {st_source}: expected a speech recognition model for the cascade, got a "
            "translation model (languages: es, ca)",
        ),
    ],
)
def test_eval_tgt_lang_errors_are_one_line(
    models: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(
        "s2t_stream.translation.translator.open_translator", lambda options: FakeTranslator()
    )
    names = {"st": str(models["st"]), "asr": str(models["asr"])}
    names["st_source"] = load_bundle(models["st"]).source
    extra = [arg.format(**names) for arg in extra]
    assert main(["eval", str(models["test"]), "--beams", "1", *extra]) == 2
    # a model slower than half a second to load says so first (a busy machine): not an error
    lines = [x for x in capsys.readouterr().err.splitlines() if "loading model" not in x]
    assert len(lines) == 1 and lines[0].startswith("s2t-stream: error: ")
    assert message.format(**names) in lines[0]


def test_a_manifest_without_the_language_is_refused_before_a_model_loads(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "bare.jsonl"
    bare.write_text('{"audio": "a.wav", "text": "hi"}\n')
    missing_model = str(tmp_path / "no-model")
    assert main(["eval", str(bare), "--model", missing_model, "--tgt-lang", "es"]) == 2
    err = capsys.readouterr().err
    assert f"{bare}: no utterance has a translation into 'es'" in err
    assert "found none" in err


@needs_apertium
def test_eval_with_apertium_records_its_version(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    asr = str(models["asr"])
    command = ["eval", str(models["test"]), "--model", asr, "--asr-model", asr, *WHOLE]
    assert main([*command, "--beams", "1", "--mt", "apertium", "--tgt-lang", "es"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["mt"]["versions"]["es"].startswith("apertium ")
    assert "apertium-eng-spa" in summary["mt"]["versions"]["es"]
    assert summary["translation"]["test"]["es"]["cascade"]["1"]["utterances"] == 4
