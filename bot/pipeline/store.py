"""Storing fetched mails: the raw bytes recorded and committed before anything acts on them.

Several mails of one FETCH chunk are stored in one transaction, each in its own savepoint:
one commit (one fsync on SQLite) for the chunk instead of one a mail (issue 8), and one mail
that cannot be stored is rolled back alone while the others of its chunk are kept. Nothing is
decided before the commit, so "store before acting" holds for every mail of the chunk.

Storing reads only the header block (Message-ID, Subject, From): the body and attachments
are parsed once, when the mail is read for deciding.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config.limits import Limits
from bot.db.models import DECIDED, QUARANTINED, STORED, Mail
from bot.mail import content_fingerprint, message_id_hash, parse_header_block

log = logging.getLogger("bot.pipeline")


@dataclass(frozen=True)
class Incoming:
    """A fetched mail and where it sits in IMAP."""

    raw: bytes
    folder: str
    uidvalidity: int
    uid: int
    arrived_at: dt.datetime | None = None
    oversize: int | None = None  # over mail_bytes: `raw` is the header only


@dataclass(frozen=True)
class StoredMail:
    """What storing made of a fetched mail."""

    mail_id: int
    is_new: bool
    status: str  # the row's Mail.status now
    duplicate: bool  # a second copy of a mail whose row sits elsewhere: file it to Ignored

    @classmethod
    def of(cls, row: Mail, *, is_new: bool, location: tuple[str, int, int]) -> StoredMail:
        return cls(row.id, is_new, row.status, (row.folder, row.uidvalidity, row.uid) != location)


def store_many(factory: sessionmaker[Session], mails: Sequence[Incoming], *, limits: Limits,
               now: Callable[[], dt.datetime]) -> list[StoredMail | Exception]:
    """Store these mails in one committed transaction, each in a savepoint; per mail what it
    became, or the error that kept it out (the others are stored). The database being away
    raises: nothing of the chunk is stored then, and the pass ends."""
    results: list[StoredMail | Exception] = []
    with factory() as session, session.begin():
        for item in mails:
            try:
                with session.begin_nested():
                    results.append(_store_in(session, item, limits, now()))
            except db.UNAVAILABLE:
                raise
            except Exception as err:  # noqa: BLE001 - one mail that cannot be stored never blocks the chunk
                log.exception("uid %s: could not store the mail", item.uid)
                results.append(err)
    return results


def _store_in(session: Session, item: Incoming, limits: Limits, now: dt.datetime) -> StoredMail:
    mail = parse_header_block(item.raw, limits)  # never raises: a malformed mail still gets a row
    digest = message_id_hash(item.raw, mail.message_id)
    received = item.arrived_at.astimezone(dt.UTC) if item.arrived_at is not None else now
    location = (item.folder, item.uidvalidity, item.uid)
    existing = session.scalar(select(Mail).where(Mail.msgid_hash == digest))
    if existing is not None and content_fingerprint(existing.raw) != content_fingerprint(item.raw):
        log.warning("mail at %s/%s/%s reuses Message-ID %s of mail %s with other content: stored "
                    "as a mail of its own", *location, mail.message_id, existing.id)
        digest = hashlib.sha256(b"message-id-collision\0" + item.raw).hexdigest()
        existing = session.scalar(select(Mail).where(Mail.msgid_hash == digest))
    if existing is not None:
        relocate(existing, *location)
        return StoredMail.of(existing, is_new=False, location=location)
    row = Mail(
        folder=item.folder, uidvalidity=item.uidvalidity, uid=item.uid, msgid_hash=digest,
        message_id=fit(mail.message_id, None), raw=item.raw, subject=fit(mail.subject, 2000),
        from_addr=fit(mail.from_addr, 320), status=STORED, defects=[], warnings=[],
        facts={"oversize": item.oversize} if item.oversize else {},
        received_at=received,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another bot process stored it first (PostgreSQL with several processes).
        other = session.scalar(select(Mail).where(Mail.msgid_hash == digest))
        if other is None:
            raise
        return StoredMail.of(other, is_new=False, location=location)
    return StoredMail.of(row, is_new=True, location=location)


def relocate(row: Mail, folder: str, uidvalidity: int, uid: int) -> None:
    """What a re-seen mail's row becomes (see :meth:`bot.pipeline.processor.Processor.store`)."""
    here = (folder, uidvalidity, uid)
    if (row.folder, row.uidvalidity, row.uid) == here:
        return
    stale = (row.folder, row.uidvalidity) != (folder, uidvalidity)
    if row.status in (STORED, DECIDED) and stale:
        log.info("mail %s seen again at %s/%s/%s (was %s/%s/%s): taking the new location",
                 row.id, folder, uidvalidity, uid, row.folder, row.uidvalidity, row.uid)
        row.folder, row.uidvalidity, row.uid = here
    elif row.status == QUARANTINED and row.filed_at is not None:
        log.info("quarantined mail %s is back at %s/%s/%s: deciding it again", row.id, *here)
        row.folder, row.uidvalidity, row.uid = here
        row.status, row.error, row.filed_at, row.filed_folder = STORED, None, None, None
        row.resolved_at = row.resolved_by = row.resolution = None


def fit(value: str | None, length: int | None) -> str | None:
    """A header value cut to its column's size: PostgreSQL refuses an over-long value, and one
    odd From line must not stop the mailbox."""
    if value is None:
        return None
    return value[:length] if length else value
