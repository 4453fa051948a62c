"""The queue of held mails: listed until a person resolves them, then gone from the digest."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions.queue import ManualQueueError, open_items, resolve
from bot.db.models import FILED, QUARANTINED, Mail

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[1]


def add(factory: sessionmaker[Session], uid: int, **kw: object) -> int:
    with db.transaction(factory) as s:
        values: dict[str, object] = {"status": FILED, "facts": {}, **kw}
        row = Mail(folder="INBOX", uidvalidity=1, uid=uid, msgid_hash=f"h{uid}", raw=b"x", subject=f"件名{uid}",
                   from_addr="uchida@aoyama.usen.co.jp", defects=[], warnings=[], received_at=NOW, **values)
        s.add(row)
        s.flush()
        return row.id


def test_held_mails_are_listed_until_resolved(factory: sessionmaker[Session]) -> None:
    manual = add(factory, 1, decision="manual", facts={"reason": "申込書がスキャン画像のため読み取れません"})
    broken = add(factory, 2, status=QUARANTINED, error="Traceback …\nRuntimeError: boom")
    accepted = add(factory, 3, decision="accepted")
    with factory() as s:
        items = open_items(s)
    assert [(i.id, i.status, i.reason) for i in items] == [
        (manual, "manual", "申込書がスキャン画像のため読み取れません"), (broken, QUARANTINED, "RuntimeError: boom")]
    with db.transaction(factory) as s:
        resolve(s, manual, by="kagawa", note="支店に原本を依頼", now=NOW)
    with factory() as s:
        assert [i.id for i in open_items(s)] == [broken]
        row = s.get(Mail, manual)
        assert row is not None and (row.resolved_by, row.resolution) == ("kagawa", "支店に原本を依頼")
    with db.transaction(factory) as s, pytest.raises(ManualQueueError) as done:
        resolve(s, manual, by="x", note="", now=NOW)
    assert str(done.value) == f"メール #{manual} は kagawa さんが対応済みです（支店に原本を依頼）。"
    with db.transaction(factory) as s, pytest.raises(ManualQueueError) as not_held:
        resolve(s, accepted, by="x", note="", now=NOW)
    assert str(not_held.value) == f"メール #{accepted} は保留・隔離中のメールではありません（判定：受付）。"
    with db.transaction(factory) as s, pytest.raises(ManualQueueError, match=r"^メール #999 は見つかりません。$"):
        resolve(s, 999, by="x", note="", now=NOW)


def test_resolved_mail_leaves_the_digest_queue(factory: sessionmaker[Session], sqlite_url: str) -> None:
    from bot.digest import build_digest
    from bot.templating import Templates
    from tests.support.app import make_config

    held = add(factory, 1, decision="manual", facts={"reason": "要確認"})
    cfg = make_config(sqlite_url)
    with factory() as s:
        before = build_digest(s, cfg=cfg, day=dt.date(2026, 11, 24), now=NOW, templates=Templates())
    with db.transaction(factory) as s:
        resolve(s, held, by="kagawa", note="対応済", now=NOW)
    with factory() as s:
        after = build_digest(s, cfg=cfg, day=dt.date(2026, 11, 24), now=NOW, templates=Templates())
    assert len(before.data.manual) == 1 and len(after.data.manual) == 0


def test_cli_list_and_resolve(factory: sessionmaker[Session], sqlite_url: str) -> None:
    held = add(factory, 1, decision="manual", facts={"reason": "要確認"})
    env = dict(os.environ, BOT_DATABASE_URL=sqlite_url)
    run = lambda *a: subprocess.run([sys.executable, "-m", "bot", "manual", *a], env=env, cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    listed = run("list")
    assert listed.returncode == 0 and f"{held}\t保留" in listed.stdout
    done = run("resolve", str(held), "--note", "確認済", "--by", "kagawa")
    assert done.returncode == 0, done.stderr
    assert "nothing held" in run("list").stdout
    again = run("resolve", str(held))
    assert again.returncode == 2
    assert again.stderr == f"bot manual resolve: メール #{held} は kagawa さんが対応済みです（確認済）。\n"


def test_a_mail_already_closed_is_refused_in_words_naming_the_person(sqlite_url: str) -> None:
    """Given a held mail an admin has just closed (対応済み) in the console,
    when a staff member still on its page closes it too,
    then the refusal (409) says in Japanese who closed it (their display name) and why, with
    no English and no code; a mail that is not held is refused the same way."""
    from tests.test_end_to_end import bad_mail
    from tests.test_web_manual_actions import BAD, held_config, hold, mail_id_of, web
    from tests.test_web_support import ADMIN, token_of

    cfg = held_config(sqlite_url)
    factory = hold(cfg, [bad_mail()])
    mail_id = mail_id_of(factory, BAD)
    staff, admin = web(cfg), web(cfg, ADMIN)
    token = token_of(staff, f"/manual/{mail_id}")
    first = admin.post(f"/manual/{mail_id}/dismiss",
                       data={"csrf_token": token_of(admin, f"/manual/{mail_id}"), "note": "電話で確認済み"})
    assert first.status_code == 303
    again = staff.post(f"/manual/{mail_id}/dismiss", data={"csrf_token": token, "note": "支店に連絡"})
    assert again.status_code == 409
    refused = again.text.split('id="refused">')[1].split("</p>")[0]
    assert refused == f"メール #{mail_id} は 管理 太郎 さんが対応済みです（電話で確認済み）。"
    accepted = add(factory, 50, decision="accepted", status=FILED)
    other = staff.post(f"/manual/{accepted}/dismiss", data={"csrf_token": token, "note": "x"})
    assert other.status_code == 409
    assert other.text.split('id="refused">')[1].split("</p>")[0] == (
        f"メール #{accepted} は保留・隔離中のメールではありません（判定：受付）。")


def test_acting_on_a_mail_no_longer_held_names_its_decision_in_the_office_words(
        factory: sessionmaker[Session]) -> None:
    """A person's 受付/差戻 on a mail the bot has since decided: the message names the decision as
    staff know it (受付), never its code (accepted)."""
    from bot.actions.held import StaleError, locked_held

    accepted = add(factory, 9, decision="accepted")
    with db.transaction(factory) as s, pytest.raises(StaleError) as err:
        locked_held(s, accepted)
    assert "判定：受付" in str(err.value) and "accepted" not in str(err.value)
