"""What `bot status`, /healthz and /metrics say, from the database's state (SQLite and
PostgreSQL), and the log's JSON lines and redaction."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from bot import db, jobs
from bot.config import load_config
from bot.daemon import health, metrics
from bot.daemon.logs import JsonFormatter, Redact
from bot.db.models import Mail, OutboxMessage

JST = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    # The test stands in for the daemon "host:1:1": on PostgreSQL its connections carry that
    # name, which is what proves a process of another host alive (bot/daemon/health.py).
    engine = db.make_engine(any_db_url, process="host:1:1")
    yield db.session_factory(engine)
    engine.dispose()


def _beat(factory: sessionmaker[Session], *, fetched_ago: dt.timedelta | None, updated_ago: dt.timedelta = dt.timedelta(0),
          state: str = health.RUNNING, detail: str | None = None) -> None:
    health.beat(factory, "host:1:1", now=NOW - updated_ago, state=state, started_at=NOW - dt.timedelta(hours=3),
                last_fetch_at=NOW - fetched_ago if fetched_ago is not None else None, idle=True, detail=detail,
                next_jobs={"vendor-batch": "2026-12-01T08:05:00+00:00"})


def _collect(factory: sessionmaker[Session]) -> health.Health:
    with factory() as s:
        return health.collect(s, now=NOW, tz=JST, jobs=(jobs.VENDOR_BATCH, jobs.DIGEST))


def _outbox(factory: sessionmaker[Session], *, age: dt.timedelta, status: str = "pending", n: int = 0) -> None:
    with db.transaction(factory) as s:
        s.add(OutboxMessage(purpose="reply", message_id=f"<m{n}-{status}@bot>", mail_from="bot@usen.example",
                            rcpt_to=["a@usen.co.jp"], subject="x", raw=b"x", status=status, attempts=0,
                            created_at=NOW - age, next_attempt_at=NOW - age))


def test_a_running_bot_that_fetched_recently_with_nothing_stuck_is_healthy(factory: sessionmaker[Session]) -> None:
    _beat(factory, fetched_ago=dt.timedelta(seconds=20))
    _outbox(factory, age=dt.timedelta(seconds=30))
    with db.transaction(factory) as s:
        s.add(Mail(folder="INBOX", uidvalidity=1, uid=1, msgid_hash="h1", raw=b"", status="filed", kind="equipment_order",
                   decision="rejected", received_at=NOW, decided_at=NOW - dt.timedelta(minutes=5)))
        s.add(Mail(folder="INBOX", uidvalidity=1, uid=2, msgid_hash="h2", raw=b"", status="quarantined",
                   received_at=NOW, decided_at=NOW - dt.timedelta(minutes=4)))
    h = _collect(factory)
    assert h.healthy, h.problems
    assert h.idle and h.outbox_backlog == 1 and h.quarantined == 1
    assert h.decisions_today == {"equipment_order": {"rejected": 1}, "unknown": {"quarantined": 1}}
    assert [j.next_run for j in h.jobs if j.job == "vendor-batch"] == ["2026-12-01T08:05:00+00:00"]
    assert any("隔離中のメール 1 通" in n for n in h.notices)  # work for a person, not a fault


@pytest.mark.parametrize("broken, expected", [
    ("no process", "稼働中のボットがありません"),
    ("stale heartbeat", "稼働中のボットがありません"),
    ("no fetch for an hour", "1時間以上メールを取得できていません"),
    ("waiting for the database", "待機中: database unavailable"),
    ("stuck outbox", "送れていないメール"),
    ("failed outbox", "送信をあきらめたメール"),
    ("failed job", "ジョブ vendor-batch（2026-11-30）が失敗しました"),
])
def test_each_fault_makes_the_bot_unhealthy_with_its_reason(factory: sessionmaker[Session], broken: str,
                                                            expected: str) -> None:
    if broken != "no process":
        _beat(factory, fetched_ago=dt.timedelta(hours=2) if broken == "no fetch for an hour" else dt.timedelta(seconds=5),
              updated_ago=dt.timedelta(minutes=30) if broken == "stale heartbeat" else dt.timedelta(0),
              state=health.WAITING if broken == "waiting for the database" else health.RUNNING,
              detail="database unavailable (OperationalError)" if broken == "waiting for the database" else None)
    if broken == "stuck outbox":
        _outbox(factory, age=dt.timedelta(hours=1))
    if broken == "failed outbox":
        _outbox(factory, age=dt.timedelta(hours=5), status="failed")
    if broken == "failed job":
        assert jobs.claim(factory, jobs.VENDOR_BATCH, "2026-11-30", now=NOW, owner="host:1:1")
        jobs.finish(factory, jobs.VENDOR_BATCH, "2026-11-30", status=jobs.FAILED, now=NOW, detail="SMTP 554",
                    owner="host:1:1")
    h = _collect(factory)
    assert not h.healthy
    assert any(expected in p for p in h.problems), h.problems


def test_metrics_and_healthz_over_http(factory: sessionmaker[Session]) -> None:
    """/metrics parses as Prometheus text with the counters and the database gauges; /healthz is
    503 with the reasons while unhealthy and 200 once healthy."""
    m = metrics.Metrics(lambda: _collect(factory))
    m.mails.labels("equipment_order", "rejected").inc(3)
    m.stage.labels("decide").observe(0.02)
    m.jobs.labels("digest", "done").inc()
    _outbox(factory, age=dt.timedelta(minutes=2))
    server = metrics.serve(m, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/healthz", timeout=10)
        assert refused.value.code == 503
        assert "稼働中のボットがありません" in json.loads(refused.value.read())["problems"][0]
        _beat(factory, fetched_ago=dt.timedelta(seconds=5))
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["healthy"] is True
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as r:
            text = r.read().decode()
    finally:
        server.shutdown()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("usen_spot_bot_mails_total", (("decision", "rejected"), ("kind", "equipment_order")))] == 3
    assert samples[("usen_spot_bot_job_runs_total", (("job", "digest"), ("status", "done")))] == 1
    assert samples[("usen_spot_bot_stage_seconds_count", (("stage", "decide"),))] == 1
    assert samples[("usen_spot_bot_outbox_backlog", ())] == 1
    assert samples[("usen_spot_bot_outbox_oldest_age_seconds", ())] == pytest.approx(120)
    assert samples[("usen_spot_bot_healthy", ())] == 1
    assert samples[("usen_spot_bot_last_fetch_age_seconds", ())] == pytest.approx(5)


def test_a_decision_is_one_json_line_with_its_fields_and_no_secret_is_logged() -> None:
    cfg = load_config(env={"BOT_MAILBOX_PASSWORD": "imap-Secret-42", "BOT_PDF_PASSWORD": "pdf-Secret-99"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Redact([cfg.mailbox.password, cfg.pdf.password]))
    logger = logging.getLogger("bot.test-json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("mail %s: %s", 7, "rejected", extra={"mail_id": 7, "kind": "equipment_order",
                                                         "customer_code": "988776654", "decision": "rejected",
                                                         "defects": ["LINE_TYPE_MISSING"]})
        logger.warning("login failed for password %s", "imap-Secret-42")
        try:
            raise RuntimeError("could not open with pdf-Secret-99")
        except RuntimeError:
            logger.exception("reader")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "mail 7: rejected" and lines[0]["logger"] == "bot.test-json"
    assert (lines[0]["mail_id"], lines[0]["decision"], lines[0]["defects"]) == (7, "rejected", ["LINE_TYPE_MISSING"])
    assert lines[1]["message"] == "login failed for password ***"
    assert "pdf-Secret-99" not in stream.getvalue() and "RuntimeError: could not open with ***" in lines[2]["traceback"]
