"""Claims on a mail's work, so that of several bot processes on one mailbox and one database
exactly one does it: reading and deciding it (``reading_by``), and moving it in IMAP
(``filing_by``). A claim names its process (``host:pid:start``, bot.actions.outbox.process_token).

A reading claim is also the record of what a process has *in hand*: the stored mails it claimed
and has not decided. When its holder is found gone (a process of this host that no longer
exists, or a claim from another host older than its lease) the holder died with those mails in
hand: :func:`bury` records that death against them (bot/pipeline/claim.py says what it means) and frees
them. A filing claim of a gone holder is simply taken over.

Each function works in the caller's transaction and returns what this process got.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.db.models import STORED, Mail

log = logging.getLogger("bot.db.claims")

# A claim from another host is taken to be its dead process's after this long (this host's are
# checked by pid and start time at once). Long enough for a block of mails claimed before they
# are read ahead and then decided one by one (scans: seconds each).
READING_LEASE = dt.timedelta(minutes=10)
FILING_LEASE = dt.timedelta(minutes=2)
_CHUNK = 500
_HOST = socket.gethostname()  # as in a claim's host:pid:start (bot.actions.outbox.process_token)


# -- who holds a claim: a process named for ever (host, pid, start time) --------------------

_HOST = socket.gethostname()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the
    pid it names one process for ever, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def process_token() -> str:
    """Who holds a claim: ``host:pid:start``."""
    pid = os.getpid()
    return f"{_HOST}:{pid}:{_start_time(pid) or '?'}"


def owner_alive(token: str | None) -> bool:
    """False only when `token` names a process on this host that is gone; a claim from another
    host (or of unknown form) counts as alive until its lease ends."""
    if not token:
        return True
    host, _, rest = token.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return True
    now_start = _start_time(int(pid_text))
    return now_start is not None and (start == "?" or now_start == start)



@dataclass(frozen=True)
class Burial:
    """A process found dead with ``mail_ids`` in hand (claimed, still stored)."""

    holder: str
    mail_ids: tuple[int, ...]

    @property
    def solo(self) -> bool:
        """The dead process had exactly one mail in hand: the only mail that can have killed it."""
        return len(self.mail_ids) == 1


def holder_gone(holder: str | None, at: dt.datetime | None, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Is the process named by this claim gone? This host's: exactly (pid and start time);
    another host's: when the claim is older than ``lease``."""
    if not holder:
        return False
    if not owner_alive(holder):
        return True
    return holder.partition(":")[0] != _HOST and at is not None and at < now - lease


def claim_reading(session: Session, mail_ids: Sequence[int], owner: str, now: dt.datetime, *,
                  alone: bool, deaths_below: int | None = None) -> dict[int, int]:
    """Take these stored mails into this process's hands: those free or already ours; their
    solo deaths (bot/pipeline/claim.py) by id. A mail another live process holds is left out (not ours to
    do); one whose holder is gone is buried first (:func:`bury`), then taken. A claim of several
    mails (``alone`` False: a block read ahead) leaves out suspects, mails in hand at an earlier
    death: those are decided alone. ``deaths_below``: mails with that many solo deaths are left
    out too (quarantined without being taken into hand)."""
    ids = list(dict.fromkeys(mail_ids))
    bury_gone(session, ids, now)
    where = [Mail.status == STORED, or_(Mail.reading_by.is_(None), Mail.reading_by == owner)]
    if not alone:
        where += [Mail.solo_deaths == 0, Mail.block_deaths == 0]
    if deaths_below is not None:
        where.append(Mail.solo_deaths < deaths_below)
    got: dict[int, int] = {}
    for start in range(0, len(ids), _CHUNK):
        for mail_id, deaths in session.execute(
                update(Mail).where(Mail.id.in_(ids[start:start + _CHUNK]), *where)
                .values(reading_by=owner, reading_at=now).returning(Mail.id, Mail.solo_deaths),
                execution_options={"synchronize_session": False}):
            got[mail_id] = deaths
    return got


def release_reading(session: Session, mail_ids: Sequence[int], owner: str) -> None:
    """Give these mails back (this process lives on and will not decide them now): nothing about
    them is recorded, a process that lets go of a mail has not died of it."""
    ids = list(mail_ids)
    for start in range(0, len(ids), _CHUNK):
        session.execute(update(Mail).where(Mail.id.in_(ids[start:start + _CHUNK]), Mail.status == STORED,
                                           Mail.reading_by == owner).values(reading_by=None, reading_at=None),
                        execution_options={"synchronize_session": False})


def bury_gone(session: Session, mail_ids: Sequence[int], now: dt.datetime) -> list[Burial]:
    """Of these mails, those held by a gone process: bury each such process (once: a second
    caller finds its mails freed already)."""
    holders: set[str] = set()
    ids = list(mail_ids)
    for start in range(0, len(ids), _CHUNK):
        for holder, at in session.execute(select(Mail.reading_by, Mail.reading_at).where(
                Mail.id.in_(ids[start:start + _CHUNK]), Mail.status == STORED, Mail.reading_by.is_not(None))):
            if holder not in holders and holder_gone(holder, at, now, READING_LEASE):
                holders.add(holder)
    return [b for b in (bury(session, h) for h in sorted(holders)) if b.mail_ids]


def bury(session: Session, holder: str) -> Burial:
    """Record that ``holder`` died with its stored claimed mails in hand, and free them.

    Alone in hand, the mail's ``solo_deaths`` goes up (evidence against it); one of several,
    each one's ``block_deaths`` goes up, which counts nothing: it only makes them suspects.
    The first UPDATE both frees the mails and says which they are, so two processes burying the
    same holder at once record its death once (the second finds none left)."""
    freed = tuple(sorted(session.scalars(
        update(Mail).where(Mail.reading_by == holder, Mail.status == STORED)
        .values(reading_by=None, reading_at=None).returning(Mail.id),
        execution_options={"synchronize_session": False})))
    burial = Burial(holder, freed)
    if not freed:
        return burial
    counter = Mail.solo_deaths if burial.solo else Mail.block_deaths
    session.execute(update(Mail).where(Mail.id.in_(freed)).values({counter: counter + 1}),
                    execution_options={"synchronize_session": False})
    if burial.solo:
        log.warning("bot process %s died with mail %s alone in hand: counted against it", holder, freed[0])
    else:
        log.warning("bot process %s died with %d mails in hand (%s): none blamed; each is decided alone",
                    holder, len(freed), ", ".join(map(str, freed[:20])))
    return burial


def claim_filing(session: Session, mail_ids: Sequence[int], owner: str, now: dt.datetime) -> set[int]:
    """Claim the IMAP MOVE of these decided, unfiled mails; the ids this process got. A claim
    held by a gone process is taken over (at once on this host, else after the lease)."""
    return set(_claim(session, mail_ids, owner, now, Mail.filing_by, Mail.filing_at, FILING_LEASE,
                      (Mail.filed_at.is_(None),), {"filing_by": owner, "filing_at": now}))


def _claim(session: Session, mail_ids: Sequence[int], owner: str, now: dt.datetime,
           by: InstrumentedAttribute[str | None], at: InstrumentedAttribute[dt.datetime | None],
           lease: dt.timedelta, where: tuple[object, ...], values: dict[str, object]) -> list[int]:
    ids = list(dict.fromkeys(mail_ids))
    got: list[int] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        free = or_(by.is_(None), by == owner, at < now - lease)
        got += session.scalars(update(Mail).where(Mail.id.in_(chunk), *where, free).values(**values)  # type: ignore[arg-type]
                               .returning(Mail.id), execution_options={"synchronize_session": False})
    mine = set(got)
    others = [i for i in ids if i not in mine]
    for start in range(0, len(others), _CHUNK):
        held = session.execute(select(Mail.id, by).where(Mail.id.in_(others[start:start + _CHUNK]), *where)).all()
        for mail_id, holder in held:
            if holder and not owner_alive(holder):  # its process is gone: take it over at once
                taken = session.scalar(update(Mail).where(Mail.id == mail_id, by == holder, *where)
                                       .values(**values).returning(Mail.id),  # type: ignore[arg-type]
                                       execution_options={"synchronize_session": False})
                if taken is not None:
                    got.append(taken)
    return got

