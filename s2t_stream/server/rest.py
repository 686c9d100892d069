"""The OpenAI-compatible REST API: `POST /v1/audio/transcriptions` and `/v1/audio/translations`
(a multipart upload in, the whole recording transcribed as `s2t-stream transcribe` does it, out in
json, text, srt, vtt or verbose_json) and `GET /v1/models`. Decoding runs on threads of its own,
one at a time per model worker, and each upload counts as a session against the server's
capacity until it is answered."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from http import HTTPStatus

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from s2t_stream.errors import OptionsError, S2TError
from s2t_stream.model.audio import empty_audio, load_audio
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.model.config import DecodingOptions
from s2t_stream.offline.options import TranscribeOptions
from s2t_stream.offline.transcriber import Transcriber
from s2t_stream.offline.transcription import Transcription
from s2t_stream.server.formats import FORMATS, GRANULARITIES, ApiError, Rendering
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.models import Models, model_name
from s2t_stream.server.options import Limits
from s2t_stream.streaming.endpoint import EndpointOptions
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.translation.languages import check_target
from s2t_stream.translation.translator import Translator, spread_words

log = logging.getLogger("s2t_stream.server")

ALIAS = "whisper-1"  # OpenAI's model name, taken for the default model so stock clients work
SOURCE_LANGUAGE = "en"  # what the models served here hear: English speech (fairseq S2T, the demo)
DISCARD_BYTES = 64 << 20  # of a refused upload, read and dropped so the client hears the 413
FIELDS = 16  # form fields a request may have (OpenAI's take 7)


@dataclass(frozen=True)
class Asked:
    """One transcription or translation request's fields, checked."""

    audio: bytes
    filename: str
    model: str
    rendering: Rendering
    tgt_lang: str | None = None  # translations: the language asked for (an extension)


class Body:
    """A request's body as it comes, at most `limit` bytes (ApiError 413 past it)."""

    def __init__(self, request: Request, limit: int) -> None:
        self.receive = request.receive
        self.limit = limit
        self.size = 0
        self.complete = False  # its last part has come

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body's parts. Raises ApiError: 413 past the limit, 400 when the client left."""
        while not self.complete:
            message = await self.receive()
            if message["type"] != "http.request":
                raise ApiError(HTTPStatus.BAD_REQUEST, "the client left before its upload ended")
            self.complete = not message.get("more_body", False)
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size > self.limit:
                raise too_large(self.limit)
            if chunk:
                yield chunk

    async def discard(self, bound: int = DISCARD_BYTES) -> None:
        """Read and drop what is left of a refused body, up to `bound` bytes: a server that
        closes with unread data resets the connection, and the client may lose the answer."""
        while not self.complete and bound > 0:
            message = await self.receive()
            if message["type"] != "http.request":
                return
            self.complete = not message.get("more_body", False)
            bound -= len(message.get("body", b""))


def too_large(limit: int) -> ApiError:
    return ApiError(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        f"the upload is larger than this server's limit of {limit / (1 << 20):g} MiB "
        "(s2t-stream serve --max-upload-mb)",
        "file",
        "file_too_large",
    )


async def read_form(request: Request, limit: int) -> FormData:
    """The request's multipart form, its body at most `limit` bytes. Raises ApiError: 400 for
    a body that is not multipart/form-data, 413 past the limit (declared or sent)."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise ApiError(HTTPStatus.BAD_REQUEST, f"expected multipart/form-data, got {kind!r}")
    declared = request.headers.get("content-length", "")
    body = Body(request, limit)
    try:
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        parser = MultiPartParser(request.headers, body.chunks(), max_files=1, max_fields=FIELDS)
        return await parser.parse()
    except ApiError:
        await body.discard()
        raise
    except MultiPartException as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"malformed multipart form: {error}") from None


def one(form: FormData, name: str, default: str | None = None) -> str | None:
    """A text field (its last value), or `default`. Raises ApiError 400 for a file in it."""
    value = form.getlist(name)[-1] if name in form else default
    if isinstance(value, UploadFile):
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} must be a text field", name)
    return value


def temperature_of(form: FormData) -> float:
    text = one(form, "temperature", "0") or "0"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"temperature must be a number from 0 to 1, got {text!r}",
            "temperature",
        )
    return value


def rendering_of(form: FormData, task: str) -> Rendering:
    """The response format, timestamp granularities and temperature asked for."""
    form_name = one(form, "response_format", "json")
    if form_name not in FORMATS:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"response_format must be one of {', '.join(FORMATS)}, got {form_name!r}",
            "response_format",
        )
    granularities = [
        str(v) for key in ("timestamp_granularities[]", "timestamp_granularities")
        for v in form.getlist(key)
    ]  # fmt: skip
    if unknown := sorted(set(granularities) - set(GRANULARITIES)):
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"timestamp_granularities must be word and/or segment, got {unknown}",
            "timestamp_granularities",
        )
    if granularities and form_name != "verbose_json":
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            "timestamp_granularities need response_format verbose_json",
            "timestamp_granularities",
        )
    return Rendering(
        form=form_name,  # type: ignore[arg-type]  # checked against FORMATS above
        granularities=tuple(granularities),
        task="translate" if task == "translate" else "transcribe",
        temperature=temperature_of(form),
    )


async def asked_of(form: FormData, task: str, default_model: str) -> Asked:
    """A request's fields, checked (ApiError 400 for a missing or bad one). `prompt` is
    accepted and not used: these models take no text prompt."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(HTTPStatus.BAD_REQUEST, "file is required: the audio to transcribe", "file")
    audio = await upload.read()
    if not audio:
        error = empty_audio(upload_name(upload.filename))
        raise ApiError(HTTPStatus.BAD_REQUEST, str(error), "file")
    language = one(form, "language")
    if task == "transcribe" and language not in (None, "", SOURCE_LANGUAGE):
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"language {language!r}: this server's models hear {SOURCE_LANGUAGE!r} only",
            "language",
        )
    one(form, "prompt")  # a text field, if given
    rendering = rendering_of(form, task)
    return Asked(
        audio,
        upload.filename or "upload",
        one(form, "model") or default_model,
        rendering,
        one(form, "tgt_lang") or None,
    )


class Transcriptions:
    """The REST API's decoding: each request's model (by name, `whisper-1` its alias), its
    transcriber (one per target language, made on the event loop; they hold no per-recording
    state, so threads share them), and `workers` threads that decode one request each.
    `running` counts the requests admitted and not yet answered (the gate counts them as
    sessions)."""

    def __init__(
        self,
        models: Models,
        options: StreamOptions,
        limits: Limits,
        metrics: Metrics,
        translators: dict[str, Translator],
        workers: int = 1,
    ) -> None:
        self.models = models
        self.limits = limits
        self.metrics = metrics
        self.translators = translators  # the cascade's (serve --mt), by target language
        self.options = transcribe_options(options)
        self.default_tgt_lang = options.tgt_lang
        self.by_language: dict[tuple[str, str | None], Transcriber] = {}
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="s2t-rest")
        self.running = 0
        self.created_s = int(time.time())
        self.idle = asyncio.Event()
        self.idle.set()

    @property
    def names(self) -> list[str]:
        return self.models.names

    def check_model(self, name: str) -> Bundle | None:
        """The loaded model called `name` (None for the alias: the server's choice). Raises
        ApiError 404 for a model not loaded here."""
        if name == ALIAS:
            return None
        bundle = self.models.named(name)
        if bundle is None:
            raise ApiError(
                HTTPStatus.NOT_FOUND,
                f"model {name!r} is not loaded here; loaded: {', '.join(self.names)} ({ALIAS} is "
                f"the default's alias)",
                "model",
                "model_not_found",
            )
        return bundle

    def plan(self, asked: Asked) -> tuple[Transcriber, Translator | None, str]:
        """What decodes a request: the transcriber, the cascade's translator (translations with
        `--mt`, unless the request names the translation model) and the output's language.
        Raises ApiError 400 when it cannot be done here."""
        chosen = self.check_model(asked.model)
        main = self.models.main
        if asked.rendering.task == "transcribe":
            bundle = chosen or main
            # a speech-translation model does not transcribe: it writes the language asked for
            language = None
            if bundle.languages:
                language = asked.tgt_lang or (self.default_tgt_lang if bundle is main else None)
            self._check(bundle, language)
            return self.transcriber(bundle, language), None, language or SOURCE_LANGUAGE
        if self.translators and chosen in (None, main):
            language = asked.tgt_lang or only(list(self.translators))
            if language not in self.translators:
                raise self._no_language(language, list(self.translators))
            return self.transcriber(main, None), self.translators[language], language
        known = list(chosen.tokenizer.lang_code_to_id) if chosen else self.models.languages()
        if not known:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"this server does not translate: {', '.join(self.names)} transcribes, and no "
                "speech-translation model or machine translation is loaded (s2t-stream serve "
                "--translation-model DIR or --mt apertium adds one)",
                "model",
            )
        language = asked.tgt_lang or self.default_tgt_lang or only(known)
        if language not in known:
            raise self._no_language(language, known)
        return (
            self.transcriber(chosen or self.models.for_language(language), language),
            None,
            language,
        )

    def _check(self, bundle: Bundle, language: str | None) -> None:
        """`check_target`'s rule, as the websocket sessions and the command line apply it.
        Raises ApiError 400 (`tgt_lang`) for a speech-translation model without a language, or
        with one it lacks."""
        try:
            model = f"model {model_name(bundle)!r}"
            check_target(model, bundle.languages, language, field="tgt_lang")
        except OptionsError as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(error), "tgt_lang") from None

    def _no_language(self, language: str | None, known: list[str]) -> ApiError:
        said = f"tgt_lang {language!r}" if language else "no tgt_lang was given"
        return ApiError(
            HTTPStatus.BAD_REQUEST,
            f"{said}; this server translates into {', '.join(known)} (set tgt_lang)",
            "tgt_lang",
        )

    def transcriber(self, bundle: Bundle, tgt_lang: str | None) -> Transcriber:
        key = (model_name(bundle), tgt_lang)
        if key not in self.by_language:
            decoding = self.models.weights_for(bundle, self.options.decoding)
            options = replace(self.options, tgt_lang=tgt_lang, decoding=decoding)
            self.by_language[key] = Transcriber(bundle, options)
        return self.by_language[key]

    async def run(
        self, asked: Asked, refusal: Callable[[], ApiError | None]
    ) -> tuple[Transcription, str]:
        """Decode a request on a worker thread, admitted unless `refusal()` says the server is
        full or draining (ApiError 503); its result and language. Raises ApiError 400 for audio
        that cannot be read (and as `plan` does)."""
        transcriber, translator, language = self.plan(asked)
        refused = refusal()
        if refused is not None:
            raise refused
        self.running += 1
        self.idle.clear()
        self.metrics.transcriptions.set(self.running)
        self.metrics.opened.labels("rest").inc()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self.executor, decode, asked, transcriber, translator
            )
            return result, language
        finally:
            self.running -= 1
            self.metrics.transcriptions.set(self.running)
            if not self.running:
                self.idle.set()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def transcribe_options(options: StreamOptions) -> TranscribeOptions:
    """`s2t-stream transcribe`'s options with the server's segmentation flags (`--vad`,
    `--no-vad`, `--max-segment`; the transcribe command has no other), so that a recording is
    cut as that command cuts it, and its `--lm-weight` and `--ctc-weight`."""
    vad = options.endpoint.vad if options.endpoint is not None else EndpointOptions().vad
    return TranscribeOptions(
        decoding=DecodingOptions(lm_weight=options.lm_weight, ctc_weight=options.ctc_weight),
        endpoint=EndpointOptions(vad=vad),
        vad=options.endpoint is not None,
        max_segment_s=options.max_segment_s,
    )


def upload_name(filename: str | None) -> str:
    """How errors call an upload: "the uploaded file 'x.wav'" (or without a name, if it had
    none)."""
    return f"the uploaded file {filename!r}" if filename else "the uploaded file"


def only(names: list[str]) -> str | None:
    """The one name in `names`, or None when there are several (or none)."""
    return names[0] if len(names) == 1 else None


def decode(asked: Asked, transcriber: Transcriber, translator: Translator | None) -> Transcription:
    """Worker thread: read the upload (any format `s2t-stream transcribe` reads), transcribe it
    and, with the cascade, translate each segment (subtitle words spread over its span).
    Raises ApiError 400 for audio that cannot be read."""
    name = upload_name(asked.filename)
    try:
        audio = load_audio(io.BytesIO(asked.audio), transcriber.sample_rate, name=name)
    except S2TError as error:  # AudioError: undecodable, empty, too short, not finite
        raise ApiError(HTTPStatus.BAD_REQUEST, str(error), "file", "invalid_audio") from None
    (result,) = transcriber.transcribe([audio])
    if translator is None:
        return replace(result, path=asked.filename)
    segments = []
    for segment in result.segments:
        text = translator.translate(segment.text) if segment.text else ""
        words = spread_words(text, segment.start_s, segment.end_s)
        segments.append(replace(segment, text=text, words=words, translation=text))
    return replace(result, segments=tuple(segments), path=asked.filename)
