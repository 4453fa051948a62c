"""Retention: what the bot stored is kept as long as `[retention]` says, and no longer.

A daily job (bot/daemon/main.py, claimed per office day through bot/jobs/__init__.py so that of several
processes one does it) removes, each in its own short transactions:

- the raw bytes of a mail finished more than ``raw_mail_days`` ago, and its search text: the
  row keeps its decision, reasons and facts; the raw column gets a small stub mail that says
  when and why (the console shows that in place of the body). A mail is finished when it is
  filed away (not held for a person), or when a person closed it;
- the bytes of replies, vendor batches and digests sent more than ``sent_mail_days`` ago
  (a stub too; recipients, subject and dates stay);
- the row of a mail finished more than ``records_years`` ago (the legal period of 帳簿書類),
  with its search text, scan record and its replies' rows; what refers to it from the ledger,
  the vendor rows and the audit log keeps its entry, without the link;
- files in the UNIS drop folder's ``done/`` and ``failed/`` older than ``unis_done_days``;
- expired console sessions, audit entries older than ``audit_days`` and logins/logouts older
  than ``login_days``;
- reply counters (the per-sender hourly cap) older than two days.

Never removed: the ledger (管理台帳) and its history, vendor rows and batches, UNIS data, users,
templates. The IMAP folders are left to the mail server (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config import RetentionConfig
from bot.db.models import (
    DECIDED,
    FILED,
    QUARANTINED,
    AuditEntry,
    CorporateSite,
    LedgerEvent,
    Mail,
    MailText,
    OutboxMessage,
    ReplyCount,
    ScanShadow,
    VendorRow,
    WebSession,
)

log = logging.getLogger("bot.jobs.retention")

JOB = "retention"
# The raw column of a mail whose bytes were removed starts with this header (a stub mail).
MARKER = b"X-Usen-Spot-Removed: "
LOGIN_ACTIONS = ("login", "login_failed", "login_limited", "logout")
REPLY_COUNTS_KEPT = dt.timedelta(days=2)
_CHUNK = 500


@dataclass(frozen=True)
class RetentionReport:
    """What one run removed (counts)."""

    raw_mails: int = 0
    sent_mails: int = 0
    mail_rows: int = 0
    unis_files: int = 0
    sessions: int = 0
    audit_entries: int = 0
    reply_counts: int = 0

    def note(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


def _days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def finished_before(cutoff: dt.datetime) -> object:
    """SQL: the mail was finished before ``cutoff``: filed away and not held for a person, or
    closed by a person (a held or quarantined mail that someone resolved)."""
    not_held = or_(Mail.decision.is_(None), Mail.decision != "manual")
    return or_(and_(Mail.status == FILED, not_held, Mail.filed_at < cutoff),
               and_(Mail.status.in_((FILED, DECIDED, QUARANTINED)), Mail.resolved_at < cutoff))


STUB_MAX = 8192  # a stub is smaller (its headers are cut to 200 characters)


def has_raw(column: object = Mail.raw) -> object:
    """SQL: the raw column still holds the mail (not the stub left by retention). The length
    comes first: SQLite and PostgreSQL read it without the value (overflow pages, TOAST), so
    only small values are read for their first bytes."""
    return or_(func.length(column) >= STUB_MAX, func.substr(column, 1, len(MARKER)) != MARKER)


def stub(*, removed: dt.date, days: int, subject: str | None, sender: str | None, message_id: str | None,
         what: str) -> bytes:
    """A small mail standing in for one whose bytes were removed: the console shows its text."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg[MARKER.decode().rstrip(": ")] = f"{removed.isoformat()} ([retention] {days} days)"
    # The stored headers as they came (one odd From must not stop the job for every mail).
    for name, value in (("Message-ID", message_id), ("From", sender), ("Subject", subject)):
        clean = " ".join((value or "").split())[:200]
        if clean:
            try:
                msg[name] = clean
            except (ValueError, TypeError, IndexError):
                log.debug("retention: %s %r left out of the stub", name, clean)
    msg.set_content(f"{what}は保存期間（{days} 日）を過ぎたため {removed.isoformat()} に削除しました。"
                    "判定と理由の記録は残っています。\n", charset="utf-8")
    raw = msg.as_bytes()
    assert len(raw) < STUB_MAX
    return raw


def run(factory: sessionmaker[Session], cfg: RetentionConfig, *, now: dt.datetime,
        drop_dir: str = "") -> RetentionReport:
    """Remove what is past its retention; logs and returns what it removed."""
    today = now.date()
    report = RetentionReport(
        raw_mails=_remove_raw_mails(factory, cfg.raw_mail_days, now, today) if cfg.raw_mail_days else 0,
        sent_mails=_remove_sent_mails(factory, cfg.sent_mail_days, now, today) if cfg.sent_mail_days else 0,
        mail_rows=_remove_mail_rows(factory, now - dt.timedelta(days=round(365.25 * cfg.records_years))),
        unis_files=_remove_unis_files(Path(drop_dir), cfg.unis_done_days, now) if drop_dir and cfg.unis_done_days else 0,
        sessions=_delete(factory, delete(WebSession).where(WebSession.expires_at < now)),
        audit_entries=_remove_audit(factory, cfg, now),
        reply_counts=_delete(factory, delete(ReplyCount).where(ReplyCount.hour < now - REPLY_COUNTS_KEPT)),
    )
    log.info("retention: removed the raw bytes of %d mail(s) finished over %d days ago and of %d sent mail(s) "
             "over %d days old, %d mail row(s) finished over %d years ago, %d UNIS file(s), %d expired "
             "session(s), %d audit entr(ies), %d reply counter(s)", report.raw_mails, cfg.raw_mail_days,
             report.sent_mails, cfg.sent_mail_days, report.mail_rows, cfg.records_years, report.unis_files,
             report.sessions, report.audit_entries, report.reply_counts)
    return report


def _delete(factory: sessionmaker[Session], statement: object) -> int:
    with db.transaction(factory) as session:
        return int(session.execute(statement, execution_options={"synchronize_session": False}).rowcount or 0)  # type: ignore[call-overload,attr-defined]


def _remove_raw_mails(factory: sessionmaker[Session], days: int, now: dt.datetime, today: dt.date) -> int:
    removed = after = 0
    while True:
        with db.transaction(factory) as session:
            rows = session.execute(select(Mail.id, Mail.subject, Mail.from_addr, Mail.message_id)
                                   .where(Mail.id > after, finished_before(now - _days(days)), has_raw())
                                   .order_by(Mail.id).limit(_CHUNK)).all()
            if not rows:
                return removed
            session.execute(update(Mail), [
                {"id": r.id, "raw": stub(removed=today, days=days, subject=r.subject, sender=r.from_addr,
                                         message_id=r.message_id, what="このメールの本文と添付ファイル")}
                for r in rows])
            ids = [r.id for r in rows]
            after = ids[-1]
            session.execute(delete(MailText).where(MailText.mail_id.in_(ids)),
                            execution_options={"synchronize_session": False})
        removed += len(rows)
        log.debug("retention: raw bytes of mails %s…%s removed", ids[0], ids[-1])


def _remove_sent_mails(factory: sessionmaker[Session], days: int, now: dt.datetime, today: dt.date) -> int:
    removed = after = 0
    while True:
        with db.transaction(factory) as session:
            rows = session.execute(select(OutboxMessage.id, OutboxMessage.subject, OutboxMessage.mail_from,
                                          OutboxMessage.message_id)
                                   .where(OutboxMessage.id > after, OutboxMessage.status == "sent", OutboxMessage.sent_at < now - _days(days),
                                          has_raw(OutboxMessage.raw))
                                   .order_by(OutboxMessage.id).limit(_CHUNK)).all()
            if not rows:
                return removed
            session.execute(update(OutboxMessage), [
                {"id": r.id, "raw": stub(removed=today, days=days, subject=r.subject, sender=r.mail_from,
                                         message_id=r.message_id, what="送信したメールの本文と添付ファイル")}
                for r in rows])
        after = rows[-1].id
        removed += len(rows)


def _remove_mail_rows(factory: sessionmaker[Session], cutoff: dt.datetime) -> int:
    """Mail rows past the legal period, with what hangs on them; links to them from the ledger,
    vendor rows, corporate sites and the audit log are cleared (those records stay)."""
    removed = 0
    while True:
        with db.transaction(factory) as session:
            ids = list(session.scalars(select(Mail.id).where(finished_before(cutoff), Mail.received_at < cutoff)
                                       .order_by(Mail.id).limit(_CHUNK)))
            if not ids:
                return removed
            _unlink(session, ids)
            session.execute(delete(Mail).where(Mail.id.in_(ids)), execution_options={"synchronize_session": False})
        removed += len(ids)


def _unlink(session: Session, ids: Sequence[int]) -> None:
    quiet = {"synchronize_session": False}
    for table in (MailText, ScanShadow):
        session.execute(delete(table).where(table.mail_id.in_(ids)), execution_options=quiet)
    session.execute(delete(OutboxMessage).where(OutboxMessage.mail_id.in_(ids),
                                                OutboxMessage.status.in_(("sent", "failed"))), execution_options=quiet)
    for table in (OutboxMessage, LedgerEvent, VendorRow, CorporateSite, AuditEntry):
        session.execute(update(table).where(table.mail_id.in_(ids)).values(mail_id=None), execution_options=quiet)


def _remove_audit(factory: sessionmaker[Session], cfg: RetentionConfig, now: dt.datetime) -> int:
    removed = 0
    if cfg.login_days:
        removed += _delete(factory, delete(AuditEntry).where(AuditEntry.action.in_(LOGIN_ACTIONS),
                                                            AuditEntry.at < now - _days(cfg.login_days)))
    if cfg.audit_days:
        removed += _delete(factory, delete(AuditEntry).where(AuditEntry.at < now - _days(cfg.audit_days)))
    return removed


def _remove_unis_files(drop_dir: Path, days: int, now: dt.datetime) -> int:
    """Files in done/ and failed/ whose time (the upload's: a rename keeps it) is older."""
    cutoff = (now - _days(days)).timestamp()
    removed = 0
    for sub in ("done", "failed"):
        folder = drop_dir / sub
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
                    log.debug("retention: removed %s", path)
            except FileNotFoundError:
                continue  # another process removed it
    return removed


# -- what `bot status` shows -------------------------------------------------------------------


def database_bytes(session: Session) -> int | None:
    """The database's size on disk (SQLite: its pages; PostgreSQL: pg_database_size)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return int(session.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    if dialect == "sqlite":
        pages = session.scalar(text("PRAGMA page_count")) or 0
        size = session.scalar(text("PRAGMA page_size")) or 0
        return int(pages) * int(size)
    return None


def oldest_raw_mail(session: Session) -> dt.datetime | None:
    """When the oldest mail still held raw was received (the index on received_at, newest
    stubs first skipped)."""
    return session.scalar(select(Mail.received_at).where(has_raw()).order_by(Mail.received_at, Mail.id).limit(1))
