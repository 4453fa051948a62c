"""A mail whose reader crashes or overruns is retried once, then quarantined with the limit
named; a mail that killed the bot while it was read is not read a third time; outsiders and
forged senders have no attachment opened at all. Real Dovecot, real reader processes."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from bot import db
from bot.config import Config, SendersConfig
from bot.daemon import mailbox_settings
from bot.embedded import EmbeddedSmtp
from bot.intake import Mailbox
from bot.limits import Limits
from bot.models import QUARANTINED, STORED, Mail
from bot.runner import MailboxRunner
from tests.fixtures import hostile
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_mail


def setup(url: str, dovecot: Dovecot, smtp: EmbeddedSmtp, **limits: object) -> tuple[Config, object, object]:
    cfg = make_config(url, smtp=smtp, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password)
    cfg = cfg.replace(limits=dataclasses.replace(Limits(), workers=1, **limits))
    processor, factory = make_processor(cfg, Clock())
    return cfg, processor, factory


class Forbidden:
    """A PDF reader that must not be called."""

    pool = None  # nothing to read ahead with

    def __init__(self, why: str) -> None:
        self.why = why

    def read(self, pdfs: object, form: str) -> tuple[object, ...]:
        raise AssertionError(self.why)


def one_pass(cfg: Config, processor: object):  # noqa: ANN201
    with Mailbox(mailbox_settings(cfg)) as mbox:
        return MailboxRunner(processor).handle(mbox)  # type: ignore[arg-type]


def bomb_mail() -> bytes:
    # The object-stream bomb costs qpdf ~2 s to inflate before anything can measure it.
    return hostile._mail(attachments=[("申込書.pdf", hostile.object_stream_bomb(), "application/pdf")],
                         message_id="<slow-bomb@aoyama.usen.co.jp>")


def test_a_reader_that_overruns_twice_is_quarantined_and_the_others_go_on(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a PDF whose reading takes longer than pdf_seconds, and an ordinary mail after it,
    when a pass runs, then the reader is killed twice and the mail quarantined with the limit
    named, and the ordinary mail is decided in the same pass."""
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink, pdf_seconds=0.3)
    dovecot.append(bomb_mail())
    dovecot.append(build_mail(message_id="<plain@aoyama.usen.co.jp>"))  # no PDF: a 差戻
    report = one_pass(cfg, processor)
    assert sorted(o.decision for o in report.outcomes) == ["quarantined", "rejected"]
    assert len(dovecot.folder_uids("Quarantine")) == 1
    with factory() as s:
        row = s.scalar(select(Mail).where(Mail.status == QUARANTINED))
        assert row is not None and row.attempts == 2
        assert "pdf_seconds" in row.facts["reason"] and "2回" in row.facts["reason"]


def test_a_mail_that_stopped_the_bot_twice_is_not_read_again(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a stored mail whose deciding was started twice and never finished (the bot died
    while reading it), when the bot comes back, then it is quarantined without being read."""
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink)
    dovecot.append(bomb_mail())
    with Mailbox(mailbox_settings(cfg)) as mbox:
        [message] = list(mbox.fetch_messages(mbox.list_uids()))
        uidvalidity = mbox.uidvalidity
    stored = processor.store(message.raw, folder="INBOX", uidvalidity=uidvalidity, uid=message.uid)
    with db.transaction(factory) as s:
        row = s.get(Mail, stored.mail_id)
        assert row is not None and row.status == STORED
        row.attempts = 2

    processor.reader = Forbidden("the PDF was read a third time")  # type: ignore[attr-defined]
    report = one_pass(cfg, processor)
    assert [o.decision for o in report.outcomes] == ["quarantined"]
    with factory() as s:
        row = s.get(Mail, stored.mail_id)
        assert row is not None and "never finished" in (row.error or "")


def test_outsiders_and_forged_senders_cost_nothing(sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    """Given a PDF bomb from an outside domain and one under a dmarc=fail verdict of our MTA,
    when a pass runs with authentication on, then neither PDF is opened: ignored and held."""
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink)
    cfg = cfg.replace(senders=dataclasses.replace(SendersConfig(), authentication="hold",
                                                  authserv_id="mx.usen.co.jp"))
    processor, factory = make_processor(cfg, Clock())

    processor.reader = Forbidden("an attachment was opened before the sender was checked")  # type: ignore[attr-defined]
    pdf = [("申込書.pdf", hostile.flate_content_bomb(), "application/pdf")]
    dovecot.append(hostile._mail(from_="evil@usen.co.jp.evil.example", attachments=pdf))
    dovecot.append(hostile.mail_dmarc_fail("mx.usen.co.jp").replace(
        b"\r\n\r\n", b"\r\n\r\n", 1))  # no PDF, but held by authentication
    dovecot.append(b"Authentication-Results: mx.usen.co.jp; dmarc=fail header.from=usen.co.jp\r\n"
                   + hostile._mail(attachments=pdf))
    report = one_pass(cfg, processor)
    assert sorted(o.decision for o in report.outcomes) == ["ignored", "manual", "manual"]
    assert all("送信者認証" in o.reason or "許可ドメイン外" in o.reason for o in report.outcomes)
    assert smtp_sink.messages == []
