"""A watched folder full of mails already processed (issue 8): a restart, and every pass after
it, fetches only what is new, and the crash guarantees still hold when a pass only looks at
what is new (the timed figures are in bench/bench_restart.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from imapclient import IMAPClient
from sqlalchemy import insert, select

from bot.daemon.main import mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.db.models import FILED, STORED, Mail
from bot.intake import Mailbox
from bot.mail import message_id_hash
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot

OLD = 300


def text_mail(tag: str) -> bytes:
    return (f"From: outsider@example.com\r\nTo: spot@usen.co.jp\r\nSubject: hello {tag}\r\n"
            f"Message-ID: <{tag}@example.com>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0900\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nmail {tag}\r\n").encode()


class FetchSpy:
    """Records the UIDs asked for in every body FETCH and the criteria of every SEARCH."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bodies: list[int] = []
        self.searches: list[object] = []
        real_fetch, real_search = IMAPClient.fetch, IMAPClient.search

        def fetch(client: IMAPClient, messages, data, modifiers=None):  # noqa: ANN001, ANN202
            if any("BODY" in (d.decode() if isinstance(d, bytes) else d).upper() for d in data):
                self.bodies.extend(int(m) for m in messages)
            return real_fetch(client, messages, data, modifiers)

        def search(client: IMAPClient, criteria="ALL", charset=None):  # noqa: ANN001, ANN202
            self.searches.append(criteria)
            return real_search(client, criteria, charset)

        monkeypatch.setattr(IMAPClient, "fetch", fetch)
        monkeypatch.setattr(IMAPClient, "search", search)

    def reset(self) -> None:
        self.bodies.clear()
        self.searches.clear()


@pytest.fixture
def full_folder(sqlite_url: str, dovecot: Dovecot):  # noqa: ANN201
    """INBOX with OLD mails and OLD rows saying they were processed and filed long ago."""
    dovecot.append_many(text_mail(f"old-{i}") for i in range(OLD))
    with dovecot.client() as c:
        uidvalidity = int(c.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
        uids = sorted(c.search("ALL"))
    cfg = make_config(sqlite_url, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password)
    processor, factory = make_processor(cfg, Clock())
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    with factory() as s, s.begin():
        s.execute(insert(Mail), [
            dict(folder="INBOX", uidvalidity=uidvalidity, uid=uid, msgid_hash=message_id_hash(b"", f"<old-{i}@example.com>"),
                 message_id=f"<old-{i}@example.com>", raw=text_mail(f"old-{i}"), subject=f"hello old-{i}",
                 from_addr="outsider@example.com", status=FILED, decision="ignored", defects=[], warnings=[], facts={},
                 received_at=now, decided_at=now, filed_at=now, filed_folder="Ignored")
            for i, uid in enumerate(uids)])
    return cfg, processor, factory


def test_restart_with_a_full_folder_fetches_only_the_new_mail(
    full_folder, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """Given 300 processed mails still in INBOX (rows FILED) and one new mail,
    when the bot starts (a fresh runner) and later gets another mail on the same connection,
    then each pass FETCHes the body of the new mail only, and the second pass asks the server
    only for UIDs above the ones it has seen."""
    cfg, processor, factory = full_folder
    dovecot.append(text_mail("new-1"))
    spy = FetchSpy(monkeypatch)
    runner = MailboxRunner(processor)
    with Mailbox(mailbox_settings(cfg)) as mbox:
        first = runner.handle(mbox)
        assert first.full_sync and first.stored == 1 and len(first.outcomes) == 1
        assert spy.bodies == [OLD + 1]

        spy.reset()
        dovecot.append(text_mail("new-2"))
        second = runner.handle(mbox)
        assert not second.full_sync and second.stored == 1 and len(second.outcomes) == 1
        assert spy.bodies == [OLD + 2]
        assert second.seen == 1  # the server listed only the new UID, not the 301 before it
        assert any(f"{OLD + 2}:*" in " ".join(map(str, c)) for c in spy.searches if isinstance(c, list))

        spy.reset()
        third = runner.handle(mbox)  # nothing new (IDLE woke for a flag change, say)
        assert third.seen == 0 and third.stored == 0 and spy.bodies == []
    with factory() as s:
        assert s.scalar(select(Mail.status).where(Mail.message_id == "<new-2@example.com>")) == FILED
    assert dovecot.folder_uids("INBOX") == list(range(1, OLD + 1))


def test_a_mail_that_could_not_be_stored_is_retried_by_the_next_pass(
    full_folder, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """Given a pass that fails to store a new mail and stores the one after it in the same
    commit (one savepoint each: the failure rolls back that mail alone),
    when the next pass only looks above the highest UID seen,
    then it still fetches and stores the failed one."""
    import bot.pipeline.store

    cfg, processor, factory = full_folder
    dovecot.append_many([text_mail("new-1"), text_mail("new-2")])
    real_store = bot.pipeline.store._store_in
    calls = {"n": 0}

    def store_once_broken(session, item, *args):  # noqa: ANN001, ANN202
        calls["n"] += 1
        real = real_store(session, item, *args)  # the row is written, then the savepoint fails
        if calls["n"] == 1:
            raise RuntimeError("disk hiccup")
        return real

    monkeypatch.setattr(bot.pipeline.store, "_store_in", store_once_broken)
    runner = MailboxRunner(processor)
    with Mailbox(mailbox_settings(cfg)) as mbox:
        first = runner.handle(mbox)
        assert first.store_failures == 1 and first.stored == 1
        spy = FetchSpy(monkeypatch)
        second = runner.handle(mbox)
        assert not second.full_sync and second.stored == 1 and spy.bodies == [OLD + 1]
    with factory() as s:
        assert s.scalar(select(Mail.status).where(Mail.message_id == "<new-1@example.com>")) == FILED


def test_an_open_mail_that_a_person_moves_away_is_held_by_a_delta_pass(
    full_folder, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """Given a stored mail left undecided by a pass (another process held it),
    when a person moves it out of INBOX and the next pass only looks at what is new or open,
    then the row is held for a person, not left waiting for ever."""
    cfg, processor, factory = full_folder
    dovecot.append(text_mail("new-1"))
    real_process = type(processor).process
    monkeypatch.setattr(type(processor), "process", lambda self, mail_id, ahead=None: None)
    runner = MailboxRunner(processor)
    with Mailbox(mailbox_settings(cfg)) as mbox:
        runner.handle(mbox)
        with factory() as s:
            assert s.scalar(select(Mail.status).where(Mail.message_id == "<new-1@example.com>")) == STORED
        monkeypatch.setattr(type(processor), "process", real_process)
        with dovecot.client() as c:
            c.select_folder("INBOX")
            c.create_folder("Elsewhere")
            c.move([OLD + 1], "Elsewhere")
        report = runner.handle(mbox)
        assert not report.full_sync and report.outcomes == []
    with factory() as s:
        row = s.scalar(select(Mail).where(Mail.message_id == "<new-1@example.com>"))
        assert row is not None and row.status == FILED and row.decision == "manual"

