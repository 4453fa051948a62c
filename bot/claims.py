"""Claims on a mail's work, so that of several bot processes on one mailbox and one database
exactly one does it: reading and deciding it (``reading_by``), and moving it in IMAP
(``filing_by``). A claim names its process (``host:pid:start``, bot.outbox.process_token);
it is taken over at once when that process is gone (same host), else after its lease (a
process on another host that died).

Each function works in the caller's transaction and returns what this process got.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.models import STORED, Mail
from bot.outbox import owner_alive

# Long enough for a block of mails counted before they are read ahead and then decided one by
# one (scans: seconds each); a crashed process on another host holds its mails this long.
READING_LEASE = dt.timedelta(minutes=10)
FILING_LEASE = dt.timedelta(minutes=2)


def claim_reading(session: Session, mail_ids: Sequence[int], owner: str, now: dt.datetime) -> dict[int, int]:
    """Count one attempt for each of these stored mails that is free or already ours, claiming
    it; their attempt numbers now. A mail another live process is reading is left out (not ours
    to do): its attempt is not counted, so two processes never quarantine a good mail between
    them."""
    where = (Mail.status == STORED,)
    values = {"attempts": Mail.attempts + 1, "reading_by": owner, "reading_at": now}
    return _claim(session, mail_ids, owner, now, Mail.reading_by, Mail.reading_at, READING_LEASE, where, values,
                  returning=True)


def release_reading(session: Session, mail_ids: Sequence[int], owner: str, *, refund: bool) -> None:
    """Give these mails back (this process will not decide them now), with the attempt refunded
    when nothing about the mail made it fail (the pass failed, the database went away)."""
    values: dict[str, object] = {"reading_by": None, "reading_at": None}
    if refund:
        values["attempts"] = Mail.attempts - 1
    session.execute(update(Mail).where(Mail.id.in_(list(mail_ids)), Mail.status == STORED, Mail.attempts > 0,
                                       Mail.reading_by == owner).values(**values),
                    execution_options={"synchronize_session": False})


def claim_filing(session: Session, mail_ids: Sequence[int], owner: str, now: dt.datetime) -> set[int]:
    """Claim the IMAP MOVE of these decided, unfiled mails; the ids this process got."""
    got = _claim(session, mail_ids, owner, now, Mail.filing_by, Mail.filing_at, FILING_LEASE,
                 (Mail.filed_at.is_(None),), {"filing_by": owner, "filing_at": now}, returning=False)
    return set(got)


def _claim(session: Session, mail_ids: Sequence[int], owner: str, now: dt.datetime,
           by: InstrumentedAttribute[str | None], at: InstrumentedAttribute[dt.datetime | None],
           lease: dt.timedelta, where: tuple[object, ...], values: dict[str, object], *,
           returning: bool) -> dict[int, int]:
    ids = list(dict.fromkeys(mail_ids))
    if not ids:
        return {}
    got: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        free = or_(by.is_(None), by == owner, at < now - lease)
        for mail_id, attempts in session.execute(
                update(Mail).where(Mail.id.in_(chunk), *where, free).values(**values)  # type: ignore[arg-type]
                .returning(Mail.id, Mail.attempts), execution_options={"synchronize_session": False}):
            got[mail_id] = attempts
    others = [i for i in ids if i not in got]
    for start in range(0, len(others), 500):
        held = session.execute(select(Mail.id, by).where(Mail.id.in_(others[start:start + 500]), *where)).all()
        for mail_id, holder in held:
            if holder and not owner_alive(holder):  # its process is gone: take it over at once
                row = session.execute(update(Mail).where(Mail.id == mail_id, by == holder, *where)
                                      .values(**values).returning(Mail.id, Mail.attempts),  # type: ignore[arg-type]
                                      execution_options={"synchronize_session": False}).first()
                if row is not None:
                    got[row[0]] = row[1]
    return got
