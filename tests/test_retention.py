"""Retention (issue 22 point 3): what is past `[retention]` goes, what the office must keep stays,
one process does it a day, and `bot status` shows the database's size and the oldest raw mail.
SQLite and PostgreSQL (foreign keys enforced on both)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db, jobs
from bot.cli import main
from bot.config import ConfigError, RetentionConfig, load_config
from bot.daemon.health import collect
from bot.db.models import (
    DECIDED,
    FILED,
    QUARANTINED,
    STORED,
    AuditEntry,
    JobRun,
    LedgerEntry,
    LedgerEvent,
    Mail,
    MailText,
    OutboxMessage,
    ReplyCount,
    ScanShadow,
    User,
    VendorRow,
    WebSession,
)
from bot.jobs import retention, upkeep
from bot.mail import parse_mail
from tests.support.app import make_config

NOW = dt.datetime(2027, 3, 1, 19, 30, tzinfo=dt.UTC)  # 04:30 in Japan, after RETENTION_AT
RAW = b"From: a@usen.co.jp\r\nSubject: x\r\nMessage-ID: <m@x>\r\n\r\n" + "顧客 山田太郎 090-1234-5678\r\n".encode() * 50


@pytest.fixture
def factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(any_db_url)
    yield db.session_factory(engine)
    engine.dispose()


def _mail(s: Session, n: int, *, status: str = FILED, decision: str | None = "accepted", finished_days: float | None,
          resolved_days: float | None = None, received_days: float | None = None) -> int:
    finished = NOW - dt.timedelta(days=finished_days) if finished_days is not None else None
    received = NOW - dt.timedelta(days=received_days if received_days is not None else (finished_days or 0) + 0.01)
    row = Mail(folder="INBOX", uidvalidity=1, uid=n, msgid_hash=f"{n:064d}", message_id=f"<m{n}@usen.co.jp>", raw=RAW,
               subject=f"器材発注依頼 {n}", from_addr="a@usen.co.jp", status=status, kind="equipment_order",
               customer_code="123456789", decision=decision, defects=[{"code": "X"}], warnings=[], facts={"shop": "店"},
               received_at=received, decided_at=finished, filed_at=finished if status == FILED else None,
               filed_folder="Processed" if status == FILED else None,
               resolved_at=NOW - dt.timedelta(days=resolved_days) if resolved_days is not None else None)
    s.add(row)
    s.flush()
    s.add(MailText(mail_id=row.id, text="山田太郎"))
    return row.id


def _raw(factory: sessionmaker[Session], mail_id: int) -> bytes:
    with factory() as s:
        return s.scalar(select(Mail.raw).where(Mail.id == mail_id)) or b""


def test_raw_mails_finished_past_the_limit_lose_their_bytes_and_keep_their_decision(
        factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture) -> None:
    """Given mails finished 91 and 89 days ago, one held for a person 200 days ago and never
    closed, one quarantined and closed 100 days ago, one stored and never decided, and one
    decided but not yet filed, when the job runs with raw_mail_days 90, then exactly the
    91-day and the closed quarantined mail lose their bytes and search text, keep decision,
    reasons and facts, and their stub reads as a mail saying why."""
    with db.transaction(factory) as s:
        old = _mail(s, 1, finished_days=91)
        young = _mail(s, 2, finished_days=89)
        held = _mail(s, 3, decision="manual", finished_days=200)
        closed = _mail(s, 4, status=QUARANTINED, decision=None, finished_days=None, resolved_days=100,
                       received_days=120)
        stored = _mail(s, 5, status=STORED, decision=None, finished_days=None, received_days=300)
        unfiled = _mail(s, 6, status=DECIDED, finished_days=None, received_days=300)
    with caplog.at_level(logging.INFO, logger="bot.jobs.retention"):
        report = retention.run(factory, RetentionConfig(), now=NOW)
    assert report.raw_mails == 2
    for mail_id in (young, held, stored, unfiled):
        assert _raw(factory, mail_id) == RAW
    for mail_id in (old, closed):
        stub = _raw(factory, mail_id)
        assert stub.startswith(retention.MARKER) and len(stub) < 1500
        assert "山田" not in stub.decode()
        parsed = parse_mail(stub)
        assert "保存期間（90 日）を過ぎたため" in parsed.body_text and parsed.subject.startswith("器材発注依頼")
    with factory() as s:
        kept = s.get(Mail, old)
        assert kept is not None and kept.decision == "accepted" and kept.defects == [{"code": "X"}]
        assert kept.facts == {"shop": "店"}
        assert set(s.scalars(select(MailText.mail_id))) == {young, held, stored, unfiled}
    assert "removed the raw bytes of 2 mail(s) finished over 90 days ago" in caplog.text
    assert retention.run(factory, RetentionConfig(), now=NOW).raw_mails == 0  # the stubs are not redone


def test_sent_mails_lose_their_bytes_after_their_limit_and_unsent_ones_never(factory: sessionmaker[Session]) -> None:
    def out(s: Session, n: int, status: str, sent_days: float | None) -> int:
        row = OutboxMessage(purpose="reply", message_id=f"<o{n}@bot>", mail_from="usen_spot@mx.usen.co.jp",
                            rcpt_to=["a@usen.co.jp"], subject="差戻", raw=RAW, status=status, attempts=1,
                            created_at=NOW - dt.timedelta(days=400), next_attempt_at=NOW - dt.timedelta(days=400),
                            sent_at=NOW - dt.timedelta(days=sent_days) if sent_days is not None else None)
        s.add(row)
        s.flush()
        return row.id

    with db.transaction(factory) as s:
        old, young, failed = out(s, 1, "sent", 31), out(s, 2, "sent", 29), out(s, 3, "failed", None)
    report = retention.run(factory, dataclasses.replace(RetentionConfig(), sent_mail_days=30), now=NOW)
    assert report.sent_mails == 1
    with factory() as s:
        raws = {r.id: r.raw for r in s.scalars(select(OutboxMessage))}
    assert raws[old].startswith(retention.MARKER) and raws[young] == RAW and raws[failed] == RAW


def test_rows_past_the_legal_period_go_and_the_ledger_vendor_rows_and_audit_keep_their_entries(
        factory: sessionmaker[Session]) -> None:
    """Given a mail finished 7 years and 2 days ago with a reply, a search text, a scan record,
    a ledger event, a vendor row and an audit entry pointing at it, and one finished 7 years
    minus 2 days ago, when the job runs, then the first row and its reply, text and scan record
    are deleted, the ledger event, vendor row and audit entry stay without the link, and the
    younger mail stays whole."""
    seven = 365.25 * 7
    with db.transaction(factory) as s:
        gone = _mail(s, 1, finished_days=seven + 2)
        kept = _mail(s, 2, finished_days=seven - 2)
        s.add(OutboxMessage(mail_id=gone, purpose="reply", message_id="<r1@bot>", mail_from="b@x", rcpt_to=["a@x"],
                            subject="受付", raw=b"x", status="sent", attempts=1, created_at=NOW, next_attempt_at=NOW,
                            sent_at=NOW))
        s.add(ScanShadow(mail_id=gone, form_kind="dedicated", finished_at=NOW, finished_by="x", outcome="accepted",
                         bot_decision="accept"))
        s.add(LedgerEntry(customer_code="123456789", state="ordered", updated_at=NOW))
        s.flush()
        s.add(LedgerEvent(customer_code="123456789", mail_id=gone, event="order", to_state="ordered", at=NOW))
        s.add(VendorRow(mail_id=gone, customer_code="123456789", category="新規", received_at=NOW,
                        batch_date=NOW.date(), created_at=NOW))
        s.add(AuditEntry(at=NOW, username="staff", action="manual_accept", mail_id=gone))
    report = retention.run(factory, RetentionConfig(raw_mail_days=0), now=NOW)  # rows only
    assert report.mail_rows == 1
    with factory() as s:
        assert set(s.scalars(select(Mail.id))) == {kept}
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert s.scalar(select(func.count()).select_from(ScanShadow)) == 0
        assert set(s.scalars(select(MailText.mail_id))) == {kept}
        assert s.scalar(select(LedgerEvent.mail_id)) is None and s.scalar(select(LedgerEvent.event)) == "order"
        assert s.scalar(select(VendorRow.mail_id)) is None and s.scalar(select(func.count()).select_from(VendorRow)) == 1
        assert s.scalar(select(AuditEntry.mail_id)) is None and s.scalar(select(AuditEntry.action)) == "manual_accept"


def test_sessions_logins_audit_and_reply_counters_go_after_their_time(factory: sessionmaker[Session]) -> None:
    with db.transaction(factory) as s:
        user = User(username="staff", password_hash="x", created_at=NOW, password_changed_at=NOW)
        s.add(user)
        s.flush()
        s.add_all([WebSession(id="a" * 64, user_id=user.id, created_at=NOW, last_seen_at=NOW,
                              expires_at=NOW - dt.timedelta(minutes=1)),
                   WebSession(id="b" * 64, user_id=user.id, created_at=NOW, last_seen_at=NOW,
                              expires_at=NOW + dt.timedelta(hours=1))])
        for days, action in ((91, "login"), (89, "login_failed"), (91, "manual_accept"), (2558, "manual_reject")):
            s.add(AuditEntry(at=NOW - dt.timedelta(days=days), username="staff", action=action))
        s.add_all([ReplyCount(address="a@x", hour=NOW - dt.timedelta(days=3), count=1),
                   ReplyCount(address="a@x", hour=NOW - dt.timedelta(hours=1), count=1)])
    report = retention.run(factory, RetentionConfig(), now=NOW)
    assert (report.sessions, report.audit_entries, report.reply_counts) == (1, 2, 1)
    with factory() as s:
        assert set(s.scalars(select(WebSession.id))) == {"b" * 64}
        assert sorted(s.scalars(select(AuditEntry.action))) == ["login_failed", "manual_accept"]
        assert s.scalar(select(func.count()).select_from(ReplyCount)) == 1


def test_zero_keeps_for_ever(factory: sessionmaker[Session]) -> None:
    with db.transaction(factory) as s:
        mail_id = _mail(s, 1, finished_days=5000)
    cfg = RetentionConfig(raw_mail_days=0, sent_mail_days=0, records_years=100, audit_days=0, login_days=0)
    assert retention.run(factory, cfg, now=NOW).raw_mails == 0
    assert _raw(factory, mail_id) == RAW


def test_unis_files_in_done_and_failed_go_after_their_days_and_waiting_ones_never(tmp_path: Path,
                                                                                   factory: sessionmaker[Session]) -> None:
    drop = tmp_path / "unis"
    old_time = (NOW - dt.timedelta(days=100)).timestamp()
    files = {name: drop / name for name in ("done/a.csv", "done/a.csv.refused.txt", "failed/b.csv", "done/new.csv",
                                            "waiting.csv")}
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    for name in ("done/a.csv", "done/a.csv.refused.txt", "failed/b.csv", "waiting.csv"):
        os.utime(files[name], (old_time, old_time))
    report = retention.run(factory, RetentionConfig(), now=NOW, drop_dir=str(drop))
    assert report.unis_files == 3
    assert sorted(str(p.relative_to(drop)) for p in drop.rglob("*") if p.is_file()) == ["done/new.csv", "waiting.csv"]


def test_the_daily_job_runs_once_a_day_across_processes_and_not_before_its_time(
        any_db_url: str, factory: sessionmaker[Session]) -> None:
    """Given two processes triggering today's run at once, then one runs it and the other skips;
    a trigger before 04:10 office time does nothing; the run is recorded with what it removed."""
    cfg = make_config(any_db_url)
    with db.transaction(factory) as s:
        _mail(s, 1, finished_days=91)
    counted: list[jobs.RunResult] = []
    results: list[jobs.RunResult | None] = []
    barrier = threading.Barrier(2)

    def trigger() -> None:
        barrier.wait()
        results.append(upkeep.run_retention(factory, cfg, count=counted.append, now_fn=lambda: NOW))

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.ran for r in results if r is not None) == [False, True]
    early = NOW.replace(hour=18, minute=0)  # 03:00 in Japan
    assert upkeep.run_retention(factory, cfg, count=counted.append, now_fn=lambda: early + dt.timedelta(days=1)) is None
    with factory() as s:
        run = s.scalar(select(JobRun).where(JobRun.job == jobs.RETENTION))
        assert run is not None and run.period == "2027-03-02" and run.status == jobs.DONE
        assert "raw_mails=1" in (run.detail or "")


def test_status_shows_the_database_size_and_the_oldest_raw_mail(any_db_url: str, factory: sessionmaker[Session],
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with db.transaction(factory) as s:
        _mail(s, 1, finished_days=200)
        _mail(s, 2, finished_days=50, received_days=60)
    retention.run(factory, RetentionConfig(), now=NOW)
    with factory() as s:
        h = collect(s, now=NOW, tz=dt.UTC, storage=True)
    assert h.oldest_raw_at == NOW - dt.timedelta(days=60)
    assert h.database_bytes is not None and h.database_bytes > 50_000
    monkeypatch.setenv("BOT_DATABASE_URL", any_db_url)
    main(["status", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["database_bytes"] > 50_000 and data["oldest_raw_at"].startswith((NOW - dt.timedelta(days=60)).date().isoformat())
    main(["status"])
    assert "データベースの大きさ:" in capsys.readouterr().out


def test_retention_keys_come_from_the_file_or_the_environment_and_the_legal_period_is_a_floor(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[retention]\nraw_mail_days = 30\n", encoding="utf-8")
    cfg = load_config(path, env={"BOT_RETENTION_UNIS_DONE_DAYS": "7"})
    assert (cfg.retention.raw_mail_days, cfg.retention.unis_done_days, cfg.retention.records_years) == (30, 7, 7)
    with pytest.raises(ConfigError, match=r"\[retention\] records_years"):
        load_config(env={"BOT_RETENTION_RECORDS_YEARS": "5"})


def test_a_stub_is_made_whatever_the_stored_headers_hold() -> None:
    """A bug fix's test: a From or Message-ID that an EmailMessage refuses (a line break, an
    unbalanced bracket) must not stop the job; the stub is still a mail with its marker."""
    for sender, message_id in (("a@x\r\nBcc: evil@x", "<id\n@x>"), ("<<<", "<"), (None, None), ("", "")):
        raw = retention.stub(removed=NOW.date(), days=90, subject="件名\r\n続き", sender=sender, message_id=message_id,
                             what="本文")
        assert raw.startswith(retention.MARKER)
        assert b"\r\nBcc:" not in raw  # no header smuggled in by a line break
        assert "件名 続き" in parse_mail(raw).subject
