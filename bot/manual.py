"""The queue of mails held for a person (保留 manual, 隔離 quarantined) and closing them.

The digest lists every held mail until a person marks it done with
``bot manual resolve ID --note "…"`` (bot/commands/manual.py) or in the console; the
resolution is kept on the mail's row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.models import QUARANTINED, Mail


class ManualQueueError(Exception):
    pass


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
        raise ManualQueueError(f"mail {mail_id}: no such mail")
    if row.decision != "manual" and row.status != QUARANTINED:
        raise ManualQueueError(f"mail {mail_id}: not held for a person (decision {row.decision}, status {row.status})")
    if row.resolved_at is not None:
        raise ManualQueueError(f"mail {mail_id}: already resolved by {row.resolved_by} at {row.resolved_at:%Y-%m-%d %H:%M}")
    row.resolved_at, row.resolved_by, row.resolution = now, by, note
    return row
