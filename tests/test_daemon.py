"""The daemon's scheduled jobs: what runs when, and the UNIS drop-folder import."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from bot import db
from bot.config import OfficeConfig, UnisConfig
from bot.daemon.main import Daemon
from bot.db.models import UnisOrder
from bot.unis import import_drop_folder
from tests.fixtures.demo_mails import UNIS_CSV
from tests.support.app import make_config

JST = ZoneInfo("Asia/Tokyo")


def test_jobs_are_scheduled_at_the_cutoff_in_japan_time(sqlite_url: str) -> None:
    cfg = make_config(sqlite_url)
    cfg = cfg.replace(office=dataclasses.replace(OfficeConfig(), cutoff="16:30"))
    daemon = Daemon(cfg)
    scheduler = BackgroundScheduler(timezone=cfg.office.timezone)
    daemon.schedule(scheduler)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"outbox-flush", "unis-drop", "imap-refile", "vendor-batch", "digest", "retention",
                         "smtp-check", "link-items", "monthly-report"}
    # 「リンク品使用連絡」 on weekday mornings at [vendor] link_items_time (the job skips holidays).
    items = jobs["link-items"].trigger.get_next_fire_time(None, dt.datetime(2026, 11, 20, 17, 0, tzinfo=JST))
    assert items == dt.datetime(2026, 11, 23, 9, 30, tzinfo=JST)
    friday_noon = dt.datetime(2026, 11, 20, 12, 0, tzinfo=JST)
    batch = jobs["vendor-batch"].trigger.get_next_fire_time(None, friday_noon)
    assert batch == dt.datetime(2026, 11, 20, 16, 35, tzinfo=JST)  # 5 minutes after the cutoff
    # Friday evening → next weekday Monday (the job itself skips the 11-23 holiday).
    after = jobs["vendor-batch"].trigger.get_next_fire_time(None, dt.datetime(2026, 11, 20, 17, 0, tzinfo=JST))
    assert after == dt.datetime(2026, 11, 23, 16, 35, tzinfo=JST)
    # The digest goes out on weekday mornings, covering the days not yet reported.
    digest = jobs["digest"].trigger.get_next_fire_time(None, friday_noon)
    assert digest == dt.datetime(2026, 11, 23, 8, 30, tzinfo=JST)
    daemon.engine.dispose()


def test_drop_folder_imports_good_files_and_parks_bad_ones(sqlite_url: str, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "unis_20261124.csv").write_bytes(UNIS_CSV.encode("cp932"))
    (drop / "broken.csv").write_bytes("顧客番号,契約状態\r\n988776654,受注\r\n".encode("cp932"))
    (drop / "readme.txt").write_text("not a csv")
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    reports = import_drop_folder(factory, drop_dir=drop, columns=UnisConfig().columns,
                                 now=dt.datetime(2026, 11, 24, tzinfo=dt.UTC))
    assert [r.inserted for r in reports] == [len(UNIS_CSV.splitlines()) - 1]  # every data row of the extract
    assert (drop / "done" / "unis_20261124.csv").exists()
    assert (drop / "failed" / "broken.csv").exists()
    assert "明細番号" in (drop / "failed" / "broken.csv.error.txt").read_text(encoding="utf-8")
    assert (drop / "readme.txt").exists()
    # Running again imports nothing twice.
    assert import_drop_folder(factory, drop_dir=drop, columns=UnisConfig().columns,
                              now=dt.datetime(2026, 11, 24, tzinfo=dt.UTC)) == []
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(UnisOrder)) == len(UNIS_CSV.splitlines()) - 1
    engine.dispose()


def test_a_daemon_starting_schedules_the_catch_up_of_the_daily_jobs(sqlite_url: str) -> None:
    """What each catch-up then runs (once, only what was missed) is tests/test_jobs.py and
    tests/test_retention.py."""
    daemon = Daemon(make_config(sqlite_url))
    scheduler = BackgroundScheduler(timezone="Asia/Tokyo")
    daemon.catch_up(scheduler)
    assert sorted(j.id for j in scheduler.get_jobs()) == ["digest-catch-up", "link-items-catch-up",
                                                          "monthly-report-catch-up", "retention-catch-up",
                                                          "vendor-batch-catch-up"]
    daemon.engine.dispose()


def test_a_flush_asked_for_during_a_flush_runs_right_after(sqlite_url: str, monkeypatch) -> None:  # noqa: ANN001
    """Given a flush in progress (a slow SMTP server), when the pass asks for another one (a new
    reply was decided), then a second flush starts as soon as the first ends, not a minute later."""
    import threading
    import time

    from bot.actions import outbox

    daemon = Daemon(make_config(sqlite_url))
    started: list[float] = []
    release = threading.Event()

    def slow_flush(*args: object, **kwargs: object) -> outbox.FlushResult:
        started.append(time.monotonic())
        if len(started) == 1:
            release.wait(10)
        return outbox.FlushResult(0, 0, 0)

    monkeypatch.setattr(outbox, "flush", slow_flush)
    stop = threading.Event()
    daemon._flusher = threading.Thread(target=daemon._flush_loop, args=(stop,), daemon=True)
    daemon._flusher.start()
    try:
        daemon.request_flush()
        deadline = time.monotonic() + 5
        while not started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(started) == 1
        daemon.request_flush()  # while the first is still running
        released_at = time.monotonic()
        release.set()
        deadline = time.monotonic() + 5
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(started) == 2
        assert started[1] - released_at < 2  # right after, not at the next 60 s tick
    finally:
        stop.set()
        daemon._flush_wanted.set()
        daemon._flusher.join(5)
