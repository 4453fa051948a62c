"""First start on a mailbox with years of history: mails delivered before `[mailbox] since` (or
more than `max_age_days` ago) are left where they are: never fetched, never stored, never
answered; `bot status` says how many. Real Dovecot (INTERNALDATE set at APPEND)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select

from bot.config import MailboxConfig
from bot.daemon import health
from bot.daemon.main import Daemon, mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.db.models import Mail
from bot.demo.embedded import EmbeddedSmtp
from bot.intake import Mailbox
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_mail

OLD = dt.datetime(2023, 4, 3, 10, 0, tzinfo=dt.UTC)


def _deliver(dovecot: Dovecot, *, old: int, new: int) -> None:
    with dovecot.client() as client:
        for i in range(old):
            client.append("INBOX", build_mail(message_id=f"<old-{i}@aoyama.usen.co.jp>"), msg_time=OLD)
    dovecot.append_many([build_mail(message_id=f"<new-{i}@aoyama.usen.co.jp>") for i in range(new)])


def _cfg(url: str, dovecot: Dovecot, smtp: EmbeddedSmtp, **mailbox: object):  # noqa: ANN202
    cfg = make_config(url, smtp=smtp, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password)
    return cfg.replace(mailbox=dataclasses.replace(cfg.mailbox, **mailbox))


def test_mails_before_since_are_left_alone_and_counted(sqlite_url: str, dovecot: Dovecot,
                                                      smtp_sink: EmbeddedSmtp) -> None:
    _deliver(dovecot, old=25, new=3)
    cfg = _cfg(sqlite_url, dovecot, smtp_sink, since="2026-01-01")
    processor, factory = make_processor(cfg, Clock())
    runner = MailboxRunner(processor)
    with Mailbox(mailbox_settings(cfg)) as mbox:
        report = runner.handle(mbox)
        assert report.left_alone == 25 and len(report.outcomes) == 3
        again = runner.handle(mbox)  # the next (delta) pass: nothing old is fetched either
        assert again.outcomes == [] and again.stored == 0
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Mail)) == 3
        assert not s.scalar(select(func.count()).select_from(Mail).where(Mail.message_id.like("<old-%")))
    assert len(dovecot.folder_uids("INBOX")) == 25  # history stays where it is
    assert len(dovecot.folder_uids("Rejected")) == 3


def test_max_age_days_leaves_old_mail_alone_and_status_reports_the_count(
        sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    _deliver(dovecot, old=4, new=2)
    cfg = _cfg(sqlite_url, dovecot, smtp_sink, max_age_days=30)
    daemon = Daemon(cfg)
    with Mailbox(mailbox_settings(cfg)) as mbox:
        report = daemon.handle(mbox)
    assert report.left_alone == 4 and len(report.outcomes) == 2
    daemon.on_state(None)  # as the watcher does after a pass: the heartbeat carries the count
    with daemon.factory() as s:
        h = health.collect(s, now=dt.datetime.now(dt.UTC), tz=cfg.office.tz)
    assert h.left_alone == 4
    daemon.engine.dispose()


def test_since_must_be_a_date() -> None:
    import pytest

    from bot.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"\[mailbox\] since"):
        load_config(env={"BOT_MAILBOX_SINCE": "last year"})
    assert MailboxConfig(since="2026-01-01").since_date == dt.date(2026, 1, 1)
