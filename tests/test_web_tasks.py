"""作業 in the console (issue 23 point 4): the office's tasks from the mails (an Original SSID to
confirm in UNIS, a 登録通知書 to send again) listed until a person marks one done; 完了 is
audited, a second click is told who did it, and the digest lists only what is still open.
The real pipeline decides the mails; the console runs in-process (Starlette's client)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from bot import db
from bot.db.models import AuditEntry
from bot.digest import build_digest
from bot.templating import Templates
from bot.unis import import_extract
from bot.web import users
from tests.fixtures import pdfs
from tests.support.app import DEFAULT_NOW, Clock, make_processor
from tests.support.mailbuilder import build_mail
from tests.test_kinds_part2 import CS, INSTALLED, UNIS
from tests.test_web_support import STAFF, client, csrf_token, login, web_config


def test_a_task_is_listed_until_a_person_marks_it_done(sqlite_url: str) -> None:
    db.upgrade(sqlite_url)
    cfg = web_config(sqlite_url)
    cfg = cfg.replace(senders=dataclasses.replace(cfg.senders, support=("cs.usen.co.jp",)))
    processor, factory = make_processor(cfg, Clock(DEFAULT_NOW))
    with db.transaction(factory) as s:
        import_extract(s, UNIS.encode("cp932"), name="unis.csv", now=DEFAULT_NOW)
        users.add_user(s, STAFF[0], STAFF[1], role="staff", display_name="香川", now=DEFAULT_NOW, by="test")
    form = pdfs.typed_form(dict(pdfs.DEFAULT_FIELDS, customer_code=INSTALLED, ssid="cafe_midori"))
    mails = [build_mail(f"USEN SPOT OriginalSSID追加申請_{INSTALLED}", f"顧客CD : {INSTALLED}\n",
                        attachments=[("申込書.pdf", form, "application/pdf")], message_id="<ssid@aoyama.usen.co.jp>"),
             build_mail(f"USEN SPOT 登録通知書発送依頼_{INSTALLED}", "再発送をお願いします。\n", from_=CS,
                        message_id="<notice@cs.usen.co.jp>")]
    for uid, raw in enumerate(mails, start=1):
        outcome = processor.process(processor.store(raw, folder="INBOX", uidvalidity=1, uid=uid).mail_id)
        assert outcome is not None and outcome.decision == "accepted", outcome

    c = client(cfg, Clock(DEFAULT_NOW))
    assert login(c, STAFF).status_code == 303  # type: ignore[attr-defined]
    page = c.get("/tasks")
    assert page.status_code == 200
    assert "Original SSID（Z200549）のUNIS確定" in page.text and "SSID「cafe_midori」" in page.text
    assert "登録通知書の再発送" in page.text and 'id="task-1"' in page.text and 'id="task-2"' in page.text
    assert 'href="/tasks"' in page.text  # in the menu

    done = c.post("/tasks/1/done", data={"csrf_token": csrf_token(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/tasks?done=1"
    after = c.get("/tasks?done=1")
    assert "作業 #1 を完了にしました" in after.text and 'id="task-1"' not in after.text and 'id="task-2"' in after.text
    again = c.post("/tasks/1/done", data={"csrf_token": csrf_token(after.text)})
    assert again.status_code == 409 and "kagawa さんが完了済みです" in again.text
    refused = c.post("/tasks/2/done", data={})  # no CSRF token: nothing done
    assert refused.status_code in (400, 403)

    with factory() as s:
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "task_done"))
        assert (entry.username, entry.detail["task"], entry.detail["ssid"]) == ("kagawa", "unis_ssid", "cafe_midori")
        digest = build_digest(s, cfg=cfg, day=DEFAULT_NOW.date(), now=DEFAULT_NOW, templates=Templates())
    assert "事務センターの作業（未完了 1件" in digest.text and "登録通知書の再発送" in digest.text
    assert "Z200549" not in digest.text
