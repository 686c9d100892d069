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
from s2t_stream.captions import Captions
from s2t_stream.capture import DeviceLost, Microphone, choose_device, list_devices
from s2t_stream.errors import S2TError
from s2t_stream.events import event_from_json

DEFAULT_URL = "ws://127.0.0.1:2700/v1/stream"


def pcm16(audio: np.ndarray) -> bytes:
    """float [-1, 1] → 16-bit little-endian PCM; audio read from 16-bit files round-trips."""
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2").tobytes()


async def file_chunks(
    audio: np.ndarray, rate: int, chunk_ms: int = 100, realtime: bool = False
) -> AsyncIterator[np.ndarray]:
    """A file's audio in `chunk_ms` pieces, at real speed if `realtime`."""
    chunk = rate * chunk_ms // 1000
    started = time.monotonic()
    for index, begin in enumerate(range(0, len(audio), chunk)):
        if realtime:
            await asyncio.sleep(
                max(0.0, started + (index + 1) * chunk_ms / 1000 - time.monotonic())
            )
        yield audio[begin : begin + chunk]


async def microphone_chunks(
    microphone: Microphone, seconds: float | None = None
) -> AsyncIterator[np.ndarray]:
    """What the microphone records, every 100 ms, until `seconds` pass (or it is lost)."""
    started = time.monotonic()
    try:
        while seconds is None or time.monotonic() - started < seconds:
            await asyncio.sleep(0.1)
            try:
                chunk = microphone.read()
            except DeviceLost as lost:
                print(f"s2t-stream: {lost}", file=sys.stderr)
                break
            yield chunk
        yield microphone.close()
    finally:
        microphone.close()


async def _send(websocket: ClientConnection, chunks: AsyncIterator[np.ndarray]) -> None:
    async for chunk in chunks:
        if len(chunk):
            await websocket.send(pcm16(chunk))
    await websocket.send(json.dumps({"type": "end"}))


async def stream_audio(
    url: str,
    chunks: AsyncIterator[np.ndarray],
    rate: int,
    *,
    token: str | None = None,
    tgt_lang: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Send `chunks` (mono float32 at `rate`); yield every server message, from `ready` to
    `end` (or an `error`)."""
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
                    sender = asyncio.create_task(_send(websocket, chunks))
                if message["type"] in ("end", "error"):
                    break
        finally:
            if sender is not None:
                sender.cancel()


def _source(args: argparse.Namespace) -> tuple[AsyncIterator[np.ndarray], int]:
    if args.mic:
        device = choose_device(args.device, list_devices())
        microphone = Microphone(device, device.sample_rate)  # the server resamples
        print(f"s2t-stream: streaming {device.name!r}; Ctrl-C ends", file=sys.stderr)
        return microphone_chunks(microphone, args.seconds), device.sample_rate
    if not args.file:
        raise S2TError("give an audio FILE, or --mic")
    return file_chunks(load_audio(args.file, 16000), 16000, realtime=args.realtime), 16000


async def _run(args: argparse.Namespace) -> int:
    chunks, rate = _source(args)
    captions = Captions(live=sys.stdout.isatty(), jsonl=args.format == "jsonl")
    async for message in stream_audio(
        args.url, chunks, rate, token=args.token, tgt_lang=args.tgt_lang
    ):
        kind = message["type"]
        if kind == "error":
            raise S2TError(f"server error {message['code']}: {message['message']}")
        if kind in ("partial", "final"):
            event = event_from_json(message)
            sys.stdout.write(captions.render(event))
            sys.stdout.flush()
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", nargs="?", help="wav, flac, ogg or mp3")
    parser.add_argument("--mic", action="store_true", help="stream the microphone instead")
    parser.add_argument("--device", default=None, help="with --mic: input device index or name")
    parser.add_argument("--seconds", type=float, default=None, help="with --mic: stop after")
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
