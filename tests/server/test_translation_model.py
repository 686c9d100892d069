"""A speech-translation model served beside the main one (`serve --translation-model`): a session
or REST request asking for a language only it produces is translated end to end by it, the main
model keeps everything else, and `/v1/models` lists both."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
import soundfile as sf
from websockets.sync.client import connect

from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import GenerationConfig
from s2t_stream.model.features import FeatureOptions
from s2t_stream.model.tokenizer import train_sentencepiece
from s2t_stream.server.models import Models
from s2t_stream.server.options import Limits
from tests.helpers import TINY, needs_apertium, reference_pair, running

pytestmark = [pytest.mark.model, pytest.mark.network]
SENTENCES = ["el gato se sentó en la alfombra", "el gat seia a l'estora", "nos gusta el té"] * 8


@pytest.fixture(scope="module")
def translator(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A tiny random multilingual model into es and ca (its words do not matter here)."""
    folder = tmp_path_factory.mktemp("st")
    tokenizer = train_sentencepiece(SENTENCES, folder, 30, lang_codes=["es", "ca"])
    _, model = reference_pair({**TINY, "vocab_size": tokenizer.vocab_size}, eos_bias=0.75)
    return Bundle(model, tokenizer, GenerationConfig(max_length=20), FeatureOptions(), "tiny-st")


def test_each_language_goes_to_the_model_that_produces_it(
    bundle: Bundle, translator: Bundle
) -> None:
    models = Models(bundle, translator)
    assert models.for_language(None) is bundle
    assert models.for_language("es") is translator and models.for_language("ca") is translator
    assert models.for_language("de") is bundle  # nobody has it: the main model refuses it
    assert models.languages() == ["es", "ca"]
    assert models.names == ["s2t-demo-en", "tiny-st"]
    assert models.named("tiny-st") is translator and models.named("whisper-9") is None
    assert Models(bundle).languages() == [] and Models(bundle).for_language("es") is bundle


def start(url: str, **fields: object) -> dict[str, object]:
    with connect(url) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000, **fields}))
        reply: dict[str, object] = json.loads(ws.recv())
        return reply


def test_sessions_and_requests_for_its_languages_reach_the_translation_model(
    bundle: Bundle, translator: Bundle
) -> None:
    wav = io.BytesIO()
    sf.write(wav, np.zeros(16000, np.float32), 16000, format="WAV")
    with running(bundle, translation=translator) as server:
        assert start(server.url())["model"] == bundle.source
        assert start(server.url(), tgt_lang="es")["model"] == "tiny-st"
        refused = start(server.url(), tgt_lang="de")
        assert refused["type"] == "error" and refused["code"] == "bad_field"
        base = f"http://127.0.0.1:{server.port}/v1"
        listed = [m["id"] for m in httpx.get(f"{base}/models").json()["data"]]
        assert listed == ["s2t-demo-en", "tiny-st"]
        offered = httpx.get(f"{base}/languages").json()["languages"]
        assert offered == {
            "es": {"model": "tiny-st", "mt": None},
            "ca": {"model": "tiny-st", "mt": None},
        }

        def translate(**fields: str) -> httpx.Response:
            return httpx.post(
                f"{base}/audio/translations",
                files={"file": ("a.wav", wav.getvalue(), "audio/wav")},
                data={"response_format": "verbose_json", **fields},
            )

        assert translate(tgt_lang="ca").json()["language"] == "catalan"
        refused_lang = translate(tgt_lang="de")
        assert refused_lang.status_code == 400
        assert "translates into es, ca" in refused_lang.json()["error"]["message"]
        assert translate(model="tiny-st").status_code == 400  # two languages: which one?
        assert translate(model="tiny-st", tgt_lang="es").json()["language"] == "spanish"
    with running(bundle) as server:  # no translation model: the ASR model cannot translate
        assert start(server.url(), tgt_lang="es")["type"] == "error"
        assert httpx.get(f"http://127.0.0.1:{server.port}/v1/languages").json() == {"languages": {}}


@needs_apertium
def test_languages_say_the_cascade_beside_the_model(bundle: Bundle, translator: Bundle) -> None:
    with running(bundle, mt="apertium", translation=translator, limits=Limits(token="t")) as server:
        url = f"http://127.0.0.1:{server.port}/v1/languages"
        assert httpx.get(url).status_code == 401  # behind the token, as /v1/models
        offered = httpx.get(url, params={"token": "t"}).json()["languages"]
    assert offered["es"] == {"model": "tiny-st", "mt": "apertium"}
    assert offered["ca"] == {"model": "tiny-st", "mt": "apertium"}
    assert all(offer["mt"] == "apertium" for offer in offered.values())
