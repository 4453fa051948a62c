"""bot.intake against a real Dovecot (tests/support/dovecot.py): no mocks.

The one spy (counting FETCH commands) wraps the real client call and passes it through.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bot.intake import (
    FOLDERS,
    QUARANTINE,
    IntakeConnectionError,
    IntakeError,
    IntakeLoginError,
    Mailbox,
    MailboxSettings,
    watch,
)
from tests.support.dovecot import Dovecot, free_port

# Dovecot tells IDLE clients about new mail ~0.5 s after it lands (LAB-NOTES); 10 s is a
# generous ceiling that is only reached when something is broken.
NOTICE_TIMEOUT = 10.0


def mail(n: int, *, subject: str = "USEN SPOT 器材発注依頼_123456789") -> bytes:
    return ((
        "From: branch%d@aoyama.usen.co.jp\r\n"
        "To: usen_spot@usen.co.jp\r\n"
        "Subject: =?UTF-8?B?%s?=\r\n"
        "Message-ID: <test-%d@usen.example>\r\n"
        "\r\n"
        "mail number %d\r\n"
    ) % (n, base64.b64encode(subject.encode("utf-8")).decode("ascii"), n, n)).encode("ascii")


def settings_for(server: Dovecot, **overrides: object) -> MailboxSettings:
    values: dict[str, object] = dict(host=server.host, port=server.port, user=server.user,
                                     password=server.password, ssl=False, timeout=5.0)
    values.update(overrides)
    return MailboxSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Iterator[Mailbox]:
    with Mailbox(settings_for(dovecot)) as box:
        yield box


def wait_until(condition: Callable[[], bool], timeout: float = NOTICE_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# -- connect, list, fetch --------------------------------------------------------------


def test_connect_selects_folder_and_creates_target_folders(dovecot: Dovecot) -> None:
    """Given an empty Dovecot, when the mailbox connects, then INBOX is selected
    read-write and every target folder (plus Quarantine) exists."""
    with Mailbox(settings_for(dovecot)) as box:
        assert box.uidvalidity > 0
        assert box.has_idle and box.has_move
        assert box.list_uids() == []
    with dovecot.client() as client:
        names = {name for _, _, name in client.list_folders()}
    assert {*FOLDERS.values(), QUARANTINE} <= names


def test_wrong_password_is_a_login_error_naming_the_host(dovecot: Dovecot) -> None:
    box = Mailbox(settings_for(dovecot, password="wrong"))
    with pytest.raises(IntakeLoginError, match=dovecot.host):
        box.connect()
    box.close()


def test_no_server_is_a_connection_error() -> None:
    box = Mailbox(MailboxSettings(host="127.0.0.1", port=free_port(), user="u", password="p",
                                  ssl=False, timeout=2.0))
    with pytest.raises(IntakeConnectionError) as caught:
        box.connect()
    assert isinstance(caught.value.__cause__, OSError)
    assert "INBOX" in str(caught.value)


def test_list_uids_sorted_without_deleted(dovecot: Dovecot, mailbox: Mailbox) -> None:
    dovecot.append_many([mail(n) for n in range(1, 5)])
    with dovecot.client() as client:
        client.select_folder("INBOX")
        client.delete_messages([2])  # flagged, not expunged: the bot must not see it
    assert mailbox.list_uids() == [1, 3, 4]


def test_fetch_uses_peek_and_leaves_seen_unset(dovecot: Dovecot, mailbox: Mailbox) -> None:
    """Given unread mails, when fetched, then the bytes are exact and \\Seen stays unset."""
    sent = [mail(n) for n in range(1, 4)]
    dovecot.append_many(sent)
    got = list(mailbox.fetch(mailbox.list_uids()))
    assert [uid for uid, _ in got] == [1, 2, 3]
    assert [raw for _, raw in got] == sent
    assert all(b"\\Seen" not in flags for flags in dovecot.folder_flags("INBOX").values())


def test_fetch_in_batches_lazily(dovecot: Dovecot) -> None:
    """Given 120 mails and batch_size 50, then 3 FETCH commands, each only when needed."""
    dovecot.append_many([mail(n) for n in range(120)])
    with Mailbox(settings_for(dovecot, batch_size=50)) as box:
        client = box._client
        assert client is not None
        batches: list[int] = []
        real_fetch = client.fetch

        def counting_fetch(uids: list[int], data: list[str]) -> object:
            if "BODY.PEEK[]" in data:  # the bodies (their sizes are asked for first, per batch)
                batches.append(len(uids))
            return real_fetch(uids, data)

        client.fetch = counting_fetch
        uids = box.list_uids()
        stream = box.fetch(uids)
        first = [next(stream) for _ in range(50)]
        assert batches == [50]  # the second batch is not fetched before it is needed
        rest = list(stream)
    assert batches == [50, 50, 20]
    assert [uid for uid, _ in first + rest] == uids
    assert len(uids) == 120


def test_fetch_skips_a_uid_that_vanished(dovecot: Dovecot, mailbox: Mailbox,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """Given a mail a human moves away between list_uids() and fetch(), it is skipped."""
    dovecot.append_many([mail(1), mail(2), mail(3)])
    uids = mailbox.list_uids()
    with dovecot.client() as client:
        client.select_folder("INBOX")
        client.move([2], "Manual")
    with caplog.at_level(logging.WARNING, logger="bot.intake"):
        got = [uid for uid, _ in mailbox.fetch(uids)]
    assert got == [1, 3]
    assert "uid 2" in caplog.text


# -- filing away -------------------------------------------------------------------------


def test_file_away_with_move(dovecot: Dovecot, mailbox: Mailbox) -> None:
    dovecot.append_many([mail(1), mail(2)])
    mailbox.file_away(1, FOLDERS["accepted"])
    assert dovecot.folder_uids("INBOX") == [2]
    assert dovecot.folder_messages("Processed") == [mail(1)]
    assert mailbox.list_uids() == [2]


def test_file_away_creates_a_missing_folder(dovecot: Dovecot, mailbox: Mailbox) -> None:
    dovecot.append(mail(1))
    with dovecot.client() as client:  # someone deleted it after the bot connected
        client.delete_folder("Rejected")
    mailbox.file_away(1, "Rejected")
    assert dovecot.folder_messages("Rejected") == [mail(1)]


def test_file_away_without_move_copies_then_expunges(dovecot_legacy: Dovecot) -> None:
    """Given a server without MOVE, then COPY + \\Deleted + UID EXPUNGE does the same job."""
    dovecot_legacy.append_many([mail(1), mail(2), mail(3)])
    with Mailbox(settings_for(dovecot_legacy)) as box:
        assert not box.has_move and not box.has_idle
        box.file_away(2, "Manual")
        assert box.list_uids() == [1, 3]
    assert dovecot_legacy.folder_uids("INBOX") == [1, 3]  # expunged, not just flagged
    assert dovecot_legacy.folder_messages("Manual") == [mail(2)]


def test_file_away_without_move_or_uidplus_uses_plain_expunge() -> None:
    with Dovecot(without_capabilities={"IDLE", "MOVE", "UIDPLUS"}) as server:
        server.append_many([mail(1), mail(2)])
        with Mailbox(settings_for(server)) as box:
            assert not box.has_uidplus
            box.file_away_many([1, 2], "Ignored")
        assert server.folder_uids("INBOX") == []
        assert server.folder_messages("Ignored") == [mail(1), mail(2)]


def test_file_away_many_is_one_command(dovecot: Dovecot, mailbox: Mailbox) -> None:
    dovecot.append_many([mail(n) for n in range(1, 11)])
    client = mailbox._client
    assert client is not None
    moves: list[list[int]] = []
    real_move = client.move

    def counting_move(uids: list[int], folder: str) -> object:
        moves.append(list(uids))
        return real_move(uids, folder)

    client.move = counting_move
    mailbox.file_away_many([1, 2, 3, 5, 8], "Processed")
    assert moves == [[1, 2, 3, 5, 8]]
    assert dovecot.folder_uids("INBOX") == [4, 6, 7, 9, 10]
    assert len(dovecot.folder_uids("Processed")) == 5


def test_file_away_of_a_uid_already_gone_is_logged(dovecot: Dovecot, mailbox: Mailbox,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Given a mail a previous run already moved (crash before recording), then filing it
    again is not an error."""
    dovecot.append(mail(1))
    mailbox.file_away(1, "Processed")
    with caplog.at_level(logging.INFO, logger="bot.intake"):
        mailbox.file_away(1, "Processed")
        mailbox.file_away_many([1, 42], "Processed")
    assert "already gone" in caplog.text
    assert dovecot.folder_uids("Processed") == [1]


# -- UIDVALIDITY -------------------------------------------------------------------------


def test_uidvalidity_is_stable_and_changes_when_the_folder_is_recreated(
        dovecot: Dovecot) -> None:
    """The caller keys mails on (folder, UIDVALIDITY, UID). It stores the UIDVALIDITY it saw;
    on the next connect a different value means the old UIDs name other mails now, so it must
    not trust "UID already recorded" and must fall back to the Message-ID hash."""
    dovecot.append(mail(1), folder="Intake")
    settings = settings_for(dovecot, folder="Intake")
    with Mailbox(settings) as box:
        recorded = box.uidvalidity
        assert box.list_uids() == [1]
    with Mailbox(settings) as box:
        assert box.uidvalidity == recorded  # same folder, same epoch

    with dovecot.client() as client:  # an admin deletes and recreates the folder
        client.delete_folder("Intake")
        client.create_folder("Intake")
    dovecot.append(mail(2), folder="Intake")

    with Mailbox(settings) as box:
        assert box.uidvalidity != recorded  # how the caller detects it
        assert box.list_uids() == [1]  # UID 1 again, but a different mail
        assert [raw for _, raw in box.fetch([1])] == [mail(2)]


# -- waiting -----------------------------------------------------------------------------


def append_later(server: Dovecot, raw: bytes, delay: float = 0.3) -> threading.Thread:
    """Another client delivers a mail while the mailbox under test is waiting."""
    thread = threading.Timer(delay, server.append, args=(raw,))
    thread.start()
    return thread


def test_wait_with_idle_returns_true_after_another_client_appends(
        dovecot: Dovecot, mailbox: Mailbox) -> None:
    assert mailbox.has_idle
    writer = append_later(dovecot, mail(1))
    started = time.monotonic()
    assert mailbox.wait(NOTICE_TIMEOUT) is True
    assert time.monotonic() - started < NOTICE_TIMEOUT
    writer.join()
    assert mailbox.list_uids() == [1]  # the connection is usable after IDLE


def test_wait_with_idle_times_out_without_change(mailbox: Mailbox) -> None:
    started = time.monotonic()
    assert mailbox.wait(0.5) is False
    assert 0.4 < time.monotonic() - started < 3.0


def test_wait_renews_idle(dovecot: Dovecot) -> None:
    """Given a short idle_renew_seconds, IDLE is ended and re-issued within one wait()."""
    with Mailbox(settings_for(dovecot, idle_renew_seconds=0.2)) as box:
        client = box._client
        assert client is not None
        idles: list[float] = []
        real_idle = client.idle

        def counting_idle() -> object:
            idles.append(time.monotonic())
            return real_idle()

        client.idle = counting_idle
        assert box.wait(0.9) is False
        assert len(idles) >= 3
        writer = append_later(dovecot, mail(1), delay=0.5)  # arrives across a renewal
        assert box.wait(NOTICE_TIMEOUT) is True
        writer.join()


def test_wait_without_idle_polls(dovecot_legacy: Dovecot) -> None:
    with Mailbox(settings_for(dovecot_legacy, poll_seconds=0.2)) as box:
        assert not box.has_idle
        assert box.wait(0.5) is False
        writer = append_later(dovecot_legacy, mail(1))
        assert box.wait(NOTICE_TIMEOUT) is True
        writer.join()
        assert box.list_uids() == [1]


@pytest.mark.parametrize("server_fixture", ["dovecot", "dovecot_legacy"])
def test_wait_returns_early_when_stop_is_set(server_fixture: str,
                                             request: pytest.FixtureRequest) -> None:
    server: Dovecot = request.getfixturevalue(server_fixture)
    stop = threading.Event()
    with Mailbox(settings_for(server, poll_seconds=30.0)) as box:
        threading.Timer(0.2, stop.set).start()
        started = time.monotonic()
        assert box.wait(30.0, stop) is False
        assert time.monotonic() - started < 2.0
        assert box.list_uids() == []  # IDLE was ended cleanly


def test_a_killed_server_during_idle_raises_connection_lost(dovecot: Dovecot,
                                                            mailbox: Mailbox) -> None:
    threading.Timer(0.2, dovecot.stop).start()
    started = time.monotonic()
    with pytest.raises(IntakeConnectionError):
        mailbox.wait(20.0)
    assert time.monotonic() - started < 5.0


def test_a_frozen_server_is_a_lost_connection_within_the_timeout(dovecot: Dovecot) -> None:
    """Given a server that stops answering (connection open, nobody home), then wait() fails
    after the socket timeout instead of hanging, and close() does not wait again."""
    box = Mailbox(settings_for(dovecot, timeout=1.0))
    box.connect()
    dovecot.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(IntakeConnectionError, match="IDLE"):
            box.wait(0.3)
        box.close()
        assert time.monotonic() - started < 4.0
    finally:
        dovecot.thaw()


def test_a_killed_server_turns_commands_into_connection_lost(dovecot: Dovecot,
                                                             mailbox: Mailbox) -> None:
    dovecot.stop()
    with pytest.raises(IntakeError) as caught:
        mailbox.list_uids()
    assert isinstance(caught.value, IntakeConnectionError)
    assert dovecot.host in str(caught.value)


# -- the watch loop ------------------------------------------------------------------------


class Recorder:
    """A handle() that does what the pipeline does: fetch new mails, then file them away."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.passes = 0
        self.changed = threading.Condition()

    def __call__(self, box: Mailbox) -> None:
        uids = box.list_uids()
        for uid, raw in box.fetch(uids):
            with self.changed:
                self.seen.append(raw)
            box.file_away(uid, FOLDERS["accepted"])
        with self.changed:
            self.passes += 1
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = NOTICE_TIMEOUT) -> list[bytes]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.seen) >= count, timeout), \
                "handled %d of %d mails" % (len(self.seen), count)
            return list(self.seen)


def start_watch(settings: MailboxSettings, handle: Callable[[Mailbox], None],
                stop: threading.Event, **kwargs: object) -> threading.Thread:
    thread = threading.Thread(target=watch, args=(settings, handle),
                              kwargs={"stop": stop, **kwargs}, daemon=True)
    thread.start()
    return thread


def test_watch_handles_at_once_then_on_new_mail(dovecot: Dovecot) -> None:
    dovecot.append(mail(1))
    recorder, stop = Recorder(), threading.Event()
    thread = start_watch(settings_for(dovecot), recorder, stop, wait_timeout=30.0)
    try:
        assert recorder.wait_for(1) == [mail(1)]  # the mail waiting before we connected
        dovecot.append(mail(2))
        assert recorder.wait_for(2) == [mail(1), mail(2)]  # woken by IDLE, not the timeout
    finally:
        stop.set()
        thread.join(5.0)
    assert not thread.is_alive()
    assert dovecot.folder_uids("INBOX") == []
    assert len(dovecot.folder_uids("Processed")) == 2


def test_watch_reconnects_after_the_server_restarts(dovecot: Dovecot,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Given a running watch, when Dovecot is killed and restarted on the same port, then
    watch backs off, reconnects, and handles the mail that arrived meanwhile."""
    recorder, stop = Recorder(), threading.Event()
    pauses: list[float] = []

    def recorded_sleep(seconds: float) -> None:
        pauses.append(seconds)
        stop.wait(seconds)

    caplog.set_level(logging.WARNING, logger="bot.intake")
    thread = start_watch(settings_for(dovecot), recorder, stop, wait_timeout=30.0,
                         backoff_initial=0.1, backoff_max=0.4, sleep=recorded_sleep)
    try:
        assert wait_until(lambda: recorder.passes >= 1)
        dovecot.stop()
        assert wait_until(lambda: len(pauses) >= 3)  # refused while down: backing off
        dovecot.start()
        dovecot.append(mail(7))
        assert recorder.wait_for(1) == [mail(7)]
        # A successful pass resets the backoff: the next outage starts small again.
        before = len(pauses)
        dovecot.stop()
        assert wait_until(lambda: len(pauses) > before)
    finally:
        stop.set()
        thread.join(5.0)
    assert not thread.is_alive()
    assert all(0.05 <= p <= 0.4 for p in pauses)  # jitter within [base/2, base], capped
    assert pauses[0] <= pauses[1] <= pauses[2]  # 0.1, 0.2, 0.4 bases: doubling
    assert pauses[before] <= 0.1
    assert "reconnecting" in caplog.text


def test_watch_survives_an_exception_in_handle(dovecot: Dovecot,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """A bug in handle() is logged with its traceback; the loop goes on."""
    calls: list[int] = []
    stop = threading.Event()

    def flaky(box: Mailbox) -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise ValueError("bug in the pipeline")

    caplog.set_level(logging.ERROR, logger="bot.intake")
    thread = start_watch(settings_for(dovecot), flaky, stop, wait_timeout=0.2,
                         backoff_initial=0.05)
    try:
        assert wait_until(lambda: len(calls) >= 3)
    finally:
        stop.set()
        thread.join(5.0)
    assert not thread.is_alive()
    assert "ValueError: bug in the pipeline" in caplog.text  # traceback included


def test_watch_stop_ends_promptly(dovecot: Dovecot) -> None:
    stop = threading.Event()
    recorder = Recorder()
    thread = start_watch(settings_for(dovecot), recorder, stop, wait_timeout=600.0)
    assert wait_until(lambda: recorder.passes >= 1)
    started = time.monotonic()
    stop.set()
    thread.join(5.0)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0


def test_watch_stop_ends_a_backoff_promptly(caplog: pytest.LogCaptureFixture) -> None:
    """Given no server at all, watch keeps retrying; stop still ends its backoff at once."""
    stop = threading.Event()
    settings = MailboxSettings(host="127.0.0.1", port=free_port(), user="u", password="p",
                               ssl=False, timeout=1.0)
    caplog.set_level(logging.WARNING, logger="bot.intake")
    thread = start_watch(settings, Recorder(), stop, backoff_initial=60.0)
    assert wait_until(lambda: "reconnecting in" in caplog.text)  # now in a 30-60 s backoff
    started = time.monotonic()
    stop.set()
    thread.join(5.0)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0
