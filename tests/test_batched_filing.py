"""Less work per mail (issue 8): a pass files its decided mails with one MOVE per target folder
and one commit, and counts read-ahead attempts per block; a mail with an attempt already counted
is decided alone. Real Dovecot."""

from __future__ import annotations

from imapclient import IMAPClient
from sqlalchemy import select

from bot import db
from bot.daemon import mailbox_settings
from bot.intake import Mailbox
from bot.models import FILED, Mail
from bot.runner import MailboxRunner
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot


def text_mail(tag: str) -> bytes:
    return (f"From: outsider@example.com\r\nTo: spot@usen.co.jp\r\nSubject: hello {tag}\r\n"
            f"Message-ID: <{tag}@example.com>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0900\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nmail {tag}\r\n").encode()


def test_a_pass_files_with_one_move_per_folder_and_one_commit(sqlite_url: str, dovecot: Dovecot, monkeypatch) -> None:  # noqa: ANN001
    dovecot.append_many(text_mail(f"m{i}") for i in range(12))
    cfg = make_config(sqlite_url, host=dovecot.host, port=dovecot.port, user=dovecot.user, password=dovecot.password)
    processor, factory = make_processor(cfg, Clock())
    moves: list[tuple[list[int], str]] = []
    real_move = IMAPClient.move

    def move(client: IMAPClient, messages, folder):  # noqa: ANN001, ANN202
        moves.append((list(messages), folder))
        return real_move(client, messages, folder)

    monkeypatch.setattr(IMAPClient, "move", move)
    marks: list[dict[int, str]] = []
    real_mark = type(processor).mark_filed_many
    monkeypatch.setattr(type(processor), "mark_filed_many", lambda self, f: (marks.append(dict(f)), real_mark(self, f)))
    with Mailbox(mailbox_settings(cfg)) as mbox:
        report = MailboxRunner(processor).handle(mbox)
    assert report.filed == 12 and len(report.outcomes) == 12
    assert moves == [(list(range(1, 13)), "Ignored")]  # outsiders: one folder, one MOVE
    assert len(marks) == 1 and len(marks[0]) == 12
    assert dovecot.folder_uids("INBOX") == []
    with factory() as s:
        assert set(s.scalars(select(Mail.status))) == {FILED}


def test_read_ahead_counts_attempts_per_block_and_suspects_are_decided_alone(sqlite_url: str) -> None:
    db.upgrade(sqlite_url)
    cfg = make_config(sqlite_url)
    processor, factory = make_processor(cfg, Clock())
    ids = [processor.store(text_mail(f"b{i}"), folder="INBOX", uidvalidity=1, uid=i + 1).mail_id for i in range(5)]
    counted = processor.count_attempts(ids[:3])  # a block counted before its mails were read
    assert counted == dict.fromkeys(ids[:3], 1)
    assert processor.suspects(ids) == set(ids[:3])  # the bot stopped: these are decided alone
    with processor.prefetch(ids[3:]):
        pass  # a block counted and never decided is given back when this process lives on
    with factory() as s:
        assert [s.get(Mail, i).attempts for i in ids] == [1, 1, 1, 0, 0]  # type: ignore[union-attr]
    assert processor.process(ids[0]) is not None  # counted alone: attempt 2 of 2, decided
    with factory() as s:
        assert s.get(Mail, ids[0]).attempts == 2  # type: ignore[union-attr]
