"""The audit log: who did what to which mail, when (logins, failed logins, logouts, actions).

Written in the same transaction as the action it records, so an action without its audit row
cannot happen (and a failed one leaves none).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import vocab
from bot.models import AuditEntry

# AuditEntry.action values and how a person reads them.
LOGIN, LOGIN_FAILED, LOGIN_LIMITED, LOGOUT = "login", "login_failed", "login_limited", "logout"
MANUAL_DISMISS = "manual_dismiss"
MANUAL_ACCEPT, MANUAL_REJECT, MANUAL_REFILE = "manual_accept", "manual_reject", "manual_refile"
USER_ADD, USER_PASSWD, USER_DISABLE, USER_NAME = "user_add", "user_passwd", "user_disable", "user_name"
OUTBOX_REQUEUE, MAIL_REPROCESS = "outbox_requeue", "mail_reprocess"
# Downloads of what a mail or a vendor batch carried: who took a copy of customer data.
ATTACHMENT_DOWNLOAD, VENDOR_CSV_DOWNLOAD = "attachment_download", "vendor_csv_download"
# 対応中: a person takes a held mail; it is released by them or by an admin.
MANUAL_TAKE, MANUAL_RELEASE = "manual_take", "manual_release"
# A value on a scan's review corrected by a person (a sure reading too): before and after.
SCAN_VALUE_CORRECT = "scan_value_correct"
# How a person reads them: the office's words (bot/vocab.py), every action of the console's.
LABELS = vocab.AUDIT_ACTIONS


def record(session: Session, *, action: str, at: dt.datetime, username: str, user_id: int | None = None,
           mail_id: int | None = None, ip: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
    session.add(AuditEntry(at=at, user_id=user_id, username=username[:100], action=action,
                           mail_id=mail_id, ip=(ip or None) and ip[:64], detail=dict(detail or {})))


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: dt.datetime
    username: str
    action: str
    label: str
    mail_id: int | None
    ip: str
    detail: Mapping[str, Any]


def entries(session: Session, *, mail_id: int | None = None, limit: int = 100,
            offset: int = 0) -> tuple[list[AuditLine], int]:
    """Newest first, with the total count (for paging)."""
    where = [] if mail_id is None else [AuditEntry.mail_id == mail_id]
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    rows = session.scalars(select(AuditEntry).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                           .limit(limit).offset(offset)).all()
    return [AuditLine(r.id, r.at, r.username, r.action, LABELS.get(r.action, "その他の操作"), r.mail_id, r.ip or "",
                      r.detail or {}) for r in rows], total
