"""bot.demo.embedded: the in-process servers of `bot demo`, spoken to over real sockets."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage

import aiosmtplib
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from bot.demo.embedded import EmbeddedImap, EmbeddedSmtp
from bot.intake import FOLDERS, Mailbox, MailboxSettings, watch

RAW = (b"From: branch@aoyama.usen.co.jp\r\nTo: usen_spot@usen.co.jp\r\n"
       b"Subject: USEN SPOT demo\r\nMessage-ID: <demo-1@usen.example>\r\n\r\nhello\r\n")


@pytest.fixture
def imap() -> Iterator[EmbeddedImap]:
    with EmbeddedImap(user="usen_spot", password="s3cret") as server:
        yield server


def login(server: EmbeddedImap) -> IMAPClient:
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=5)
    client.login("usen_spot", "s3cret")
    return client


def settings_for(server: EmbeddedImap) -> MailboxSettings:
    return MailboxSettings(host=server.host, port=server.port, user=server.user,
                           password=server.password, ssl=False, timeout=5.0)


def test_imap_accepts_our_user_and_refuses_a_wrong_password(imap: EmbeddedImap) -> None:
    assert imap.host == "127.0.0.1" and imap.port > 0
    with login(imap) as client:
        assert client.has_capability("IDLE") and client.has_capability("MOVE")
    client = IMAPClient(imap.host, port=imap.port, ssl=False, timeout=5)
    with pytest.raises(LoginError):
        client.login("usen_spot", "wrong")
    client.shutdown()


def test_imap_append_idle_and_move(imap: EmbeddedImap) -> None:
    """Given a client idling on INBOX, when a mail is appended, then IDLE reports it, and
    MOVE files it away."""
    with login(imap) as client:
        client.select_folder("INBOX")
        client.idle()
        threading.Timer(0.1, imap.append, args=(RAW,)).start()
        # Wait for the server's notice, then end IDLE and read what IDLE reported in blocking
        # mode: imapclient's idle_check reads a non-blocking socket and aborts on a response line
        # that arrives in two TCP segments ("unterminated line: b'* 1 FETCH ('").
        readable, _, _ = select.select([client.socket()], [], [], 5)
        assert readable, "no IDLE notice within 5 s"
        _, responses = client.idle_done()
        assert any(r[1:2] == (b"EXISTS",) for r in responses), responses
        uids = client.search("ALL")
        assert len(uids) == 1
        assert client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"] == RAW
        client.create_folder("Processed")
        client.move(uids, "Processed")
        assert client.search("ALL") == []
    assert imap.folder_counts() == {"INBOX": 0, "Processed": 1}


def test_append_creates_the_folder_and_counts(imap: EmbeddedImap) -> None:
    imap.append_many([RAW] * 30)  # MULTIAPPEND: one command, no Nagle stalls
    imap.append(RAW, folder="Manual")
    assert imap.folder_counts() == {"INBOX": 30, "Manual": 1}


def test_intake_mailbox_runs_against_embedded_imap(imap: EmbeddedImap) -> None:
    """The demo path: bot.intake against pymap (IDLE, MOVE, UIDPLUS, PEEK)."""
    imap.append(RAW)
    with Mailbox(settings_for(imap)) as box:
        assert box.has_idle and box.has_move
        uids = box.list_uids()
        assert [raw for _, raw in box.fetch(uids)] == [RAW]
        box.file_away(uids[0], FOLDERS["rejected"])
        assert box.list_uids() == []
        threading.Timer(0.1, imap.append, args=(RAW,)).start()
        assert box.wait(5.0) is True
    counts = imap.folder_counts()
    assert counts["INBOX"] == 1 and counts["Rejected"] == 1 and counts["Quarantine"] == 0


def test_watch_against_embedded_imap_stops_promptly(imap: EmbeddedImap) -> None:
    imap.append(RAW)
    stop, handled = threading.Event(), threading.Event()

    def handle(box: Mailbox) -> None:
        for uid, _ in box.fetch(box.list_uids()):
            box.file_away(uid, "Processed")
            handled.set()

    thread = threading.Thread(target=watch, args=(settings_for(imap), handle),
                              kwargs={"stop": stop, "wait_timeout": 60.0})
    thread.start()
    try:
        assert handled.wait(5.0)
    finally:
        stop.set()
        thread.join(5.0)
    assert not thread.is_alive()
    assert imap.folder_counts()["Processed"] == 1


def test_imap_stop_closes_the_port() -> None:
    server = EmbeddedImap()
    server.start()
    port = server.port
    with IMAPClient(server.host, port=port, ssl=False, timeout=5) as client:
        client.login("usen_spot", "demo")  # the documented defaults
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_smtp_keeps_a_mail_sent_with_aiosmtplib() -> None:
    message = EmailMessage()
    message["From"] = "usen_spot@usen.co.jp"
    message["To"] = "branch@aoyama.usen.co.jp"
    message["Cc"] = "manager@aoyama.usen.co.jp"
    message["Subject"] = "【差戻】USEN SPOT 器材発注依頼_123456789"
    message.set_content("不備があります。")
    with EmbeddedSmtp() as smtp:
        asyncio.run(aiosmtplib.send(message, hostname=smtp.host, port=smtp.port,
                                    start_tls=False, use_tls=False))
        received = smtp.wait_for(1, timeout=5.0)
    assert len(received) == 1
    got = received[0]
    assert got.mail_from == "usen_spot@usen.co.jp"
    assert got.rcpt_tos == ("branch@aoyama.usen.co.jp", "manager@aoyama.usen.co.jp")
    assert b"Subject: =?utf-8?" in got.data
    assert smtp.messages == received


def test_smtp_wait_for_times_out_with_a_clear_error() -> None:
    with EmbeddedSmtp() as smtp:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="0 of 1"):
            smtp.wait_for(1, timeout=0.2)
        assert time.monotonic() - started < 2.0
