"""The queue of mails held for a person (保留 manual, 隔離 quarantined) and closing them.

The digest lists every held mail until a person marks it done with
``bot manual resolve ID --note "…"`` (bot/commands/manual.py) or in the console; the
resolution is kept on the mail's row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import QUARANTINED, Mail
from bot.domain import vocab


class ManualQueueError(Exception):
    """A mail that cannot be closed, said in the office's words: ``bot manual resolve`` prints
    it as it is; the console names the person by :meth:`words` with their display name."""

    def __init__(self, mail_id: int, problem: str, *, decision: str | None = None, resolved_by: str | None = None,
                 resolution: str | None = None) -> None:
        self.mail_id, self.problem, self.decision = mail_id, problem, decision
        self.resolved_by, self.resolution = resolved_by, resolution
        super().__init__(self.words())

    def words(self, person: Callable[[str], str] = str) -> str:
        """The message; `person` turns a login name into the name the office uses (香川)."""
        if self.problem == NO_SUCH_MAIL:
            return f"メール #{self.mail_id} は見つかりません。"
        if self.problem == NOT_HELD:
            decision = vocab.DECISIONS.get(self.decision or "", vocab.DECISIONS["undecided"])
            return f"メール #{self.mail_id} は保留・隔離中のメールではありません（判定：{decision}）。"
        note = f"（{self.resolution}）" if self.resolution else ""
        return f"メール #{self.mail_id} は {person(self.resolved_by or '')} さんが対応済みです{note}。"


# ManualQueueError.problem
NO_SUCH_MAIL, NOT_HELD, ALREADY_RESOLVED = "no_such_mail", "not_held", "already_resolved"


@dataclass(frozen=True)
class HeldMail:
    id: int
    status: str  # manual | quarantined
    received_at: dt.datetime
    from_addr: str | None
    subject: str
    reason: str


def held_where() -> ColumnElement[bool]:
    """Held for a person and not resolved (manual or quarantined): the queue, here, in the
    digest's sense and in the console (bot/web/queries.py)."""
    return and_(or_(Mail.decision == "manual", Mail.status == QUARANTINED), Mail.resolved_at.is_(None))


def _held():  # noqa: ANN202 - a select
    return select(Mail).where(held_where())


def open_items(session: Session) -> list[HeldMail]:
    rows = session.scalars(_held().order_by(Mail.received_at, Mail.id)).all()
    return [
        HeldMail(m.id, QUARANTINED if m.status == QUARANTINED else "manual", m.received_at, m.from_addr,
                 m.subject or "", _why(m))
        for m in rows
    ]


def why(m: Mail) -> str:
    """Why the mail is held, as ``bot manual list`` and the console show it."""
    return _why(m)


def _why(m: Mail) -> str:
    """The decision's reason, or for a quarantined mail the exception line of its traceback."""
    reason = (m.facts or {}).get("reason")
    if reason:
        return str(reason)
    lines = (m.error or "").strip().splitlines()
    return lines[-1] if lines else ""


def resolve(session: Session, mail_id: int, *, by: str, note: str, now: dt.datetime) -> Mail:
    row = session.get(Mail, mail_id)
    if row is None:
        raise ManualQueueError(mail_id, NO_SUCH_MAIL)
    if row.decision != "manual" and row.status != QUARANTINED:
        raise ManualQueueError(mail_id, NOT_HELD, decision=row.decision)
    if row.resolved_at is not None:
        raise ManualQueueError(mail_id, ALREADY_RESOLVED, resolved_by=row.resolved_by, resolution=row.resolution)
    row.resolved_at, row.resolved_by, row.resolution = now, by, note
    return row
