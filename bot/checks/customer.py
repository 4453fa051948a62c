"""The customer behind a request: known to UNIS or the ledger (CUSTOMER_NOT_FOUND), and in a
state where the request makes sense (STATE_CONFLICT: e.g. a cancellation after install, a
termination withdrawal with no termination scheduled).

The state comes from the management ledger (管理台帳) when it has the customer, else it is
derived from the UNIS lines (受注 → ordered, 確定 → installed, 解約 → terminated,
キャンセル → cancelled), so a customer who predates the bot is still handled.
"""

from __future__ import annotations

import datetime as dt

from bot import ledger
from bot.checks.base import Defect, Facts, UnisLine

CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
STATE_CONFLICT = "STATE_CONFLICT"

# The most "live" UNIS status wins: one confirmed line makes the customer installed.
_UNIS_PRIORITY = (("確定", ledger.INSTALLED), ("受注", ledger.ORDERED), ("解約", ledger.TERMINATED),
                  ("キャンセル", ledger.CANCELLED))


def state_from_unis(lines: tuple[UnisLine, ...], today: dt.date) -> str | None:
    """The ledger state UNIS implies. A 解約 line whose 解約日 is still ahead is a termination
    registered in advance (UNIS解約処理 予定登録, manual §VI), so: termination scheduled."""
    statuses = {line.status for line in lines}
    for status, state in _UNIS_PRIORITY:
        if status not in statuses:
            continue
        dates = [line.termination_date for line in lines if line.status == status and line.termination_date]
        if state == ledger.INSTALLED and dates:
            return ledger.TERMINATION_SCHEDULED
        if state == ledger.TERMINATED and dates and max(dates) >= today:
            return ledger.TERMINATION_SCHEDULED
        return state
    return None


def current_state(f: Facts) -> str | None:
    if f.ledger is not None:
        return f.ledger.state
    return state_from_unis(f.unis, f.settings.calendar.local(f.received_at).date())


def known(f: Facts) -> list[Defect]:
    if not f.code:
        return []  # CUSTOMER_CODE_MISSING says it
    if f.ledger is not None or f.unis:
        return []
    return [Defect(CUSTOMER_NOT_FOUND, {"code": f.code})]


def state_allows(event: str, request: str):  # noqa: ANN201 - returns a Check
    """A check that the customer's state allows the ledger `event` (bot.ledger.TRANSITIONS)."""

    def check(f: Facts) -> list[Defect]:
        if not f.code or (f.ledger is None and not f.unis):
            return []  # unknown customer: CUSTOMER_NOT_FOUND
        state = current_state(f)
        if ledger.allowed(event, state):
            return []
        label = ledger.STATE_LABELS.get(state or "", "不明")
        return [Defect(STATE_CONFLICT, {"state": label, "request": request})]

    check.__name__ = f"state_allows_{event}"
    return check
