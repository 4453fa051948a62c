"""`bot demo`: the whole bot on an embedded default, so anyone can see it work.

Starts a real IMAP server (pymap, in-process) and a real SMTP server (aiosmtpd) on loopback,
a SQLite database in a temp dir, loads a small UNIS extract (CP932; the import audits it as the
daemon's does), puts realistic mails into the mailbox (good and defective forms, a scan, a
bounce, an outsider, two 法人一括発注依頼 from 法人営業: a good .xlsx list and a CSV with bad
rows), runs one pass of the daemon's pipeline, sends the replies and the list to 登録G, builds
the day's vendor batch, and prints what happened (bot/demo/report.py, one function a section).

The mails are every ``*.eml`` in bot/demo/mails/, made by tests/fixtures/demo_mails.py (its
EXTRA_MAILS is where the next one goes); nothing here lists them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from bot import db
from bot.actions import outbox
from bot.config import (
    Config,
    CorporateConfig,
    DatabaseConfig,
    MailboxConfig,
    SmtpConfig,
    VendorConfig,
    load_config,
)
from bot.daemon.runner import MailboxRunner
from bot.demo import report as demo_report
from bot.demo.embedded import EmbeddedImap, EmbeddedSmtp
from bot.intake import Mailbox, mailbox_settings
from bot.pipeline.processor import Processor
from bot.templating import Templates
from bot.unis import import_extract
from bot.unis.audit import digest_findings
from bot.vendor import run_vendor_batch

DEMO_DIR = Path(__file__).resolve().parent / "mails"
# 法人営業 (manual §IX): the demo's corporate mails come from this domain (tests/fixtures/corporate.py),
# and the numbered list goes to 登録G for the UNIS 受注登録.
DEMO_CORPORATE = dataclasses.replace(CorporateConfig(), senders=("hojin.usen.co.jp",),
                                     registration_to=("touroku-g@usen.co.jp",))
DEMO_VENDOR_TO = ("orders@fibergate.example",)
# The roles of the manual's second part ([senders]): ルーター交換依頼 from テクニカルサポート課 only, …
DEMO_ROLES = {"support": ("cs.usen.co.jp",), "techsupport": ("techsupport.usen.co.jp",),
              "engineers": ("tech.usen.co.jp",)}


def demo_config(tmp: Path, imap: EmbeddedImap, smtp: EmbeddedSmtp) -> Config:
    cfg = load_config(env={})
    return cfg.replace(
        mailbox=dataclasses.replace(MailboxConfig(), host=imap.host, port=imap.port, user=imap.user,
                                    password=imap.password, poll_seconds=1.0),
        smtp=dataclasses.replace(SmtpConfig(), host=smtp.host, port=smtp.port, timeout=10.0),
        database=DatabaseConfig(url=f"sqlite:///{tmp / 'demo.sqlite3'}"),
        vendor=dataclasses.replace(VendorConfig(), to=DEMO_VENDOR_TO),
        corporate=DEMO_CORPORATE,
        senders=dataclasses.replace(cfg.senders, **DEMO_ROLES),
    )


def run_demo(*, keep: bool = False, out: TextIO = sys.stdout) -> int:
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="usen-spot-demo-"))
    mails = sorted(DEMO_DIR.glob("*.eml"))  # every mail of tests/fixtures/demo_mails.py, extra ones too
    try:
        with EmbeddedImap() as imap, EmbeddedSmtp() as smtp:
            cfg = demo_config(tmp, imap, smtp)
            db.upgrade(cfg.database.url)
            engine = db.make_engine(cfg.database.url)
            factory = db.session_factory(engine)
            # The import audits the extract in its own transaction (bot/unis/__init__.py → unis_audit
            # refresh_after_import), exactly as the daemon's drop-folder import does.
            with db.transaction(factory) as session:
                # Window 0: the sample extract's dates are fixed while the demo runs today, so
                # every finding is shown as current (the window itself: tests/test_unis_window.py).
                unis = import_extract(session, (DEMO_DIR / "unis.csv").read_bytes(), name="unis.csv",
                                      now=dt.datetime.now(dt.UTC), audit_window_days=0)
            with factory() as session:
                today = dt.datetime.now(dt.UTC).astimezone(cfg.office.tz).date()
                findings = digest_findings(session, day=today, tz=cfg.office.tz)
            for path in mails:
                imap.append(path.read_bytes())

            processor = Processor(cfg, factory, Templates())
            runner = MailboxRunner(processor, folder=cfg.mailbox.folder)
            pass_started = time.perf_counter()
            with Mailbox(mailbox_settings(cfg)) as mbox:
                report = runner.handle(mbox)
            pass_seconds = time.perf_counter() - pass_started
            flushed = outbox.flush(factory, cfg.smtp, now=dt.datetime.now(dt.UTC), oauth2=cfg.oauth2)
            sent = smtp.wait_for(flushed.sent, timeout=10) if flushed.sent else []
            # The day's vendor batch, as the 17:00 job would send it (the batch day of mails
            # arriving now: today, or the next business day after the cutoff).
            now = dt.datetime.now(dt.UTC)
            batch_day = processor.calendar.intake_day(now)
            batch = run_vendor_batch(factory, cfg=cfg, day=batch_day, now=now, templates=processor.templates,
                                     send=True)
            vendor_mails = smtp.wait_for(len(sent) + 1, timeout=10)[len(sent):] if batch else []
            engine.dispose()

            run = demo_report.DemoRun(
                imap=f"{imap.host}:{imap.port}", smtp=f"{smtp.host}:{smtp.port}", db_url=cfg.database.url,
                unis=unis, mail_count=len(mails), outcomes=report.outcomes, folders=imap.folder_counts(),
                sent=sent, batch=batch, vendor_mails=len(vendor_mails), vendor_encoding=cfg.vendor.encoding,
                findings=findings, registration_to=cfg.corporate.registration_to, pass_seconds=pass_seconds,
            )
            demo_report.header(run, out)
            demo_report.print_run(run, out)
            demo_report.timing(run, time.perf_counter() - started, out)
            if keep:
                print(f"kept: {tmp}", file=out)
            demo_report.console_hint(out, cfg.database.url if keep else None)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0
