"""解約申請 and 解約キャンセル依頼: the 解約日 (TERMINATION_DATE_MISSING) and the withdrawal
deadline, 3 business days before it, counted back over business days (WITHDRAWAL_TOO_LATE)."""

from __future__ import annotations

import datetime as dt

from bot import ledger
from bot.checks.base import Defect, Facts
from bot.checks.customer import current_state
from bot.mail.body import LABEL_TERMINATION_DATE, find_date_labelled

TERMINATION_DATE_MISSING = "TERMINATION_DATE_MISSING"
WITHDRAWAL_TOO_LATE = "WITHDRAWAL_TOO_LATE"


def requested_date(f: Facts) -> dt.date | None:
    """解約申請: the 解約日 of the termination form, else of the body."""
    for reading in f.termination_forms:
        if reading.termination_date is not None:
            return reading.termination_date
    return find_date_labelled(f.body, LABEL_TERMINATION_DATE)


def scheduled_date(f: Facts) -> dt.date | None:
    """解約キャンセル: the 解約日 from the ledger, else the UNIS extract, else the body (DESIGN.md)."""
    if f.ledger is not None and f.ledger.termination_date is not None:
        return f.ledger.termination_date
    for line in f.unis:
        if line.termination_date is not None:
            return line.termination_date
    return find_date_labelled(f.body, LABEL_TERMINATION_DATE)


def date_given(f: Facts) -> list[Defect]:
    return [] if requested_date(f) is not None else [Defect(TERMINATION_DATE_MISSING)]


def withdrawal_in_time(f: Facts) -> list[Defect]:
    if (f.ledger is not None or f.unis) and current_state(f) != ledger.TERMINATION_SCHEDULED:
        return []  # nothing to withdraw: STATE_CONFLICT says so; asking for a date would mislead
    day = scheduled_date(f)
    if day is None:
        return [Defect(TERMINATION_DATE_MISSING)]
    cal = f.settings.calendar
    deadline = cal.withdrawal_deadline(day)
    arrived = cal.local(f.received_at).date()
    if arrived <= deadline:
        return []
    return [Defect(WITHDRAWAL_TOO_LATE, {"termination_date": f"{day:%Y/%m/%d}", "deadline": f"{deadline:%Y/%m/%d}"})]
