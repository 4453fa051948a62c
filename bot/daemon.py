"""`bot run`: the mailbox watcher plus the scheduled jobs, until SIGTERM.

The watcher (IDLE, poll fallback, reconnect with backoff) runs in the main thread; APScheduler
runs the outbox flush in the background (and the pass itself flushes right after deciding so
replies go out within seconds). Stopping is graceful: the current mail finishes its
transaction, the scheduler waits for a running flush.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from bot import db, outbox
from bot.config import Config
from bot.intake import HandlerUnavailable, Mailbox, MailboxSettings, watch
from bot.pipeline import Processor
from bot.runner import MailboxRunner, PassReport
from bot.templating import Templates
from bot.unis import import_drop_folder

log = logging.getLogger("bot.daemon")


BATCH_DELAY = dt.timedelta(minutes=5)
FLUSH_EVERY = 60.0  # seconds between outbox flushes when nothing asks for one


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _first_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    text = " ".join(str(orig).split())
    return f"{type(orig).__name__}: {text[:200]}"


def mailbox_settings(cfg: Config) -> MailboxSettings:
    m = cfg.mailbox
    return MailboxSettings(host=m.host, port=m.port, user=m.user, password=m.password, ssl=m.ssl, folder=m.folder,
                           batch_size=m.batch_size, poll_seconds=m.poll_seconds, max_mail_bytes=cfg.limits.mail_bytes)


@dataclass
class Daemon:
    cfg: Config
    last_fetch_at: dt.datetime | None = field(default=None)

    def __post_init__(self) -> None:
        db.upgrade(self.cfg.database.url)
        self.engine = db.make_engine(self.cfg.database.url)
        self.factory = db.session_factory(self.engine)
        self.processor = Processor(self.cfg, self.factory, Templates.from_config(self.cfg))
        self.runner = MailboxRunner(self.processor, folder=self.cfg.mailbox.folder)
        self._flush_lock = threading.Lock()
        self._flush_wanted = threading.Event()
        self._flusher: threading.Thread | None = None
        self._scheduler: BackgroundScheduler | None = None

    def handle(self, mbox: Mailbox) -> PassReport:
        try:
            report = self.runner.handle(mbox)
        except db.UNAVAILABLE as err:
            raise HandlerUnavailable(f"database unavailable ({_first_line(err)}); the mails wait in "
                                     f"{self.cfg.mailbox.folder}") from err
        self.last_fetch_at = dt.datetime.now(dt.UTC)
        if report.outcomes:
            self.request_flush()
        return report

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
                self.flush_outbox()

    def flush_outbox(self) -> outbox.FlushResult | None:
        with self._flush_lock:
            try:
                return outbox.flush(self.factory, self.cfg.smtp, now=dt.datetime.now(dt.UTC))
            except db.UNAVAILABLE as err:
                # The database is away (the watcher says so too): one line, the rows wait.
                log.warning("outbox flush: database unavailable (%s); replies wait", _first_line(err))
                return None
            except Exception:  # noqa: BLE001 - the flusher must survive a broken SMTP server
                log.exception("outbox flush failed; rows stay pending")
                return None

    def import_unis_drops(self) -> None:
        if not self.cfg.unis.drop_dir:
            return
        try:
            import_drop_folder(self.factory, drop_dir=Path(self.cfg.unis.drop_dir), columns=self.cfg.unis.columns,
                               now=dt.datetime.now(dt.UTC))
        except Exception:  # noqa: BLE001 - a scheduled job must never take the daemon down
            log.exception("UNIS drop-folder import failed")

    def refile(self) -> None:
        """Mails a person decided in the console while IMAP was away: move them now."""
        from bot.actions.resolve import refile_pending

        try:
            refile_pending(self.cfg, self.factory, now=_utcnow())
        except Exception:  # noqa: BLE001 - a scheduled job must never take the daemon down
            log.exception("moving mails decided in the console failed; retried in 5 minutes")

    def vendor_batch(self) -> None:
        from bot.vendor import vendor_batch_job

        vendor_batch_job(self.factory, self.cfg, self.processor.templates, _utcnow)

    @property
    def vendor_batch_time(self) -> dt.time:
        """A few minutes after the cutoff: a mail that reached the server at 16:59 is fetched and
        decided by then and rides in its own day's batch (rows carry their batch day, so a later
        run never takes tomorrow's rows)."""
        moment = dt.datetime.combine(dt.date(2000, 1, 3), self.cfg.office.cutoff_time) + BATCH_DELAY
        return moment.time()

    def catch_up(self, scheduler: BackgroundScheduler, now: dt.datetime) -> None:
        """Started after today's batch time (a restart, a late boot): run the batch once now.
        It only carries rows not yet sent, so if the batch did run today this sends nothing new."""
        local = now.astimezone(self.cfg.office.tz)
        if self.processor.calendar.is_business_day(local.date()) and local.time() >= self.vendor_batch_time:
            scheduler.add_job(self.vendor_batch, id="vendor-batch-catch-up", replace_existing=True)

    def digest(self) -> None:
        from bot.digest import digest_job

        if not self.processor.calendar.is_business_day(dt.datetime.now(self.cfg.office.tz).date()):
            return  # nobody reads it on a holiday; the next business morning covers these days

        digest_job(self.factory, self.cfg, self.processor.templates, _utcnow, lambda: self.last_fetch_at)

    def schedule(self, scheduler: BackgroundScheduler) -> None:
        """The daemon's jobs (DESIGN.md "Architecture"). Times are office (Japan) time."""
        # The outbox is flushed by the flusher thread (every FLUSH_EVERY seconds, and at once on
        # request); this job only wakes it, so a flush is never skipped as "already running".
        scheduler.add_job(self._flush_wanted.set, "interval", seconds=FLUSH_EVERY, id="outbox-flush",
                          max_instances=1, coalesce=True)
        scheduler.add_job(self.import_unis_drops, "interval", minutes=5, id="unis-drop", max_instances=1,
                          coalesce=True)
        scheduler.add_job(self.refile, "interval", minutes=5, id="imap-refile", max_instances=1, coalesce=True)
        # The vendor batch just after the cutoff on weekdays; the job itself skips holidays, and
        # the first batch on or after the 5th business day carries the forced terminations (強制解約).
        batch_at = self.vendor_batch_time
        scheduler.add_job(self.vendor_batch, "cron", day_of_week="mon-fri", hour=batch_at.hour,
                          minute=batch_at.minute, id="vendor-batch", max_instances=1, coalesce=True,
                          misfire_grace_time=3600)
        # The office digest on business-day mornings: every day not yet reported, up to
        # yesterday, so mail of the evening, the weekend and holidays is in one too.
        digest_at = self.cfg.office.digest_time_of_day
        scheduler.add_job(self.digest, "cron", day_of_week="mon-fri", hour=digest_at.hour, minute=digest_at.minute,
                          id="digest", max_instances=1, coalesce=True, misfire_grace_time=3600)

    def run(self, stop: threading.Event) -> None:
        scheduler = BackgroundScheduler(timezone=self.cfg.office.timezone)
        self.schedule(scheduler)
        scheduler.start()
        self._scheduler = scheduler
        # Flush at once on start-up: replies queued (or claimed by a process that died) before a
        # restart go out now, not at the first tick.
        self._flush_wanted.set()
        self._flusher = threading.Thread(target=self._flush_loop, args=(stop,), name="outbox-flusher", daemon=True)
        self._flusher.start()
        if self.cfg.senders.authentication == "off":
            log.warning("sender authentication is off ([senders] authentication): the From domain is "
                        "trusted as written; set it to \"hold\" with our MTA's authserv_id")
        self.catch_up(scheduler, dt.datetime.now(dt.UTC))
        log.info("bot running: mailbox %s@%s:%s/%s", self.cfg.mailbox.user, self.cfg.mailbox.host,
                 self.cfg.mailbox.port, self.cfg.mailbox.folder)
        try:
            watch(mailbox_settings(self.cfg), self.handle, stop=stop)
        finally:
            scheduler.shutdown(wait=True)
            self._flush_wanted.set()  # wake the flusher so it sees `stop` and ends
            if self._flusher is not None:
                self._flusher.join(timeout=60)
            self.flush_outbox()
            self.engine.dispose()
            log.info("bot stopped")
