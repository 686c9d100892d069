"""`serve`: the server — websockets, the web page and the OpenAI-compatible REST API on one port
(needs the 'server' extra)."""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from s2t_stream.cli.arguments import (
    add_model_arguments,
    add_stream_arguments,
    bearer_token,
    load_model,
    needs_extra,
    number,
    stream_options,
)
from s2t_stream.defaults import BUNDLED_ST_MODEL, TOKEN_ENV, bundled_translation_languages
from s2t_stream.errors import S2TError
from s2t_stream.server.options import CLOSE_TIMEOUT_S, Limits, ServerOptions

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from s2t_stream.model.checkpoint import Bundle


def register(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "serve",
        "server: live streams on one model (native and Vosk websockets), a web page and "
        "OpenAI's transcription API, on one port",
    )
    o = ServerOptions()
    parser.add_argument("--host", default=o.host, help="address to bind")
    parser.add_argument(
        "--port", type=number(int, least=0, most=65535), default=o.port, help="port (0: any)"
    )
    parser.add_argument("--log-json", action="store_true", help="structured JSON log lines")
    parser.add_argument(
        "--workers",
        type=number(int, least=1),
        default=o.workers,
        help="model worker threads (default: the CPU cores)",
    )
    parser.add_argument(
        "--threads",
        type=number(int, least=1),
        default=o.threads,
        help="torch threads inside each model call (parallel across workers)",
    )
    _add_limits(parser.add_argument_group("limits"))
    add_model_arguments(parser)
    parser.add_argument(
        "--translation-model",
        default=None,
        metavar="DIR|none",
        help="a speech-translation model served beside --model, for the target languages it "
        "lacks: a session's tgt_lang (without mt) or a REST translation is translated end to "
        "end by it (default: the bundled English-to-Spanish/Catalan model when --model "
        "translates into nothing; none: no second model)",
    )
    add_stream_arguments(parser)
    parser.set_defaults(run=run_serve)


def _add_limits(group: argparse._ArgumentGroup) -> None:
    d = Limits()
    group.add_argument(
        "--max-sessions",
        type=number(int, least=1),
        default=d.max_sessions,
        help="concurrent sessions; more are refused (HTTP 503)",
    )
    group.add_argument(
        "--max-message-bytes",
        type=number(int, least=1),
        default=d.max_message_bytes,
        help="largest client message",
    )
    group.add_argument(
        "--max-session-s",
        type=number(float, above=0),
        default=d.max_session_s,
        help="longest session, seconds",
    )
    group.add_argument(
        "--idle-timeout",
        type=number(float, above=0),
        default=d.idle_timeout_s,
        help="close a session after this many seconds without a message",
    )
    group.add_argument(
        "--max-buffered-s",
        type=number(float, above=0),
        default=d.max_buffered_s,
        help="audio a session may have waiting for the model, seconds; beyond it the server "
        "stops reading that client (back-pressure)",
    )
    group.add_argument(
        "--max-queued-messages",
        type=number(int, least=1),
        default=d.max_queued_messages,
        help="client messages a session may have waiting for the model (and, on the Vosk "
        "protocol, replies waiting to be read); beyond it the server stops reading that client",
    )
    group.add_argument(
        "--drain-timeout",
        type=number(float, above=0),
        default=d.drain_timeout_s,
        help="on SIGTERM, seconds open sessions get for their last finals; then every "
        f"connection is closed at once (at most {CLOSE_TIMEOUT_S:.0f} s more)",
    )
    group.add_argument(
        "--ping-interval",
        type=number(float, above=0),
        default=d.ping_interval_s,
        help="seconds between keep-alive pings (for proxies); a missing pong closes nothing",
    )
    group.add_argument(
        "--max-upload-mb",
        type=number(float, above=0),
        default=d.max_upload_mb,
        help="largest REST upload, MiB (HTTP 413 beyond it)",
    )
    group.add_argument("--token", default=None, help=f"require this bearer token (or ${TOKEN_ENV})")
    group.add_argument(
        "--origin", action="append", default=None, help="allowed Origin header (repeatable)"
    )


def limits(args: argparse.Namespace) -> Limits:
    return Limits(
        max_sessions=args.max_sessions,
        max_message_bytes=args.max_message_bytes,
        max_session_s=args.max_session_s,
        idle_timeout_s=args.idle_timeout,
        max_buffered_s=args.max_buffered_s,
        max_queued_messages=args.max_queued_messages,
        drain_timeout_s=args.drain_timeout,
        ping_interval_s=args.ping_interval,
        max_upload_mb=args.max_upload_mb,
        token=bearer_token(args),
        origins=tuple(args.origin) if args.origin else None,
    )


def run_serve(args: argparse.Namespace) -> int:
    with needs_extra("server", "s2t-stream serve"):
        from s2t_stream.server.app import StreamingServer, serve_forever
        from s2t_stream.server.logs import JsonFormatter
    import asyncio

    import torch

    from s2t_stream.server import memory

    if args.log_json:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    if args.mt is not None and args.tgt_lang is not None:
        raise S2TError(
            f"serve --mt {args.mt}: each session chooses its language (tgt_lang in its start "
            "message); drop --tgt-lang"
        )
    if args.mt is not None:
        from s2t_stream.translation.translator import available_languages

        available_languages(args.mt)  # before the model loads: a missing pair is said at once
    options = stream_options(args)
    with bind_address(args) as listener:  # before the models load: a port in use is said at once
        torch.set_num_threads(args.threads)
        memory.bound_kernel_cache()  # before the model's first forward pass
        bundle = load_model(args)
        translation = translation_model(args, bundle)
        server = StreamingServer(bundle, options, limits(args), args.workers, args.mt, translation)
        if translation is not None:  # on stderr: the first line on stdout says where it serves
            languages = ", ".join(translation.tokenizer.lang_code_to_id)
            log.info("sessions may ask for tgt_lang %s (%s)", languages, translation.source)
        for translator in server.engines.translators.values():
            print(
                f"s2t-stream: sessions may ask for {translator.name} ({translator.version})",
                flush=True,
            )
        asyncio.run(serve_forever(server, args.host, listener))
    return 0


def bind_address(args: argparse.Namespace) -> socket.socket:
    """A socket bound to `--host` and `--port`, not listening yet (`server.app.bind`); an
    S2TError naming both flags and the system's reason when they cannot be bound (the port in
    use or not allowed, the host unknown or not this machine's)."""
    from s2t_stream.server.app import bind

    try:
        return bind(args.host, args.port)
    except OSError as error:
        raise S2TError(
            f"--host {args.host} --port {args.port}: cannot listen there "
            f"({error.strerror or error})"
        ) from None


def translation_model(args: argparse.Namespace, bundle: Bundle) -> Bundle | None:
    """The model `--translation-model` names, loaded: none for "none"; by default the bundled
    speech-translation model when the main model translates into nothing (and it is there)."""
    if args.translation_model == "none":
        return None
    if args.translation_model is None:
        if bundle.tokenizer.lang_code_to_id or not bundled_translation_languages():
            return None
        return load_model(args, "--translation-model", default=str(BUNDLED_ST_MODEL))
    return load_model(args, "--translation-model")
