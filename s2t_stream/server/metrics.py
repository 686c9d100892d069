"""The server's Prometheus metrics, served at `GET /metrics` (thread-safe: the worker threads
update them too). `s2t_sessions_active` ÷ `s2t_sessions_capacity` is how full a replica is: the
signal to autoscale on (docs/deploy.md)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Every metric the server exports, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Gauge("s2t_sessions_active", "open streaming sessions", registry=r)
        self.capacity = Gauge(
            "s2t_sessions_capacity",
            "sessions this server takes at most (--max-sessions)",
            registry=r,
        )
        self.draining = Gauge(
            "s2t_draining", "1 once the server drains (takes no new sessions)", registry=r
        )
        self.transcriptions = Gauge(
            "s2t_transcriptions_active",
            "REST transcriptions being decoded or waiting for a worker (they count as sessions)",
            registry=r,
        )
        self.opened = Counter(
            "s2t_sessions",
            "sessions opened (protocol: native, vosk; rest: REST transcriptions)",
            ["protocol"],
            registry=r,
        )
        self.audio = Counter("s2t_audio_seconds", "audio seconds processed", registry=r)
        self.compute = Counter("s2t_compute_seconds", "wall seconds of model steps", registry=r)
        self.rtf = Gauge("s2t_real_time_factor", "compute ÷ audio over the last step", registry=r)
        self.batch = Histogram(
            "s2t_batch_streams",
            "streams per model step",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.finalisation = Histogram(
            "s2t_finalisation_latency_seconds",
            "end of a segment's last word → its final",
            buckets=(0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
            registry=r,
        )
        self.errors = Counter("s2t_errors", "errors sent to clients", ["code"], registry=r)

    def worked(self, compute_s: float, audio_s: float) -> None:
        """A worker's share of a round took `compute_s` wall seconds for `audio_s` of audio."""
        self.compute.inc(compute_s)
        self.audio.inc(audio_s)
        if audio_s:
            self.rtf.set(compute_s / audio_s)

    def text(self) -> bytes:
        return generate_latest(self.registry)
