"""Prometheus metrics and /healthz for `bot run` (`[health] port`; prometheus-client).

Counted in the process (since its start, as Prometheus expects of counters):
  bot_mails_total{kind, decision}     decisions made
  bot_stage_seconds{stage}            seconds per pass stage (fetch_store, decide, file) and flush
  bot_job_runs_total{job, status}     scheduled job runs (done / failed)
Read from the database at each scrape (one short read, as `bot status`):
  bot_outbox_backlog, bot_outbox_oldest_age_seconds, bot_outbox_failed, bot_quarantined,
  bot_held, bot_vendor_rows_waiting, bot_last_fetch_age_seconds, bot_healthy

GET /healthz answers 200 with the health JSON when healthy, 503 when not.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.health import Health, collect

log = logging.getLogger("bot.metrics")

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self, health: Callable[[], Health]) -> None:
        self.registry = CollectorRegistry()
        self.mails = Counter("bot_mails", "Mails decided, by request kind and decision", ["kind", "decision"],
                             registry=self.registry)
        self.stage = Histogram("bot_stage_seconds", "Seconds per pipeline stage", ["stage"],
                               buckets=STAGE_BUCKETS, registry=self.registry)
        self.jobs = Counter("bot_job_runs", "Scheduled job runs, by job and status", ["job", "status"],
                            registry=self.registry)
        self._health = health
        self.registry.register(_DatabaseCollector(self))

    def health(self) -> Health:
        return self._health()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseCollector:
    """Gauges read at scrape time; a database that is away gives bot_healthy 0 and no others."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            h = self.metrics.health()
        except db.UNAVAILABLE:
            yield GaugeMetricFamily("bot_healthy", "1 when `bot status` would exit 0", value=0)
            return
        yield GaugeMetricFamily("bot_healthy", "1 when `bot status` would exit 0", value=int(h.healthy))
        yield GaugeMetricFamily("bot_outbox_backlog", "Outgoing mails not sent yet", value=h.outbox_backlog)
        oldest = (h.now - h.outbox_oldest_at).total_seconds() if h.outbox_oldest_at else 0.0
        yield GaugeMetricFamily("bot_outbox_oldest_age_seconds", "Age of the oldest unsent mail", value=oldest)
        yield GaugeMetricFamily("bot_outbox_failed", "Outgoing mails given up", value=h.outbox_failed)
        yield GaugeMetricFamily("bot_quarantined", "Quarantined mails not resolved", value=h.quarantined)
        yield GaugeMetricFamily("bot_held", "Mails held for a person, not resolved", value=h.held)
        yield GaugeMetricFamily("bot_vendor_rows_waiting", "Vendor rows for the next batch", value=h.vendor_rows_waiting)
        if h.last_fetch_at is not None:
            yield GaugeMetricFamily("bot_last_fetch_age_seconds", "Seconds since the last successful fetch",
                                    value=(h.now - h.last_fetch_at).total_seconds())


def health_reader(factory: sessionmaker[Session], tz: dt.tzinfo, jobs: tuple[str, ...]) -> Callable[[], Health]:
    def read() -> Health:
        with factory() as session:
            return collect(session, now=dt.datetime.now(dt.UTC), tz=tz, jobs=jobs)

    return read


class _Handler(BaseHTTPRequestHandler):
    metrics: Metrics  # set on the server's handler class
    waiting: Callable[[], str | None] | None = None  # why the daemon waits at start, if it does

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, self.metrics.exposition())
        elif path == "/healthz":
            waiting = self.waiting() if self.waiting is not None else None
            body: dict[str, Any]
            if waiting:  # the bot's own start-up wait (database away): said as it is, no query
                body, code = {"healthy": False, "problems": [f"待機中: {waiting}"]}, 503
            else:
                try:
                    h = self.metrics.health()
                    body, code = h.as_json(), 200 if h.healthy else 503
                except db.UNAVAILABLE as err:
                    body, code = {"healthy": False, "problems": [f"database unavailable: {type(err).__name__}"]}, 503
                except Exception as err:  # noqa: BLE001 - e.g. no schema yet: unhealthy, said, never a dropped socket
                    body, code = {"healthy": False, "problems": [f"health not readable: {type(err).__name__}"]}, 503
            self._send(code, "application/json; charset=utf-8", json.dumps(body, ensure_ascii=False).encode())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def serve(metrics: Metrics, host: str, port: int, *,
          waiting: Callable[[], str | None] | None = None) -> ThreadingHTTPServer:
    """Serve /healthz and /metrics on a daemon thread; the caller shuts the server down.
    ``waiting`` tells why the daemon is still waiting at start (/healthz: 503 with it)."""
    handler = type("Handler", (_Handler,), {"metrics": metrics, "waiting": staticmethod(waiting) if waiting else None})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    log.info("health: http://%s:%s/healthz and /metrics", host, server.server_address[1])
    return server
