"""Transactional outbox: every mail the bot sends is first a row, written in the same
transaction as the decision that caused it, then sent by aiosmtplib and marked sent only
after the server accepted it.

A failed send stays ``pending`` with a later ``next_attempt_at`` (exponential backoff) and is
never lost. A row is *claimed* (``sending``) before the SMTP conversation, so two bot processes
never send it at once. The one window no protocol closes (the server accepted, then the
process died before marking the row) is covered by the claim: it names the process holding it
(host, pid and that process's start time), so a restarted bot on the same host takes over a dead
process's claim at once; a claim from another host is taken over after the lease. Either way
the row is sent again with the same Message-ID, so a receiving system can tell it is the same mail.
So a kill repeats at most the one row in flight. Just before the SMTP transaction the row is
marked handed over (``handed_at``, committed): a dead sender's claim counts as a possible copy
(``takeovers``) only from then on, and a row with two possible copies is not sent a third time
but failed, for a person to check and requeue (issue 18: a bot killed again and again in its
start-up flush used to send the same reply once per kill).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

import aiosmtplib
from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import OAuth2Config, SmtpConfig
from bot.db.claims import owner_alive, process_token
from bot.db.models import OutboxMessage
from bot.intake.connect import ServerSecurityError, smtp_connect
from bot.intake.oauth2 import OAuth2Error

log = logging.getLogger("bot.actions.outbox")

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"  # refused max_attempts times; shown in the digest; `bot outbox requeue ID`

CLAIM_LEASE = dt.timedelta(minutes=10)
# Claims taken over from a dead sender after which a row is still sent again (each may have
# left a copy at the server): one, so a reply reaches its recipient at most twice.
RESEND_AFTER_TAKEOVERS = 1
RETRY_WHEN_UNREACHABLE = dt.timedelta(minutes=1)
_monotonic = time.monotonic  # the flush's own stopwatch (a seam for the claim-time test)


def new_message_id(from_addr: str) -> str:
    domain = from_addr.rpartition("@")[2] or "localhost"
    return make_msgid(idstring="uspotbot", domain=domain)


def office_message(*, from_addr: str, to: Sequence[str], subject: str, text: str, date: dt.datetime) -> EmailMessage:
    """A mail the office sends on its own (the digest, the 「リンク品使用連絡」, a branch manager's
    month): from 事務センター, UTF-8 text, marked as automatic (RFC 3834) so no auto-responder
    answers it; `date` in the office's time zone."""
    msg = EmailMessage()
    msg["From"] = formataddr(("USEN SPOT 事務センター", from_addr))
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = new_message_id(from_addr)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, charset="utf-8")
    return msg


def enqueue(
    session: Session, msg: EmailMessage, *, purpose: str, now: dt.datetime, mail_id: int | None = None,
    ref: str | None = None,
) -> OutboxMessage:
    """Add `msg` to the outbox in the caller's transaction. The message must carry its
    Message-ID, From and recipients already; the stored bytes are exactly what is sent."""
    if not msg["Message-ID"]:
        raise ValueError("outbox message without Message-ID")
    rcpts = [a for a in _recipients(msg)]
    if not rcpts:
        raise ValueError(f"outbox message {msg['Message-ID']} has no recipients")
    row = OutboxMessage(
        mail_id=mail_id,
        purpose=purpose,
        ref=ref,
        message_id=str(msg["Message-ID"]),
        mail_from=_bare(str(msg["From"])),
        rcpt_to=rcpts,
        subject=str(msg["Subject"] or ""),
        raw=msg.as_bytes(),
        status=PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _bare(addr: str) -> str:
    from email.utils import parseaddr

    return parseaddr(addr)[1]


def _recipients(msg: EmailMessage) -> list[str]:
    from email.utils import getaddresses

    seen: list[str] = []
    for header in ("To", "Cc", "Bcc"):
        for _name, addr in getaddresses(msg.get_all(header, [])):
            if addr and addr.lower() not in (s.lower() for s in seen):
                seen.append(addr)
    return seen


@dataclass(frozen=True)
class FlushResult:
    sent: int
    failed: int
    remaining: int


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


def _claim(factory: sessionmaker[Session], row_id: int, now: dt.datetime, dead_owner: str | None = None) -> bool:
    with factory() as session, session.begin():
        taken_over = (OutboxMessage.status == SENDING) & (OutboxMessage.claimed_at < now - CLAIM_LEASE)
        if dead_owner is not None:
            taken_over = taken_over | ((OutboxMessage.status == SENDING) & (OutboxMessage.claimed_by == dead_owner))
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .where(or_(OutboxMessage.status == PENDING, taken_over))
            .values(status=SENDING, claimed_at=now, claimed_by=process_token(), handed_at=None,
                    # Taken from a sender that died after handing it over: the server may have it.
                    takeovers=case(((OutboxMessage.status == SENDING) & OutboxMessage.handed_at.is_not(None),
                                    OutboxMessage.takeovers + 1), else_=OutboxMessage.takeovers))
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def due_ids(factory: sessionmaker[Session], now: dt.datetime, limit: int = 200) -> list[int]:
    return [row_id for row_id, _owner in _due(factory, now, limit)]


def _due(factory: sessionmaker[Session], now: dt.datetime, limit: int = 200) -> list[tuple[int, str | None]]:
    """Rows to send now: pending and due, claims past their lease, and claims whose process is
    gone (with that dead owner, so the claim can be taken over by exactly that condition)."""
    with factory() as session:
        rows: dict[int, str | None] = {
            row_id: None for row_id in session.scalars(
                select(OutboxMessage.id)
                .where(
                    or_(
                        (OutboxMessage.status == PENDING) & (OutboxMessage.next_attempt_at <= now),
                        (OutboxMessage.status == SENDING) & (OutboxMessage.claimed_at < now - CLAIM_LEASE),
                    )
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
        }
        for row_id, owner in session.execute(
            select(OutboxMessage.id, OutboxMessage.claimed_by).where(OutboxMessage.status == SENDING)
        ):
            if row_id not in rows and not owner_alive(owner):
                log.warning("outbox %s: its claim holder %s is gone; sending it now", row_id, owner)
                rows[row_id] = owner
    return sorted(rows.items())[:limit]


async def flush_async(
    factory: sessionmaker[Session], smtp: SmtpConfig, *, now: dt.datetime, stop: threading.Event | None = None,
    oauth2: OAuth2Config | None = None,
) -> FlushResult:
    """Send every due row over one SMTP connection. Safe to run again at any time.

    `stop` set (SIGTERM): the send in flight finishes, no further row is claimed.

    When the server cannot be reached, the flush stops at once: the row it was on goes back
    to pending (its attempt not counted: the server's absence is not the message's fault) and
    the rest stay untouched, so an outage costs one connection attempt per flush, not one per
    row, and no reply is ever given up because the server was down.
    """
    due = _due(factory, now)
    ids = [row_id for row_id, _owner in due]
    sent = failed = 0
    if not ids:
        return FlushResult(0, 0, 0)
    started = _monotonic()
    client: aiosmtplib.SMTP | None = None
    try:
        for row_id, dead_owner in due:
            if stop is not None and stop.is_set():
                break
            # The claim is stamped with the time it is taken, not when the flush began: a long
            # flush must not hand out claims that already look expired to other senders.
            claimed_at = now + dt.timedelta(seconds=_monotonic() - started)
            if not _claim(factory, row_id, claimed_at, dead_owner):
                continue  # another process has it
            with factory() as session:
                row = session.get(OutboxMessage, row_id)
                assert row is not None
                raw, mail_from, rcpts, takeovers = row.raw, row.mail_from, list(row.rcpt_to), row.takeovers
            if takeovers > RESEND_AFTER_TAKEOVERS:
                failed += 1
                _give_up(factory, row_id, takeovers)
                continue
            if client is None:
                try:
                    client = await _connect(smtp, oauth2)
                except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as err:
                    failed += 1
                    _release(factory, row_id, now, f"{type(err).__name__}: {err}")
                    log.warning("outbox: SMTP %s:%s unreachable (%s); %d mail(s) wait for the next flush",
                                smtp.host, smtp.port, err, len(ids))
                    break
            _hand_over(factory, row_id, now)
            try:
                await client.sendmail(mail_from, rcpts, raw)
            except (aiosmtplib.SMTPServerDisconnected, OSError, asyncio.TimeoutError) as err:
                # The connection died under this message: not the message's fault either.
                failed += 1
                _release(factory, row_id, now, f"{type(err).__name__}: {err}")
                client = None
                break
            except aiosmtplib.SMTPException as err:
                # The server refused this message (4xx/5xx): counted, retried with backoff.
                failed += 1
                _mark_failed(factory, row_id, now, smtp.max_attempts, f"{type(err).__name__}: {err}")
                if not client.is_connected:
                    client = None
                continue
            _mark_sent(factory, row_id, now)
            sent += 1
    finally:
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                pass
    remaining = len(due_ids(factory, now))
    log.info("outbox flush: %d sent, %d failed, %d still due", sent, failed, remaining)
    return FlushResult(sent, failed, remaining)


async def _connect(smtp: SmtpConfig, oauth2: OAuth2Config | None = None) -> aiosmtplib.SMTP:
    """Connected and logged in as [smtp] says (bot/intake/connect.py: TLS 465 / STARTTLS required /
    plain, the CA, password or XOAUTH2). A TLS setting that does not fit the server, or a token
    the provider refuses, is an SMTPConnectError carrying the admin's line: the mails wait."""
    try:
        return await smtp_connect(smtp, oauth2)
    except (ServerSecurityError, OAuth2Error) as err:
        raise aiosmtplib.SMTPConnectError(str(err)) from err


def _mark_sent(factory: sessionmaker[Session], row_id: int, now: dt.datetime) -> None:
    with factory() as session, session.begin():
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        row.status = SENT
        row.sent_at = now
        row.attempts += 1
        row.last_error = None


def _hand_over(factory: sessionmaker[Session], row_id: int, now: dt.datetime) -> None:
    """From now until it is marked, the server may have this row: a death counts as a copy."""
    with factory() as session, session.begin():
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(handed_at=now))


def _give_up(factory: sessionmaker[Session], row_id: int, takeovers: int) -> None:
    """The sender died while sending this row `takeovers` times: the server may hold a copy
    from each. Never a third copy: failed, for a person (`bot outbox requeue ID`)."""
    error = (f"the bot stopped {takeovers} times while this mail was being handed to the SMTP server: it may "
             f"have been delivered {takeovers} times already, so it is not sent again (check, then requeue it "
             "to send it once more)")
    with factory() as session, session.begin():
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        row.status, row.last_error, row.claimed_at, row.claimed_by = FAILED, error, None, None
    log.error("outbox %s: %s", row_id, error)


def _release(factory: sessionmaker[Session], row_id: int, now: dt.datetime, error: str) -> None:
    """Give a claimed row back untouched but for the error: tried again at the next flush."""
    with factory() as session, session.begin():
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        row.status = PENDING
        row.claimed_at = row.claimed_by = None
        row.last_error = error
        row.next_attempt_at = now + RETRY_WHEN_UNREACHABLE


def _mark_failed(factory: sessionmaker[Session], row_id: int, now: dt.datetime, max_attempts: int, error: str) -> None:
    with factory() as session, session.begin():
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        row.attempts += 1
        row.last_error = error
        if row.attempts >= max_attempts:
            row.status = FAILED
            log.error("outbox %s (%s): giving up after %d attempts: %s", row.id, row.message_id, row.attempts, error)
        else:
            row.status = PENDING
            row.next_attempt_at = now + _backoff(row.attempts)
            log.warning("outbox %s (%s): send failed (attempt %d), retry at %s: %s",
                        row.id, row.message_id, row.attempts, row.next_attempt_at, error)


def flush(factory: sessionmaker[Session], smtp: SmtpConfig, *, now: dt.datetime,
          stop: threading.Event | None = None, oauth2: OAuth2Config | None = None) -> FlushResult:
    return asyncio.run(flush_async(factory, smtp, now=now, stop=stop, oauth2=oauth2))


def requeue(session: Session, row_id: int, *, now: dt.datetime) -> OutboxMessage:
    """Give a failed (or stuck) outbox row a fresh start: pending, attempts reset. The stored
    bytes are sent as they are, with the same Message-ID (`bot outbox requeue ID`)."""
    row = session.get(OutboxMessage, row_id)
    if row is None:
        raise ValueError(f"outbox {row_id}: no such message")
    if row.status == SENT:
        raise ValueError(f"outbox {row_id}: already sent at {row.sent_at:%Y-%m-%d %H:%M} UTC")
    row.status, row.attempts, row.next_attempt_at, row.claimed_at, row.claimed_by = PENDING, 0, now, None, None
    row.takeovers, row.handed_at = 0, None
    return row


def problems(session: Session) -> list[OutboxMessage]:
    """Rows an admin should know of: given up, or pending after a failed attempt."""
    return list(session.scalars(
        select(OutboxMessage)
        .where(or_(OutboxMessage.status == FAILED,
                   (OutboxMessage.status == PENDING) & (OutboxMessage.last_error.is_not(None))))
        .order_by(OutboxMessage.id)
    ))
