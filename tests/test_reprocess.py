"""`bot reprocess`: a quarantined mail is decided again after a fix, by the pipeline's own code,
and its IMAP mail moves out of Quarantine; a mail that still fails stays quarantined with the
new error; anything not quarantined is refused. Real Dovecot, real reader processes."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bot.actions.reprocess import quarantined_ids, reprocess
from bot.cli import main
from bot.config import Config
from bot.config.limits import Limits
from bot.daemon.main import mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.db.models import FILED, QUARANTINED, Mail
from bot.demo.embedded import EmbeddedSmtp
from bot.intake import Mailbox
from tests.fixtures import hostile
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_mail

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def _cfg(url: str, dovecot: Dovecot, smtp: EmbeddedSmtp, pdf_seconds: float) -> Config:
    cfg = make_config(url, smtp=smtp, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password)
    return cfg.replace(limits=dataclasses.replace(Limits(), workers=1, pdf_seconds=pdf_seconds))


def _slow_pdf_mail() -> bytes:
    # The object-stream bomb costs qpdf ~2 s: over a 0.3 s limit, within a 20 s one.
    return hostile._mail(attachments=[("申込書.pdf", hostile.object_stream_bomb(), "application/pdf")],
                         message_id="<slow-pdf@aoyama.usen.co.jp>")


def _quarantine_one(url: str, dovecot: Dovecot, smtp: EmbeddedSmtp) -> int:
    cfg = _cfg(url, dovecot, smtp, pdf_seconds=0.3)
    processor, factory = make_processor(cfg, Clock())
    dovecot.append(_slow_pdf_mail())
    dovecot.append(build_mail(message_id="<plain@aoyama.usen.co.jp>"))
    with Mailbox(mailbox_settings(cfg)) as mbox:
        MailboxRunner(processor).handle(mbox)
    assert len(dovecot.folder_uids("Quarantine")) == 1
    ids = quarantined_ids(factory)
    assert len(ids) == 1
    return ids[0]


def test_a_quarantined_mail_is_decided_again_after_the_limit_is_raised_and_leaves_quarantine(
        sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    mail_id = _quarantine_one(sqlite_url, dovecot, smtp_sink)
    cfg = _cfg(sqlite_url, dovecot, smtp_sink, pdf_seconds=20.0)  # the fix: a raised limit
    processor, factory = make_processor(cfg, Clock())
    result = reprocess(cfg, processor, mail_id, now=NOW, imap_settings=mailbox_settings(cfg))
    assert result.done and result.outcome is not None, result.message
    assert result.outcome.decision != "quarantined"
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.status == FILED and row.decision == result.outcome.decision
        assert row.filed_folder == result.outcome.folder  # recorded where the IMAP mail now is
        assert "reprocessed" in row.facts
    assert dovecot.folder_uids("Quarantine") == []
    assert len(dovecot.folder_uids(result.outcome.folder)) >= 1
    # Done once: a second run is refused, nothing is decided twice.
    again = reprocess(cfg, processor, mail_id, now=NOW, imap_settings=mailbox_settings(cfg))
    assert not again.done and "隔離されていません" in again.message


def test_a_mail_that_still_fails_stays_quarantined_with_the_new_error(
        sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    mail_id = _quarantine_one(sqlite_url, dovecot, smtp_sink)
    cfg = _cfg(sqlite_url, dovecot, smtp_sink, pdf_seconds=0.2)  # not fixed
    processor, factory = make_processor(cfg, Clock())
    result = reprocess(cfg, processor, mail_id, now=NOW, imap_settings=mailbox_settings(cfg))
    assert not result.done and "隔離のまま" in result.message and "pdf_seconds" in result.message
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.status == QUARANTINED and row.decision is None
        assert row.filed_folder == "Quarantine"
    assert len(dovecot.folder_uids("Quarantine")) == 1


def test_bot_reprocess_command_reports_what_each_mail_became(
        sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp, tmp_path, capsys, monkeypatch) -> None:
    mail_id = _quarantine_one(sqlite_url, dovecot, smtp_sink)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox]\nhost = "{dovecot.host}"\nport = {dovecot.port}\nuser = "{dovecot.user}"\n'
        f'[smtp]\nhost = "{smtp_sink.host}"\nport = {smtp_sink.port}\n'
        f'[database]\nurl = "{sqlite_url}"\n[limits]\npdf_seconds = 20.0\nworkers = 1\n', encoding="utf-8")
    monkeypatch.setenv("BOT_MAILBOX_PASSWORD", dovecot.password)
    assert main(["--config", str(config), "reprocess", "--quarantined"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"#{mail_id}: ") and "Quarantine" in out  # what it became, and where it moved
    assert main(["--config", str(config), "reprocess", "--quarantined"]) == 0
    assert "隔離中のメールはありません" in capsys.readouterr().out
    assert main(["--config", str(config), "reprocess", "999999"]) == 1
    assert "見つかりません" in capsys.readouterr().out


def test_a_reprocessed_mail_whose_move_failed_is_moved_by_the_refile_job(
        sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    """Given a quarantined mail decided again while IMAP is away (its decision stands, the mail
    stays in the Quarantine folder), when the daemon's refile job runs with IMAP back, then the
    mail is moved to its decision's folder and recorded there; a second run has nothing to do."""
    from bot.actions.resolve import refile_pending

    mail_id = _quarantine_one(sqlite_url, dovecot, smtp_sink)
    cfg = _cfg(sqlite_url, dovecot, smtp_sink, pdf_seconds=20.0)
    processor, factory = make_processor(cfg, Clock())
    away = dataclasses.replace(mailbox_settings(cfg), port=1, timeout=2.0)  # nothing listens there
    result = reprocess(cfg, processor, mail_id, now=NOW, imap_settings=away)
    assert result.done and result.outcome is not None and "Quarantine" in result.moved
    target = result.outcome.folder
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.status == FILED and row.filed_folder == "Quarantine"
    assert len(dovecot.folder_uids("Quarantine")) == 1

    moved = refile_pending(cfg, factory, now=NOW, settings=mailbox_settings(cfg))
    assert [(m, r.done) for m, r in moved] == [(mail_id, True)]
    assert dovecot.folder_uids("Quarantine") == [] and len(dovecot.folder_uids(target)) >= 1
    with factory() as s:
        assert s.get(Mail, mail_id).filed_folder == target  # type: ignore[union-attr]
    assert refile_pending(cfg, factory, now=NOW, settings=mailbox_settings(cfg)) == []
