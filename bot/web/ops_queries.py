"""What the admin pages 送信箱 and 隔離 show, as plain values (reads only).

送信箱: the rows :func:`bot.actions.outbox.problems` names (``bot outbox list``: given up, or pending
after a failed attempt), and every outgoing mail newest first, a page at a time. 隔離: the
quarantined mails nobody resolved, with the reason the pipeline recorded and the last line of
the error; and what a 再処理 made of a mail, read back from its row and its audit entry.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from bot.actions import outbox
from bot.config import Config
from bot.db.models import QUARANTINED, AuditEntry, Mail, OutboxMessage, VendorBatch
from bot.digest import OUTBOX_STATUS_LABELS, PURPOSE_LABELS
from bot.pipeline.filing import folder_for
from bot.web import audit
from bot.web.ledger_queries import OUTBOX_CLASSES
from bot.web.queries import DECISIONS, MailRow, decision_key, mail_row, time_label

OUTBOX_PAGE_SIZE = 50
QUARANTINE_LIMIT = 200


def last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1].strip()[:500] if lines else ""


# -- 送信箱 ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class OutboxLine:
    id: int
    purpose: str
    mail_id: int | None
    batch_id: int | None
    recipients: tuple[str, ...]
    subject: str
    status: str  # the digest's label
    status_class: str
    attempts: int
    last_error: str  # its last line (the exception's message)
    created: str
    next_attempt: str  # pending: when the flusher tries it next
    sent: str
    can_requeue: bool  # 再送 is offered: failed, or pending after the server refused it


def _line(o: OutboxMessage, batch_id: int | None, tz: dt.tzinfo) -> OutboxLine:
    retrying = o.status == outbox.PENDING and o.last_error is not None and bool(o.attempts)
    return OutboxLine(
        id=o.id, purpose=PURPOSE_LABELS.get(o.purpose, o.purpose), mail_id=o.mail_id, batch_id=batch_id,
        recipients=tuple(o.rcpt_to or ()), subject=o.subject or "",
        status=OUTBOX_STATUS_LABELS.get(o.status, o.status), status_class=OUTBOX_CLASSES.get(o.status, "muted"),
        attempts=o.attempts or 0, last_error=last_line(o.last_error), created=time_label(o.created_at, tz),
        next_attempt=time_label(o.next_attempt_at, tz) if o.status == outbox.PENDING else "",
        sent=time_label(o.sent_at, tz), can_requeue=o.status == outbox.FAILED or retrying)


def _batches(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """outbox id → the vendor batch it carried."""
    if not ids:
        return {}
    return {o: b for b, o in session.execute(
        select(VendorBatch.id, VendorBatch.outbox_id).where(VendorBatch.outbox_id.in_(list(ids))))}


def outbox_problems(session: Session, *, tz: dt.tzinfo) -> list[OutboxLine]:
    """``bot outbox list``'s rows (:func:`bot.actions.outbox.problems`, the same function)."""
    rows = outbox.problems(session)
    batch_of = _batches(session, [r.id for r in rows])
    return [_line(r, batch_of.get(r.id), tz) for r in rows]


def outbox_page(session: Session, *, tz: dt.tzinfo, page: int = 1) -> tuple[list[OutboxLine], int, int, int]:
    """(lines, total, page, pages): every outgoing mail, newest first (the bytes not loaded)."""
    total = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    pages = max(1, math.ceil(total / OUTBOX_PAGE_SIZE))
    page = max(1, min(page, pages))
    rows = list(session.scalars(select(OutboxMessage).options(defer(OutboxMessage.raw))
                                .order_by(OutboxMessage.id.desc())
                                .limit(OUTBOX_PAGE_SIZE).offset((page - 1) * OUTBOX_PAGE_SIZE)))
    batch_of = _batches(session, [r.id for r in rows])
    return [_line(r, batch_of.get(r.id), tz) for r in rows], total, page, pages


def outbox_line(session: Session, row_id: int, *, tz: dt.tzinfo) -> OutboxLine | None:
    row = session.scalar(select(OutboxMessage).options(defer(OutboxMessage.raw)).where(OutboxMessage.id == row_id))
    return None if row is None else _line(row, _batches(session, [row_id]).get(row_id), tz)


# -- 隔離 -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuarantinedLine:
    mail: MailRow
    reason: str  # facts.reason (a reader limit, in Japanese), else ""
    error: str  # the traceback's last line
    attempts: int
    folder: str  # the IMAP folder it sits in ("" while still in the watched folder)
    decided: str  # when it was quarantined


def quarantined(session: Session, *, cfg: Config,
                directory: Sequence[tuple[str, str]] = ()) -> tuple[list[QuarantinedLine], int]:
    """Quarantined and unresolved (``bot reprocess --quarantined`` takes these), oldest first."""
    where = (Mail.status == QUARANTINED, Mail.resolved_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Mail).where(*where)) or 0
    tz = cfg.office.tz
    lines = []
    for m in session.scalars(select(Mail).where(*where).order_by(Mail.received_at, Mail.id).limit(QUARANTINE_LIMIT)):
        reason, error = str((m.facts or {}).get("reason") or ""), last_line(m.error)
        if reason and error.partition(": ")[2] in reason:
            error = ""  # the reason already says it (a reader limit: its message is in the reason)
        lines.append(QuarantinedLine(mail_row(m, cfg, directory), reason, error, m.attempts or 0,
                                     m.filed_folder or "", time_label(m.decided_at, tz)))
    return lines, total


@dataclass(frozen=True)
class ReprocessResult:
    """What a 再処理 made of a mail, read back from its row (never from the URL)."""

    mail_id: int
    subject: str
    done: bool  # no longer quarantined
    decision: str  # label: 受付 / 差戻 / 保留 / 対象外 / 隔離
    decision_class: str
    defects: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    reason: str = ""
    message: str = ""  # from the audit entry: why it failed again / was refused
    filing: str = ""  # where the IMAP mail is
    by: str = ""
    at: str = ""


def reprocess_result(session: Session, mail_id: int, *, tz: dt.tzinfo) -> ReprocessResult | None:
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == audit.MAIL_REPROCESS, AuditEntry.mail_id == mail_id)
                           .order_by(AuditEntry.id.desc()).limit(1))
    row = session.get(Mail, mail_id)
    if entry is None or row is None:
        return None
    key = decision_key(row)
    label, css = DECISIONS.get(key, (key, "muted"))
    detail = entry.detail or {}
    done = row.status != QUARANTINED and bool(detail.get("done"))
    filing = ""
    if done and row.filed_at is not None:
        target = folder_for(row)
        filing = (f"IMAP: {target} フォルダへ移動済みです。" if row.filed_folder == target else
                  f"IMAPサーバーに接続できなかったため、メールはまだ {row.filed_folder} フォルダにあります"
                  "（判定は保存済みです）。ボットの振り分け再試行で移動します。")
    elif done:
        filing = f"メールは取り込み処理が次の巡回で {folder_for(row)} フォルダへ移動します。"
    return ReprocessResult(
        mail_id=mail_id, subject=row.subject or "", done=done, decision=label, decision_class=css,
        defects=tuple(d.get("code", "") for d in row.defects or []) if done else (),
        warnings=tuple(w.get("code", "") for w in row.warnings or []) if done else (),
        reason=str((row.facts or {}).get("reason") or (row.facts or {}).get("schedule") or "") if done else "",
        message=str(detail.get("message") or ""), filing=filing, by=entry.username, at=time_label(entry.at, tz))
