"""Is the bot healthy? What `bot status`, /healthz, /metrics and the console's 状態 page show.

Every running bot process writes a heartbeat row (:func:`beat`): its state (running, or
waiting for the database / IMAP and why), its last successful fetch, whether IDLE is live,
and when each of its jobs runs next. :func:`collect` reads those rows with the work queues
(outbox, quarantine, manual queue, vendor rows) into a :class:`Health`, pure values: the
callers render them (JSON, Japanese text, Prometheus).

Unhealthy (exit code 1 of `bot status`): no bot process alive (a heartbeat of a process on this
host that is gone, as after restoring a backup, does not count); no successful fetch for
:data:`FETCH_STALE`; a mail whose last send failed (SMTP away, refusing, auth), at once; a reply
waiting longer than :data:`OUTBOX_STUCK`; outbox mails given up;
the last run of a job failed. Quarantined and held mails are shown, but are work for a person,
not a fault of the bot.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot import __version__, db
from bot.db.claims import owner_alive, process_token
from bot.db.models import QUARANTINED, Heartbeat, JobRun, Mail, OutboxMessage, VendorRow

log = logging.getLogger("bot.daemon.health")

# A process whose heartbeat is older than this is taken to be gone.
HEARTBEAT_STALE = dt.timedelta(minutes=10)
# The watcher passes at least every poll_seconds (IDLE included): a fetch this old means stuck.
FETCH_STALE = dt.timedelta(hours=1)
OUTBOX_STUCK = dt.timedelta(minutes=30)

RUNNING, WAITING, STOPPED = "running", "waiting", "stopped"


def beat(factory: sessionmaker[Session], owner: str, *, now: dt.datetime, state: str, started_at: dt.datetime,
         last_fetch_at: dt.datetime | None = None, idle: bool = False, detail: str | None = None,
         next_jobs: dict[str, str] | None = None, left_alone: int | None = None) -> None:
    """Write this process's heartbeat (one row per process, replaced each time)."""
    values: dict[str, Any] = {"owner": owner, "version": __version__, "started_at": started_at, "updated_at": now,
                              "last_fetch_at": last_fetch_at, "idle": idle, "state": state, "detail": detail,
                              "next_jobs": next_jobs, "left_alone": left_alone}
    with db.transaction(factory) as session:
        stmt = db.dialect_insert(session, Heartbeat).values(**values)
        session.execute(stmt.on_conflict_do_update(index_elements=["owner"],
                                                   set_={k: stmt.excluded[k] for k in values if k != "owner"}))


@dataclass(frozen=True)
class Process:
    owner: str
    version: str
    state: str
    started_at: dt.datetime
    updated_at: dt.datetime
    last_fetch_at: dt.datetime | None
    idle: bool
    detail: str | None
    alive: bool


@dataclass(frozen=True)
class JobState:
    job: str
    last_period: str | None
    last_status: str | None
    last_finished_at: dt.datetime | None
    detail: str | None
    next_run: str | None


@dataclass(frozen=True)
class Health:
    version: str
    now: dt.datetime
    processes: list[Process]
    last_fetch_at: dt.datetime | None
    idle: bool
    decisions_today: dict[str, dict[str, int]]  # kind → decision → count (office day)
    outbox_backlog: int
    outbox_oldest_at: dt.datetime | None
    outbox_failed: int
    quarantined: int
    held: int
    vendor_rows_waiting: int
    jobs: list[JobState]
    left_alone: int | None = None  # history older than [mailbox] since / max_age_days, never fetched
    # Unsent mails whose last try failed (SMTP away, refused, auth), and the newest error.
    outbox_retrying: int = 0
    outbox_error: str | None = None
    problems: list[str] = field(default_factory=list)  # why unhealthy (Japanese)
    notices: list[str] = field(default_factory=list)  # worth a look, not a fault
    problem_codes: list[str] = field(default_factory=list)  # a stable code per problem, same order
    notice_codes: list[str] = field(default_factory=list)
    # Storage (bot/jobs/retention.py): read by `bot status` (storage=True), not at every scrape.
    database_bytes: int | None = None
    oldest_raw_at: dt.datetime | None = None
    # Reader processes that crashed or overran on mails received in the last 24 hours.
    reader_failures_24h: int = 0

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, dt.datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        data = plain(asdict(self))
        data["healthy"] = self.healthy
        data["issues"] = ([{"code": c, "level": "problem", "message": m} for c, m in zip(self.problem_codes, self.problems)]
                          + [{"code": c, "level": "notice", "message": m} for c, m in zip(self.notice_codes, self.notices)])
        data["outbox_oldest_age_seconds"] = (
            int((self.now - self.outbox_oldest_at).total_seconds()) if self.outbox_oldest_at else None)
        data["last_fetch_age_seconds"] = (
            int((self.now - self.last_fetch_at).total_seconds()) if self.last_fetch_at else None)
        return data


def collect(session: Session, *, now: dt.datetime, tz: dt.tzinfo, jobs: tuple[str, ...] = (),
            storage: bool = False) -> Health:
    """Everything `bot status` shows, read in one session (no writes). ``storage``: also the
    database's size and the oldest raw mail kept (bot/jobs/retention.py)."""
    beats = list(session.scalars(select(Heartbeat).order_by(Heartbeat.updated_at.desc())))
    # Alive: a recent heartbeat of a process that still exists (a heartbeat restored from a
    # backup names a process that is gone). On this host the process is proved by pid + start
    # time; on PostgreSQL, one on another host by an open connection it named (application_name,
    # bot.db.make_engine); on SQLite, another host's by its heartbeat's age alone.
    connected = _connected_processes(session)
    fresh = [b for b in beats if b.state != STOPPED and now - b.updated_at < HEARTBEAT_STALE
             and owner_alive(b.owner) and (connected is None or on_this_host(b.owner)
                                           or b.owner[:63] in connected)]
    processes = [Process(b.owner, b.version, b.state, b.started_at, b.updated_at, b.last_fetch_at, bool(b.idle),
                         b.detail, alive=b in fresh) for b in beats]
    live = [p for p in processes if p.alive]
    fetches = [p.last_fetch_at for p in live if p.last_fetch_at is not None]
    last_fetch = max(fetches) if fetches else None
    midnight = dt.datetime.combine(now.astimezone(tz).date(), dt.time(0), tzinfo=tz)
    decisions: dict[str, dict[str, int]] = {}
    for kind, decision, count in session.execute(
            select(Mail.kind, Mail.decision, func.count()).where(Mail.decided_at >= midnight)
            .group_by(Mail.kind, Mail.decision)):
        decisions.setdefault(kind or "unknown", {})[decision or "quarantined"] = count
    unsent = (OutboxMessage.status.in_(("pending", "sending")))
    backlog, oldest = session.execute(select(func.count(), func.min(OutboxMessage.created_at)).where(unsent)).one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    failed = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed"))
    retrying = unsent & OutboxMessage.last_error.is_not(None)
    n_retrying = session.scalar(select(func.count()).select_from(OutboxMessage).where(retrying)) or 0
    last_error = session.scalar(select(OutboxMessage.last_error).where(retrying)
                                .order_by(OutboxMessage.next_attempt_at.desc()).limit(1)) if n_retrying else None
    quarantined = session.scalar(select(func.count()).select_from(Mail).where(
        Mail.status == QUARANTINED, Mail.resolved_at.is_(None)))
    held = session.scalar(select(func.count()).select_from(Mail).where(
        Mail.decision == "manual", Mail.resolved_at.is_(None)))
    vendor_waiting = session.scalar(select(func.count()).select_from(VendorRow).where(
        VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None)))
    next_jobs: dict[str, str] = {}
    for b in fresh:
        for job, when in (b.next_jobs or {}).items():
            next_jobs[job] = min(next_jobs.get(job, when), when)
    job_states = [_job_state(session, job, next_jobs.get(job)) for job in sorted(set(jobs) | set(next_jobs))]
    left = [b.left_alone for b in fresh if b.left_alone is not None]
    health = Health(__version__, now, processes, last_fetch, any(p.idle for p in live), decisions, backlog,
                    oldest, failed or 0, quarantined or 0, held or 0, vendor_waiting or 0, job_states,
                    left_alone=max(left) if left else None, outbox_retrying=n_retrying,
                    outbox_error=last_error.splitlines()[0] if last_error else None,
                    reader_failures_24h=int(session.scalar(
                        select(func.coalesce(func.sum(Mail.attempts + Mail.solo_deaths), 0))
                        .where(Mail.received_at >= now - dt.timedelta(hours=24))) or 0))
    if storage:
        from bot.jobs.retention import database_bytes, oldest_raw_mail

        health = replace(health, database_bytes=database_bytes(session), oldest_raw_at=oldest_raw_mail(session))
    _judge(health)
    return health


_THIS_HOST = process_token().partition(":")[0]


def on_this_host(owner: str) -> bool:
    """Whether ``owner`` (``host:pid:start``) names a process of this host."""
    return owner.partition(":")[0] == _THIS_HOST


def _connected_processes(session: Session) -> set[str] | None:
    """The application names of every open PostgreSQL connection; None elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return set(session.scalars(text("SELECT DISTINCT application_name FROM pg_stat_activity")))


def _job_state(session: Session, job: str, next_run: str | None) -> JobState:
    last = session.scalar(select(JobRun).where(JobRun.job == job).order_by(JobRun.started_at.desc()).limit(1))
    if last is None:
        return JobState(job, None, None, None, None, next_run)
    return JobState(job, last.period, last.status, last.finished_at, last.detail, next_run)


# Stable codes beside the Japanese sentences (`status --json`: problem_codes, notice_codes and
# issues), for a monitor to match on; a code is never renamed (docs/operations.md lists them).
NO_LIVE_PROCESS = "NO_LIVE_PROCESS"
PROCESS_WAITING = "PROCESS_WAITING"
FETCH_STALE_CODE = "FETCH_STALE"
OUTBOX_STUCK_CODE = "OUTBOX_STUCK"
SMTP_FAILING = "SMTP_FAILING"
OUTBOX_GAVE_UP = "OUTBOX_GAVE_UP"
JOB_FAILED = "JOB_FAILED"
QUARANTINE_WAITING = "QUARANTINE_WAITING"
HELD_WAITING = "HELD_WAITING"
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
HEALTH_UNREADABLE = "HEALTH_UNREADABLE"
STARTING = "STARTING"
CODES = (NO_LIVE_PROCESS, PROCESS_WAITING, FETCH_STALE_CODE, OUTBOX_STUCK_CODE, SMTP_FAILING, OUTBOX_GAVE_UP,
         JOB_FAILED, QUARANTINE_WAITING, HELD_WAITING, DATABASE_UNAVAILABLE, HEALTH_UNREADABLE, STARTING)


def _problem(h: Health, code: str, message: str) -> None:
    h.problems.append(message)
    h.problem_codes.append(code)


def _notice(h: Health, code: str, message: str) -> None:
    h.notices.append(message)
    h.notice_codes.append(code)


def _judge(h: Health) -> None:
    if not any(p.alive for p in h.processes):
        _problem(h, NO_LIVE_PROCESS, "稼働中のボットがありません（`bot run` が動いていないか、10分以上応答がありません）")
    for p in h.processes:
        if p.alive and p.state == WAITING:
            _problem(h, PROCESS_WAITING, f"{p.owner}: 待機中: {p.detail or '接続待ち'}")
    if any(p.alive for p in h.processes) and (h.last_fetch_at is None or h.now - h.last_fetch_at > FETCH_STALE):
        _problem(h, FETCH_STALE_CODE, "1時間以上メールを取得できていません")
    if h.outbox_oldest_at is not None and h.now - h.outbox_oldest_at > OUTBOX_STUCK:
        minutes = int((h.now - h.outbox_oldest_at).total_seconds() // 60)
        _problem(h, OUTBOX_STUCK_CODE, f"送信箱に {minutes} 分以上送れていないメールがあります（{h.outbox_backlog} 通）")
    if h.outbox_retrying:  # SMTP trouble shows at the first failed try, not after OUTBOX_STUCK
        _problem(h, SMTP_FAILING, f"メールを送信できていません（{h.outbox_retrying} 通が再試行待ち）: {h.outbox_error}")
    if h.outbox_failed:
        _problem(h, OUTBOX_GAVE_UP, f"送信をあきらめたメールが {h.outbox_failed} 通あります（`bot outbox list`）")
    for j in h.jobs:
        if j.last_status == "failed":
            _problem(h, JOB_FAILED, f"ジョブ {j.job}（{j.last_period}）が失敗しました: {j.detail or ''}".rstrip(": "))
    if h.quarantined:
        _notice(h, QUARANTINE_WAITING, f"隔離中のメール {h.quarantined} 通（`bot reprocess --quarantined`）")
    if h.held:
        _notice(h, HELD_WAITING, f"担当者の確認待ち（保留）{h.held} 通")


def unhealthy_json(code: str, message: str) -> dict[str, Any]:
    """What `status --json` and /healthz say when the health cannot be read at all."""
    return {"healthy": False, "problems": [message], "problem_codes": [code],
            "issues": [{"code": code, "level": "problem", "message": message}]}
