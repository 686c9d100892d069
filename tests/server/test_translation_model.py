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
from s2t_stream.streaming.stream import StreamOptions
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


def test_the_servers_decoding_weights_are_its_main_models(
    bundle: Bundle, translator: Bundle
) -> None:
    """`serve --ctc-weight` / `--lm-weight` are for `--model` (the bundled one has a CTC head);
    the translation model beside it, which has neither a head nor an LM, still serves its
    languages, on the websocket and through the REST API, decoding with its own defaults."""
    assert bundle.ctc is not None and translator.ctc is None and translator.lm is None
    wav = io.BytesIO()
    sf.write(wav, np.zeros(16000, np.float32), 16000, format="WAV")
    with running(bundle, translation=translator, ctc_weight=0.3, lm_weight=0.0) as server:
        assert start(server.url())["type"] == "ready"
        assert start(server.url(), tgt_lang="es")["model"] == "tiny-st"
        translated = httpx.post(
            f"http://127.0.0.1:{server.port}/v1/audio/translations",
            files={"file": ("a.wav", wav.getvalue(), "audio/wav")},
            data={"response_format": "verbose_json", "tgt_lang": "es"},
        )
        assert translated.status_code == 200 and translated.json()["language"] == "spanish"
    main = Models(bundle, translator).weights_for(bundle, StreamOptions(ctc_weight=0.3))
    assert main.ctc_weight == 0.3


@needs_apertium
def test_languages_say_the_cascade_beside_the_model(bundle: Bundle, translator: Bundle) -> None:
    with running(bundle, mt="apertium", translation=translator, limits=Limits(token="t")) as server:
        url = f"http://127.0.0.1:{server.port}/v1/languages"
        assert httpx.get(url).status_code == 401  # behind the token, as /v1/models
        offered = httpx.get(url, params={"token": "t"}).json()["languages"]
    assert offered["es"] == {"model": "tiny-st", "mt": "apertium"}
    assert offered["ca"] == {"model": "tiny-st", "mt": "apertium"}
    assert all(offer["mt"] == "apertium" for offer in offered.values())


@needs_apertium
def test_a_refused_language_lists_the_cascades_too(bundle: Bundle, translator: Bundle) -> None:
    """A language only the cascade has, asked for without `mt`: the refusal says so."""
    with running(bundle, mt="apertium", translation=translator) as server:
        refused = start(server.url(), tgt_lang="xx")
        offered = httpx.get(f"http://127.0.0.1:{server.port}/v1/languages").json()["languages"]
    cascade = ", ".join(code for code, offer in offered.items() if offer["mt"])
    assert refused["message"] == (
        f"tgt_lang 'xx': this server translates into es, ca (end to end) and {cascade} "
        "(with mt 'apertium')"
    )


def test_a_language_nothing_here_has_is_refused_with_the_languages_on_offer(
    bundle: Bundle, translator: Bundle, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusal lists what `/v1/languages` offers (not the ASR model's missing tags), and on
    a server that offers nothing, how to make it translate; `client` prints it as one line."""
    from s2t_stream.cli import main
    from tests.helpers import SAMPLES

    with running(bundle, translation=translator) as server:
        refused = start(server.url(), tgt_lang="gl")
        assert refused == {
            "type": "error",
            "code": "bad_field",
            "message": "tgt_lang 'gl': this server translates into es, ca (end to end)",
        }
        wav = SAMPLES / "sample1-espeak-en-gb-x-rp-f4.wav"
        assert main(["client", str(wav), "--url", server.url(), "--tgt-lang", "fr"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "tgt_lang 'fr': this server translates into es, ca (end to end)" in err
    with running(bundle) as server:  # serve --translation-model none
        refused = start(server.url(), tgt_lang="es")
    assert refused["code"] == "bad_field"
    assert refused["message"] == (
        "tgt_lang 'es': this server translates into nothing: its model s2t-demo-en transcribes, "
        "and no speech-translation model or machine translation is loaded (serve "
        "--translation-model DIR or --mt apertium adds one)"
    )


def test_a_translation_model_needs_each_session_and_request_to_name_a_language(
    translator: Bundle,
) -> None:
    """Without a target language (the session's, the request's or `serve --tgt-lang`) the
    model would write whichever language its decoder falls into: refused with the protocol's
    and the REST API's bad-request errors, naming its languages and `tgt_lang`."""
    wav = io.BytesIO()
    sf.write(wav, np.zeros(16000, np.float32), 16000, format="WAV")
    said = (
        "model 'tiny-st' translates speech into es, ca: choose one with tgt_lang (without it "
        "the model picks a language by itself)"
    )

    def transcribe(base: str, **fields: str) -> httpx.Response:
        return httpx.post(
            f"{base}/audio/transcriptions",
            files={"file": ("a.wav", wav.getvalue(), "audio/wav")},
            data={"response_format": "verbose_json", **fields},
        )

    with running(translator) as server:  # serve --model ST-MODEL, no --tgt-lang
        assert start(server.url()) == {"type": "error", "code": "bad_field", "message": said}
        assert start(server.url(), tgt_lang="ca")["type"] == "ready"
        base = f"http://127.0.0.1:{server.port}/v1"
        refused = transcribe(base)
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == said
        assert refused.json()["error"]["param"] == "tgt_lang"
        assert transcribe(base, model="tiny-st").status_code == 400
        assert transcribe(base, tgt_lang="ca").json()["language"] == "catalan"
    with running(translator, tgt_lang="es") as server:  # serve --tgt-lang es: the default
        assert start(server.url())["type"] == "ready"
        base = f"http://127.0.0.1:{server.port}/v1"
        assert transcribe(base).json()["language"] == "spanish"


def test_the_server_checks_its_own_languages_at_start(bundle: Bundle, translator: Bundle) -> None:
    """`serve --mt` with a speech-translation model, or a `--tgt-lang` nothing loaded has, is
    refused before serving; a default the translation model has goes to that model."""
    from s2t_stream.errors import OptionsError
    from s2t_stream.server.sessions import Engines
    from s2t_stream.streaming.stream import StreamOptions

    with pytest.raises(OptionsError) as cascade:
        Engines(Models(translator), StreamOptions(), "apertium")
    assert str(cascade.value).startswith(
        "--mt apertium translates English text, so the cascade needs a speech recognition "
        "model; --model tiny-st is a speech-translation model (into es, ca)"
    )
    with pytest.raises(OptionsError, match=r"^--tgt-lang fr: this server translates into es, ca "):
        Engines(Models(bundle, translator), StreamOptions(tgt_lang="fr"))
    engines = Engines(Models(bundle, translator), StreamOptions(tgt_lang="es"))
    assert engines.get(None).bundle is translator
