"""Command line: `s2t-stream stream | transcribe | eval | corpus | train`.
Flags map one-to-one onto the options dataclasses; library errors become one-line messages."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from s2t_stream.audio import load_audio
from s2t_stream.checkpoint import LoadOptions, load_bundle
from s2t_stream.cmvn import CmvnOptions
from s2t_stream.decoding import DecodingOptions
from s2t_stream.endpoint import EndpointOptions
from s2t_stream.engine import Engine, StreamOptions
from s2t_stream.errors import S2TError
from s2t_stream.events import Final
from s2t_stream.policy import PolicyOptions
from s2t_stream.subtitles import to_srt, to_vtt
from s2t_stream.transcribe import TranscribeOptions, Transcriber

log = logging.getLogger("s2t_stream")

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_MODEL = REPO_ROOT / "assets" / "models" / "s2t-demo-en"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def default_model() -> str:
    """`$S2T_STREAM_MODEL`, else the bundled demo model."""
    return os.environ.get("S2T_STREAM_MODEL", str(BUNDLED_MODEL))


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise S2TError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
    return name


def add_model_arguments(parser: argparse.ArgumentParser, device_flag: str = "--device") -> None:
    """--model and friends: shared by every command that loads a checkpoint (`mic` names the
    compute device `--compute-device`: its `--device` is the microphone)."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=None,
        help="model directory (HF layout), fairseq .pt, or hub id (default: $S2T_STREAM_MODEL "
        "or the bundled demo model)",
    )
    group.add_argument(
        device_flag, dest="device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)"
    )
    group.add_argument(
        "--dtype",
        choices=sorted(DTYPES),
        default="float32",
        help="weights and activations; float16/bfloat16 need CUDA (default: float32)",
    )
    group.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow full unpickling of a fairseq .pt (runs code from the file: trusted files only)",
    )
    group.add_argument(
        "--offline", action="store_true", help="resolve hub ids from the local cache only"
    )


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument(
        "--beam", type=int, default=None, help="beams; 1 = greedy (default: model's)"
    )
    group.add_argument(
        "--max-length", type=int, default=None, help="max tokens incl. the start token"
    )
    group.add_argument(
        "--tgt-lang", default=None, help="target language code for multilingual translation"
    )


def load_options(args: argparse.Namespace) -> LoadOptions:
    device = pick_device(args.device)
    dtype = DTYPES[args.dtype]
    if dtype != torch.float32 and not device.startswith("cuda"):
        raise S2TError(f"--dtype {args.dtype} needs a CUDA device; this run uses {device}")
    return LoadOptions(
        device=device,
        dtype=dtype,
        trust_pickle=args.trust_checkpoint,
        offline=True if args.offline else None,
    )


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """The streaming engine's options: shared by `stream`, the server and the GUI."""
    d, p, e = StreamOptions(), PolicyOptions(), EndpointOptions()
    group = parser.add_argument_group("streaming")
    group.add_argument("--tgt-lang", default=None, help="target language (translation models)")
    group.add_argument(
        "--policy",
        choices=["alignatt", "local-agreement"],
        default=p.name,
        help=f"commit policy (default: {p.name})",
    )
    group.add_argument("--agreement", type=int, default=p.agreement, help="LocalAgreement-n")
    group.add_argument("--border", type=float, default=p.border_s, help="AlignAtt border (s)")
    group.add_argument("--step", type=float, default=d.step_s, help="s of audio between updates")
    group.add_argument(
        "--step-growth",
        type=float,
        default=d.step_growth,
        help=f"the step grows to this × the segment's length (default: {d.step_growth})",
    )
    group.add_argument(
        "--compute-factor",
        type=float,
        default=d.compute_factor,
        help="the step grows to this × the last update's compute time, so a loaded machine "
        f"updates partials less often (default: {d.compute_factor})",
    )
    group.add_argument(
        "--cmvn",
        choices=["segment", "prior", "global"],
        default=d.cmvn.mode,
        help=f"running CMVN mode (default: {d.cmvn.mode})",
    )
    group.add_argument("--cmvn-stats", default=None, help="global CMVN .npz (mean, std)")
    group.add_argument(
        "--end-silence", type=float, default=e.end_silence_s, help="silence that ends a segment (s)"
    )
    group.add_argument(
        "--max-segment", type=float, default=d.max_segment_s, help="longest segment (s)"
    )
    group.add_argument(
        "--no-vad", action="store_true", help="no endpointing: cut only at --max-segment"
    )


def stream_options(args: argparse.Namespace) -> StreamOptions:
    endpoint = None if args.no_vad else EndpointOptions(end_silence_s=args.end_silence)
    return StreamOptions(
        step_s=args.step,
        step_growth=args.step_growth,
        compute_factor=args.compute_factor,
        policy=PolicyOptions(name=args.policy, agreement=args.agreement, border_s=args.border),
        cmvn=CmvnOptions(mode=args.cmvn, stats_path=args.cmvn_stats),
        endpoint=endpoint,
        max_segment_s=args.max_segment,
        tgt_lang=args.tgt_lang,
    )


def decoding_options(args: argparse.Namespace) -> DecodingOptions:
    return DecodingOptions(num_beams=args.beam, max_length=args.max_length)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2t-stream",
        description="Streaming speech transcription and translation with Speech2Text models.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    stream = commands.add_parser(
        "stream", help="replay an audio file through the streaming engine (live captions)"
    )
    stream.add_argument("file", metavar="FILE", help="wav, flac, ogg or mp3")
    stream.add_argument(
        "--pace",
        choices=["realtime", "fast"],
        default="realtime",
        help="feed audio at real speed (latency includes compute) or as fast as possible",
    )
    stream.add_argument(
        "--format",
        choices=["text", "jsonl", "srt", "vtt"],
        default="text",
        help="live captions, one JSON event per line, or subtitles at the end (default: text)",
    )
    stream.add_argument("--chunk-ms", type=int, default=100, help="audio per push (default: 100)")
    add_model_arguments(stream)
    add_stream_arguments(stream)
    stream.set_defaults(run=run_stream)

    transcribe = commands.add_parser(
        "transcribe", help="transcribe or translate audio files offline"
    )
    transcribe.add_argument("files", nargs="+", metavar="FILE", help="wav, flac, ogg or mp3")
    transcribe.add_argument("--format", choices=["text", "json"], default="text")
    transcribe.add_argument(
        "--batch-size", type=int, default=1, help="files decoded together (default: 1)"
    )
    add_model_arguments(transcribe)
    add_decoding_arguments(transcribe)
    transcribe.set_defaults(run=run_transcribe)

    evaluation = commands.add_parser("eval", help="WER on a manifest, per voice, greedy and beam")
    evaluation.add_argument("manifest", type=Path, help="JSON lines: audio, text, voice")
    evaluation.add_argument(
        "--beams", default="1,5", help="comma-separated beam sizes to score (default: 1,5)"
    )
    evaluation.add_argument("--limit", type=int, default=None, help="first N utterances only")
    evaluation.add_argument(
        "--json", type=Path, default=None, help="also write the results here, with every hypothesis"
    )
    evaluation.add_argument("--batch-size", type=int, default=1)
    add_model_arguments(evaluation)
    evaluation.set_defaults(run=run_eval, beam=None, max_length=None, tgt_lang=None)

    devices = commands.add_parser("devices", help="list audio input devices")
    devices.set_defaults(run=run_devices)

    mic = commands.add_parser("mic", help="live captions from a microphone (or desktop audio)")
    mic.add_argument(
        "--device",
        dest="input_device",
        default=None,
        help="input device index or name (default: the system's; see `s2t-stream devices`)",
    )
    mic.add_argument(
        "--loopback",
        action="store_true",
        help="caption what this computer plays (PulseAudio/PipeWire monitor of the default sink)",
    )
    mic.add_argument("--format", choices=["text", "jsonl"], default="text")
    mic.add_argument("--seconds", type=float, default=None, help="stop after this long")
    add_model_arguments(mic, device_flag="--compute-device")
    add_stream_arguments(mic)
    mic.set_defaults(run=run_mic)

    gui_parser = commands.add_parser("gui", help="the desktop app: live captions and an overlay")
    gui_parser.set_defaults(run=run_gui)

    import server

    serve_parser = commands.add_parser(
        "serve", help="websocket server: many live streams on one model (native and Vosk)"
    )
    server.add_arguments(serve_parser)
    add_model_arguments(serve_parser)
    add_stream_arguments(serve_parser)
    serve_parser.set_defaults(run=server.run_from_args)

    from s2t_stream import client

    client_parser = commands.add_parser(
        "client", help="stream a file to a running server and print its captions"
    )
    client.add_arguments(client_parser)
    client_parser.set_defaults(run=client.run_from_args)

    from s2t_stream import corpus, train

    corpus_parser = commands.add_parser("corpus", help="synthesise the demo model's speech corpus")
    corpus.add_arguments(corpus_parser)
    corpus_parser.set_defaults(run=corpus.run_from_args)

    train_parser = commands.add_parser("train", help="train (and export) a small S2T model")
    train.add_arguments(train_parser)
    train_parser.set_defaults(run=train.run_from_args)
    return parser


def run_stream(args: argparse.Namespace) -> int:
    from s2t_stream.captions import Captions

    bundle = load_bundle(args.model or default_model(), load_options(args))
    engine = Engine(bundle, stream_options(args))
    audio = load_audio(args.file, bundle.features.sample_rate)
    if args.chunk_ms <= 0:
        raise S2TError(f"--chunk-ms must be > 0, got {args.chunk_ms}")
    chunk = bundle.features.sample_rate * args.chunk_ms // 1000
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    live = engine.open()
    started = time.monotonic()
    finals: list[Final] = []  # kept for subtitle formats

    def show() -> None:
        for event in live.events():
            if args.format in ("srt", "vtt"):
                finals.extend([event] if isinstance(event, Final) else [])
                continue
            text = captions.render(event)
            sys.stdout.write(text)
        sys.stdout.flush()

    for index, begin in enumerate(range(0, len(audio), chunk)):
        if args.pace == "realtime":  # a chunk is there once it has been "recorded"
            time.sleep(max(0.0, started + (index + 1) * args.chunk_ms / 1000 - time.monotonic()))
        live.accept(audio[begin : begin + chunk])
        engine.step([live])
        show()
    live.finish()
    engine.step([live])
    show()
    if args.format in ("srt", "vtt"):
        sys.stdout.write(to_srt(finals) if args.format == "srt" else to_vtt(finals))
    return 0


def run_gui(args: argparse.Namespace) -> int:
    try:
        from gui.app import main as gui_main
    except ImportError as error:
        message = f"the desktop app needs PyQt6: pip install 's2t-stream[gui]' ({error})"
        raise S2TError(message) from None
    return gui_main(sys.argv[:1])


def run_devices(args: argparse.Namespace) -> int:
    from s2t_stream.capture import list_devices

    found = list_devices()
    if not found:
        print("no audio input devices (is a microphone connected, or a sound server running?)")
    for d in found:
        mark = "*" if d.default else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.channels} ch, {d.sample_rate} Hz, {d.host_api})")
    return 0


def run_mic(args: argparse.Namespace) -> int:
    from s2t_stream.captions import Captions
    from s2t_stream.capture import DeviceLost, Microphone, choose_device, list_devices, loopback

    if args.loopback:
        loopback()
    bundle = load_bundle(args.model or default_model(), load_options(args))
    engine = Engine(bundle, stream_options(args))
    device = choose_device(args.input_device, list_devices())
    microphone = Microphone(device, bundle.features.sample_rate)
    print(
        f"s2t-stream: listening to {device.name!r} ({device.sample_rate} Hz, "
        f"{microphone.channels} ch); Ctrl-C ends",
        file=sys.stderr,
    )
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    live = engine.open()
    started = time.monotonic()

    def show() -> None:
        for event in live.events():
            sys.stdout.write(captions.render(event))
        sys.stdout.flush()

    try:
        while args.seconds is None or time.monotonic() - started < args.seconds:
            time.sleep(0.05)
            live.accept(microphone.read())
            engine.step([live])
            show()
    except KeyboardInterrupt:
        pass
    except DeviceLost as lost:
        print(f"s2t-stream: {lost}; keeping what was transcribed", file=sys.stderr)
    finally:
        live.accept(microphone.close())
        live.finish()
        engine.step([live])
        show()
        stats = microphone.stats
        if stats.dropped_s or stats.device_overflows:
            print(
                f"s2t-stream: audio lost: {stats.dropped_s:.2f} s dropped (fell behind), "
                f"{stats.device_overflows} device overflows",
                file=sys.stderr,
            )
    return 0


def run_transcribe(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.model or default_model(), load_options(args))
    options = TranscribeOptions(
        decoding=decoding_options(args), tgt_lang=args.tgt_lang, batch_size=args.batch_size
    )
    transcriber = Transcriber(bundle, options)
    for result in transcriber.transcribe_files(args.files):
        if args.format == "json":
            print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
        elif len(args.files) > 1:
            print(f"{result.path}: {result.text}", flush=True)
        else:
            print(result.text, flush=True)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from s2t_stream.evaluate import evaluate, read_utterances, table

    bundle = load_bundle(args.model or default_model(), load_options(args))
    transcriber = Transcriber(bundle, TranscribeOptions(batch_size=args.batch_size))
    utterances = read_utterances(args.manifest, args.limit)
    results = []
    for beams in (int(b) for b in args.beams.split(",")):
        log.info("decoding %d utterances with beam %d", len(utterances), beams)
        results.append(evaluate(transcriber, utterances, beams))
    report = {"model": bundle.source, "manifest": str(args.manifest)}
    if args.json:  # the file also has every utterance's reference and hypothesis
        detailed = {**report, "results": [r.to_json(utterances) for r in results]}
        args.json.write_text(json.dumps(detailed, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(json.dumps({**report, "results": [r.to_json() for r in results]}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args))
    except (S2TError, ValueError) as e:
        print(f"s2t-stream: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
