"""The office's own tasks from a mail (issue 23 point 4): an Original SSID to confirm in UNIS
(manual IV: 「Original SSIDの追加申し込みについては、支店ではなく事務センターでUNIS確定します」,
item Z200549) and a 登録通知書 to send again (manual IV: CS asks after correcting the CS screen).
Created in the accepted decision's transaction; open until a person marks one done in the
console (audited there); the digest lists the open ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import LedgerEntry, OfficeTask
from bot.domain import vocab

UNIS_SSID, NOTICE_RESEND = "unis_ssid", "notice_resend"


class TaskError(Exception):
    """A task that cannot be marked done (gone, or done already): the message says so in Japanese."""


@dataclass(frozen=True)
class TaskLine:
    id: int
    kind: str
    label: str  # the office's words for the work
    customer_code: str
    shop_name: str
    detail: Mapping[str, Any]
    mail_id: int | None
    created_at: dt.datetime


def add(session: Session, kind: str, *, customer_code: str, mail_id: int | None, now: dt.datetime,
        detail: Mapping[str, Any] | None = None) -> OfficeTask:
    task = OfficeTask(kind=kind, customer_code=customer_code, mail_id=mail_id, detail=dict(detail or {}),
                      created_at=now)
    session.add(task)
    return task


def open_tasks(session: Session) -> list[TaskLine]:
    """The tasks not done, oldest first (reads only)."""
    rows = session.execute(select(OfficeTask, LedgerEntry.shop_name)
                           .outerjoin(LedgerEntry, LedgerEntry.customer_code == OfficeTask.customer_code)
                           .where(OfficeTask.done_at.is_(None)).order_by(OfficeTask.id))
    return [TaskLine(t.id, t.kind, vocab.OFFICE_TASKS.get(t.kind, t.kind), t.customer_code, shop or "",
                     dict(t.detail or {}), t.mail_id, t.created_at) for t, shop in rows]


def mark_done(session: Session, task_id: int, *, by: str, now: dt.datetime) -> OfficeTask:
    """Mark the task done, on its row locked (two clicks, two people: one marks it)."""
    task = session.scalar(select(OfficeTask).where(OfficeTask.id == task_id).with_for_update())
    if task is None:
        raise TaskError(f"作業 #{task_id} は見つかりません。")
    if task.done_at is not None:
        raise TaskError(f"作業 #{task_id} は {task.done_by} さんが完了済みです。")
    task.done_at, task.done_by = now, by
    return task
