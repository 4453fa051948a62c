"""The audit log: who did what to which mail, when (logins, failed logins, logouts, actions).

Written in the same transaction as the action it records, so an action without its audit row
cannot happen (and a failed one leaves none). Read newest first, filtered by who, what and the
office's days (:class:`AuditFilter`); a detail is shown in words by :mod:`bot.web.audit_details`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import AuditEntry
from bot.domain import vocab

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
# A list taken out of the console as CSV (受信一覧, 保留: bot/web/views/exports.py).
LIST_EXPORT = "list_export"
# An office task (Original SSID to confirm in UNIS, 登録通知書 to send) marked done (/tasks).
TASK_DONE = "task_done"
# How a person reads them: the office's words (bot/domain/vocab.py), every action of the console's.
LABELS: Mapping[str, str] = vocab.AUDIT_ACTIONS
FAILED_ACTIONS = frozenset({LOGIN_FAILED, LOGIN_LIMITED})


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


@dataclass(frozen=True)
class AuditFilter:
    """The 監査ログ's filters, from the query string: who (a login name), what (an action),
    from and to (dates, the office's days, both included). A value that does not parse is
    dropped and named in ``problems`` (shown above the list), never a 500."""

    actor: str = ""
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    page: int = 1
    problems: tuple[str, ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> AuditFilter:
        problems: list[str] = []
        action = params.get("action", "").strip()
        if action and action not in LABELS:
            problems.append("操作の指定が不正です")
            action = ""
        days: dict[str, dt.date | None] = {}
        for key, word in (("since", "開始日"), ("until", "終了日")):
            text = params.get(key, "").strip()
            days[key] = None
            if text:
                try:
                    days[key] = dt.date.fromisoformat(text)
                except ValueError:
                    problems.append(f"{word}「{text[:20]}」が読めません（年-月-日）")
        if days["since"] and days["until"] and days["since"] > days["until"]:
            problems.append("開始日が終了日より後です（入れ替えて表示しています）")
            days["since"], days["until"] = days["until"], days["since"]
        try:
            page = max(1, min(int(params.get("page", "1") or 1), 100_000))
        except ValueError:
            page = 1
        return cls(actor=params.get("actor", "").strip()[:100], action=action, since=days["since"],
                   until=days["until"], page=page, problems=tuple(problems))

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters as query parameters (the pager's links keep them)."""
        values = {"actor": self.actor, "action": self.action, "since": self.since.isoformat() if self.since else "",
                  "until": self.until.isoformat() if self.until else "", "page": str(self.page)}
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}

    @property
    def active(self) -> bool:
        return bool(self.actor or self.action or self.since or self.until)


def _where(f: AuditFilter | None, mail_id: int | None, tz: dt.tzinfo) -> list[Any]:
    where: list[Any] = [] if mail_id is None else [AuditEntry.mail_id == mail_id]
    if f is None:
        return where
    if f.actor:
        where.append(func.lower(AuditEntry.username) == f.actor.lower())
    if f.action:
        where.append(AuditEntry.action == f.action)
    if f.since:
        where.append(AuditEntry.at >= dt.datetime.combine(f.since, dt.time(0), tzinfo=tz))
    if f.until:
        where.append(AuditEntry.at < dt.datetime.combine(f.until + dt.timedelta(days=1), dt.time(0), tzinfo=tz))
    return where


def entries(session: Session, *, mail_id: int | None = None, limit: int = 100, offset: int = 0,
            filters: AuditFilter | None = None, tz: dt.tzinfo = dt.UTC) -> tuple[list[AuditLine], int]:
    """Newest first, with the total count (for paging); `filters` with their dates in `tz`."""
    where = _where(filters, mail_id, tz)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    rows = session.scalars(select(AuditEntry).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                           .limit(limit).offset(offset)).all()
    return [AuditLine(r.id, r.at, r.username, r.action, LABELS.get(r.action, "その他の操作"), r.mail_id, r.ip or "",
                      r.detail or {}) for r in rows], total


def actors(session: Session) -> list[str]:
    """Every login name the log holds (for the filter's choice), in order."""
    return sorted({name for name in session.scalars(select(AuditEntry.username).distinct()) if name},
                  key=str.lower)
