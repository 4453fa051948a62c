"""Monitoring that fits Prometheus (issue 22 point 6): one prefix, every counter with samples from
the start, build_info, IMAP and SMTP up, stable problem codes in `status --json`, and the example
alert rules in deploy/ naming metrics that exist."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from bot import __version__, db, jobs
from bot.cli import main
from bot.config import SmtpConfig
from bot.daemon import health, metrics
from bot.db.models import OutboxMessage
from bot.demo.embedded import EmbeddedSmtp
from bot.domain import vocab
from bot.jobs import upkeep
from tests.support.app import make_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(any_db_url, process="host:1:1")
    yield db.session_factory(engine)
    engine.dispose()


def _samples(m: metrics.Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = m.exposition().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _metrics(factory: sessionmaker[Session]) -> metrics.Metrics:
    return metrics.Metrics(metrics.health_reader(factory, dt.UTC, (jobs.VENDOR_BATCH, jobs.DIGEST, jobs.RETENTION)),
                           jobs=(jobs.VENDOR_BATCH, jobs.DIGEST, jobs.RETENTION))


def test_every_metric_has_the_project_prefix_and_every_counter_has_samples_from_the_start(
        factory: sessionmaker[Session]) -> None:
    """Given a process that has counted nothing yet, then every job × status and every kind ×
    decision is there at 0 (so `increase(...[1h]) > 0` sees a first failure), build_info carries
    the version, and no metric name lacks the prefix."""
    samples = _samples(_metrics(factory))
    names = {name for name, _labels in samples}
    assert all(name.startswith("usen_spot_bot_") for name in names), sorted(n for n in names if not n.startswith("usen"))
    for job in (jobs.VENDOR_BATCH, jobs.DIGEST, jobs.RETENTION):
        for status in ("done", "failed"):
            assert samples[("usen_spot_bot_job_runs_total", (("job", job), ("status", status)))] == 0
    for kind in vocab.KINDS:
        for decision in ("accepted", "rejected", "manual", "ignored", "quarantined"):
            assert samples[("usen_spot_bot_mails_total", (("decision", decision), ("kind", kind)))] == 0
    info = [labels for name, labels in samples if name == "usen_spot_bot_build_info"]
    assert len(info) == 1 and dict(info[0])["version"] == __version__
    assert samples[("usen_spot_bot_stage_seconds_count", (("stage", "flush"),))] == 0
    # Every problem code is a series (0 or 1): with no bot alive, NO_LIVE_PROCESS is 1.
    assert samples[("usen_spot_bot_problem", (("code", health.NO_LIVE_PROCESS),))] == 1
    assert samples[("usen_spot_bot_problem", (("code", health.OUTBOX_STUCK_CODE),))] == 0
    assert samples[("usen_spot_bot_healthy", ())] == 0


def test_the_old_names_map_one_to_one_onto_the_new_ones_and_the_docs_list_them(factory: sessionmaker[Session]) -> None:
    names = {name for name, _ in _samples(_metrics(factory))}
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for old, new in metrics.OLD_NAMES.items():
        base = new.removesuffix("_total")
        assert new in names or f"{base}_total" in names or f"{new}_count" in names or new == "usen_spot_bot_last_fetch_age_seconds"
        assert f"`{old}`" in docs and f"`{new}`" in docs, old


def test_status_json_problems_carry_stable_codes_beside_the_japanese(any_db_url: str, factory: sessionmaker[Session],
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a bot alive but with a reply unsent for 40 minutes after a failed try, then
    `status --json` names OUTBOX_STUCK and SMTP_FAILING beside their sentences, in the same
    order, and the quarantine as a notice code; the database away is DATABASE_UNAVAILABLE."""
    now = dt.datetime.now(dt.UTC)  # `status` reads the clock: a heartbeat from the module's import
    # is stale by the time a long run reaches this test (the bot then looks dead: NO_LIVE_PROCESS)
    health.beat(factory, "host:1:1", now=now, state=health.RUNNING, started_at=now, last_fetch_at=now)
    with db.transaction(factory) as s:
        s.add(OutboxMessage(purpose="reply", message_id="<x@bot>", mail_from="b@x", rcpt_to=["a@x"], subject="x",
                            raw=b"x", status="pending", attempts=1, last_error="SMTPConnectError: refused",
                            created_at=now - dt.timedelta(minutes=40), next_attempt_at=now))
    monkeypatch.setenv("BOT_DATABASE_URL", any_db_url)
    assert main(["status", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["problem_codes"] == [health.OUTBOX_STUCK_CODE, health.SMTP_FAILING]
    assert [i["code"] for i in data["issues"]] == data["problem_codes"]
    assert [i["message"] for i in data["issues"]] == data["problems"]
    # `status` measures against the clock a moment later: 40 minutes or more
    stuck = re.search(r"送信箱に (\d+) 分以上", data["problems"][0])
    assert stuck is not None and int(stuck[1]) >= 40, data["problems"][0]

    monkeypatch.setenv("BOT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["status", "--json"]) == 1
    away = json.loads(capsys.readouterr().out)
    assert away["problem_codes"] == [health.DATABASE_UNAVAILABLE] and away["healthy"] is False


def test_codes_are_unique_and_documented() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert len(set(health.CODES)) == len(health.CODES)
    for code in health.CODES:
        assert f"`{code}`" in docs, code


def test_smtp_up_follows_a_real_server_and_a_closed_port(factory: sessionmaker[Session], any_db_url: str) -> None:
    """Given aiosmtpd on loopback, the check says reachable (gauge 1); given the port closed,
    not reachable (gauge 0) with the reason."""
    m = _metrics(factory)
    with EmbeddedSmtp() as smtp:
        cfg = make_config(any_db_url, smtp=smtp)
        watch = upkeep.SmtpWatch(cfg, m.smtp_up)
        watch()
        assert _samples(m)[("usen_spot_bot_smtp_up", ())] == 1
        assert smtp.messages == []  # nothing was sent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    cfg = cfg.replace(smtp=dataclasses.replace(SmtpConfig(), host="127.0.0.1", port=closed, timeout=2.0))
    up, why = upkeep.check_smtp(cfg)
    assert not up and why
    upkeep.SmtpWatch(cfg, m.smtp_up)()
    assert _samples(m)[("usen_spot_bot_smtp_up", ())] == 0


def test_the_alert_rules_name_only_metrics_the_bot_exports(factory: sessionmaker[Session]) -> None:
    """deploy/prometheus-alerts.yml: every usen_spot_bot_ name in an expression is exported,
    and the five alerts the issue asks for are there."""
    text = (ROOT / "deploy" / "prometheus-alerts.yml").read_text(encoding="utf-8")
    exported = {name for name, _ in _samples(_metrics(factory))}
    exported |= {"usen_spot_bot_last_fetch_age_seconds", "usen_spot_bot_database_bytes"}  # present once known
    # One rule: "- alert: NAME" then "expr: ..." (a line, or a ">-" block up to the next key).
    alerts = dict(re.findall(r"- alert: (\w+)\n\s+expr: (.+?)\n\s+(?:for|labels):", text, re.S))
    for expr in alerts.values():
        for name in re.findall(r"usen_spot_bot_[a-z0-9_]+", expr):
            assert name in exported, name
    for needed in ("UsenSpotBotNoFetch", "UsenSpotBotOutboxStuck", "UsenSpotBotQuarantineGrows",
                   "UsenSpotBotJobFailed", "UsenSpotBotReaderCrashes"):
        assert needed in alerts


def test_the_daemon_says_imap_down_when_the_mailbox_is_away_and_not_when_the_database_is(sqlite_url: str) -> None:
    from bot.daemon.main import Daemon

    daemon = Daemon(make_config(sqlite_url))
    try:
        daemon.metrics.imap_up.set(1)
        daemon.on_state("database unavailable (OperationalError: gone); the mails wait in INBOX")
        assert _samples(daemon.metrics)[("usen_spot_bot_imap_up", ())] == 1
        daemon.on_state("IMAP 127.0.0.1:1 folder INBOX: ConnectionRefusedError: [Errno 111] refused")
        assert _samples(daemon.metrics)[("usen_spot_bot_imap_up", ())] == 0
        samples = _samples(daemon.metrics)
        assert samples[("usen_spot_bot_job_runs_total", (("job", "retention"), ("status", "failed")))] == 0
    finally:
        daemon.engine.dispose()
