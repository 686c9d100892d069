"""`s2t-stream client`: stream an audio file to a server (native protocol) and print its
events as live captions or JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from s2t_stream.audio import load_audio
from s2t_stream.captions import Captions, json_line
from s2t_stream.errors import S2TError
from s2t_stream.events import event_from_json

DEFAULT_URL = "ws://127.0.0.1:2700/v1/stream"


def pcm16(audio: np.ndarray) -> bytes:
    """float [-1, 1] → 16-bit little-endian PCM; audio read from 16-bit files round-trips."""
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2").tobytes()


async def _send(
    websocket: ClientConnection, audio: np.ndarray, rate: int, chunk_ms: int, realtime: bool
) -> None:
    chunk = rate * chunk_ms // 1000
    started = time.monotonic()
    for index, begin in enumerate(range(0, len(audio), chunk)):
        if realtime:
            await asyncio.sleep(
                max(0.0, started + (index + 1) * chunk_ms / 1000 - time.monotonic())
            )
        await websocket.send(pcm16(audio[begin : begin + chunk]))
    await websocket.send(json.dumps({"type": "end"}))


async def stream_audio(
    url: str,
    audio: np.ndarray,
    rate: int,
    *,
    realtime: bool = False,
    chunk_ms: int = 100,
    token: str | None = None,
    tgt_lang: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yield every server message, from `ready` to `end` (or an `error`)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with connect(url, additional_headers=headers, max_size=None) as websocket:
        start: dict[str, Any] = {"type": "start", "sample_rate": rate, "encoding": "pcm_s16le"}
        if tgt_lang:
            start.update(task="translate", tgt_lang=tgt_lang)
        await websocket.send(json.dumps(start))
        sender: asyncio.Task[None] | None = None
        try:
            async for raw in websocket:
                message = json.loads(raw)
                yield message
                if message["type"] == "ready":
                    sender = asyncio.create_task(_send(websocket, audio, rate, chunk_ms, realtime))
                if message["type"] in ("end", "error"):
                    break
        finally:
            if sender is not None:
                sender.cancel()


async def _run(args: argparse.Namespace) -> int:
    audio = load_audio(args.file, 16000)
    captions = Captions(live=sys.stdout.isatty())
    async for message in stream_audio(
        args.url,
        audio,
        16000,
        realtime=args.realtime,
        token=args.token,
        tgt_lang=args.tgt_lang,
    ):
        kind = message["type"]
        if kind == "error":
            raise S2TError(f"server error {message['code']}: {message['message']}")
        if kind in ("partial", "final"):
            event = event_from_json(message)
            sys.stdout.write(json_line(event) if args.format == "jsonl" else captions.render(event))
            sys.stdout.flush()
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="wav, flac, ogg or mp3")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server (default: {DEFAULT_URL})")
    parser.add_argument("--realtime", action="store_true", help="send audio at real speed")
    parser.add_argument("--format", choices=["text", "jsonl"], default="text")
    parser.add_argument("--token", default=None, help="bearer token, if the server wants one")
    parser.add_argument("--tgt-lang", default=None, help="translate into this language")


def run_from_args(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except OSError as error:
        raise S2TError(f"cannot connect to {args.url}: {error}") from error
