"""The server's lifetime (`s2t-stream serve`, `python server.py`): `StreamingServer` wires the gate,
the connections and the scheduler, serves, and drains on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from websockets.asyncio.server import serve

from s2t_stream.io.protocol import GOING_AWAY
from s2t_stream.model.checkpoint import Bundle
from s2t_stream.server import memory
from s2t_stream.server.connection import SIZE_SLACK, Connection, Connections
from s2t_stream.server.gate import Gate
from s2t_stream.server.metrics import Metrics
from s2t_stream.server.options import CLOSE_TIMEOUT_S, NATIVE_PATH, Limits
from s2t_stream.server.scheduler import Scheduler
from s2t_stream.server.sessions import Engines
from s2t_stream.streaming.stream import StreamOptions
from s2t_stream.translation.translator import MtEngine

log = logging.getLogger("s2t_stream.server")
TRIM_PERIOD_S = 10.0


class StreamingServer:
    """One model behind a websocket port: `running(host, port)` serves, `drain()` finishes."""

    def __init__(
        self,
        bundle: Bundle,
        options: StreamOptions,
        limits: Limits,
        workers: int = 1,
        mt: MtEngine | None = None,
    ) -> None:
        self.limits = limits
        self.metrics = Metrics()
        self.scheduler = Scheduler(workers, self.metrics)
        self.engines = Engines(bundle, options, mt)  # mt: sessions may ask for translated finals
        self.connections = Connections(limits, self.metrics, self.engines, self.scheduler)
        self.gate = Gate(limits, self.metrics, lambda: len(self.connections.open))
        self.metrics.capacity.set(limits.max_sessions)

    @contextlib.asynccontextmanager
    async def running(self, host: str, port: int) -> AsyncIterator[int]:
        """Serve until the block exits (then drain). Yields the bound port."""
        memory.tune_allocator()  # before the first worker thread: see server/memory.py
        tasks = [
            asyncio.create_task(self.scheduler.run()),
            asyncio.create_task(self.connections.watch()),
            asyncio.create_task(trim_memory()),
        ]
        async with serve(
            self.connections.handle,
            host,
            port,
            process_request=self.gate,
            max_size=self.limits.max_message_bytes + SIZE_SLACK,
            origins=self.gate.origins(),
            ping_interval=self.limits.ping_interval_s,
            ping_timeout=None,  # a busy client (or server) is not a dead one: see Limits
            close_timeout=CLOSE_TIMEOUT_S,
            compression=None,  # deflating PCM costs CPU on both ends and saves little
            create_connection=Connection,
        ) as server:
            bound = next(iter(server.sockets)).getsockname()[1]
            log.info("listening", extra={"host": host, "port": bound})
            try:
                yield bound
            finally:
                await self.drain()
                self.engines.close()
                for task in tasks:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*tasks)

    async def drain(self) -> None:
        """Stop taking sessions (`/readyz` and new sessions get 503 from here on, `/healthz`
        stays 200); end every open one's input and give them `drain_timeout_s` for their last
        finals (each connection closes with 1001 as soon as its own are sent); then close
        whatever is left, all at once, within CLOSE_TIMEOUT_S."""
        self.stop_taking_sessions()
        log.info("draining", extra={"sessions": len(self.connections.open)})
        for session in self.scheduler.sessions:
            session.drain()
        self.scheduler.wake()
        if peers := [peer for peer in self.connections.open if peer.session is not None]:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(peer.websocket.wait_closed() for peer in peers)),
                    self.limits.drain_timeout_s,
                )
        await self.connections.close_all(GOING_AWAY, "server shutting down")

    def stop_taking_sessions(self) -> None:
        """The drain's first step, at once: `/readyz` and new connections get 503, and a
        connection let in before it is refused its session (`shutting_down`, close 1013)."""
        self.gate.draining = self.connections.draining = True
        self.metrics.draining.set(1)


async def trim_memory(period_s: float = TRIM_PERIOD_S) -> None:
    """Forever: give the allocator's free memory back to the system (server/memory.py)."""
    while True:
        await asyncio.sleep(period_s)
        await asyncio.to_thread(memory.trim)


async def serve_forever(server: StreamingServer, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then drain."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server.running(host, port) as bound:
        print(f"s2t-stream: serving on ws://{host}:{bound}{NATIVE_PATH} (Vosk: /)", flush=True)
        await stop.wait()
