"""Scheduled jobs run once per period: across processes (the job_runs claim), and after a
restart (a batch or digest missed while the bot was down runs once, never twice, never on a
holiday, never as an empty mail). The clock is controlled; the database is real."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import subprocess
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db, jobs
from bot.config import VendorConfig
from bot.daemon import main as daemon_module
from bot.daemon.main import Daemon
from bot.db.models import JobRun, OutboxMessage, VendorBatch, VendorRow
from bot.demo.embedded import EmbeddedSmtp
from bot.pipeline.gather import settings_from
from tests.support.app import make_config

JST = ZoneInfo("Asia/Tokyo")
MON, TUE, WED = dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 2)


@pytest.fixture
def factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(any_db_url)
    yield db.session_factory(engine)
    engine.dispose()


def _dead_owner() -> str:
    """A process token of this host whose process is gone."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    from bot.db.claims import _HOST

    return f"{_HOST}:{proc.pid}:1"


# -- the claim --------------------------------------------------------------------------------

def test_only_one_owner_runs_a_period_and_a_done_run_never_runs_again(factory: sessionmaker[Session]) -> None:
    now = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    assert jobs.claim(factory, "digest", "2026-12-01", now=now, owner="hostA:1:1")
    assert not jobs.claim(factory, "digest", "2026-12-01", now=now, owner="hostB:2:2")  # the other process
    jobs.finish(factory, "digest", "2026-12-01", status=jobs.DONE, now=now, owner="hostA:1:1")
    assert not jobs.claim(factory, "digest", "2026-12-01", now=now + dt.timedelta(days=1), owner="hostB:2:2")
    assert jobs.claim(factory, "digest", "2026-12-02", now=now, owner="hostB:2:2")  # another period


def test_a_failed_run_or_one_left_by_a_dead_process_is_taken_over(factory: sessionmaker[Session]) -> None:
    now = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    assert jobs.claim(factory, "vendor-batch", "2026-12-01", now=now, owner="hostA:1:1")
    jobs.finish(factory, "vendor-batch", "2026-12-01", status=jobs.FAILED, now=now, owner="hostA:1:1")
    assert jobs.claim(factory, "vendor-batch", "2026-12-01", now=now, owner="hostB:2:2")
    # Left running by a process of this host that is gone: taken over at once.
    dead = _dead_owner()
    assert jobs.claim(factory, "digest", "2026-12-01", now=now, owner=dead)
    assert jobs.claim(factory, "digest", "2026-12-01", now=now, owner="hostB:2:2")
    # Left running by a process on another host: only after the lease.
    assert jobs.claim(factory, "digest", "2026-12-02", now=now, owner="elsewhere:9:9")
    assert not jobs.claim(factory, "digest", "2026-12-02", now=now + dt.timedelta(minutes=30), owner="hostB:2:2")
    assert jobs.claim(factory, "digest", "2026-12-02", now=now + jobs.LEASE + dt.timedelta(minutes=1),
                      owner="hostB:2:2")


def test_run_once_records_a_failure_and_the_next_trigger_retries(factory: sessionmaker[Session]) -> None:
    now = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    calls: list[str] = []

    def broken() -> str:
        calls.append("broken")
        raise RuntimeError("SMTP refused")

    result = jobs.run_once(factory, "digest", "2026-12-01", broken, now_fn=lambda: now)
    assert (result.ran, result.status) == (True, jobs.FAILED) and "SMTP refused" in result.detail
    result = jobs.run_once(factory, "digest", "2026-12-01", lambda: calls.append("ok") and "sent", now_fn=lambda: now)
    assert (result.ran, result.status) == (True, jobs.DONE)
    assert not jobs.run_once(factory, "digest", "2026-12-01", lambda: calls.append("again") and "", now_fn=lambda: now).ran
    assert calls == ["broken", "ok"]


# -- which periods are due --------------------------------------------------------------------

def _done(factory: sessionmaker[Session], job: str, day: dt.date) -> None:
    with db.transaction(factory) as s:
        s.add(JobRun(job=job, period=day.isoformat(), status=jobs.DONE, owner="x", started_at=dt.datetime.now(dt.UTC)))


def test_missed_days_after_an_outage_skip_holidays_and_the_time_not_yet_reached(
        factory: sessionmaker[Session]) -> None:
    calendar = settings_from(make_config("sqlite://")).calendar
    at = dt.time(17, 5)
    with factory() as s:  # a new install: only today, once its time has passed
        assert jobs.missed_days(s, "vendor-batch", calendar, now=dt.datetime(2026, 12, 2, 9, 0, tzinfo=JST), at=at) == []
        assert jobs.missed_days(s, "vendor-batch", calendar, now=dt.datetime(2026, 12, 2, 18, 0, tzinfo=JST),
                                at=at) == [WED]
    _done(factory, "vendor-batch", MON)
    with factory() as s:  # down over Tuesday's batch, back Wednesday 09:00: Tuesday's, not Wednesday's yet
        assert jobs.missed_days(s, "vendor-batch", calendar, now=dt.datetime(2026, 12, 2, 9, 0, tzinfo=JST),
                                at=at) == [TUE]
        assert jobs.missed_days(s, "vendor-batch", calendar, now=dt.datetime(2026, 12, 2, 18, 0, tzinfo=JST),
                                at=at) == [TUE, WED]
    _done(factory, "vendor-batch", dt.date(2026, 11, 20))  # Friday before the 11-23 holiday (勤労感謝の日)
    with db.transaction(factory) as s:
        s.execute(JobRun.__table__.delete().where(JobRun.period == MON.isoformat()))
    with factory() as s:
        days = jobs.missed_days(s, "vendor-batch", calendar, now=dt.datetime(2026, 11, 25, 9, 0, tzinfo=JST), at=at)
    assert days == [dt.date(2026, 11, 24)]  # Monday 11-23 is a public holiday: no batch, none owed


# -- the daemon's jobs with a controlled clock -----------------------------------------------

def _daemon(url: str, smtp: EmbeddedSmtp, monkeypatch: pytest.MonkeyPatch, now: list[dt.datetime]) -> Daemon:
    cfg = make_config(url, smtp=smtp)
    cfg = cfg.replace(vendor=dataclasses.replace(VendorConfig(), to=("hacchu@fibergate.example",)),
                      office=dataclasses.replace(cfg.office, digest_to=("office@usen.example",)))
    monkeypatch.setattr(daemon_module, "_utcnow", lambda: now[0])
    return Daemon(cfg)


def _row(factory: sessionmaker[Session], code: str, batch_date: dt.date) -> None:
    received = dt.datetime.combine(batch_date, dt.time(10, 0), tzinfo=JST)
    with db.transaction(factory) as s:
        s.add(VendorRow(customer_code=code, category="新規", payload={"shop_name": "カフェ青山"}, received_at=received,
                        batch_date=batch_date, created_at=received))


def test_a_batch_missed_while_down_is_sent_once_after_the_restart_and_a_restart_sends_no_empty_batch(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [dt.datetime(2026, 11, 30, 17, 5, tzinfo=JST)]
    with EmbeddedSmtp() as smtp:
        d = _daemon(sqlite_url, smtp, monkeypatch, now)
        _row(d.factory, "988770001", MON)
        d.vendor_batch()  # Monday's batch at its time
        _row(d.factory, "988770002", TUE)  # Tuesday's row; the bot is down at Tuesday's batch time
        now[0] = dt.datetime(2026, 12, 2, 9, 0, tzinfo=JST)  # back on Wednesday morning
        d.vendor_batch()  # the start-up catch-up
        d.vendor_batch()  # a second trigger (another process, a second restart): nothing more
        now[0] = dt.datetime(2026, 12, 2, 17, 5, tzinfo=JST)
        d.vendor_batch()  # Wednesday's time: nothing queued for Wednesday, so no mail at all
        now[0] = dt.datetime(2026, 12, 2, 18, 30, tzinfo=JST)
        d.vendor_batch()  # restarted after the cutoff: no second (empty) batch
        with d.factory() as s:
            batches = [(b.batch_date, b.row_count) for b in s.scalars(select(VendorBatch).order_by(VendorBatch.id))]
            mails = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == "vendor_batch"))
            runs = {r.period: r.status for r in s.scalars(select(JobRun).where(JobRun.job == "vendor-batch"))}
        d.engine.dispose()
        assert batches == [(MON, 1), (TUE, 1)]
        assert mails == 2 and len(smtp.messages) == 2
        assert runs == {MON.isoformat(): "done", TUE.isoformat(): "done", WED.isoformat(): "done"}


def test_the_digest_of_a_missed_morning_is_sent_once_and_never_on_a_holiday(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [dt.datetime(2026, 11, 23, 9, 0, tzinfo=JST)]  # 勤労感謝の日 (Monday, a public holiday)
    with EmbeddedSmtp() as smtp:
        d = _daemon(sqlite_url, smtp, monkeypatch, now)
        d.digest()
        now[0] = dt.datetime(2026, 11, 24, 7, 0, tzinfo=JST)  # before the digest time
        d.digest()
        with d.factory() as s:
            assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        now[0] = dt.datetime(2026, 11, 24, 11, 0, tzinfo=JST)  # down at 08:30, back at 11:00
        d.digest()
        d.digest()  # a second trigger: nothing more
        with d.factory() as s:
            digests = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == "digest"))
            runs = [(r.period, r.status) for r in s.scalars(select(JobRun).where(JobRun.job == "digest"))]
        d.engine.dispose()
        assert digests >= 1  # every unreported day up to yesterday, each once
        assert runs == [("2026-11-24", "done")]


def test_digest_time_config_is_honoured(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [dt.datetime(2026, 11, 24, 8, 45, tzinfo=JST)]
    with EmbeddedSmtp() as smtp:
        d = _daemon(sqlite_url, smtp, monkeypatch, now)
        d.cfg = d.cfg.replace(office=dataclasses.replace(d.cfg.office, digest_time="09:00"))
        d.digest()
        with d.factory() as s:
            assert s.scalar(select(func.count()).select_from(JobRun)) == 0
        d.engine.dispose()


def test_the_watchdog_says_once_when_the_outbox_is_stuck_and_once_when_it_is_not(
        sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from bot.daemon import health

    d = Daemon(make_config(sqlite_url))
    now = dt.datetime.now(dt.UTC)
    health.beat(d.factory, d.owner, now=now, state=health.RUNNING, started_at=now, last_fetch_at=now)
    with db.transaction(d.factory) as s:
        s.add(OutboxMessage(purpose="reply", message_id="<stuck@bot>", mail_from="bot@usen.example", rcpt_to=["a@usen.co.jp"],
                            subject="x", raw=b"x", status="pending", attempts=0,
                            created_at=now - dt.timedelta(hours=2), next_attempt_at=now))
    caplog.set_level(logging.INFO, logger="bot.daemon.main")
    d.watchdog()
    d.watchdog()  # the same problem: not logged again within the hour
    stuck = [r for r in caplog.records if r.levelno == logging.ERROR and "送れていないメール" in r.getMessage()]
    assert len(stuck) == 1
    with db.transaction(d.factory) as s:
        s.execute(OutboxMessage.__table__.update().values(status="sent"))
    d.watchdog()
    assert [r for r in caplog.records if "resolved" in r.getMessage() and "送れていないメール" in r.getMessage()]
    d.engine.dispose()


def test_two_processes_importing_one_drop_folder_import_each_file_once(tmp_path, sqlite_url: str) -> None:  # noqa: ANN001
    """Two real processes run the drop-folder import at once on five files: each file is
    imported by exactly one of them, neither stops on a file the other took, all end in done/."""
    import sys
    import textwrap

    from bot.db.models import UnisOrder
    from tests.fixtures.demo_mails import UNIS_CSV

    drop = tmp_path / "drop"
    drop.mkdir()
    lines = UNIS_CSV.splitlines()
    for i in range(5):  # five extracts, each one line of its own customer
        row = lines[1].split(",")
        row[0] = f"98877{i:04d}"
        (drop / f"unis_{i}.csv").write_bytes(("\r\n".join([lines[0], ",".join(row)]) + "\r\n").encode("cp932"))
    script = textwrap.dedent(f"""
        import datetime as dt, sys
        from pathlib import Path
        from bot import db
        from bot.config import UnisConfig
        from bot.unis import import_drop_folder
        factory = db.session_factory(db.make_engine({sqlite_url!r}))
        reports = import_drop_folder(factory, drop_dir=Path({str(drop)!r}), columns=UnisConfig().columns,
                                     now=dt.datetime.now(dt.UTC))
        print(len(reports))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert sum(int(out.strip()) for out, _ in outs) == 5
    assert sorted(p.name for p in (drop / "done").iterdir()) == [f"unis_{i}.csv" for i in range(5)]
    assert not list((drop / "processing").iterdir())
    engine = db.make_engine(sqlite_url)
    with db.session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(UnisOrder)) == 5
    engine.dispose()


def test_a_drop_file_left_by_a_dead_process_is_imported_again(tmp_path, sqlite_url: str) -> None:  # noqa: ANN001
    from bot.config import UnisConfig
    from bot.unis import CLAIM_SEP, import_drop_folder
    from tests.fixtures.demo_mails import UNIS_CSV

    drop = tmp_path / "drop"
    (drop / "processing").mkdir(parents=True)
    (drop / "processing" / f"unis_1.csv{CLAIM_SEP}{_dead_owner()}").write_bytes(UNIS_CSV.encode("cp932"))
    engine = db.make_engine(sqlite_url)
    reports = import_drop_folder(db.session_factory(engine), drop_dir=drop, columns=UnisConfig().columns,
                                 now=dt.datetime.now(dt.UTC))
    engine.dispose()
    assert len(reports) == 1 and (drop / "done" / "unis_1.csv").exists()
