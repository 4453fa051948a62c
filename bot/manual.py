"""The queue of mails held for a person (保留 manual, 隔離 quarantined) and closing them.

The digest lists every held mail until a person marks it done with
``bot manual resolve ID --note "…"``; the resolution is kept on the mail's row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.config import Config
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


def cli_manual(args: argparse.Namespace, cfg: Config) -> int:
    from bot import db

    engine = db.make_engine(cfg.database.url)
    factory = db.session_factory(engine)
    tz = cfg.office.tz
    try:
        if args.manual_command == "list":
            with factory() as session:
                items = open_items(session)
            if not items:
                print("保留中のメールはありません / nothing held for a person")
            for item in items:
                label = "隔離" if item.status == QUARANTINED else "保留"
                print(f"{item.id}\t{label}\t{item.received_at.astimezone(tz):%Y/%m/%d %H:%M}\t"
                      f"{item.from_addr or '-'}\t{item.subject}\t{item.reason}")
            return 0
        by = args.by or getpass.getuser()
        try:
            with db.transaction(factory) as session:
                resolve(session, args.id, by=by, note=args.note or "", now=dt.datetime.now(dt.UTC))
        except ManualQueueError as err:
            print(f"bot manual resolve: {err}", file=sys.stderr)
            return 2
        print(f"mail {args.id}: 対応済み / resolved by {by}")
        return 0
    finally:
        engine.dispose()
