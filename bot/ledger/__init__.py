"""管理台帳 (management ledger): one row per customer code and the state machine that moves it.

    (none) ──order──▶ ordered ──ship──▶ shipped ──install──▶ installed
                        │                  │                    │
                      cancel             cancel        schedule_termination
                        ▼                  ▼                    ▼
                    cancelled          cancelled       termination_scheduled ──terminate──▶ terminated
                                                                │
                                                     withdraw_termination ──▶ installed

schedule_termination (a 解約申請) also applies to termination_scheduled (a new 解約日; it stays
scheduled) and to terminated (the provider release after a forced termination; it stays
terminated).

Every move is recorded as a :class:`LedgerEvent` with the mail behind it. A move the state
does not allow is a :class:`LedgerError`; the checks look at the state first and turn such a
request into a defect, so the error only fires on a bug.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from bot.db.models import LedgerEntry, LedgerEvent

ORDERED = "ordered"
SHIPPED = "shipped"
INSTALLED = "installed"
TERMINATION_SCHEDULED = "termination_scheduled"
TERMINATED = "terminated"
CANCELLED = "cancelled"

STATE_LABELS = {
    ORDERED: "発注済",
    SHIPPED: "出荷済",
    INSTALLED: "設置済",
    TERMINATION_SCHEDULED: "解約予定",
    TERMINATED: "解約済",
    CANCELLED: "キャンセル",
}

# event → {from state (None = no row yet): to state}
TRANSITIONS: Mapping[str, Mapping[str | None, str]] = {
    "order": {None: ORDERED, CANCELLED: ORDERED, TERMINATED: ORDERED},
    "ship": {ORDERED: SHIPPED},
    "install": {ORDERED: INSTALLED, SHIPPED: INSTALLED},
    "cancel": {ORDERED: CANCELLED, SHIPPED: CANCELLED},
    # 解約申請 (manual §II: 「解約時（強制解約後含む）のプロバイダ契約の解除依頼」): also when the
    # termination is already registered (UNIS 予定登録: a new 解約日 replaces the old) and after
    # a forced termination (the provider release is still due; the customer stays terminated).
    "schedule_termination": {INSTALLED: TERMINATION_SCHEDULED, SHIPPED: TERMINATION_SCHEDULED,
                             TERMINATION_SCHEDULED: TERMINATION_SCHEDULED, TERMINATED: TERMINATED},
    "withdraw_termination": {TERMINATION_SCHEDULED: INSTALLED},
    "terminate": {TERMINATION_SCHEDULED: TERMINATED, INSTALLED: TERMINATED},
    # Events that record facts without moving the state.
    "child_unit": {s: s for s in (ORDERED, SHIPPED, INSTALLED)},
    "change": {s: s for s in (ORDERED, SHIPPED, INSTALLED, TERMINATION_SCHEDULED)},
    "relocate": {s: s for s in (SHIPPED, INSTALLED)},
    "router_not_removed": {s: s for s in (TERMINATION_SCHEDULED, TERMINATED, CANCELLED)},
    # The manual's second part: a customer's details changed (顧客情報変更), its 登録通知書 sent
    # again (登録通知書発送依頼), its router exchanged (ルーター交換依頼: an installed one).
    "info_change": {s: s for s in (ORDERED, SHIPPED, INSTALLED, TERMINATION_SCHEDULED)},
    "notice_resend": {s: s for s in (ORDERED, SHIPPED, INSTALLED, TERMINATION_SCHEDULED)},
    "router_exchange": {INSTALLED: INSTALLED},
    "link_item": {s: s for s in (INSTALLED, TERMINATION_SCHEDULED)},  # a link item put in (故障交換)
    "original_ssid": {INSTALLED: INSTALLED},  # IV: an Original SSID added for an existing customer
}


class LedgerError(Exception):
    """A move the ledger's state does not allow."""


def allowed(event: str, state: str | None) -> bool:
    return state in TRANSITIONS.get(event, {})


def apply(
    session: Session,
    customer_code: str,
    event: str,
    *,
    now: dt.datetime,
    mail_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    updates: Mapping[str, Any] | None = None,
) -> LedgerEntry:
    """Move `customer_code` by `event` in the caller's transaction and record why."""
    entry = session.get(LedgerEntry, customer_code)
    state = entry.state if entry is not None else None
    moves = TRANSITIONS.get(event)
    if moves is None:
        raise LedgerError(f"unknown ledger event {event!r}")
    if state not in moves:
        raise LedgerError(f"{customer_code}: event {event!r} not allowed in state {state or '(no ledger row)'}")
    to_state = moves[state]
    if entry is None:
        entry = LedgerEntry(customer_code=customer_code, state=to_state, plus=False, router_not_removed=False,
                            data={}, updated_at=now)
        session.add(entry)
    entry.state = to_state
    entry.updated_at = now
    for key, value in (updates or {}).items():
        if not hasattr(LedgerEntry, key):
            raise LedgerError(f"ledger has no field {key!r}")
        setattr(entry, key, value)
    session.add(
        LedgerEvent(customer_code=customer_code, mail_id=mail_id, event=event, from_state=state, to_state=to_state,
                    detail=dict(detail or {}), at=now)
    )
    session.flush()
    return entry


def seed(session: Session, customer_code: str, state: str, *, now: dt.datetime, mail_id: int | None = None,
         detail: Mapping[str, Any] | None = None, shop_name: str | None = None) -> LedgerEntry:
    """Start the ledger row of a customer the bot has not seen before from what UNIS says, so
    requests about customers that predate the bot move a real row with its history."""
    entry = session.get(LedgerEntry, customer_code)
    if entry is not None:
        return entry
    entry = LedgerEntry(customer_code=customer_code, state=state, shop_name=shop_name, plus=False,
                        router_not_removed=False, data={}, updated_at=now)
    session.add(entry)
    session.add(LedgerEvent(customer_code=customer_code, mail_id=mail_id, event="seed_from_unis", from_state=None,
                            to_state=state, detail=dict(detail or {}), at=now))
    session.flush()
    return entry
