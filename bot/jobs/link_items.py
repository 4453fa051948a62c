"""「リンク品使用連絡」: every link item an engineer (or テクサポ課) reported on a business day goes
to FG社 and UTS in one mail the next business morning (manual 故障交換: 「前営業日に現場から
エンジニア社員が問い合わせた履歴を基に、ファイバーゲート社とUTSへリンク品使用連絡」).

A report is the accepted リンク品使用連絡 mails whose intake day (the 17:00 cutoff, business days:
bot/domain/calendar.py) is that day, read from the 管理台帳's ``link_item`` events. It goes out
once: the job runs once per report day across processes and restarts (bot/jobs/__init__.py), a
day missed while the bot was down is sent after the restart, and the outbox row carries the day
as its ref, checked under a lock in the transaction that queues it (a second run queues
nothing). A day without link items sends nothing and needs no recipient; one with items and no
[vendor] link_items_to fails, so the job is tried again once the address is set.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db, jobs
from bot.config import Config
from bot.db.models import LedgerEntry, LedgerEvent, Mail, OutboxMessage
from bot.domain.calendar import BusinessCalendar
from bot.templating import Templates
from bot.templating.samples import register_sample

log = logging.getLogger("bot.jobs.link_items")

JOB = jobs.LINK_ITEMS
TEMPLATE = "link_items.txt.j2"
PURPOSE = "link_items"
EVENT = "link_item"
# Events are searched this far back from the report day (a mail decided late, after a stop).
_LOOK_BACK = dt.timedelta(days=31)


class LinkItemsError(Exception):
    """The report cannot be sent (no recipients while there are link items to report)."""


@dataclass(frozen=True)
class LinkItem:
    customer_code: str
    shop_name: str
    old_serial: str
    new_serial: str
    unit: str
    reporter: str
    received_at: str


SAMPLE: Mapping[str, Any] = {"day": "2026/11/24", "items": [
    {"customer_code": "988776654", "shop_name": "カフェ AOYAMA", "old_serial": "FG6014112617", "new_serial": "FG6014119930",
     "unit": "親機", "reporter": "engineer@usen.co.jp", "received_at": "11/24 15:02"}]}
register_sample(TEMPLATE, SAMPLE)


def ref(day: dt.date) -> str:
    return f"{PURPOSE}:{day.isoformat()}"


def items_of(session: Session, day: dt.date, tz: dt.tzinfo) -> list[LinkItem]:
    """The link items whose mails belong to `day` (their intake day), in the order they came."""
    since = dt.datetime.combine(day, dt.time(), tz) - _LOOK_BACK
    rows = session.execute(
        select(LedgerEvent, Mail.from_addr, Mail.received_at, LedgerEntry.shop_name)
        .outerjoin(Mail, Mail.id == LedgerEvent.mail_id)
        .outerjoin(LedgerEntry, LedgerEntry.customer_code == LedgerEvent.customer_code)
        .where(LedgerEvent.event == EVENT, LedgerEvent.at >= since).order_by(LedgerEvent.id))
    found = []
    for event, sender, received, shop in rows:
        detail: Mapping[str, Any] = event.detail or {}
        if detail.get("day") != day.isoformat():
            continue
        found.append(LinkItem(event.customer_code, shop or "", str(detail.get("旧シリアル", "")),
                              str(detail.get("新シリアル", "")), str(detail.get("親機/子機", "")), sender or "",
                              f"{received.astimezone(tz):%m/%d %H:%M}" if received else ""))
    return found


def report_day(calendar: BusinessCalendar, run_day: dt.date) -> dt.date:
    """The business day whose link items the run of `run_day` reports: the one before it."""
    return calendar.add_business_days(run_day, -1)


def run_due(factory: sessionmaker[Session], *, cfg: Config, calendar: BusinessCalendar, templates: Templates,
            now_fn: Callable[[], dt.datetime]) -> list[jobs.RunResult]:
    """Every business morning whose report is due and not done (today's after its time, and the
    ones missed while the bot was down), oldest first, each once (bot/jobs/__init__.py)."""
    with factory() as session:
        days = jobs.missed_days(session, jobs.LINK_ITEMS, calendar, now=now_fn(), at=cfg.vendor.link_items_time_of_day)
    return [jobs.run_once(factory, jobs.LINK_ITEMS, day.isoformat(), lambda day=day: send_report(  # type: ignore[misc]
        factory, cfg=cfg, calendar=calendar, run_day=day, now=now_fn(), templates=templates), now_fn=now_fn)
        for day in days]


def send_report(factory: sessionmaker[Session], *, cfg: Config, calendar: BusinessCalendar, run_day: dt.date,
                now: dt.datetime, templates: Templates) -> str:
    """Queue the report of the business day before `run_day` (once); a note of what was done."""
    from bot.actions.outbox import enqueue, office_message

    day = report_day(calendar, run_day)
    with factory() as session, session.begin():
        db.serialise(session, ref(day))
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.ref == ref(day)).limit(1)) is not None:
            return f"{day}: already queued"
        items = items_of(session, day, calendar.tz)
        if not items:
            return f"{day}: no link items"
        if not cfg.vendor.link_items_to:
            raise LinkItemsError(f"{cfg.source}: [vendor] link_items_to is empty: {len(items)} link item(s) of {day} "
                                 "wait to be reported to FG社 and UTS")
        rendered = templates.render_mail(TEMPLATE, {"day": f"{day:%Y/%m/%d}", "items": [vars(i) for i in items]},
                                         required=("subject",))
        msg = office_message(from_addr=cfg.smtp.from_addr, to=cfg.vendor.link_items_to, text=rendered.text,
                             subject=" ".join(str(rendered.exports["subject"]).split()), date=now.astimezone(calendar.tz))
        row = enqueue(session, msg, purpose=PURPOSE, now=now, ref=ref(day))
        session.flush()
        row_id = row.id
    log.info("link items of %s: %d reported (outbox %s) to %s", day, len(items), row_id,
             ", ".join(cfg.vendor.link_items_to))
    return f"{day}: {len(items)} link item(s), outbox {row_id}"
