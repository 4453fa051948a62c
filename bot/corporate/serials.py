"""After each UNIS import (bot/unis/__init__.py, next to the §VIII audit): the routers of corporate
sites linked to what UNIS says.

登録G registers a corporate order with the 6-digit management number in the serial field
(manual §VIII: 「6桁の管理番号が入っている場合は、支店総務が機器のシリアルナンバー(12桁)で上書き」);
the branch overwrites it with the router's serial when it confirms (確定). So:

1. a UNIS line whose serial is one of our management numbers gives that number its UNIS line
   (契約番号/明細番号), and its site the customer code when the list had none;
2. a confirmed (確定) 法人 line that carries a serial, for a customer code of a corporate site:
   the serial is recorded against the management number of that line (or, when the number was
   never seen on it, the site's next number without a serial), with a 管理台帳 event.

Runs in the import's transaction; a serial already linked is left alone (imports repeat).
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import ledger
from bot.db.models import (
    CorporateNumber,
    CorporateSite,
    LedgerEntry,
    LedgerEvent,
    UnisOrder,
)

log = logging.getLogger("bot.corporate")

NUMBER_RE = re.compile(r"\d{6}")
CONFIRMED = "確定"
CORPORATE = "法人"
EVENT = "corporate_serial"


def link_serials(session: Session, now: dt.datetime) -> int:
    """Link what the imported lines say; returns how many serials were newly recorded."""
    numbers = {n.number: n for n in session.scalars(select(CorporateNumber))}
    if not numbers:
        return 0
    sites = {s.id: s for s in session.scalars(select(CorporateSite))}
    lines = list(session.scalars(select(UnisOrder).where(UnisOrder.serial.is_not(None)).order_by(UnisOrder.id)))
    # 1. management numbers seen on a UNIS line
    for line in lines:
        serial = (line.serial or "").strip()
        number = numbers.get(serial) if NUMBER_RE.fullmatch(serial) else None
        if number is None:
            continue
        number.unis_contract_no, number.unis_line_no = line.contract_no, line.line_no
        site = sites.get(number.site_id)
        if site is not None and not site.customer_code:
            site.customer_code = line.customer_code
    # 2. serials of confirmed corporate lines
    by_line = {(n.unis_contract_no, n.unis_line_no): n for n in numbers.values() if n.unis_contract_no}
    by_code: dict[str, list[CorporateNumber]] = {}
    for n in sorted(numbers.values(), key=lambda n: n.number):
        site = sites.get(n.site_id)
        if site is not None and site.customer_code:
            by_code.setdefault(site.customer_code, []).append(n)
    linked_serials = {n.serial for n in numbers.values() if n.serial}
    added = 0
    for line in lines:
        serial = (line.serial or "").strip().upper()
        if line.status != CONFIRMED or line.acquisition != CORPORATE or not serial or NUMBER_RE.fullmatch(serial):
            continue
        if serial in linked_serials or line.customer_code not in by_code:
            continue
        number = by_line.get((line.contract_no, line.line_no))
        if number is None or number.serial:
            number = next((n for n in by_code[line.customer_code] if not n.serial and not n.unis_contract_no), None)
        if number is None:
            continue
        number.serial, number.linked_at = serial, now
        number.unis_contract_no, number.unis_line_no = line.contract_no, line.line_no
        linked_serials.add(serial)
        added += 1
        _ledger_event(session, line.customer_code, number, now)
    if added:
        log.info("corporate: %d router serial(s) linked to their management numbers", added)
    session.flush()
    return added


def _ledger_event(session: Session, code: str, number: CorporateNumber, now: dt.datetime) -> None:
    entry = session.get(LedgerEntry, code)
    if entry is None:
        entry = ledger.seed(session, code, ledger.INSTALLED, now=now, detail={"unis_status": [CONFIRMED]})
    session.add(LedgerEvent(customer_code=code, mail_id=None, event=EVENT, from_state=entry.state,
                            to_state=entry.state, detail={"管理番号": number.number, "シリアルNo": number.serial,
                                                          "親機/子機": number.role},
                            at=now))
