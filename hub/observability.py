"""The daemon's logs, metrics and health endpoint.

- :func:`configure_logging`: structlog, one event per line on stderr, JSON
  when stderr is not a terminal (journald, a container), coloured key=value
  on a terminal. The standard library's loggers (the sync engine's) go
  through the same renderer.
- :class:`Metrics`: the Prometheus metrics, in their own registry.
- :class:`ObservabilityServer`: ``/metrics``, ``/healthz`` and ``/fleet`` over HTTP
  (127.0.0.1 by default), and the web console under ``/console``, served by
  uvicorn in a background thread (:class:`HttpServer`).
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from hub.redaction import RedactingFilter, redact

__all__ = [
    "RECORD_OUTCOMES",
    "HttpServer",
    "Metrics",
    "ObservabilityServer",
    "bind",
    "configure_logging",
    "parse_listen",
]

LogFormat = Literal["auto", "json", "console"]

#: The run counts exported as ``hub_records_total{outcome=...}``.
RECORD_OUTCOMES = (
    "created",
    "updated",
    "deleted",
    "linked",
    "unlinked",
    "unchanged",
    "failed",
    "pending",
    "skipped",
    "retried",
)


def _redacted(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: every string value scrubbed of secrets."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
        elif isinstance(value, list):
            event[key] = [redact(item) if isinstance(item, str) else item for item in value]
    return event


def configure_logging(
    level: str = "info", log_format: LogFormat = "auto", stream: Any = None
) -> None:
    """Route structlog and the standard library's logging to ``stream``
    (stderr): JSON unless ``log_format`` is ``console`` or, with ``auto``,
    the stream is a terminal."""
    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redacted,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if as_json else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries' chatter (connection pools) stays out below warnings.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _identity(logger: Any, name: str, event: Any) -> Any:
    return event


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` as ``("127.0.0.1", 9464)`` (``[::1]:9464`` too)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class _LastSuccess(Collector):
    """``hub_seconds_since_last_success`` and ``hub_last_success_timestamp_seconds``,
    computed when scraped."""

    def __init__(self, source: Callable[[], Iterable[tuple[str, float | None, float]]]) -> None:
        self._source = source

    def collect(self) -> Iterable[GaugeMetricFamily]:
        since = GaugeMetricFamily(
            "hub_seconds_since_last_success",
            "Seconds since the sync last completed (since the daemon started if it has not).",
            labels=["sync"],
        )
        last = GaugeMetricFamily(
            "hub_last_success_timestamp_seconds",
            "When the sync last completed (Unix time; 0 if never).",
            labels=["sync"],
        )
        for sync, last_success, seconds in self._source():
            since.add_metric([sync], seconds)
            last.add_metric([sync], last_success or 0.0)
        yield since
        yield last


class Metrics:
    """The daemon's Prometheus metrics (a registry of their own).

    ``last_success`` yields ``(sync, last_success_timestamp, seconds_since)``
    for each configured sync when scraped.
    """

    def __init__(
        self, last_success: Callable[[], Iterable[tuple[str, float | None, float]]]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "hub_runs",
            "Destination runs finished, by sync, destination and status"
            " (succeeded, partial, failed, interrupted, error).",
            ["sync", "destination", "status"],
            registry=self.registry,
        )
        self.records = Counter(
            "hub_records",
            "Records (and links) by outcome: created, updated, deleted, linked, unlinked,"
            " unchanged, failed, pending, skipped, retried.",
            ["sync", "destination", "outcome"],
            registry=self.registry,
        )
        self.rate_limit_wait = Counter(
            "hub_rate_limit_wait_seconds",
            "Seconds spent waiting for a destination's rate budget.",
            ["sync", "destination"],
            registry=self.registry,
        )
        self.run_seconds = Counter(
            "hub_sync_seconds",
            "Wall time spent running each sync.",
            ["sync"],
            registry=self.registry,
        )
        self.running = Gauge(
            "hub_sync_running",
            "1 while the sync runs in this daemon.",
            ["sync"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "hub_sync_skipped",
            "Due runs not started, by reason (locked: another process holds a destination).",
            ["sync", "reason"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "hub_config_reloads",
            "Configuration reloads, by result (ok, failed).",
            ["result"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "hub_alerts",
            "Alerts sent, by channel and result (ok, failed).",
            ["channel", "result"],
            registry=self.registry,
        )
        self.quarantined = Counter(
            "hub_quarantined_rows",
            "Source rows quarantined by the loads of each sync, by source.",
            ["sync", "source"],
            registry=self.registry,
        )
        self.registry.register(_LastSuccess(last_success))

    def record_quarantine(self, sync: str, by_source: dict[str, int]) -> None:
        """One load's quarantined rows (once per sync run, not per destination)."""
        for source, count in by_source.items():
            self.quarantined.labels(sync, source).inc(max(count, 0))

    def record_run(
        self,
        sync: str,
        destination: str,
        status: str,
        counts: dict[str, int],
        rate_wait_seconds: float,
    ) -> None:
        self.runs.labels(sync, destination, status).inc()
        for outcome in RECORD_OUTCOMES:
            amount = counts.get(outcome, 0)
            # Touch every outcome, so each series exists from the first run.
            self.records.labels(sync, destination, outcome).inc(max(amount, 0))
        self.rate_limit_wait.labels(sync, destination).inc(max(rate_wait_seconds, 0.0))

    def alert_result(self, channel: str, ok: bool) -> None:
        self.alerts.labels(channel, "ok" if ok else "failed").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class SyncState(Protocol):
    """What ``/healthz`` reads of one scheduled sync (the daemon's ``SyncStatus``)."""

    name: str
    runs: int
    next_due: float
    last_started: float | None
    last_finished: float | None
    last_status: str | None
    last_message: str | None
    last_success: float | None

    @property
    def running(self) -> bool: ...

    def describe(self) -> str: ...

    def period(self, now: float) -> float: ...


def iso_time(moment: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC time (``None`` stays ``None``)."""
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()


def health_document(
    syncs: Iterable[SyncState],
    *,
    now: float,
    started_at: float,
    unhealthy_after: float,
    header: Mapping[str, Any],
) -> tuple[bool, dict[str, Any]]:
    """``(healthy, document)`` for ``/healthz``: unhealthy when a sync has not
    completed for ``unhealthy_after`` times its period (counted from
    ``started_at`` when it never has). ``header``: the document's other keys
    (pid, owner, configuration), before ``syncs``."""
    healthy = True
    rows: dict[str, Any] = {}
    for status in sorted(syncs, key=lambda s: s.name):
        reference = status.last_success or started_at
        since = max(0.0, now - reference)
        limit = unhealthy_after * status.period(now)
        ok = since <= limit
        healthy &= ok
        rows[status.name] = {
            "healthy": ok,
            "schedule": status.describe(),
            "running": status.running,
            "runs": status.runs,
            "last_started": iso_time(status.last_started),
            "last_finished": iso_time(status.last_finished),
            "last_status": status.last_status,
            "last_message": status.last_message,
            "last_success": iso_time(status.last_success),
            "seconds_since_last_success": round(since, 3),
            "unhealthy_after_seconds": round(limit, 3),
            "next_due": iso_time(status.next_due),
        }
    return healthy, {"status": "ok" if healthy else "unhealthy", **header, "syncs": rows}


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one), bound
    now so that a port in use is an error at once, not in a thread."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: Any) -> Any:
    """A uvicorn server of ``app`` that logs through our logging (no access log:
    scrapes every few seconds would drown it)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=3,
    )
    return uvicorn.Server(config)


class HttpServer:
    """An ASGI application served by uvicorn on a bound socket, in a daemon thread."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self._socket = bind(host, port)
        self._server = uvicorn_server(app)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="hub-http",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()


class ObservabilityServer(HttpServer):
    """``GET /metrics`` (Prometheus text format), ``GET /healthz`` (JSON: 200
    when healthy, 503 when not) and ``GET /fleet`` on ``host:port``, in a
    daemon thread; and ``console`` (an ASGI application) under ``/console``.

    ``health()`` returns ``(healthy, document)``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        fleet: Callable[[], dict[str, Any]] | None = None,
        console: Any = None,
    ) -> None:
        super().__init__(_application(metrics, health, fleet, console), host, port)


def _json(document: Any, status: int) -> Response:
    body = json.dumps(document, sort_keys=True, indent=2).encode() + b"\n"
    return Response(
        body, status, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


def _application(
    metrics: Metrics,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    fleet: Callable[[], dict[str, Any]] | None,
    console: Any,
) -> Starlette:
    def metrics_page(request: Request) -> Response:
        return Response(
            metrics.exposition(),
            200,
            media_type=CONTENT_TYPE_LATEST,
            headers={"Cache-Control": "no-store"},
        )

    def health_page(request: Request) -> Response:
        healthy, document = health()
        return _json(document, 200 if healthy else 503)

    def fleet_page(request: Request) -> Response:
        assert fleet is not None
        try:
            document = fleet()
        except Exception as error:  # the state store out of reach: say so
            return _json({"error": f"{type(error).__name__}: {redact(str(error))}"}, 503)
        return _json(document, 200)

    routes: list[BaseRoute] = [
        Route("/metrics", metrics_page),
        Route("/healthz", health_page),
        Route("/health", health_page),
    ]
    known = "/metrics, /healthz"
    if fleet is not None:
        routes.append(Route("/fleet", fleet_page))
        known += ", /fleet"
    if console is not None:
        routes.append(Mount("/console", app=console))
        known += ", /console/"

    def not_found(request: Request, error: Exception) -> Response:
        return PlainTextResponse(f"not found: {known}\n", 404)

    return Starlette(routes=routes, exception_handlers={404: not_found})
