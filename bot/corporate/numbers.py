"""Management numbers (管理番号, manual §IX ⑥): six digits, one per router of a corporate site,
unique and never reused.

Allocated in the deciding mail's transaction as max + 1 under a named lock (:func:`bot.db.serialise`),
so two bot processes never hand out the same number, and the primary key refuses it if they
ever did. Rows of ``corporate_numbers`` are never deleted (a cancelled site keeps its numbers),
so the maximum never goes down and a number is never handed out twice. They start at
:data:`FIRST` so every number has six digits without a leading zero that a spreadsheet would
eat (UNIS's serial field takes it as text; Excel would not).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import db
from bot.db.models import CorporateNumber

FIRST = 100001
LAST = 999999
LOCK = "corporate-numbers"


class NumbersExhausted(Exception):
    """All six-digit numbers are used: a person must decide what comes next."""


def allocate(session: Session, count: int) -> list[str]:
    """`count` new numbers, in order. The caller adds the CorporateNumber rows in this transaction."""
    db.serialise(session, LOCK)
    highest = session.scalar(select(func.max(CorporateNumber.number)))
    start = max(int(highest) + 1 if highest else FIRST, FIRST)
    if start + count - 1 > LAST:
        raise NumbersExhausted(f"management numbers exhausted: {count} needed after {highest}")
    return [f"{n:06d}" for n in range(start, start + count)]
