"""Less work per mail (issue 8): a pass files its decided mails with one MOVE per target folder
and one commit, and takes read-ahead mails into hand per block (one claim); a mail that was in
hand when a bot process died is decided alone, and a death with a block in hand counts against
none of its mails (issue 18). Real Dovecot."""

from __future__ import annotations

import socket

from imapclient import IMAPClient
from sqlalchemy import select, update

from bot import db
from bot.daemon.main import mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.db.models import FILED, Mail
from bot.intake import Mailbox
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot

# A claim of a process of this host that is gone (no such pid): bot/db/claims.py buries it.
DEAD = f"{socket.gethostname()}:999999999:1"


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


def test_read_ahead_claims_per_block_and_a_death_with_a_block_in_hand_blames_none(sqlite_url: str) -> None:
    """Given five stored mails, three taken into hand by one block claim (before being read
    ahead), when the process holding them is found dead, then those three are suspects to be
    decided alone, with nothing counted against them; a block claimed and given back by a
    process that lives on records nothing; a suspect is then decided alone."""
    db.upgrade(sqlite_url)
    cfg = make_config(sqlite_url)
    processor, factory = make_processor(cfg, Clock())
    ids = [processor.store(text_mail(f"b{i}"), folder="INBOX", uidvalidity=1, uid=i + 1).mail_id for i in range(5)]
    assert processor.hands.claim(ids[:3], alone=False) == dict.fromkeys(ids[:3], 0)  # one commit for the block
    with db.transaction(factory) as s:  # the process holding them dies (its pid is gone)
        s.execute(update(Mail).where(Mail.id.in_(ids[:3])).values(reading_by=DEAD))
    assert processor.suspects(ids) == set(ids[:3])  # decided alone from now on
    with processor.prefetch(ids[3:]) as ahead:
        ahead.get(ids[3])  # reading ahead takes the block into hand ...
    with factory() as s:  # ... and it is given back at the end: nothing recorded
        rows = [s.get(Mail, i) for i in ids]
        assert [(r.attempts, r.solo_deaths, r.block_deaths, r.reading_by) for r in rows] == (  # type: ignore[union-attr]
            [(0, 0, 1, None)] * 3 + [(0, 0, 0, None)] * 2)
    assert processor.process(ids[0]) is not None  # claimed alone, decided
    with factory() as s:
        assert s.get(Mail, ids[0]).status == "decided"  # type: ignore[union-attr]
