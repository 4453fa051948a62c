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

from apscheduler.schedulers.background import BackgroundScheduler

from bot import db, outbox
from bot.config import Config
from bot.intake import Mailbox, MailboxSettings, watch
from bot.pipeline import Processor
from bot.runner import MailboxRunner, PassReport
from bot.templating import Templates

log = logging.getLogger("bot.daemon")


def mailbox_settings(cfg: Config) -> MailboxSettings:
    m = cfg.mailbox
    return MailboxSettings(host=m.host, port=m.port, user=m.user, password=m.password, ssl=m.ssl, folder=m.folder,
                           batch_size=m.batch_size, poll_seconds=m.poll_seconds)


@dataclass
class Daemon:
    cfg: Config
    last_fetch_at: dt.datetime | None = field(default=None)

    def __post_init__(self) -> None:
        db.upgrade(self.cfg.database.url)
        self.engine = db.make_engine(self.cfg.database.url)
        self.factory = db.session_factory(self.engine)
        from pathlib import Path

        admin = Path(self.cfg.templates.dir) if self.cfg.templates.dir else None
        self.processor = Processor(self.cfg, self.factory, Templates(admin_dir=admin))
        self.runner = MailboxRunner(self.processor, folder=self.cfg.mailbox.folder)
        self._flush_lock = threading.Lock()

    def handle(self, mbox: Mailbox) -> PassReport:
        report = self.runner.handle(mbox)
        self.last_fetch_at = dt.datetime.now(dt.UTC)
        if report.outcomes:
            self.flush_outbox()
        return report

    def flush_outbox(self) -> outbox.FlushResult | None:
        if not self._flush_lock.acquire(blocking=False):
            return None  # a flush is already running; it will pick these rows up
        try:
            return outbox.flush(self.factory, self.cfg.smtp, now=dt.datetime.now(dt.UTC))
        except Exception:  # noqa: BLE001 - the scheduler must survive a broken SMTP server
            log.exception("outbox flush failed; rows stay pending")
            return None
        finally:
            self._flush_lock.release()

    def run(self, stop: threading.Event) -> None:
        scheduler = BackgroundScheduler(timezone=self.cfg.office.timezone)
        scheduler.add_job(self.flush_outbox, "interval", seconds=60, id="outbox-flush", max_instances=1,
                          coalesce=True)
        scheduler.start()
        log.info("bot running: mailbox %s@%s:%s/%s", self.cfg.mailbox.user, self.cfg.mailbox.host,
                 self.cfg.mailbox.port, self.cfg.mailbox.folder)
        try:
            watch(mailbox_settings(self.cfg), self.handle, stop=stop)
        finally:
            scheduler.shutdown(wait=True)
            self.flush_outbox()
            self.engine.dispose()
            log.info("bot stopped")
