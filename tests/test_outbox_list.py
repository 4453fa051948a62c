"""`bot outbox list` shows every message not sent yet, with its age (issue 18, point 4): a reply
that waits unsent is never reported as "no problem", and a restore's double sends can be found."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions import outbox
from bot.cli import main
from bot.commands.outbox import age
from bot.db.models import OutboxMessage
from tests.test_outbox import message, queue


def test_every_unsent_message_is_listed_with_its_state_and_age(
        factory: sessionmaker[Session], sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    waiting = queue(factory, message("Re: USEN SPOT 器材発注依頼_100000001"))
    retrying = queue(factory, message("Re: USEN SPOT 器材発注依頼_100000002"))
    failed = queue(factory, message("Re: USEN SPOT 器材発注依頼_100000003"))
    sent = queue(factory, message("Re: USEN SPOT 器材発注依頼_100000004"))
    with db.transaction(factory) as s:
        for row_id, minutes in ((waiting, 12), (retrying, 75), (failed, 60 * 27), (sent, 5)):
            r = s.get(OutboxMessage, row_id)
            assert r is not None
            r.created_at = now - dt.timedelta(minutes=minutes)
        s.get(OutboxMessage, retrying).last_error = "SMTPConnectError: connection refused"  # type: ignore[union-attr]
        f = s.get(OutboxMessage, failed)
        assert f is not None
        f.status, f.attempts, f.last_error = outbox.FAILED, 48, "SMTPDataError: 552 too big"
        s.get(OutboxMessage, sent).status = outbox.SENT  # type: ignore[union-attr]
    monkeypatch.setenv("BOT_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("BOT_CONFIG", raising=False)
    assert main(["outbox", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [str(failed), str(retrying), str(waiting)]  # oldest first
    by_id = {ln.split("\t")[0]: ln.split("\t") for ln in lines}
    assert by_id[str(waiting)][1:5] == ["pending", "送信待ち", "差戻返信", "12分前から"]
    assert by_id[str(retrying)][1:5] == ["pending", "再試行待ち", "差戻返信", "1時間15分前から"]
    assert by_id[str(retrying)][-1].startswith("SMTPConnectError")
    assert by_id[str(failed)][1:6] == ["failed", "送信失敗", "差戻返信", "1日3時間前から", "48回"]


def test_nothing_unsent_says_so(factory: sessionmaker[Session], sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    row_id = queue(factory, message())
    with db.transaction(factory) as s:
        s.get(OutboxMessage, row_id).status = outbox.SENT  # type: ignore[union-attr]
    monkeypatch.setenv("BOT_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("BOT_CONFIG", raising=False)
    assert main(["outbox", "list"]) == 0
    assert capsys.readouterr().out.startswith("未送信のメールはありません")


@pytest.mark.parametrize(("seconds", "said"), [(0, "0秒"), (59, "59秒"), (600, "10分"), (3600, "1時間"),
                                               (3660, "1時間1分"), (86400, "1日"), (90000, "1日1時間")])
def test_an_age_is_said_as_a_person_says_it(seconds: int, said: str) -> None:
    assert age(dt.timedelta(seconds=seconds)) == said
