"""`bot run`: the mailbox watcher plus the scheduled jobs, until SIGTERM.

The watcher (IDLE, poll fallback, reconnect with backoff) runs in the main thread; APScheduler
runs the jobs in the background, and a flusher thread sends the outbox (woken right after a
pass decided something, so replies go out within seconds).

- Started while the database is down: waits and retries with backoff (one log line per change).
- Jobs run once per period across restarts and processes (bot/jobs/__init__.py): a vendor batch or a
  digest missed while the bot was down runs once after the restart.
- A heartbeat row says what this process is doing (`bot status`, bot/daemon/health.py).
- SIGTERM: the mail in hand and the SMTP send in flight finish, then it exits (seconds, not
  the backlog: the rest waits in the folder and the outbox for the next start).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from bot import db, jobs
from bot.actions import outbox
from bot.config import Config, ConfigError
from bot.daemon import health, metrics, startup
from bot.daemon.runner import MailboxRunner, PassReport
from bot.intake import HandlerUnavailable, Mailbox, watch
from bot.intake import (
    mailbox_settings as mailbox_settings,  # re-exported: tests build it from here
)
from bot.jobs import upkeep
from bot.pipeline.processor import Processor
from bot.templating import Templates
from bot.unis import import_drop_folder
from bot.unis.pickup import Sightings

log = logging.getLogger("bot.daemon.main")


BATCH_DELAY = dt.timedelta(minutes=5)
FLUSH_EVERY = 60.0  # seconds between outbox flushes when nothing asks for one
HEARTBEAT_EVERY = 60.0  # seconds between heartbeats when nothing changes
STOP_SECONDS = 8.0  # how long the stop waits for the flusher's send in flight
JOBS = (jobs.VENDOR_BATCH, jobs.DIGEST, jobs.RETENTION)
WATCHDOG_EVERY = 300.0  # seconds between health checks of the daemon itself
WATCHDOG_REPEAT = 3600.0  # a problem that lasts is logged again this often


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Daemon:
    cfg: Config
    last_fetch_at: dt.datetime | None = field(default=None)

    def __post_init__(self) -> None:
        self.owner = outbox.process_token()
        self.engine = db.make_engine(self.cfg.database.url, process=self.owner)
        self.factory = db.session_factory(self.engine)
        self.processor = Processor(self.cfg, self.factory, Templates.from_config(self.cfg))
        self.runner = MailboxRunner(self.processor, folder=self.cfg.mailbox.folder)
        self._flush_lock = threading.Lock()
        self._flush_wanted = threading.Event()
        self._flusher: threading.Thread | None = None
        self._scheduler: BackgroundScheduler | None = None
        self.started_at = _utcnow()
        self.idle = False
        self.left_alone: int | None = None
        self.state, self.state_detail = health.RUNNING, None
        self._beat_at = 0.0
        self._beat_fetch_at: dt.datetime | None = None
        self._stop = threading.Event()
        self.metrics = metrics.Metrics(metrics.health_reader(self.factory, self.cfg.office.tz, JOBS), jobs=JOBS)
        self._http: object | None = None
        self._told: dict[str, float] = {}  # health problems logged: problem → when (monotonic)
        self._drops = Sightings()  # UNIS drop files seen at the last poll (bot/unis/pickup.py)

    def handle(self, mbox: Mailbox) -> PassReport:
        try:
            report = self.runner.handle(mbox)
        except db.UNAVAILABLE as err:
            raise HandlerUnavailable(f"database unavailable ({db.error_line(err)}); the mails wait in "
                                     f"{self.cfg.mailbox.folder}") from err
        self.last_fetch_at = dt.datetime.now(dt.UTC)
        self.idle = mbox.has_idle
        self.metrics.imap_up.set(1)
        if report.left_alone is not None:
            self.left_alone = report.left_alone
        for o in report.outcomes:
            self.metrics.mails.labels(o.kind or "unknown", o.decision).inc()
        for stage, seconds in report.stages.items():
            self.metrics.stage.labels(stage).observe(seconds)
        if report.outcomes:
            self.request_flush()
        return report

    # -- heartbeat ---------------------------------------------------------------------------
    def on_state(self, problem: str | None) -> None:
        """The watcher's state: a problem (IMAP or the database away), or None (working)."""
        state = health.RUNNING if problem is None else health.WAITING
        if problem is not None and not problem.startswith("database unavailable"):
            self.metrics.imap_up.set(0)  # the mailbox is away (the database being away says nothing of it)
        changed = (state, problem) != (self.state, self.state_detail)
        self.state, self.state_detail = state, problem
        first_fetch = self.last_fetch_at is not None and self._beat_fetch_at is None
        if changed or first_fetch or time.monotonic() - self._beat_at >= HEARTBEAT_EVERY / 2:
            self.beat()

    def beat(self, state: str | None = None) -> None:
        """Write this process's heartbeat; the database being away costs one debug line."""
        next_jobs: dict[str, str] = {}
        if self._scheduler is not None and self._scheduler.running:
            for job in self._scheduler.get_jobs():
                when = getattr(job, "next_run_time", None)
                if when is not None and job.id in JOBS:
                    next_jobs[job.id] = when.astimezone(dt.UTC).isoformat()
        try:
            health.beat(self.factory, self.owner, now=_utcnow(), state=state or self.state,
                        started_at=self.started_at, last_fetch_at=self.last_fetch_at, idle=self.idle,
                        detail=self.state_detail, next_jobs=next_jobs, left_alone=self.left_alone)
            self._beat_at, self._beat_fetch_at = time.monotonic(), self.last_fetch_at
        except db.UNAVAILABLE as err:
            log.debug("heartbeat not written: %s", db.error_line(err))
        except Exception:
            log.exception("heartbeat not written")

    def wait_for_database(self, stop: threading.Event, *, initial: float = 1.0, maximum: float = 60.0) -> bool:
        """Bring the schema to head, waiting (with backoff) while the database is away: a bot
        started before its database must not exit. One log line when it starts waiting, one
        when the database is back. False when stopped while waiting. Wrong credentials or a
        database that does not exist are no outage: ConfigError naming BOT_DATABASE_URL (exit 2)."""
        def waiting(detail: str) -> None:
            self.state, self.state_detail = health.WAITING, detail

        return startup.wait_for_database(self.cfg.database.url, stop, on_wait=waiting, initial=initial, maximum=maximum)

    def _serve_health(self) -> None:
        if not self.cfg.health.port:
            return
        try:
            self._http = metrics.serve(self.metrics, self.cfg.health.host, self.cfg.health.port,
                                       waiting=lambda: self.state_detail if self.state == health.WAITING else None)
        except OSError as err:  # the port is taken: the bot still works, the operator is told
            log.error("[health] port %s: cannot serve /healthz and /metrics: %s", self.cfg.health.port, err)

    def _stop_health(self) -> None:
        if self._http is not None:
            self._http.shutdown()  # type: ignore[attr-defined]
            self._http = None

    def request_flush(self) -> None:
        """Send new replies now, on the flusher thread: a slow or unreachable SMTP server must
        never hold up the intake of the next mails. A request made while a flush runs is kept
        (an Event, not a job that a running flush would make the scheduler skip): the flusher
        goes round again right after."""
        if self._flusher is not None and self._flusher.is_alive():
            self._flush_wanted.set()
        else:
            self.flush_outbox()

    def _flush_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._flush_wanted.wait(timeout=FLUSH_EVERY)
            self._flush_wanted.clear()
            if not stop.is_set():
                result = self.flush_outbox()
                if result is not None and result.remaining and result.sent:
                    # A flush takes at most a few hundred rows: go on at once while the server
                    # takes them (a backlog after a restart), not a minute later.
                    self._flush_wanted.set()

    def flush_outbox(self) -> outbox.FlushResult | None:
        with self._flush_lock:
            try:
                with self.metrics.stage.labels("flush").time():
                    return outbox.flush(self.factory, self.cfg.smtp, now=dt.datetime.now(dt.UTC), stop=self._stop,
                                        oauth2=self.cfg.oauth2)
            except db.UNAVAILABLE as err:
                # The database is away (the watcher says so too): one line, the rows wait.
                log.warning("outbox flush: database unavailable (%s); replies wait", db.error_line(err))
                return None
            except Exception:
                log.exception("outbox flush failed; rows stay pending")
                return None

    def import_unis_drops(self) -> None:
        if not self.cfg.unis.drop_dir:
            return
        try:
            self._drops.begin()
            import_drop_folder(self.factory, drop_dir=Path(self.cfg.unis.drop_dir), columns=self.cfg.unis.columns,
                               now=dt.datetime.now(dt.UTC), complete=self._drops.complete,
                               audit_window_days=self.cfg.unis.audit_window_days)
        except Exception:
            log.exception("UNIS drop-folder import failed")

    def refile(self) -> None:
        """Mails a person decided in the console while IMAP was away: move them now."""
        from bot.actions.resolve import refile_pending

        try:
            refile_pending(self.cfg, self.factory, now=_utcnow())
        except Exception:
            log.exception("moving mails decided in the console failed; retried in 5 minutes")

    def vendor_batch(self) -> None:
        """Today's batch (at its time), and the batch of every earlier business day the bot
        missed (down at its time), oldest first: each day's batch once, across restarts and
        processes (bot/jobs/__init__.py). Rows are due by their batch day, so a late batch carries
        exactly that day's rows. Never raises."""
        from bot.vendor import run_vendor_batch

        try:
            with self.factory() as session:
                days = jobs.missed_days(session, jobs.VENDOR_BATCH, self.processor.calendar, now=_utcnow(),
                                        at=self.vendor_batch_time)
            for day in days:
                def work(day: dt.date = day) -> str:
                    result = run_vendor_batch(self.factory, cfg=self.cfg, day=day, now=_utcnow(),
                                              templates=self.processor.templates, send=True)
                    if result is None:
                        return "nothing to send"
                    return (f"batch #{result.batch_id}: {result.row_count} row(s), {result.ledger_count} ledger "
                            f"row(s), delivered={result.delivered}")

                self._count(jobs.run_once(self.factory, jobs.VENDOR_BATCH, day.isoformat(), work, now_fn=_utcnow),
                            jobs.VENDOR_BATCH)
        except db.UNAVAILABLE as err:
            log.warning("vendor batch: database unavailable (%s); tried again at the next trigger", db.error_line(err))
        except Exception:
            log.exception("vendor batch job failed")

    def link_items(self) -> None:
        """「リンク品使用連絡」 to FG社 and UTS each business morning (bot/jobs/link_items.py)."""
        from bot.jobs.link_items import run_due

        self._office_job(jobs.LINK_ITEMS, run_due)

    def monthly_report(self) -> None:
        """Each branch manager's month, on the first business morning of the next (bot/digest/monthly.py)."""
        from bot.digest.monthly import run_due

        self._office_job(jobs.MONTHLY_REPORT, run_due)

    def _office_job(self, job: str, run_due: Callable[..., Any]) -> None:
        """A job that runs once per period and catches up what the bot missed while down (its
        `run_due` knows which periods are due). Its mails wait in the outbox for the flusher's
        next round (FLUSH_EVERY): a scheduled job never sends on its own thread, beside the
        start-up flush. Never raises."""
        try:
            for result in run_due(self.factory, cfg=self.cfg, calendar=self.processor.calendar,
                                  templates=self.processor.templates, now_fn=_utcnow):
                self._count(result, job)
        except db.UNAVAILABLE as err:
            log.warning("%s: database unavailable (%s); tried again at the next trigger", job, db.error_line(err))
        except Exception:
            log.exception("%s job failed", job)

    @property
    def vendor_batch_time(self) -> dt.time:
        """A few minutes after the cutoff: a mail that reached the server at 16:59 is fetched and
        decided by then and rides in its own day's batch (rows carry their batch day, so a later
        run never takes tomorrow's rows)."""
        moment = dt.datetime.combine(dt.date(2000, 1, 3), self.cfg.office.cutoff_time) + BATCH_DELAY
        return moment.time()

    def watchdog(self) -> None:
        """Say loudly (ERROR) when the bot is unhealthy as `bot status` sees it (no fetch for an
        hour, the outbox stuck, a job failed, ...): once when a problem appears, again every
        hour while it lasts, and once when it is gone."""
        try:
            problems = set(self.metrics.health().problems)
        except db.UNAVAILABLE:
            return  # the watcher and the flusher say so already
        now = time.monotonic()
        for problem in sorted(problems):
            if now - self._told.get(problem, -WATCHDOG_REPEAT) >= WATCHDOG_REPEAT:
                log.error("health: %s", problem)
                self._told[problem] = now
        for problem in [p for p in self._told if p not in problems]:
            log.info("health: resolved: %s", problem)
            del self._told[problem]

    def _start_console(self) -> object | None:
        """`[web] in_run`: the office console served from this process too (a small site
        with one machine); a console that cannot start is logged, the bot goes on."""
        if not self.cfg.web.in_run:
            return None
        from bot.web.app import (
            serve_in_thread,  # the console is a layer above: only when asked for
        )

        try:
            return serve_in_thread(self.cfg)
        except (ConfigError, OSError) as err:
            log.error("[web] in_run: the console is not served: %s", err)
            return None

    def _count(self, result: jobs.RunResult, job: str) -> None:
        if result.ran and result.status:
            self.metrics.jobs.labels(job, result.status).inc()

    def catch_up(self, scheduler: BackgroundScheduler) -> None:
        """At start: the jobs whose time passed while the bot was down run once now (each
        checks for itself what is missing, so nothing runs twice)."""
        scheduler.add_job(self.vendor_batch, id="vendor-batch-catch-up", replace_existing=True)
        scheduler.add_job(self.digest, id="digest-catch-up", replace_existing=True)
        scheduler.add_job(self.retention, id="retention-catch-up", replace_existing=True)
        scheduler.add_job(self.link_items, id="link-items-catch-up", replace_existing=True)
        scheduler.add_job(self.monthly_report, id="monthly-report-catch-up", replace_existing=True)

    def retention(self) -> None:
        """Today's retention run (bot/jobs/retention.py), once across processes. Never raises."""
        upkeep.run_retention(self.factory, self.cfg, count=lambda r: self._count(r, jobs.RETENTION))

    def digest(self) -> None:
        """The office digest, once per business morning (not on holidays or company days off);
        a morning missed while the bot was down is sent once after the restart, the same day.
        The digest itself covers every day not yet reported. Never raises."""
        from bot.digest import digest_job

        try:
            with self.factory() as session:
                days = jobs.missed_days(session, jobs.DIGEST, self.processor.calendar, now=_utcnow(),
                                        at=self.cfg.office.digest_time_of_day)
            today = self.processor.calendar.local(_utcnow()).date()
            if today not in days:
                return  # a holiday, before its time, or done already; an older morning is covered by the next
            self._count(jobs.run_once(self.factory, jobs.DIGEST, today.isoformat(),
                                      lambda: digest_job(self.factory, self.cfg, self.processor.templates, _utcnow,
                                                         lambda: self.last_fetch_at),
                                      now_fn=_utcnow), jobs.DIGEST)
        except db.UNAVAILABLE as err:
            log.warning("digest: database unavailable (%s); tried again at the next trigger", db.error_line(err))
        except Exception:
            log.exception("digest job failed")

    def schedule(self, scheduler: BackgroundScheduler) -> None:
        """The daemon's jobs (DESIGN.md "Architecture"). Times are office (Japan) time."""
        # The outbox is flushed by the flusher thread (every FLUSH_EVERY seconds, and at once on
        # request); this job only wakes it, so a flush is never skipped as "already running".
        scheduler.add_job(self._flush_wanted.set, "interval", seconds=FLUSH_EVERY, id="outbox-flush",
                          max_instances=1, coalesce=True)
        # UNIS extracts dropped while the bot was down are imported at start, then each upload once
        # it stood still over two polls (bot/unis/pickup.py): within two minutes.
        scheduler.add_job(self.import_unis_drops, "interval", minutes=1, id="unis-drop", max_instances=1,
                          coalesce=True, next_run_time=dt.datetime.now(dt.UTC))
        scheduler.add_job(self.retention, "cron", hour=upkeep.RETENTION_AT.hour, minute=upkeep.RETENTION_AT.minute,
                          id=jobs.RETENTION, max_instances=1, coalesce=True, misfire_grace_time=3600)
        scheduler.add_job(upkeep.SmtpWatch(self.cfg, self.metrics.smtp_up), "interval",
                          seconds=upkeep.SMTP_CHECK_EVERY, id="smtp-check", max_instances=1, coalesce=True,
                          next_run_time=dt.datetime.now(dt.UTC))
        scheduler.add_job(self.refile, "interval", minutes=5, id="imap-refile", max_instances=1, coalesce=True)
        # The vendor batch just after the cutoff on weekdays; the job itself skips holidays, and
        # the first batch on or after the 5th business day carries the forced terminations (強制解約).
        batch_at = self.vendor_batch_time
        scheduler.add_job(self.vendor_batch, "cron", day_of_week="mon-fri", hour=batch_at.hour,
                          minute=batch_at.minute, id="vendor-batch", max_instances=1, coalesce=True,
                          misfire_grace_time=3600)
        # The office digest on business-day mornings: every day not yet reported, up to
        # yesterday, so mail of the evening, the weekend and holidays is in one too.
        items_at = self.cfg.vendor.link_items_time_of_day
        scheduler.add_job(self.link_items, "cron", day_of_week="mon-fri", hour=items_at.hour, minute=items_at.minute,
                          id="link-items", max_instances=1, coalesce=True, misfire_grace_time=3600)
        # Each branch manager's month: looked at every business morning with the digest; sent
        # once, on the first business day of the month (or the first morning after, if down).
        scheduler.add_job(self.monthly_report, "cron", day_of_week="mon-fri", hour=self.cfg.office.digest_time_of_day.hour,
                          minute=self.cfg.office.digest_time_of_day.minute, id="monthly-report", max_instances=1,
                          coalesce=True, misfire_grace_time=3600)
        digest_at = self.cfg.office.digest_time_of_day
        scheduler.add_job(self.digest, "cron", day_of_week="mon-fri", hour=digest_at.hour, minute=digest_at.minute,
                          id="digest", max_instances=1, coalesce=True, misfire_grace_time=3600)

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        # /healthz answers from the first second: 503 with the reason while the bot waits.
        self.state, self.state_detail = health.WAITING, "起動中: データベースを確認しています"
        self._serve_health()
        started = False
        try:
            if self.wait_for_database(stop):
                self.state, self.state_detail = health.RUNNING, None
                startup.refuse_wrong_credentials(self.cfg, self.factory, mailbox_settings(self.cfg))
                started = True
        finally:
            if not started:  # stopped while waiting, or a config error (exit 2)
                self._stop_health()
                self.engine.dispose()
        if not started:
            return
        self.runner.stop = stop
        scheduler = BackgroundScheduler(timezone=self.cfg.office.timezone)
        self.schedule(scheduler)
        scheduler.add_job(self.beat, "interval", seconds=HEARTBEAT_EVERY, id="heartbeat", max_instances=1,
                          coalesce=True)
        scheduler.add_job(self.watchdog, "interval", seconds=WATCHDOG_EVERY, id="watchdog", max_instances=1,
                          coalesce=True)
        scheduler.start()
        self._scheduler = scheduler
        self.beat()
        console = self._start_console()
        # Flush at once on start-up: replies queued (or claimed by a process that died) before a
        # restart go out now, not at the first tick.
        self._flush_wanted.set()
        self._flusher = threading.Thread(target=self._flush_loop, args=(stop,), name="outbox-flusher", daemon=True)
        self._flusher.start()
        if self.cfg.senders.authentication == "off":
            log.warning("sender authentication is off ([senders] authentication): the From domain is "
                        "trusted as written; set it to \"hold\" with our MTA's authserv_id")
        self.catch_up(scheduler)
        log.info("bot running: mailbox %s@%s:%s/%s", self.cfg.mailbox.user, self.cfg.mailbox.host,
                 self.cfg.mailbox.port, self.cfg.mailbox.folder)
        try:
            watch(mailbox_settings(self.cfg), self.handle, stop=stop, on_state=self.on_state)
        finally:
            # Graceful and prompt: running jobs are not waited for beyond their current step,
            # the flusher finishes the send in flight (it checks `stop` between mails).
            scheduler.shutdown(wait=False)
            self._flush_wanted.set()  # wake the flusher so it sees `stop` and ends
            if self._flusher is not None:
                self._flusher.join(timeout=STOP_SECONDS)
            self.beat(health.STOPPED)
            self._stop_health()
            if console is not None:
                console.stop()
            self.engine.dispose()
            log.info("bot stopped")
