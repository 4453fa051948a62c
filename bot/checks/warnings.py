"""Warnings that ride along on an accepted cancellation (DESIGN.md "Warnings").

CANCEL_COSTS: the order already left in a vendor batch: the vendor registered it on N+1, so
the cancellation costs (manual §VII: 当日中のキャンセルはOK, 翌営業日以降はコスト).
ROUTER_RETURN_DUE: the router has been shipped: it must go back to the logistics center and
may not be reused for another customer (FAQ 2).
"""

from __future__ import annotations

from bot import ledger
from bot.checks.base import Defect, Facts
from bot.checks.customer import current_state

CANCEL_COSTS = "CANCEL_COSTS"
ROUTER_RETURN_DUE = "ROUTER_RETURN_DUE"


def cancel_costs(f: Facts) -> list[Defect]:
    if f.ledger is not None and f.ledger.sent_to_vendor:
        return [Defect(CANCEL_COSTS, {"code": f.code or ""})]
    return []


def router_return_due(f: Facts) -> list[Defect]:
    if current_state(f) == ledger.SHIPPED:
        return [Defect(ROUTER_RETURN_DUE, {"code": f.code or ""})]
    ship = f.ledger.ship_date if f.ledger is not None else None
    if f.ledger is not None and f.ledger.sent_to_vendor and ship is not None:
        if f.settings.calendar.local(f.received_at).date() >= ship:
            return [Defect(ROUTER_RETURN_DUE, {"code": f.code or ""})]
    return []
