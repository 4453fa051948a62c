"""Prometheus metrics and /healthz for `bot run` (`[health] port`; prometheus-client).

Every name starts with ``usen_spot_bot_`` (one prefix on a shared Prometheus; until issue 22
they were ``bot_…``: docs/operations.md maps the old names to the new). Every counter has its
samples from the start (each label value the bot can count is set to 0), so ``rate()`` and
``increase()`` see a job's first failure.

Counted in the process (since its start, as Prometheus expects of counters):
  usen_spot_bot_mails_total{kind, decision}     decisions made
  usen_spot_bot_stage_seconds{stage}            seconds per pass stage (fetch_store, decide, file) and flush
  usen_spot_bot_job_runs_total{job, status}     scheduled job runs (done / failed)
Set by the process:
  usen_spot_bot_build_info{version}             always 1
  usen_spot_bot_imap_up                         1 after a pass that reached the mailbox, 0 when IMAP is away
  usen_spot_bot_smtp_up                         the last check of the SMTP server (every 5 min, and each flush)
Read from the database at each scrape (one short read, as `bot status`):
  usen_spot_bot_outbox_backlog, _outbox_oldest_age_seconds, _outbox_failed, _quarantined, _held,
  _vendor_rows_waiting, _last_fetch_age_seconds, _healthy, _reader_failures_24h, _database_bytes,
  _problem{code} (1 per problem `bot status` names)

GET /healthz answers 200 with the health JSON when healthy, 503 when not.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import platform
import threading
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session, sessionmaker

from bot import __version__, db
from bot.daemon.health import (
    CODES,
    DATABASE_UNAVAILABLE,
    HEALTH_UNREADABLE,
    STARTING,
    Health,
    collect,
    unhealthy_json,
)

log = logging.getLogger("bot.daemon.metrics")

PREFIX = "usen_spot_bot_"
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STAGES = ("fetch_store", "decide", "file", "flush")
JOB_STATUSES = ("done", "failed")
# The old name of each metric (before issue 22), for dashboards to be moved (docs/operations.md).
OLD_NAMES = {f"bot_{name}": PREFIX + name for name in (
    "mails_total", "stage_seconds", "job_runs_total", "outbox_backlog", "outbox_oldest_age_seconds",
    "outbox_failed", "quarantined", "held", "vendor_rows_waiting", "last_fetch_age_seconds", "healthy")}


def _decisions() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every kind and decision a mail can be counted under (the vocabulary's)."""
    from bot.domain import vocab

    return tuple(vocab.KINDS), tuple(d for d in vocab.DECISIONS if d != "undecided")


class Metrics:
    def __init__(self, health: Callable[[], Health], *, jobs: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.mails = Counter(PREFIX + "mails", "Mails decided, by request kind and decision", ["kind", "decision"],
                             registry=self.registry)
        self.stage = Histogram(PREFIX + "stage_seconds", "Seconds per pipeline stage", ["stage"],
                               buckets=STAGE_BUCKETS, registry=self.registry)
        self.jobs = Counter(PREFIX + "job_runs", "Scheduled job runs, by job and status", ["job", "status"],
                            registry=self.registry)
        self.build_info = Gauge(PREFIX + "build_info", "The bot's version (always 1)", ["version", "python"],
                                registry=self.registry)
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.imap_up = Gauge(PREFIX + "imap_up", "1 when the last pass reached the mailbox, 0 while IMAP is away",
                             registry=self.registry)
        self.smtp_up = Gauge(PREFIX + "smtp_up", "1 when the last check reached the SMTP server (EHLO, login)",
                             registry=self.registry)
        kinds, decisions = _decisions()
        for kind in kinds:
            for decision in decisions:
                self.mails.labels(kind, decision)
        for stage in STAGES:
            self.stage.labels(stage)
        for job in jobs:
            for status in JOB_STATUSES:
                self.jobs.labels(job, status)
        self._health = health
        self.registry.register(_DatabaseCollector(self))

    def health(self) -> Health:
        return self._health()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


class _DatabaseCollector:
    """Gauges read at scrape time; a database that is away gives healthy 0, problem
    {code="DATABASE_UNAVAILABLE"} 1 and no others."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            h = self.metrics.health()
        except db.UNAVAILABLE:
            yield _gauge("healthy", "1 when `bot status` would exit 0", 0)
            yield self._problems([DATABASE_UNAVAILABLE])
            return
        yield _gauge("healthy", "1 when `bot status` would exit 0", int(h.healthy))
        yield self._problems(h.problem_codes)
        yield _gauge("outbox_backlog", "Outgoing mails not sent yet", h.outbox_backlog)
        oldest = (h.now - h.outbox_oldest_at).total_seconds() if h.outbox_oldest_at else 0.0
        yield _gauge("outbox_oldest_age_seconds", "Age of the oldest unsent mail", oldest)
        yield _gauge("outbox_failed", "Outgoing mails given up", h.outbox_failed)
        yield _gauge("quarantined", "Quarantined mails not resolved", h.quarantined)
        yield _gauge("held", "Mails held for a person, not resolved", h.held)
        yield _gauge("vendor_rows_waiting", "Vendor rows for the next batch", h.vendor_rows_waiting)
        yield _gauge("reader_failures_24h", "Reader processes that crashed or overran on mails of the last 24 h",
                     h.reader_failures_24h)
        if h.database_bytes is not None:
            yield _gauge("database_bytes", "Size of the database on disk", h.database_bytes)
        if h.last_fetch_at is not None:
            yield _gauge("last_fetch_age_seconds", "Seconds since the last successful fetch",
                         (h.now - h.last_fetch_at).total_seconds())

    @staticmethod
    def _problems(codes: list[str]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(PREFIX + "problem", "1 for each problem `bot status` names, by its code",
                                   labels=["code"])
        for code in CODES:
            family.add_metric([code], 1 if code in codes else 0)
        return family


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
                body, code = unhealthy_json(STARTING, f"待機中: {waiting}"), 503
            else:
                try:
                    h = self.metrics.health()
                    body, code = h.as_json(), 200 if h.healthy else 503
                except db.UNAVAILABLE as err:
                    body, code = unhealthy_json(DATABASE_UNAVAILABLE, f"database unavailable: {type(err).__name__}"), 503
                except Exception as err:  # noqa: BLE001 - e.g. no schema yet: unhealthy, said, never a dropped socket
                    body, code = unhealthy_json(HEALTH_UNREADABLE, f"health not readable: {type(err).__name__}"), 503
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
