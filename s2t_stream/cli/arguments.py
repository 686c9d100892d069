"""Argument groups shared by the commands, the server and the desktop app — model, decoding,
streaming — and their conversion to the typed options. Torch-free at import: parsers build, and
argument errors are reported, before any model code loads."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from s2t_stream.defaults import (
    BUNDLED_MODEL,
    BUNDLED_ST_MODEL,
    DEVICE_NAMES,
    MODEL_ENV,
    QUANTIZE_MODES,
    TOKEN_ENV,
    bundled_translation_languages,
    default_model,
    pick_device,
)
from s2t_stream.errors import CheckpointError, MissingExtra, S2TError
from s2t_stream.model.audio import AudioSource, RawFormat
from s2t_stream.model.config import MAX_CTC_WEIGHT, MAX_LM_WEIGHT
from s2t_stream.streaming.cmvn import CmvnOptions
from s2t_stream.streaming.endpoint import EndpointOptions
from s2t_stream.streaming.policy import PolicyOptions
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.streaming.vad import VadOptions
from s2t_stream.translation.translator import ENGINES

if TYPE_CHECKING:
    from s2t_stream.model.checkpoint import Bundle, LoadOptions
    from s2t_stream.model.config import DecodingOptions
    from s2t_stream.translation.translator import MtOptions, Translator

log = logging.getLogger("s2t_stream")

DTYPES = ("float32", "float16", "bfloat16")
SLOW_S = 0.5  # work that takes longer than this is announced on stderr

# optional dependency groups (pyproject extras) and the modules each one brings
EXTRAS = {
    "server": (
        "starlette",
        "uvicorn",
        "websockets",
        "multipart",
        "python_multipart",
        "prometheus_client",
    ),
    "gui": ("PyQt6",),
    "mic": ("sounddevice",),
    "train": ("jiwer", "sacrebleu"),
    "bench": ("matplotlib",),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's help ends with its default, unless the text already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


@contextmanager
def needs_extra(extra: str, purpose: str) -> Iterator[None]:
    """Imports inside this block that fail for a module of `extra` become one clear error."""
    try:
        yield
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] in EXTRAS[extra]:
            raise MissingExtra(extra, purpose, error) from None
        raise


def number(
    kind: type[int] | type[float], *, above: float | None = None, least: float | None = None,
    most: float | None = None, below: float | None = None,
) -> Callable[[str], int | float]:  # fmt: skip
    """An argparse type: a `kind` number > `above`, ≥ `least`, ≤ `most`, < `below` (those
    given); the parser reports anything else against the flag the user typed."""
    bounds = [f"> {above:g}"] if above is not None else []
    bounds += [f"≥ {least:g}"] if least is not None else []
    bounds += [f"≤ {most:g}"] if most is not None else []
    bounds += [f"< {below:g}"] if below is not None else []
    expected = f"{'an integer' if kind is int else 'a number'}" + (
        f" {' and '.join(bounds)}" if bounds else ""
    )

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if (
            value != value  # NaN: no bound holds for it
            or (above is not None and not value > above)
            or (least is not None and value < least)
            or (most is not None and value > most)
            or (below is not None and not value < below)
        ):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


# --- model --------------------------------------------------------------------------------------


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --device, --dtype, --quantize and checkpoint trust: every command that loads a
    model."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=None,
        help="model directory (HF layout), fairseq .pt, or hub id (default: $S2T_STREAM_MODEL "
        "or the bundled demo model)",
    )
    group.add_argument("--device", default="auto", help=f"compute device: {DEVICE_NAMES}")
    group.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="weights and activations; float16/bfloat16 need CUDA",
    )
    group.add_argument(
        "--quantize",
        choices=QUANTIZE_MODES,
        default="none",
        help="int8: the linear layers' weights in int8 (PyTorch's dynamic quantisation), for "
        "CPU inference in float32 (--device auto then means the CPU); its speed and accuracy "
        "are in the README (Performance)",
    )
    group.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow full unpickling of a fairseq .pt (runs code from the file: trusted files only)",
    )
    group.add_argument(
        "--offline", action="store_true", help="resolve hub ids from the local cache only"
    )
    parser.set_defaults(device_flag="--device")  # the flag errors name (mic: --compute-device)


@contextmanager
def announced(message: str, after_s: float = SLOW_S) -> Iterator[None]:
    """Say `message` on stderr if the block is still running after `after_s`, so a slow step
    (loading a model) never looks like a hang, and a quick one says nothing."""
    timer = threading.Timer(after_s, lambda: print(f"s2t-stream: {message}", file=sys.stderr))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


def load_options(args: argparse.Namespace) -> LoadOptions:
    """The `--device`/`--dtype`/`--quantize`/trust flags as `LoadOptions` (imports torch)."""
    import torch

    from s2t_stream.model.checkpoint import LoadOptions

    check_quantize(args)
    device = pick_device(
        "cpu" if args.quantize != "none" and args.device == "auto" else args.device,
        args.device_flag,
    )
    if args.dtype != "float32" and not device.startswith("cuda"):
        raise S2TError(f"--dtype {args.dtype} needs a CUDA device; this run uses {device}")
    return LoadOptions(
        device=device,
        dtype=getattr(torch, args.dtype),
        trust_pickle=args.trust_checkpoint,
        offline=True if args.offline else None,
        quantize=args.quantize,
    )


def check_quantize(args: argparse.Namespace) -> None:
    """`--quantize int8` is CPU inference in float32: an S2TError naming the flags otherwise."""
    if args.quantize == "none":
        return
    asked = [f"{args.device_flag} {args.device}"] if args.device.startswith("cuda") else []
    asked += [f"--dtype {args.dtype}"] if args.dtype != "float32" else []
    if asked:
        raise S2TError(
            f"--quantize {args.quantize} runs on the CPU in float32 (--device cpu or auto, "
            f"--dtype float32); got {' and '.join(asked)}"
        )


def load_model(
    args: argparse.Namespace, flag: str = "--model", default: str | None = None
) -> Bundle:
    """The model `flag` names, loaded. Its default is `default`, else `default_model()`: for
    `--model` with `--tgt-lang` and no `--mt`, the bundled speech-translation model when it has
    the language(s). Slow loads are announced on stderr ("loading model …") so a user does not
    stare at a blank screen."""
    given = getattr(args, flag.removeprefix("--").replace("-", "_"))
    asked = flag == "--model" and not getattr(args, "mt", None)
    name = given or default or default_model(getattr(args, "tgt_lang", None) if asked else None)
    log.info("loading model %s", name)
    with announced(f"loading model {name} …"):
        from s2t_stream.model.checkpoint import load_bundle

        options = load_options(args)
        try:
            return load_bundle(name, options)
        except CheckpointError as error:  # say which flag (or setting) named the model
            where = flag if given else f"the default model ({flag}, ${MODEL_ENV})"
            raise CheckpointError(f"{where}: {error}") from None


def bearer_token(args: argparse.Namespace) -> str | None:
    """`--token`, else $S2T_STREAM_TOKEN (serve's and client's); None when neither is set."""
    return args.token or os.environ.get(TOKEN_ENV) or None


# --- decoding -----------------------------------------------------------------------------------


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument(
        "--beam",
        type=number(int, least=1),
        default=None,
        help="beams; 1 = greedy (default: model's)",
    )
    group.add_argument(
        "--max-length",
        type=number(int, least=2),
        default=None,
        help="max tokens incl. the start token (default: model's)",
    )
    add_lm_weight_argument(group)
    add_ctc_weight_argument(group)
    group.add_argument(
        "--tgt-lang", default=None, help="target language code for multilingual translation"
    )
    add_mt_argument(group)


def add_lm_weight_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--lm-weight",
        type=number(float, least=0, below=MAX_LM_WEIGHT),
        default=None,
        help="shallow-fusion weight of the model's language model (its lm/ folder); 0 = off "
        "(default: beam search, the weight it was tuned with; greedy search and streaming, off)",
    )


def add_ctc_weight_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--ctc-weight",
        type=number(float, least=0, below=MAX_CTC_WEIGHT),
        default=None,
        help="joint CTC/attention decoding weight of the model's CTC head (its ctc/ folder); "
        "0 = off (default: beam search, the weight it was tuned with; greedy search and streaming, "
        "off)",
    )


def decoding_options(args: argparse.Namespace) -> DecodingOptions:
    """The search options of `add_decoding_arguments` (beam and length where the command has
    them, else the model's) and the fusion weights."""
    from s2t_stream.model.config import DecodingOptions

    return DecodingOptions(
        num_beams=getattr(args, "beam", None),
        max_length=getattr(args, "max_length", None),
        lm_weight=args.lm_weight,
        ctc_weight=args.ctc_weight,
    )


# --- audio input --------------------------------------------------------------------------------


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Reading audio from standard input (`-`) and headerless PCM: `transcribe` and `stream`."""
    group = parser.add_argument_group("input")
    group.add_argument(
        "--raw-rate",
        type=number(int, above=0),
        default=None,
        help="the input is headerless PCM at this rate (Hz), e.g. from arecord or ffmpeg",
    )
    group.add_argument(
        "--raw-encoding",
        choices=["s16le", "f32le"],
        default="s16le",
        help="headerless PCM's samples (with --raw-rate)",
    )
    group.add_argument(
        "--raw-channels", type=number(int, least=1), default=1, help="headerless PCM's channels"
    )


def raw_format(args: argparse.Namespace) -> RawFormat | None:
    if args.raw_rate is None:
        return None
    return RawFormat(args.raw_rate, args.raw_encoding, args.raw_channels)


def audio_source(name: str) -> AudioSource:
    """`-` is standard input; anything else a path."""
    return sys.stdin.buffer if name == "-" else name


def audio_name(name: str) -> str:
    """How errors call a FILE argument: `-` is "standard input"; anything else its path."""
    return "standard input" if name == "-" else name


# --- streaming ----------------------------------------------------------------------------------


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """The streaming engine's options: shared by `stream`, `mic`, `serve` and the GUI."""
    d, p, e = StreamOptions(), PolicyOptions(), EndpointOptions()
    group = parser.add_argument_group("streaming")
    group.add_argument(
        "--tgt-lang", default=None, help="target language (translation models, or --mt's)"
    )
    add_mt_argument(group)
    add_lm_weight_argument(group)
    add_ctc_weight_argument(group)
    group.add_argument(
        "--policy",
        choices=["alignatt", "local-agreement"],
        default=p.name,
        help="commit policy: AlignAtt (cross-attention) or LocalAgreement-n",
    )
    group.add_argument(
        "--agreement", type=number(int, least=1), default=p.agreement, help="n of LocalAgreement-n"
    )
    group.add_argument(
        "--border",
        type=number(float, least=0),
        default=p.border_s,
        help="AlignAtt: tokens attending to the last this-many seconds wait",
    )
    group.add_argument(
        "--onset-confidence",
        type=number(float, least=0, most=1),
        default=p.onset_confidence,
        metavar="P",
        help=f"AlignAtt, transcribing: until a segment's first commit, in its first "
        f"{p.onset_s:g} s, a token the model gives a probability below P waits for more audio "
        "(0: off; speech translation, --tgt-lang without --mt, does not use it)",
    )
    group.add_argument(
        "--step",
        type=number(float, above=0),
        default=d.step_s,
        help="seconds of audio between updates",
    )
    group.add_argument(
        "--step-growth",
        type=number(float, least=0, most=1),
        default=d.step_growth,
        help="the step grows to this × the segment's length",
    )
    group.add_argument(
        "--compute-factor",
        type=number(float, least=0),
        default=d.compute_factor,
        help="the step grows to this × the last update's compute time, so a loaded machine "
        "updates partials less often",
    )
    group.add_argument(
        "--cmvn",
        choices=["segment", "prior", "global"],
        default=d.cmvn.mode,
        help="running CMVN mode",
    )
    group.add_argument(
        "--cmvn-stats", default=None, help="--cmvn global's statistics: an .npz (mean, std)"
    )
    group.add_argument(
        "--end-silence",
        type=number(float, least=0),
        default=e.end_silence_s,
        help="seconds of silence that end a segment",
    )
    group.add_argument(
        "--max-segment",
        type=number(float, least=1),
        default=d.max_segment_s,
        help="longest segment, seconds",
    )
    group.add_argument(
        "--no-vad", action="store_true", help="no endpointing: cut only at --max-segment"
    )
    add_vad_argument(group)
    add_band_mask_argument(group)


def add_vad_argument(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--vad",
        choices=["webrtc", "floor", "silero"],
        default=VadOptions().kind,
        help="voice-activity detector (docs/vad.md): WebRTC's; WebRTC above a tracked noise "
        "floor; or Silero's network (needs the silero-vad package)",
    )


def add_band_mask_argument(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--no-band-mask",
        action="store_true",
        help="keep the rounding noise in the empty band of audio from a lower rate (8 kHz "
        "telephone audio) as the reference does; default: that band's features are zeroed",
    )


def endpoint_options(args: argparse.Namespace, **rules: float) -> EndpointOptions:
    return EndpointOptions(vad=VadOptions(kind=args.vad), **rules)


def stream_options(args: argparse.Namespace) -> StreamOptions:
    """The streaming flags (range-checked by the parser) as `StreamOptions`; an S2TError
    naming the flags for `--cmvn global` without `--cmvn-stats`, or statistics that another
    mode would ignore."""
    if args.cmvn == "global" and not args.cmvn_stats:
        raise S2TError(
            "--cmvn global needs --cmvn-stats, an .npz file of the features' 'mean' and 'std'"
        )
    if args.cmvn_stats and args.cmvn != "global":
        raise S2TError(
            f"--cmvn-stats is read only with --cmvn global (the mode is {args.cmvn}, which "
            "computes its own statistics): add --cmvn global, or drop --cmvn-stats"
        )
    return StreamOptions(
        step_s=args.step,
        step_growth=args.step_growth,
        compute_factor=args.compute_factor,
        policy=PolicyOptions(
            name=args.policy,
            agreement=args.agreement,
            border_s=args.border,
            onset_confidence=args.onset_confidence,
        ),
        cmvn=CmvnOptions(mode=args.cmvn, stats_path=args.cmvn_stats),
        endpoint=None if args.no_vad else endpoint_options(args, end_silence_s=args.end_silence),
        max_segment_s=args.max_segment,
        band_mask=not args.no_band_mask,
        tgt_lang=None if args.mt else args.tgt_lang,  # --mt's language is not the model's
        lm_weight=args.lm_weight,
        ctc_weight=args.ctc_weight,
    )


# --- machine translation of finals (the cascade) ------------------------------------------------


def mt_languages(engine: str = "apertium") -> str:
    """The languages `engine` translates into, as help texts and errors list them ("es, ca,
    gl"): from the engine's own table of pairs, installed here or not."""
    from s2t_stream.translation.translator import offered_languages

    return ", ".join(offered_languages(engine))


def add_mt_argument(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--mt",
        choices=list(ENGINES),
        default=None,
        help=f"translate each final's text into --tgt-lang ({mt_languages()}) with this machine "
        "translation, so that any English ASR model translates (the cascade)",
    )


def mt_needs_language(engine: str) -> S2TError:
    """The error for `--mt` without `--tgt-lang`."""
    return S2TError(
        f"--mt {engine} needs --tgt-lang, the language to translate into ({mt_languages(engine)})"
    )


def mt_options(args: argparse.Namespace) -> MtOptions | None:
    """`--mt` with `--tgt-lang` as `MtOptions` (None without `--mt`)."""
    from s2t_stream.translation.translator import MtOptions

    if args.mt is None:
        return None
    if not args.tgt_lang:
        raise mt_needs_language(args.mt)
    return MtOptions(tgt_lang=args.tgt_lang, engine=args.mt)


def prefer_cascade(args: argparse.Namespace) -> None:
    """`--tgt-lang` alone (no `--model`, `--mt` or $S2T_STREAM_MODEL): translate the better of
    the two bundled ways, as measured — the cascade (the bundled ASR model, then Apertium;
    BLEU 67 against 29 for the bundled end-to-end model on held-out Spanish sentences, README
    "Translation") when Apertium has the pair, else the end-to-end model (`load_model`). Sets
    `args.mt`; call before reading the streaming or transcription options."""
    if not args.tgt_lang or args.mt or args.model or os.environ.get(MODEL_ENV):
        return
    from s2t_stream.translation.apertium import available_languages

    if args.tgt_lang in available_languages():
        log.info(
            "--tgt-lang %s: the cascade (Apertium) translates better than the bundled "
            "end-to-end model; --model %s picks that one",
            args.tgt_lang,
            BUNDLED_ST_MODEL,
        )
        args.mt = "apertium"


def check_languages(args: argparse.Namespace, bundle: Bundle | None = None) -> None:
    """`--tgt-lang` and `--mt` against the model (`stream`, `mic`, `transcribe`): the rule the
    server applies too (`translation.languages.check_target`: a speech-translation model needs
    a target language, the cascade an ASR model), and for a language the model lacks, the
    languages on offer here (the bundled speech-translation model's, `--mt`'s installed pairs)
    or how to get some. Without `bundle`, before any model loads: only the case whose model is
    known without loading it, the default one (for a language the bundled speech-translation
    model lacks, the bundled ASR model). Call after `prefer_cascade`. Raises S2TError (one
    line)."""
    from s2t_stream.translation.languages import check_target

    if bundle is not None:
        source, languages = bundle.source, bundle.languages
    elif args.mt or not args.tgt_lang or args.model or os.environ.get(MODEL_ENV):
        return
    elif args.tgt_lang in bundled_translation_languages():
        return  # the default model is then the bundled speech-translation model
    else:
        source, languages = str(BUNDLED_MODEL), ()
    if args.model:
        model = f"--model {args.model}"
    elif os.environ.get(MODEL_ENV):
        model = f"${MODEL_ENV} ({source})"
    else:
        model = f"the default model {Path(source).name}"
    if not args.mt and args.tgt_lang and args.tgt_lang not in languages:
        raise S2TError(_unavailable(args.tgt_lang, model, source, languages))
    check_target(model, languages, args.tgt_lang, mt=args.mt)


def _unavailable(tgt_lang: str, model: str, source: str, languages: tuple[str, ...]) -> str:
    """Why `--tgt-lang` cannot be had from `model`, and what can be had here instead (the
    bundled speech-translation model's languages, Apertium's installed pairs); for a language
    Apertium offers but whose pair is missing, what to install; with nothing, how to get some."""
    from s2t_stream.errors import TranslationError
    from s2t_stream.translation.apertium import available_languages, mode_for
    from s2t_stream.translation.languages import describe_offer
    from s2t_stream.translation.translator import offered_languages

    said = f"--tgt-lang {tgt_lang}: {model} "
    said += f"translates into {', '.join(languages)} only" if languages else "transcribes only"
    cascade = "--mt apertium" if not languages else "an ASR model with --mt apertium"
    ways = [(available_languages(), cascade)]
    if Path(source).resolve() != BUNDLED_ST_MODEL.resolve():
        bundled = list(bundled_translation_languages())
        ways.insert(0, (bundled, f"--model {_shown(BUNDLED_ST_MODEL)}"))
    missing = ""  # what --mt apertium needs for this language, when it offers it
    if tgt_lang in offered_languages("apertium"):
        try:
            mode_for(tgt_lang)
        except TranslationError as error:
            missing = str(error)
    listed = describe_offer(ways)
    if listed:
        said += f"; here: {listed}"
        return said + (f"; --mt apertium has {tgt_lang} too, but {missing}" if missing else "")
    said += (
        f", and nothing here translates: give --model a speech-translation model with {tgt_lang}"
    )
    if missing:
        return f"{said}, or set up --mt apertium: {missing}"
    return f"{said}, or install Apertium and its pairs for --mt apertium ({mt_languages()})"


def _shown(path: Path) -> str:
    """`path` as a user would type it here: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def open_mt(args: argparse.Namespace) -> Translator | None:
    """The translator `--mt` asks for, running (None without `--mt`). Raises TranslationError,
    naming the package to install, when the engine or the pair is missing."""
    from s2t_stream.translation.translator import open_translator

    options = mt_options(args)
    return None if options is None else open_translator(options)
