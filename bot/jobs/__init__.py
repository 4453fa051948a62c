"""Scheduled jobs that run once per period, across restarts and across processes.

A job run is a row of ``job_runs`` keyed by (job, period): the vendor batch of 2026-11-24,
the digest of the morning of 2026-11-25. The process whose INSERT commits the row runs the
job; another process (or a second trigger in the same one) finds the row and skips. A run
left ``running`` by a process that died (same host, its pid gone) or older than
:data:`LEASE`, and a run that ``failed``, may be taken over; a ``done`` one never runs again.

:func:`missed_days` says which business days have no finished run since the last one, so a
bot that was down over Tuesday's batch sends it on Wednesday morning (once), and a bot
restarted after today's batch does not send a second one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.db.claims import owner_alive, process_token
from bot.db.models import JobRun
from bot.domain.calendar import BusinessCalendar

log = logging.getLogger("bot.jobs")

RUNNING, DONE, FAILED = "running", "done", "failed"
# A run still "running" after this long is taken to be dead (a process on another host).
LEASE = dt.timedelta(hours=2)
# A bot down for longer than this many business days does not send a stack of old batches:
# the oldest missed one carries every unsent row anyway (rows are due by their batch day).
CATCH_UP_DAYS = 10

VENDOR_BATCH = "vendor-batch"
DIGEST = "digest"
RETENTION = "retention"  # bot/jobs/retention.py, once per office day (bot/jobs/upkeep.py)
LINK_ITEMS = "link-items"  # bot/jobs/link_items.py: 「リンク品使用連絡」 each business morning
MONTHLY_REPORT = "monthly-report"  # bot/digest/monthly.py: each branch manager's month, once a month


@dataclass(frozen=True)
class RunResult:
    ran: bool  # this process ran the job (False: another run has it, or it was done)
    status: str | None = None  # done / failed, when it ran
    detail: str = ""


def claim(factory: sessionmaker[Session], job: str, period: str, *, now: dt.datetime,
          owner: str | None = None) -> bool:
    """Take (job, period) for this process; False when it is done or another live run has it."""
    owner = owner or process_token()
    with db.transaction(factory) as session:
        inserted = session.execute(
            db.dialect_insert(session, JobRun).values(job=job, period=period, status=RUNNING, owner=owner, started_at=now)
            .on_conflict_do_nothing().returning(JobRun.id)).first()
        if inserted is not None:
            return True
        row = session.scalar(select(JobRun).where(JobRun.job == job, JobRun.period == period).with_for_update())
        if row is None or row.status == DONE:
            return False
        if row.status == RUNNING and owner_alive(row.owner) and now - row.started_at < LEASE:
            return False
        log.info("job %s %s: taking over a run that %s (owner %s)", job, period,
                 "failed" if row.status == FAILED else "was left running", row.owner)
        taken = session.execute(update(JobRun).where(JobRun.id == row.id, JobRun.status == row.status,
                                                     JobRun.owner == row.owner)
                                .values(status=RUNNING, owner=owner, started_at=now, finished_at=None))
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def finish(factory: sessionmaker[Session], job: str, period: str, *, status: str, now: dt.datetime,
           detail: str = "", owner: str | None = None) -> None:
    owner = owner or process_token()
    with db.transaction(factory) as session:
        session.execute(update(JobRun).where(JobRun.job == job, JobRun.period == period, JobRun.owner == owner)
                        .values(status=status, finished_at=now, detail=detail[:2000] or None))


def run_once(factory: sessionmaker[Session], job: str, period: str, work: Callable[[], str | None], *,
             now_fn: Callable[[], dt.datetime]) -> RunResult:
    """Run `work` for (job, period) unless it ran already or runs elsewhere. `work` returns a
    short note (what it did) or raises; the run is recorded done or failed. Never raises for
    the work's failure (a scheduled job must not take the daemon down); the database being
    away is raised (the caller logs one line and the next trigger tries again)."""
    if not claim(factory, job, period, now=now_fn()):
        log.debug("job %s %s: done already or running elsewhere", job, period)
        return RunResult(False)
    try:
        note = work() or ""
    except Exception as err:
        log.exception("job %s %s failed", job, period)
        detail = f"{type(err).__name__}: {err}"
        finish(factory, job, period, status=FAILED, now=now_fn(), detail=detail)
        return RunResult(True, FAILED, detail)
    finish(factory, job, period, status=DONE, now=now_fn(), detail=note)
    log.info("job %s %s done%s", job, period, f": {note}" if note else "")
    return RunResult(True, DONE, note)


def last_done(session: Session, job: str) -> str | None:
    return session.scalar(select(JobRun.period).where(JobRun.job == job, JobRun.status == DONE)
                          .order_by(JobRun.period.desc()).limit(1))


def missed_days(session: Session, job: str, calendar: BusinessCalendar, *, now: dt.datetime,
                at: dt.time) -> list[dt.date]:
    """Business days whose run time (`at`, office time) has passed and that have no finished
    run, after the last finished one; oldest first. Without any finished run (a new install):
    only today, when its time has passed (never the days before the bot existed)."""
    local = calendar.local(now)
    today = local.date()
    last = last_done(session, job)
    days: list[dt.date] = []
    if last is None:
        start = today
    else:
        start = dt.date.fromisoformat(last) + dt.timedelta(days=1)
        start = max(start, today - dt.timedelta(days=CATCH_UP_DAYS * 2))
    day = start
    while day <= today:
        if calendar.is_business_day(day) and (day < today or local.time() >= at):
            days.append(day)
        day += dt.timedelta(days=1)
    if not days:
        return []
    done = set(session.scalars(select(JobRun.period).where(
        JobRun.job == job, JobRun.status == DONE, JobRun.period.in_([d.isoformat() for d in days]))))
    return [d for d in days if d.isoformat() not in done][-CATCH_UP_DAYS:]
