"""The server's lifetime (`s2t-stream serve`, `python server.py`): `StreamingServer` wires the gate,
the connections, the scheduler and the REST decoding into one ASGI app, serves it on one port
with uvicorn, and drains on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn

from s2t_stream.io.protocol import GOING_AWAY
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.server import memory
from s2t_stream.server.connection import Connections, link_of
from s2t_stream.server.gate import Gate
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.models import Models
from s2t_stream.server.options import CLOSE_TIMEOUT_S, NATIVE_PATH, Limits
from s2t_stream.server.rest import Transcriptions
from s2t_stream.server.routes import Routes
from s2t_stream.server.scheduler import Scheduler
from s2t_stream.server.sessions import Engines
from s2t_stream.server.transport import SIZE_SLACK, StreamProtocol
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.translation.translator import MtEngine

log = logging.getLogger("s2t_stream.server")
TRIM_PERIOD_S = 10.0
START_TIMEOUT_S = 30.0


class Uvicorn(uvicorn.Server):
    """uvicorn's server without its signal handlers: on SIGTERM the streaming server drains
    first (finals delivered, 1001) and only then stops uvicorn, which would close every
    websocket at once with 1012."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class StreamingServer:
    """One model (and optionally a translation model beside it, `models.py`) behind one port:
    `running(host, port)` serves, `drain()` finishes."""

    def __init__(
        self,
        bundle: Bundle,
        options: StreamOptions,
        limits: Limits,
        workers: int = 1,
        mt: MtEngine | None = None,
        translation: Bundle | None = None,
    ) -> None:
        self.limits = limits
        self.metrics = Metrics()
        self.scheduler = Scheduler(workers, self.metrics)
        models = Models(bundle, translation)  # translation: languages the model lacks
        self.engines = Engines(models, options, mt)  # mt: sessions may ask for translated finals
        self.connections = Connections(limits, self.metrics, self.engines, self.scheduler)
        self.transcriptions = Transcriptions(
            models, options, limits, self.metrics, self.engines.translators, workers
        )
        self.gate = Gate(limits, self.metrics, self.open_sessions)
        self.metrics.capacity.set(limits.max_sessions)
        self.routes = Routes(self.gate, self.connections, self.transcriptions, self.metrics, limits)

    def open_sessions(self) -> int:
        """Streaming sessions and REST transcriptions under way: what the capacity limits."""
        return len(self.connections.open) + self.transcriptions.running

    def config(self) -> uvicorn.Config:
        """uvicorn's settings: the app, h11, the transport's websocket rules and limits."""
        return uvicorn.Config(
            self.routes.app(),
            http="h11",
            ws=StreamProtocol,
            ws_max_size=self.limits.max_message_bytes + SIZE_SLACK,
            ws_ping_interval=self.limits.ping_interval_s,
            ws_ping_timeout=None,  # a busy client (or server) is not a dead one: see Limits
            ws_per_message_deflate=False,  # deflating PCM costs CPU on both ends, saves little
            lifespan="off",
            log_config=None,  # the command line configures logging
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=math.ceil(CLOSE_TIMEOUT_S),
        )

    @contextlib.asynccontextmanager
    async def running(self, host: str, port: int) -> AsyncIterator[int]:
        """Serve on `host` and `port` (0: any) until the block exits (then drain). Yields the
        bound port. Raises OSError when the address cannot be bound."""
        async with self.serving(bind(host, port)) as bound:
            yield bound

    @contextlib.asynccontextmanager
    async def serving(self, listener: socket.socket) -> AsyncIterator[int]:
        """Serve on `listener`, a socket from `bind` (it listens from here on, and is closed
        at the end), until the block exits (then drain). Yields its port."""
        memory.tune_allocator()  # before the first worker thread: see server/memory.py
        server = Uvicorn(self.config())
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        tasks = [
            asyncio.create_task(self.scheduler.run()),
            asyncio.create_task(trim_memory()),
        ]
        try:
            await started(server, serving)
            host, bound = listener.getsockname()[:2]
            log.info("listening", extra={"host": host, "port": bound})
            yield bound
        finally:
            await self.drain()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            self.engines.close()
            self.transcriptions.close()
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks)
            self.scheduler.close()
            listener.close()  # uvicorn closes it too, unless it never started

    async def drain(self) -> None:
        """Stop taking sessions (`/readyz` and new sessions get 503 from here on, `/healthz`
        stays 200); end every open one's input and give them, and the REST transcriptions under
        way, `drain_timeout_s` for their last finals (each connection closes with 1001 as soon
        as its own are sent); then close whatever is left, all at once, within
        CLOSE_TIMEOUT_S."""
        self.stop_taking_sessions()
        log.info("draining", extra={"sessions": len(self.connections.open)})
        for session in self.scheduler.sessions:
            session.drain()
        self.scheduler.wake()
        peers = [peer for peer in self.connections.open if peer.session is not None]
        waits = [link_of(peer).wait_closed() for peer in peers]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*waits, self.transcriptions.idle.wait()),
                self.limits.drain_timeout_s,
            )
        await self.connections.close_all(GOING_AWAY, "server shutting down")

    def stop_taking_sessions(self) -> None:
        """The drain's first step, at once: `/readyz`, new connections and new transcriptions
        get 503, and a connection let in before it is refused its session (`shutting_down`,
        close 1013)."""
        self.gate.draining = self.connections.draining = True
        self.metrics.draining.set(1)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host` (IPv4; IPv6 alone when it has a colon) and `port` (0: any),
    not listening yet: connections are refused, as if nothing were bound, until a server
    `serving` on it starts. So the command line claims its address before the models load, and
    a port in use or an unknown host is said at once. Raises OSError when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past a restart's TIME_WAIT
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    """Wait until uvicorn listens. Raises RuntimeError if it stops first or takes too long."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while not server.started:
        if serving.done():
            serving.result()  # its own error, if it raised one
            raise RuntimeError("the server stopped before it started listening")
        if loop.time() > deadline:
            raise RuntimeError(f"the server did not start within {START_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.01)


async def trim_memory(period_s: float = TRIM_PERIOD_S) -> None:
    """Forever: give the allocator's free memory back to the system (server/memory.py)."""
    while True:
        await asyncio.sleep(period_s)
        await asyncio.to_thread(memory.trim)


async def serve_forever(server: StreamingServer, host: str, listener: socket.socket) -> None:
    """Serve on `listener` (from `bind`; `host` as it was given) until SIGTERM or SIGINT, then
    drain."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    memory.freeze_startup_objects()  # the models are loaded: see server/memory.py
    async with server.serving(listener) as bound:
        print(
            f"s2t-stream: serving on ws://{host}:{bound}{NATIVE_PATH} (Vosk: /; web page and "
            f"OpenAI-compatible REST API: http://{host}:{bound}/)",
            flush=True,
        )
        await stop.wait()
