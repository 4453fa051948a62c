"""Forced terminations (強制解約, manual §VI): on the 5th business day of a month, every UNIS
解約 line not yet told to the vendor becomes a vendor row in that day's batch."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.db.models import LedgerEntry, UnisOrder, VendorBatch, VendorRow
from bot.domain.calendar import BusinessCalendar
from bot.vendor.model import (
    FORCED_TERMINATION,
    FORCED_TERMINATION_BUSINESS_DAY,
    TERMINATION_CATEGORIES,
    UNIS_TERMINATED,
    lock_batch,
    vendor_calendar,
)

log = logging.getLogger("bot.vendor")


def forced_termination_day(calendar: BusinessCalendar, year: int, month: int) -> dt.date:
    """The 5th business day of the month, when UNIS terminations go to the vendor (manual §VI)."""
    return calendar.nth_business_day_of_month(year, month, FORCED_TERMINATION_BUSINESS_DAY)


def forced_termination_rows(session: Session, *, cfg: Config, day: dt.date, now: dt.datetime) -> list[VendorRow]:
    """The 強制解約 rows `day` would queue (unsaved): none before the month's 5th business day,
    nor once a batch on or after it has run."""
    calendar = vendor_calendar(cfg.office)
    fifth = forced_termination_day(calendar, day.year, day.month)
    if day < fifth:
        return []
    # The first batch on or after the 5th business day carries them: if the daemon was down on
    # that day, the next batch catches up instead of losing the month's forced terminations.
    if day > fifth and session.scalar(
        select(VendorBatch.id).where(VendorBatch.batch_date >= fifth, VendorBatch.batch_date < day).limit(1)
    ) is not None:
        return []
    lines = session.scalars(
        select(UnisOrder).where(UnisOrder.status == UNIS_TERMINATED)
        .order_by(UnisOrder.customer_code, UnisOrder.termination_date, UnisOrder.id)
    ).all()
    if not lines:
        return []
    # A termination already told to the vendor (by a 解約申請 or an earlier month) is keyed by
    # customer and 解約日. A withdrawn (cancelled) 解約 row does not count: UNIS still says 解約.
    known: dict[str, list[str | None]] = {}
    for row in session.scalars(
        select(VendorRow).where(VendorRow.category.in_(TERMINATION_CATEGORIES), VendorRow.cancelled_at.is_(None))
    ):
        known.setdefault(row.customer_code, []).append((row.payload or {}).get("termination_date"))
    groups: dict[tuple[str, str | None], list[UnisOrder]] = {}
    for line in lines:
        key = (line.customer_code, line.termination_date.isoformat() if line.termination_date else None)
        groups.setdefault(key, []).append(line)
    rows: list[VendorRow] = []
    for (code, termination), group in groups.items():
        if _already_told(known.get(code, []), termination):
            continue
        rows.append(VendorRow(
            mail_id=None, customer_code=code, category=FORCED_TERMINATION,
            payload=_forced_payload(session, code, termination, group), received_at=now, batch_date=day,
            ship_date=None, created_at=now,
        ))
    return rows


# A branch's 解約申請 may give a 解約日 a little off the one UNIS ends with (the form vs the
# registered date): within this window it is the same termination, already told to the vendor.
SAME_TERMINATION_WINDOW = dt.timedelta(days=62)


def _already_told(told: list[str | None], termination: str | None) -> bool:
    if termination in told:
        return True
    if termination is None:
        return False
    day = dt.date.fromisoformat(termination)
    return any(t is not None and abs(dt.date.fromisoformat(t) - day) <= SAME_TERMINATION_WINDOW for t in told)


def _forced_payload(session: Session, code: str, termination: str | None, lines: Sequence[UnisOrder]) -> dict[str, Any]:
    # The vendor finds the customer by 顧客CD; the ledger's details (when the bot knows the
    # customer) make the row readable on its own, as a 解約申請's row is.
    entry = session.get(LedgerEntry, code)
    data = (entry.data or {}) if entry is not None else {}
    shop = (entry.shop_name if entry is not None else None) or next((ln.shop_name for ln in lines if ln.shop_name), "")
    day = dt.date.fromisoformat(termination) if termination else None
    payload: dict[str, Any] = {
        "shop_name": shop or "",
        "shop_address": data.get("shop_address", ""),
        "shop_phone": data.get("shop_phone", ""),
        "line_kind": data.get("line_kind", ""),
        "line_type": data.get("line_type", ""),
        "mail_address": data.get("mail_address", ""),
        "ssid": (entry.ssid if entry is not None else None) or "",
        "plus": entry.plus if entry is not None else "",
        "parent_units": entry.parent_units if entry is not None and entry.parent_units is not None else "",
        "child_units": entry.child_units if entry is not None and entry.child_units is not None else "",
        "branch": next((ln.branch for ln in lines if ln.branch), ""),
        "termination_date": termination,
        "note": f"UNIS強制解約 解約日 {day:%Y/%m/%d}" if day else "UNIS強制解約（解約日なし）",
        "unis_lines": [f"{ln.contract_no}-{ln.line_no}" for ln in lines],
    }
    return payload


def queue_forced_terminations(session: Session, *, cfg: Config, day: dt.date, now: dt.datetime) -> int:
    """On the 5th business day of the month, queue a 強制解約 row (batch_date = `day`) for every
    UNIS 解約 line not yet told to the vendor; any other day, nothing. Idempotent."""
    lock_batch(session)  # two callers must not both see a termination as new
    rows = forced_termination_rows(session, cfg=cfg, day=day, now=now)
    if rows:
        session.add_all(rows)
        session.flush()
        log.info("forced terminations for %s: %d row(s) queued (%s)", day, len(rows),
                 ", ".join(r.customer_code for r in rows))
    return len(rows)

