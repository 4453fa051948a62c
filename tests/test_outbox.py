"""Transactional outbox against a real aiosmtpd server: sent once, retried when it fails,
never lost, never sent by two senders at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from email import message_from_bytes
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions import outbox
from bot.config import SmtpConfig
from bot.db import claims
from bot.db.models import OutboxMessage
from bot.demo.embedded import EmbeddedSmtp

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)


def message(subject: str = "Re: USEN SPOT 器材発注依頼_988776654") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "usen_spot@mx.usen.co.jp"
    msg["To"] = "uchida@aoyama.usen.co.jp"
    msg["Cc"] = "shitencho@aoyama.usen.co.jp"
    msg["Subject"] = subject
    msg["Message-ID"] = outbox.new_message_id("usen_spot@mx.usen.co.jp")
    msg.set_content("差戻のお知らせ ①㈱", charset="utf-8")
    return msg


def smtp_cfg(host: str, port: int, **kw: object) -> SmtpConfig:
    return dataclasses.replace(SmtpConfig(), host=host, port=port, timeout=5.0, **kw)


def queue(factory: sessionmaker[Session], msg: EmailMessage) -> int:
    with db.transaction(factory) as s:
        return outbox.enqueue(s, msg, purpose="reply", now=NOW).id


def row(factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with factory() as s:
        r = s.get(OutboxMessage, row_id)
        assert r is not None
        return r


def test_sent_once_to_all_recipients(factory: sessionmaker[Session], smtp_sink: EmbeddedSmtp) -> None:
    row_id = queue(factory, message())
    result = outbox.flush(factory, smtp_cfg(smtp_sink.host, smtp_sink.port), now=NOW)
    assert (result.sent, result.failed) == (1, 0)
    got = smtp_sink.wait_for(1, timeout=5)
    assert set(got[0].rcpt_tos) == {"uchida@aoyama.usen.co.jp", "shitencho@aoyama.usen.co.jp"}
    parsed = message_from_bytes(got[0].data)
    assert parsed["Message-ID"] == row(factory, row_id).message_id
    assert row(factory, row_id).status == outbox.SENT
    # Running the sender again sends nothing more.
    again = outbox.flush(factory, smtp_cfg(smtp_sink.host, smtp_sink.port), now=NOW + dt.timedelta(hours=1))
    assert again.sent == 0
    assert len(smtp_sink.messages) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_keeps_row_pending_then_sends_later(factory: sessionmaker[Session], smtp_sink: EmbeddedSmtp) -> None:
    row_id = queue(factory, message())
    down = outbox.flush(factory, smtp_cfg("127.0.0.1", _closed_port()), now=NOW)
    assert (down.sent, down.failed) == (0, 1)
    r = row(factory, row_id)
    # An unreachable server is not the message's fault: no attempt is used up.
    assert r.status == outbox.PENDING and r.attempts == 0 and r.next_attempt_at > NOW
    assert "Connect" in (r.last_error or "") or "refused" in (r.last_error or "").lower()
    # Not due yet: nothing is tried.
    early = outbox.flush(factory, smtp_cfg(smtp_sink.host, smtp_sink.port), now=NOW + dt.timedelta(seconds=1))
    assert early.sent == 0 and smtp_sink.messages == []
    later = outbox.flush(factory, smtp_cfg(smtp_sink.host, smtp_sink.port), now=NOW + dt.timedelta(hours=2))
    assert later.sent == 1
    assert len(smtp_sink.wait_for(1, timeout=5)) == 1
    assert row(factory, row_id).status == outbox.SENT


class RejectFirst:
    """An SMTP handler that refuses the first DATA with 451, then accepts."""

    def __init__(self) -> None:
        self.calls = 0
        self.accepted: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.calls += 1
        if self.calls == 1:
            return "451 4.3.0 try again later"
        self.accepted.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


def test_temporary_rejection_is_retried_not_lost(factory: sessionmaker[Session]) -> None:
    handler = RejectFirst()
    port = _closed_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        first_id = queue(factory, message("first"))
        second_id = queue(factory, message("second"))
        r1 = outbox.flush(factory, smtp_cfg("127.0.0.1", port), now=NOW)
        assert (r1.sent, r1.failed) == (1, 1)  # one refusal does not block the next mail
        assert row(factory, first_id).status == outbox.PENDING
        assert "451" in (row(factory, first_id).last_error or "")
        assert row(factory, second_id).status == outbox.SENT
        r2 = outbox.flush(factory, smtp_cfg("127.0.0.1", port), now=NOW + dt.timedelta(hours=1))
        assert r2.sent == 1
        assert len(handler.accepted) == 2
    finally:
        controller.stop()


class RefuseAll:
    """An SMTP handler that refuses every message with 550."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        return "550 5.7.1 refused"


def test_gives_up_after_max_attempts_but_keeps_the_row(factory: sessionmaker[Session]) -> None:
    port = _closed_port()
    controller = Controller(RefuseAll(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        row_id = queue(factory, message())
        cfg = smtp_cfg("127.0.0.1", port, max_attempts=2)
        outbox.flush(factory, cfg, now=NOW)
        outbox.flush(factory, cfg, now=NOW + dt.timedelta(hours=3))
    finally:
        controller.stop()
    r = row(factory, row_id)
    assert r.status == outbox.FAILED and r.attempts == 2 and "550" in (r.last_error or "")
    assert r.raw  # the message is still there for an admin to requeue


def test_an_outage_costs_one_connection_per_flush_and_gives_nothing_up(factory: sessionmaker[Session]) -> None:
    """Given 30 replies and an SMTP server that is down for days, each flush tries one
    connection, leaves every row pending with no attempt used, and never marks one failed."""
    ids = [queue(factory, message(f"reply {i}")) for i in range(30)]
    cfg = smtp_cfg("127.0.0.1", _closed_port(), max_attempts=2)
    for hours in range(0, 72, 6):
        result = outbox.flush(factory, cfg, now=NOW + dt.timedelta(hours=hours))
        assert result.failed == 1 and result.sent == 0
    rows = [row(factory, i) for i in ids]
    assert {r.status for r in rows} == {outbox.PENDING}
    assert {r.attempts for r in rows} == {0}


def test_a_row_claimed_by_another_sender_is_left_alone_until_its_lease_ends(
    factory: sessionmaker[Session], smtp_sink: EmbeddedSmtp
) -> None:
    row_id = queue(factory, message())
    with db.transaction(factory) as s:
        r = s.get(OutboxMessage, row_id)
        assert r is not None
        r.status, r.claimed_at = outbox.SENDING, NOW  # another process is sending it right now
    cfg = smtp_cfg(smtp_sink.host, smtp_sink.port)
    assert outbox.flush(factory, cfg, now=NOW + dt.timedelta(minutes=1)).sent == 0
    # That process died after claiming: after the lease the row is sent (same Message-ID).
    assert outbox.flush(factory, cfg, now=NOW + outbox.CLAIM_LEASE + dt.timedelta(minutes=1)).sent == 1
    assert len(smtp_sink.wait_for(1, timeout=5)) == 1


def test_enqueue_in_a_rolled_back_transaction_leaves_nothing(factory: sessionmaker[Session]) -> None:
    """The outbox row lives and dies with the decision's transaction."""
    try:
        with db.transaction(factory) as s:
            outbox.enqueue(s, message(), purpose="reply", now=NOW)
            raise RuntimeError("decision failed")
    except RuntimeError:
        pass
    with factory() as s:
        assert s.scalars(select(OutboxMessage)).all() == []


def test_claims_are_stamped_when_taken_not_when_the_flush_began(
    factory: sessionmaker[Session], smtp_sink: EmbeddedSmtp, monkeypatch
) -> None:  # noqa: ANN001
    """A flush that runs past the claim lease must not hand out claims that already look
    expired (another sender would take and send the same row)."""
    first, second = queue(factory, message("one")), queue(factory, message("two"))
    ticks = iter([0.0, 0.0, 700.0])  # flush start, first claim, second claim
    monkeypatch.setattr(outbox, "_monotonic", lambda: next(ticks, 700.0))
    outbox.flush(factory, smtp_cfg(smtp_sink.host, smtp_sink.port), now=NOW)
    assert row(factory, first).claimed_at == NOW
    assert row(factory, second).claimed_at == NOW + dt.timedelta(seconds=700)


def test_cli_requeue_sends_a_failed_message_again(factory: sessionmaker[Session], sqlite_url: str,
                                                 smtp_sink: EmbeddedSmtp) -> None:
    """Given a vendor batch mail the outbox gave up on, `bot outbox list` shows it and
    `bot outbox requeue ID` sends the same bytes (same Message-ID) once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    row_id = queue(factory, message())
    with db.transaction(factory) as s:
        r = s.get(OutboxMessage, row_id)
        assert r is not None
        r.status, r.attempts, r.last_error = outbox.FAILED, 48, "SMTPDataError: 552 too big"
    env = dict(os.environ, BOT_DATABASE_URL=sqlite_url, BOT_SMTP_HOST=smtp_sink.host, BOT_SMTP_PORT=str(smtp_sink.port))
    run = lambda *a: subprocess.run([sys.executable, "-m", "bot", "outbox", *a], env=env,  # noqa: E731
                                    cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60)
    listed = run("list")
    assert listed.returncode == 0 and f"{row_id}\tfailed" in listed.stdout and "552" in listed.stdout
    done = run("requeue", str(row_id))
    assert done.returncode == 0, done.stderr
    [got] = smtp_sink.wait_for(1, timeout=10)
    assert row(factory, row_id).status == outbox.SENT
    assert f"Message-ID: {row(factory, row_id).message_id}" in got.data.decode("ascii", "replace")
    assert run("requeue", str(row_id)).returncode == 2  # already sent: refused


def _dead_token() -> str:
    """The claim token of a process that ran on this host and is gone."""
    import subprocess
    import sys

    token = subprocess.run([sys.executable, "-c", "from bot.db.claims import process_token; print(process_token())"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert not claims.owner_alive(token)
    return token


def test_a_dead_process_claim_is_taken_over_at_once(factory: sessionmaker[Session], smtp_sink: EmbeddedSmtp) -> None:
    """Given a row claimed by a process that died (SIGKILL between claim and 'sent'),
    when a restarted bot flushes a second later, then it sends the row with its Message-ID,
    without waiting for the 10-minute lease."""
    row_id = queue(factory, message())
    with db.transaction(factory) as s:
        r = s.get(OutboxMessage, row_id)
        assert r is not None
        r.status, r.claimed_at, r.claimed_by = outbox.SENDING, NOW, _dead_token()
    result = outbox.flush(factory, smtp_cfg(smtp_sink.host, smtp_sink.port), now=NOW + dt.timedelta(seconds=1))
    assert result.sent == 1
    got = smtp_sink.wait_for(1, timeout=5)
    assert message_from_bytes(got[0].data)["Message-ID"] == row(factory, row_id).message_id
    assert row(factory, row_id).status == outbox.SENT


def test_a_live_process_claim_is_left_alone(factory: sessionmaker[Session], smtp_sink: EmbeddedSmtp) -> None:
    """A claim held by a running process (here: this one) or by another host waits for its lease."""
    ids = [queue(factory, message()), queue(factory, message())]
    with db.transaction(factory) as s:
        for row_id, token in zip(ids, (claims.process_token(), "other-host:1234:99"), strict=True):
            r = s.get(OutboxMessage, row_id)
            assert r is not None
            r.status, r.claimed_at, r.claimed_by = outbox.SENDING, NOW, token
    cfg = smtp_cfg(smtp_sink.host, smtp_sink.port)
    assert outbox.flush(factory, cfg, now=NOW + dt.timedelta(minutes=1)).sent == 0
    assert outbox.flush(factory, cfg, now=NOW + outbox.CLAIM_LEASE + dt.timedelta(seconds=1)).sent == 2
