"""保留 actions in the console (issue 7): accept, reject with chosen defects, double clicks,
IMAP away, stale pages, CSRF. Through the in-process client against a real Dovecot and a real
aiosmtpd server on SQLite; the database parts (bot/actions/resolve.py) also on PostgreSQL.

The held mails are held the way the daemon holds them: `[senders] authentication = "hold"`
and no Authentication-Results from our MTA. Given/when/then in each docstring.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from bot import db
from bot.actions import outbox
from bot.actions.resolve import (
    ResolveError,
    StaleError,
    Tools,
    accept,
    read_for_accept,
    reject,
)
from bot.config import Config, WebConfig
from bot.db.models import (
    FILED,
    AuditEntry,
    LedgerEntry,
    LedgerEvent,
    Mail,
    OutboxMessage,
    VendorRow,
)
from bot.demo.embedded import EmbeddedSmtp
from bot.unis import import_extract
from bot.web import users
from tests.fixtures.demo_mails import UNIS_CSV
from tests.support.app import DEFAULT_NOW, Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.reject import send_reject
from tests.test_end_to_end import CC, bad_mail, good_mail, one_pass, subject_of
from tests.test_web_support import ADMIN, SECRET, STAFF, client, login, token_of

Setup = tuple[Config, sessionmaker[Session]]
GOOD, BAD = "<good-1@aoyama.usen.co.jp>", "<bad-1@aoyama.usen.co.jp>"


def held_config(url: str, dovecot: Dovecot | None = None, smtp: EmbeddedSmtp | None = None) -> Config:
    imap: dict[str, Any] = {}
    if dovecot is not None:
        imap = {"host": dovecot.host, "port": dovecot.port, "user": dovecot.user, "password": dovecot.password}
    cfg = make_config(url, smtp=smtp, **imap)
    return cfg.replace(senders=dataclasses.replace(cfg.senders, authentication="hold", authserv_id="mx.usen.co.jp"),
                       web=dataclasses.replace(WebConfig(), secret_key=SECRET))


def hold(cfg: Config, raws: list[bytes], *, imap: bool = False) -> sessionmaker[Session]:
    """UNIS loaded, the mails decided by the real pipeline (held: no authentication), users added.
    `imap`: the mails are in Dovecot's INBOX and a runner pass files them into Manual."""
    processor, factory = make_processor(cfg, Clock())
    with db.transaction(factory) as s:
        import_extract(s, UNIS_CSV.encode("cp932"), name="unis.csv", now=DEFAULT_NOW)
        users.add_user(s, ADMIN[0], ADMIN[1], role="admin", display_name="管理 太郎", now=DEFAULT_NOW, by="test")
        users.add_user(s, STAFF[0], STAFF[1], role="staff", display_name="香川", now=DEFAULT_NOW, by="test")
    if imap:
        report = one_pass(cfg, processor)
        assert [o.decision for o in report.outcomes] == ["manual"] * len(raws)
    else:
        for uid, raw in enumerate(raws, start=1):
            processor.process(processor.store(raw, folder="INBOX", uidvalidity=1, uid=uid).mail_id)
    return factory


def mail_id_of(factory: sessionmaker[Session], message_id: str) -> int:
    with factory() as s:
        found = s.scalar(select(Mail.id).where(Mail.message_id == message_id))
        assert found is not None
        return found


def web(cfg: Config, who: tuple[str, str] = STAFF) -> TestClient:
    c = client(cfg, Clock(DEFAULT_NOW))
    assert login(c, who).status_code == 303  # type: ignore[attr-defined]
    return c


@pytest.fixture
def imap_setup(sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> Setup:
    cfg = held_config(sqlite_url, dovecot, smtp_sink)
    dovecot.append(good_mail())
    dovecot.append(bad_mail())
    factory = hold(cfg, [good_mail(), bad_mail()], imap=True)
    assert len(dovecot.folder_uids("Manual")) == 2
    return cfg, factory


def test_accept_queues_the_vendor_row_the_pipeline_would(imap_setup: Setup, dovecot: Dovecot, tmp_path: Path) -> None:
    """Given a good order held for its sender's authentication, sitting in the Manual folder,
    when a staff member presses 受付する,
    then the vendor row, ledger and note are exactly what the pipeline makes when it accepts the
    same mail itself, the row is accepted with resolved_by and an audit row, and the IMAP mail
    moved from Manual to Processed."""
    cfg, factory = imap_setup
    mail_id = mail_id_of(factory, GOOD)
    staff = web(cfg)
    page = staff.get(f"/manual/{mail_id}")
    assert page.status_code == 200 and 'id="accept"' in page.text and "disabled" not in page.text.split('id="accept"')[1][:20]
    response = staff.post(f"/manual/{mail_id}/accept", data={"csrf_token": token_of(staff, f"/manual/{mail_id}")})
    assert response.status_code == 303 and response.headers["location"] == f"/manual?done={mail_id}"
    queue = staff.get(response.headers["location"]).text
    assert f"メール #{mail_id} を受付しました" in queue and "Processed フォルダへ移動済み" in queue
    assert f'href="/manual/{mail_id}"' not in queue

    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.decision == "accepted" and row.resolved_by == STAFF[0]
        assert row.status == FILED and row.filed_folder == "Processed"
        [vendor] = s.scalars(select(VendorRow)).all()
        events = [e.event for e in s.scalars(select(LedgerEvent).order_by(LedgerEvent.id))]
        state = s.get(LedgerEntry, "988776654").state  # type: ignore[union-attr]
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "manual_accept")).all()
        assert entry.mail_id == mail_id and entry.username == STAFF[0] and entry.detail["note"] == row.facts["schedule"]
        received, note = row.received_at, row.facts["schedule"]
    assert len(dovecot.folder_uids("Manual")) == 1  # the other held mail
    assert len(dovecot.folder_uids("Processed")) == 1

    # The pipeline on its own, authentication off, the same mail at the same arrival time.
    url = f"sqlite:///{tmp_path / 'pipeline.sqlite3'}"
    db.upgrade(url)
    processor, ref = make_processor(make_config(url), Clock())
    with db.transaction(ref) as s:
        import_extract(s, UNIS_CSV.encode("cp932"), name="unis.csv", now=DEFAULT_NOW)
    outcome = processor.process(processor.store(good_mail(), folder="INBOX", uidvalidity=1, uid=1,
                                                arrived_at=received).mail_id)
    assert outcome is not None and outcome.decision == "accepted" and outcome.reason == note
    with ref() as s:
        [expected] = s.scalars(select(VendorRow)).all()
        assert [e.event for e in s.scalars(select(LedgerEvent).order_by(LedgerEvent.id))] == events
        assert s.get(LedgerEntry, "988776654").state == state  # type: ignore[union-attr]
    columns = ("customer_code", "category", "payload", "received_at", "batch_date", "ship_date", "created_at")
    assert {c: getattr(vendor, c) for c in columns} == {c: getattr(expected, c) for c in columns}


def test_reject_sends_one_threaded_reply_with_the_chosen_defects(imap_setup: Setup, dovecot: Dovecot,
                                                                 smtp_sink: EmbeddedSmtp) -> None:
    """Given a defective order held for a person,
    when a staff member ticks two defects and sends the 差戻 (and the form is posted twice),
    then one reply leaves through the outbox, threaded to the mail, to the sender and the CC,
    listing exactly those two defects in the template's sentences (the detail found in the
    body: 担当者名); the second post gets a clear 409; the mail moves Manual → Rejected."""
    cfg, factory = imap_setup
    mail_id = mail_id_of(factory, BAD)
    staff = web(cfg)
    page = staff.get(f"/manual/{mail_id}").text
    assert page.count('type="checkbox"') >= 23 and "ファミリー／マンション" in page
    form = {"csrf_token": token_of(staff, f"/manual/{mail_id}"), "defect_LINE_TYPE_MISSING": "1",
            "defect_BODY_FIELD_MISSING": "1"}
    first = send_reject(staff, mail_id, form)  # previewed, then confirmed
    second = send_reject(staff, mail_id, form)
    assert first.status_code == 303
    assert second.status_code == 409 and "対応済み" in second.text and STAFF[0] in second.text

    assert outbox.flush(factory, cfg.smtp, now=DEFAULT_NOW).sent == 1
    [reply] = smtp_sink.wait_for(1, timeout=10)
    msg = message_from_bytes(reply.data)
    assert set(reply.rcpt_tos) == {"uchida@aoyama.usen.co.jp", CC}
    assert msg["In-Reply-To"] == BAD and BAD in msg["References"]
    assert subject_of(msg) == "Re: USEN SPOT 器材発注依頼_988776655"
    body = msg.get_payload(decode=True).decode(msg.get_content_charset())
    assert "【回線タイプの選択なし】" in body and "【本文の項目不足】" in body and "担当者名" in body
    assert "下記の2点" in body and "【CCに支店長なし】" not in body and "LINE_TYPE_MISSING" not in body
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.decision == "rejected" and row.filed_folder == "Rejected"
        assert [d["code"] for d in row.defects] == ["LINE_TYPE_MISSING", "BODY_FIELD_MISSING"]
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "manual_reject")).all()
        assert entry.detail["defects"] == ["LINE_TYPE_MISSING", "BODY_FIELD_MISSING"]
    assert len(dovecot.folder_uids("Rejected")) == 1 and len(dovecot.folder_uids("Manual")) == 1
    assert outbox.flush(factory, cfg.smtp, now=DEFAULT_NOW + dt.timedelta(hours=1)).sent == 0


def test_imap_away_keeps_the_decision_and_a_retry_files_it(imap_setup: Setup, dovecot: Dovecot) -> None:
    """Given Dovecot is down,
    when a held mail is accepted,
    then the decision is committed, the page says the mail is still in Manual, and after
    Dovecot is back the retry button moves it to Processed."""
    cfg, factory = imap_setup
    mail_id = mail_id_of(factory, GOOD)
    staff = web(cfg)
    token = token_of(staff, f"/manual/{mail_id}")
    dovecot.stop()
    try:
        response = staff.post(f"/manual/{mail_id}/accept", data={"csrf_token": token})
        assert response.status_code == 303
        queue = staff.get(response.headers["location"]).text
        assert "受付しました" in queue and "IMAPサーバーに接続できなかった" in queue and "まだ Manual フォルダ" in queue
        with factory() as s:
            row = s.get(Mail, mail_id)
            assert row is not None and row.decision == "accepted" and row.filed_folder == "Manual"
        assert "IMAPの振り分けを再試行" in staff.get(f"/manual/{mail_id}").text
        refused = staff.post(f"/manual/{mail_id}/refile", data={"csrf_token": token})
        assert refused.status_code == 422 and "判定は保存済み" in refused.text
    finally:
        dovecot.start()
    assert staff.post("/manual/refile", data={"csrf_token": token}).status_code == 303
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.filed_folder == "Processed"
    assert len(dovecot.folder_uids("Processed")) == 1 and len(dovecot.folder_uids("Manual")) == 1
    assert "IMAPの振り分けが未完了" not in staff.get("/manual").text


def test_a_stale_page_gets_a_clear_message(imap_setup: Setup) -> None:
    """Given an admin dismissed a held mail a moment ago,
    when a staff member still looking at it presses 受付 or sends a 差戻,
    then they are told who handled it and nothing is queued."""
    cfg, factory = imap_setup
    mail_id = mail_id_of(factory, GOOD)
    staff, admin = web(cfg), web(cfg, ADMIN)
    token = token_of(staff, f"/manual/{mail_id}")
    done = admin.post(f"/manual/{mail_id}/dismiss", data={"csrf_token": token_of(admin, f"/manual/{mail_id}"),
                                                          "note": "電話で確認済み"})
    assert done.status_code == 303
    for action, data in (("accept", {}), ("reject", {"defect_CC_MANAGER_MISSING": "1"})):
        page = staff.post(f"/manual/{mail_id}/{action}", data={"csrf_token": token, **data})
        assert page.status_code == 409 and "操作できませんでした" in page.text
        assert f"{ADMIN[0]} さんが対応済み" in page.text and "電話で確認済み" in page.text
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert s.scalar(select(func.count()).select_from(VendorRow)) == 0


def test_actions_without_the_csrf_token_are_refused(imap_setup: Setup) -> None:
    """Given a signed-in staff member, when a form is posted without its token, then 403 and no change."""
    cfg, factory = imap_setup
    mail_id = mail_id_of(factory, BAD)
    staff = web(cfg)
    for action, data in (("accept", {}), ("reject", {"defect_CC_MANAGER_MISSING": "1"}), ("dismiss", {"note": "x"}),
                         ("refile", {})):
        assert staff.post(f"/manual/{mail_id}/{action}", data=data).status_code == 403
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.decision == "manual" and row.resolved_at is None
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_signed_out_actions_go_to_the_login(imap_setup: Setup) -> None:
    cfg, factory = imap_setup
    mail_id = mail_id_of(factory, BAD)
    anonymous = client(cfg, Clock(DEFAULT_NOW))
    token = token_of(anonymous, "/login")
    page = anonymous.post(f"/manual/{mail_id}/accept", data={"csrf_token": token})
    assert page.status_code == 303 and page.headers["location"] == "/login"


# -- the database parts, on both databases ----------------------------------------------------

def test_accept_and_reject_commit_once_on_both_databases(any_db_url: str) -> None:
    """Given two held mails (no IMAP),
    when one is accepted and the other rejected twice through bot.actions.resolve,
    then the first has its vendor row, the second exactly one outbox row, and the repeat is
    refused as stale; a mail with a defect cannot be accepted."""
    cfg = held_config(any_db_url)
    factory = hold(cfg, [good_mail(), bad_mail()])
    tools = Tools.from_config(cfg)
    good, bad = mail_id_of(factory, GOOD), mail_id_of(factory, BAD)
    with factory() as s:
        raws = {i: s.get(Mail, i).raw for i in (good, bad)}  # type: ignore[union-attr]
    with pytest.raises(ResolveError, match="LINE_TYPE_MISSING"), db.transaction(factory) as s:
        accept(s, bad, tools=tools, attachments=read_for_accept(tools, raws[bad]), by="kagawa", now=DEFAULT_NOW)
    with db.transaction(factory) as s:
        done = accept(s, good, tools=tools, attachments=read_for_accept(tools, raws[good]), by="kagawa",
                      now=DEFAULT_NOW)
    assert done.decision == "accepted" and "便" in done.note
    for attempt in range(2):
        if attempt:
            with pytest.raises(StaleError), db.transaction(factory) as s:
                reject(s, bad, ["LINE_TYPE_MISSING"], tools=tools, by="kagawa", now=DEFAULT_NOW)
        else:
            with db.transaction(factory) as s:
                reject(s, bad, ["LINE_TYPE_MISSING"], tools=tools, by="kagawa", now=DEFAULT_NOW)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(VendorRow)) == 1
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert {m.decision for m in s.scalars(select(Mail))} == {"accepted", "rejected"}
    factory.kw["bind"].dispose()


def test_unknown_or_no_defect_is_refused(sqlite_url: str) -> None:
    cfg = held_config(sqlite_url)
    factory = hold(cfg, [bad_mail()])
    tools = Tools.from_config(cfg)
    bad = mail_id_of(factory, BAD)
    for codes, message in (([], "1つ以上"), (["NOPE"], "不明な不備コード")):
        with pytest.raises(ResolveError, match=message), db.transaction(factory) as s:
            reject(s, bad, codes, tools=tools, by="kagawa", now=DEFAULT_NOW)


def test_a_held_scan_is_not_accepted_without_its_values(tmp_path: Path) -> None:
    """Given the demo's scanned application form held for a person,
    when 受付 is pressed, then it is refused with words saying why (the values must be typed in,
    which this page cannot do yet), and the mail stays held."""
    from tests.test_web_support import populate, web_config

    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    ids = populate(url)
    staff = web(web_config(url))
    page = staff.get(f"/manual/{ids['06']}").text
    assert 'id="accept" disabled' in page and "スキャン" in page
    refused = staff.post(f"/manual/{ids['06']}/accept", data={"csrf_token": token_of(staff, f"/manual/{ids['06']}")})
    assert refused.status_code == 422 and "スキャン" in refused.text
    assert f'href="/manual/{ids["06"]}"' in staff.get("/manual").text


def test_a_defect_recorded_for_several_rows_is_shown_and_sent_for_each(sqlite_url: str) -> None:
    """Given a held mail whose record carries one code twice with different details (a customer
    list with two bad rows: CORPORATE_ROW_INVALID for row 3「電話番号」and row 4「SSID」),
    when a person opens it and sends the 差戻 with that code,
    then the page shows both sentences and the 差戻 names both rows, not just the first."""
    cfg = held_config(sqlite_url)
    factory = hold(cfg, [bad_mail()])
    bad = mail_id_of(factory, BAD)
    rows = [{"code": "CORPORATE_ROW_INVALID", "detail": {"row": "3", "column": "電話番号", "problem": "空欄です"}},
            {"code": "CORPORATE_ROW_INVALID", "detail": {"row": "4", "column": "SSID",
                                                         "problem": "「ｍｏｍｉｊｉ」に半角以外の文字があります"}}]
    with db.transaction(factory) as s:
        s.get(Mail, bad).defects = rows  # type: ignore[union-attr]
    page = web(cfg).get(f"/manual/{bad}").text
    assert "3行目「電話番号」" in page and "4行目「SSID」" in page
    with db.transaction(factory) as s:
        done = reject(s, bad, ["CORPORATE_ROW_INVALID"], tools=Tools.from_config(cfg), by="kagawa", now=DEFAULT_NOW)
    with factory() as s:
        sent = message_from_bytes(s.get(OutboxMessage, done.outbox_id).raw)  # type: ignore[union-attr]
    body = sent.get_payload(decode=True).decode(sent.get_content_charset() or "utf-8")  # type: ignore[union-attr]
    assert "3行目「電話番号」" in body and "4行目「SSID」" in body
    assert body.count("【法人顧客リストの行に誤り】") == 2
