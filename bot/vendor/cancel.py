"""The cancellation rule (manual §VII): a キャンセル申請 removes the order's unsent rows for
free; an order that already went out gets a キャンセル row in the next batch (at a cost)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.config import OfficeConfig
from bot.db.models import VendorRow
from bot.domain.calendar import BusinessCalendar
from bot.vendor.model import (
    CANCEL,
    NEW,
    ORDER_CATEGORIES,
    TERMINATION_CATEGORIES,
    vendor_calendar,
)

log = logging.getLogger("bot.vendor")

REMOVED = "removed"
COST = "cost"
NONE = "none"


@dataclass(frozen=True)
class CancelOutcome:
    """What a キャンセル申請 did to the vendor queue.

    ``removed``: the order had not left; its rows are cancelled and nothing goes out (free).
    ``cost``: the order already went out in a batch; a キャンセル row goes in the next one
    (the caller adds the CANCEL_COSTS warning, manual §VII). ``none``: no open order.
    """

    outcome: str
    removed_row_ids: tuple[int, ...] = ()
    cancel_row_id: int | None = None
    sent_batch_ids: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.outcome


def cancel_order(
    session: Session, *, customer_code: str, now: dt.datetime, mail_id: int | None,
    calendar: BusinessCalendar | None = None,
) -> CancelOutcome:
    """Cancel the customer's open order (新規/子機 rows after its last キャンセル/解約) in the
    caller's transaction. Unsent rows are cancelled for free; if any row already went out, one
    キャンセル row (same payload, batch_date = intake day of `now`) goes in the next batch.

    `calendar` decides that intake day; without it, the default office calendar (Japan, 17:00,
    no company holidays) is used, which only ever makes the row due earlier, never lost.
    """
    calendar = calendar or vendor_calendar(OfficeConfig())
    closed = session.scalar(
        select(func.max(VendorRow.id)).where(
            VendorRow.customer_code == customer_code,
            VendorRow.category.in_((CANCEL, *TERMINATION_CATEGORIES)),
            VendorRow.cancelled_at.is_(None),
        )
    )
    rows = list(session.scalars(
        select(VendorRow)
        .where(VendorRow.customer_code == customer_code, VendorRow.category.in_(ORDER_CATEGORIES),
               VendorRow.cancelled_at.is_(None), VendorRow.id > (closed or 0))
        .order_by(VendorRow.id)
        .execution_options(populate_existing=True)
    ))
    if not rows:
        return CancelOutcome(NONE)
    removed: list[int] = []
    for row in rows:
        if row.batch_id is not None:
            continue
        # Conditional: a batch committing meanwhile wins, and then this row counts as sent.
        done = session.execute(
            update(VendorRow)
            .where(VendorRow.id == row.id, VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None))
            .values(cancelled_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if done == 1:
            removed.append(row.id)
        else:
            session.refresh(row)
    sent = [r for r in rows if r.batch_id is not None]
    if not sent:
        log.info("cancellation %s: %d unsent row(s) removed, nothing goes to the vendor", customer_code, len(removed))
        return CancelOutcome(REMOVED, removed_row_ids=tuple(removed))
    # The vendor knows the order by its 新規 row; a 子機-only order by its 子機 row.
    source = next((r for r in reversed(sent) if r.category == NEW), sent[-1])
    batch_date = calendar.intake_day(now)
    cancel = VendorRow(
        mail_id=mail_id, customer_code=customer_code, category=CANCEL,
        payload={**(source.payload or {}), "cancels_row": source.id},
        received_at=now, batch_date=batch_date, ship_date=None, created_at=now,
    )
    session.add(cancel)
    session.flush()
    batches = tuple(sorted({r.batch_id for r in sent if r.batch_id is not None}))
    log.info("cancellation %s: order already sent (batch %s): キャンセル row %d for %s", customer_code, batches,
             cancel.id, batch_date)
    return CancelOutcome(COST, removed_row_ids=tuple(removed), cancel_row_id=cancel.id, sent_batch_ids=batches)

