"""Which mail is to blame when the bot fails on it (issue 18), and how much it takes.

A mail is counted against, and in the end quarantined, only on evidence that it caused the
failure:

- **its reader failed**: the reader process crashed or ran over its limits while reading this
  mail's PDFs (:class:`~bot.forms.workers.ReaderFailed`). Counted in ``Mail.attempts``, committed
  after each failure; at ``[limits] reader_attempts`` the mail is quarantined.
- **the bot died with it alone in hand**: a bot process was found dead (its claim names a process
  that is gone, bot/db/claims.py) while this mail was the ONLY stored mail it had claimed. Counted
  in ``Mail.solo_deaths``; at ``[limits] solo_deaths`` the mail is quarantined without being
  read again.

A death while several mails were in hand (a block claimed to be read ahead) counts against
none of them: it makes each a *suspect* (``Mail.block_deaths``, a record), decided alone from
then on, so that a mail that really kills the bot is soon alone when it does it again. A
process that lets go of a mail (SIGTERM, the database away, a pass that failed) has not died of
it: nothing is recorded. So kills from outside during a backlog (OOM killer, a deploy, a power
cut) quarantine nothing unless the same lone mail is in hand at several deaths in a row.

In-hand is a claim: :class:`Hands` takes mails (a block before they are read ahead, else one)
and gives back what it did not decide; bot/db/claims.py buries a dead holder's claims.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import traceback
from collections.abc import Iterable, Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config.limits import Limits
from bot.db import claims
from bot.db.models import QUARANTINED, STORED, Mail
from bot.forms.workers import ReaderFailed, ReaderPool

log = logging.getLogger("bot.pipeline.claim")

# Mails taken into hand in one transaction before the first of them is read ahead.
HAND_BLOCK = 8
_IN_CHUNK = 500


class DiedWithIt(RuntimeError):
    """The bot died ``deaths`` times while this mail alone was in its hands: quarantined."""

    limit = "solo_deaths"

    def __init__(self, deaths: int, limit: int) -> None:
        super().__init__(f"the bot died {deaths} times while this mail alone was in its hands "
                         f"(limit solo_deaths={limit}): taken to be what kills it, not read again")
        self.deaths, self.allowed = deaths, limit


def death_reason(deaths: int, limit: int) -> str:
    """Why a mail was quarantined for deaths, in words for the digest and the console."""
    return (f"ボットがこのメールだけを処理中に{deaths}回停止しました（上限 solo_deaths={limit}）："
            "このメールがボットを止めている可能性があるため、再度は読み取っていません")


def reader_reason(err: ReaderFailed, attempts: int) -> str:
    """Why a mail was quarantined by its reader, in words for the digest and the console."""
    limit = f"（上限 {err.limit}）" if err.limit else ""
    return f"添付PDFの読み取りが{attempts}回とも失敗しました{limit}: {err.detail}"


def over_the_limit(session: Session, mail_id: int, owner: str, limit: int) -> tuple[Mail | None, DiedWithIt | None]:
    """This mail, locked, when it is stored, free to take (or ours) and the bot died with it
    alone in hand `limit` times: quarantined at once, never taken into hand again."""
    row = session.scalar(select(Mail).where(
        Mail.id == mail_id, Mail.status == STORED, Mail.solo_deaths >= limit,
        or_(Mail.reading_by.is_(None), Mail.reading_by == owner)).with_for_update(skip_locked=True))
    return (row, DiedWithIt(row.solo_deaths, limit)) if row is not None else (None, None)


def quarantine(row: Mail, err: BaseException, limits: Limits, now: dt.datetime) -> None:
    """Mark `row` quarantined for `err` (in the caller's transaction), with a reason a person
    reads when it is a limit (a reader's, or solo deaths). The death counts go to the record and
    start again from zero, so a person who puts the mail back to retry gives it a fresh start."""
    if isinstance(err, ReaderFailed | DiedWithIt) or err.__traceback__ is None:
        log.error("mail %s: quarantined: %s", row.id, err)  # a limit, not a bug: one line says which
    else:
        log.error("mail %s: quarantined after an unexpected error", row.id, exc_info=err)
    row.status, row.decision, row.decided_at = QUARANTINED, None, now
    row.error = "".join(traceback.format_exception(err))[-8000:]
    row.reading_by = row.reading_at = None
    if isinstance(err, ReaderFailed):
        row.facts = {**(row.facts or {}), "reason": reader_reason(err, limits.reader_attempts)}
    elif isinstance(err, DiedWithIt):
        row.facts = {**(row.facts or {}), "reason": death_reason(err.deaths, err.allowed)}
    if row.solo_deaths or row.block_deaths:
        row.facts = {**(row.facts or {}), "deaths": {"solo": row.solo_deaths, "block": row.block_deaths}}
        row.solo_deaths = row.block_deaths = 0


def suspects(factory: sessionmaker[Session], mail_ids: Iterable[int], now: dt.datetime) -> set[int]:
    """Of these stored mails, those to decide alone: in hand at an earlier death of a bot process.

    First buries the processes found dead holding any of them (bot/db/claims.py), so a death is
    recorded before its mails are taken again; a live process's claim is no death."""
    ids = list(mail_ids)
    found, dead = _suspects(factory, ids, now)
    if dead:
        with db.transaction(factory) as session:
            claims.bury_gone(session, ids, now)
        found, _ = _suspects(factory, ids, now)  # as buried, by us or by a process that came first
    return found


def _suspects(factory: sessionmaker[Session], ids: list[int], now: dt.datetime) -> tuple[set[int], bool]:
    """The suspects among these stored mails, and whether any is held by a dead process."""
    found: set[int] = set()
    dead = False
    with db.reading(factory) as session:
        for start in range(0, len(ids), _IN_CHUNK):
            for mail_id, holder, at, solo, block in session.execute(
                    select(Mail.id, Mail.reading_by, Mail.reading_at, Mail.solo_deaths, Mail.block_deaths)
                    .where(Mail.id.in_(ids[start:start + _IN_CHUNK]), Mail.status == STORED)):
                if solo or block:
                    found.add(mail_id)
                dead = dead or claims.holder_gone(holder, at, now, claims.READING_LEASE)
    return found, dead


class Hands:
    """The stored mails this process has claimed and not decided: what its death would be
    blamed on. Mails claimed by a block (read ahead) wait here until :meth:`take`."""

    def __init__(self, factory: sessionmaker[Session], owner: str) -> None:
        self.factory, self.owner = factory, owner
        self._held: dict[int, int] = {}  # mail id → its solo deaths, claimed by a block, not taken
        self._lock = threading.Lock()
        self._warm = False

    def warm_up(self, pool: ReaderPool | None) -> None:
        """Start the reader processes (their imports take a second or more) before the first
        mail is taken into hand: start-up is no mail's reading time, nor a death then its doing."""
        if self._warm or pool is None:
            return
        self._warm = True
        try:
            pool.call(len, b"", timeout=60.0)
        except ReaderFailed as err:  # the first mail read says so too, naming the mail
            log.warning("reader processes did not start: %s", err.detail)

    def claim(self, mail_ids: Sequence[int], *, alone: bool, deaths_below: int | None = None) -> dict[int, int]:
        """Take these mails into hand, committed before any of them is read (so a death while
        reading them finds them held); what was got, with each one's solo deaths."""
        if not mail_ids:
            return {}
        with db.transaction(self.factory) as session:
            got = claims.claim_reading(session, mail_ids, self.owner, dt.datetime.now(dt.UTC), alone=alone,
                                       deaths_below=deaths_below)
        if not alone:
            with self._lock:
                self._held.update(got)
        return got

    def take(self, mail_id: int) -> int | None:
        """The solo deaths of a mail a block claimed, now being decided; None when not held."""
        with self._lock:
            return self._held.pop(mail_id, None)

    def holds(self, mail_id: int) -> bool:
        with self._lock:
            return mail_id in self._held

    def drop(self, mail_ids: Iterable[int]) -> list[int]:
        """Of these mails, those held and never taken, no longer held."""
        with self._lock:
            return [i for i in mail_ids if self._held.pop(i, None) is not None]

    def release(self, mail_ids: Sequence[int]) -> None:
        """Give these mails back undecided (this process lives on): nothing is recorded."""
        if not mail_ids:
            return
        try:
            with db.transaction(self.factory) as session:
                claims.release_reading(session, mail_ids, self.owner)
        except db.UNAVAILABLE:
            pass  # the database is away: the claims stay ours; our next pass takes them again

    def reader_failed(self, mail_id: int) -> int:
        """Count a reader failure against this mail, committed; its reader failures now."""
        with db.transaction(self.factory) as session:
            failures = session.scalar(update(Mail).where(Mail.id == mail_id).values(attempts=Mail.attempts + 1)
                                      .returning(Mail.attempts), execution_options={"synchronize_session": False})
        return int(failures or 0)
