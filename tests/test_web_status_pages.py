"""状態, 送信箱 and 隔離 (issue 7) through the in-process client, the download audit, and the
console served from a thread (`[web] in_run`).

状態 reads `bot.daemon.health.collect` (what `bot status` prints); 再送 is `bot.actions.outbox.requeue` and
再処理 is `bot.actions.reprocess.reprocess` (what `bot outbox requeue` and `bot reprocess` run),
each with its audit row. The 再処理 case quarantines a mail for real (Dovecot, a PDF that takes
qpdf ~2 s over a 0.3 s limit) and decides it again under a raised limit. Given/when/then in
each docstring.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from bot import db
from bot.actions import outbox
from bot.config import Config, WebConfig
from bot.daemon.health import beat
from bot.db.models import FILED, QUARANTINED, AuditEntry, Mail, OutboxMessage
from bot.demo.embedded import EmbeddedSmtp
from bot.web import users
from tests.support.app import DEFAULT_NOW, Clock
from tests.support.dovecot import Dovecot
from tests.test_reprocess import _cfg as reprocess_config
from tests.test_reprocess import _quarantine_one
from tests.test_web_ledger_vendor import build, vendor_config
from tests.test_web_support import (
    ADMIN,
    SECRET,
    STAFF,
    populate,
    signed_in,
    token_of,
    web_config,
)

NOW = DEFAULT_NOW + dt.timedelta(minutes=20)  # the demo mails arrived at 10:01..10:10 JST


@dataclasses.dataclass(frozen=True)
class Demo:
    url: str
    ids: dict[str, int]


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    return Demo(url, populate(url))


@pytest.fixture
def factory(demo: Demo) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(demo.url)
    yield db.session_factory(engine)
    engine.dispose()


def admin(cfg: Config) -> TestClient:
    return signed_in(cfg, ADMIN, Clock(NOW))


def fail_row(factory: sessionmaker[Session]) -> int:
    """The oldest outbox row (a 差戻 reply of the demo) given up after five refusals."""
    with db.transaction(factory) as s:
        row = s.scalar(select(OutboxMessage).order_by(OutboxMessage.id).limit(1))
        assert row is not None
        row.status, row.attempts = outbox.FAILED, 5
        row.last_error = "SMTPRecipientsRefused: {'uchida@aoyama.usen.co.jp': (550, '5.1.1 User unknown')}"
        return row.id


# -- 状態 -----------------------------------------------------------------------------------

def test_status_says_abnormal_without_a_running_bot(demo: Demo) -> None:
    """Given no bot process has ever written a heartbeat,
    when a staff member opens 状態,
    then it says 異常 with bot status's reason, shows the queues, and every page's header
    carries the red 異常 badge linking to 状態."""
    c = signed_in(web_config(demo.url), STAFF, Clock(NOW))
    page = c.get("/status")
    assert page.status_code == 200
    verdict = page.text.split('id="verdict"')[1].split("</section>")[0]
    assert "異常" in verdict and "正常" not in verdict
    assert "稼働中のボットがありません" in verdict
    assert "担当者の確認待ち（保留）" in verdict  # a notice, not a fault
    assert "保留（確認待ち）" in page.text and "業者便の送信待ち" in page.text and "本日の判定" in page.text
    assert 'href="/outbox"' not in page.text and 'href="/quarantine"' not in page.text  # staff
    other = c.get("/mails").text
    assert 'id="health-alarm"' in other and 'href="/status"' in other


def test_status_says_normal_with_a_fresh_heartbeat(demo: Demo, factory: sessionmaker[Session]) -> None:
    """Given the daemon wrote its heartbeat three minutes ago with a fresh fetch and nothing is stuck,
    when an admin opens 状態,
    then it says 正常, lists the process as 稼働中 and the header has no 異常 badge."""
    beat(factory, "mx1:4242:777", now=NOW - dt.timedelta(minutes=3), state="running",
         started_at=NOW - dt.timedelta(hours=2), last_fetch_at=NOW - dt.timedelta(minutes=3), idle=True,
         next_jobs={"digest": "2026-11-25T08:30:00+09:00", "vendor-batch": "2026-11-24T17:00:00+09:00"})
    c = admin(web_config(demo.url))
    page = c.get("/status").text
    verdict = page.split('id="verdict"')[1].split("</section>")[0]
    assert "正常" in verdict and "異常" not in verdict
    assert "mx1:4242:777" in page and "稼働中" in page and "3 分前" in page
    assert "2026/11/24 17:00:00" in page  # the next vendor batch, office time
    assert 'id="health-alarm"' not in page and 'id="health-alarm"' not in c.get("/mails").text
    assert 'href="/outbox"' in page and 'href="/quarantine"' in page  # admin


def test_status_names_a_given_up_reply(demo: Demo, factory: sessionmaker[Session]) -> None:
    """Given a live bot but a reply the outbox gave up on,
    when 状態 is opened,
    then it is 異常 with bot status's sentence about it."""
    beat(factory, "mx1:1:1", now=NOW, state="running", started_at=NOW, last_fetch_at=NOW)
    fail_row(factory)
    page = admin(web_config(demo.url)).get("/status").text
    assert "送信をあきらめたメールが 1 通あります" in page.split('id="verdict"')[1].split("</section>")[0]


# -- roles and CSRF ---------------------------------------------------------------------------

def test_staff_get_403_on_the_admin_pages(demo: Demo, factory: sessionmaker[Session]) -> None:
    """Given a staff member, when they open 送信箱 or 隔離 or post 再送 / 再処理, then 403 and nothing changes."""
    row_id = fail_row(factory)
    c = signed_in(web_config(demo.url), STAFF, Clock(NOW))
    token = token_of(c)
    assert c.get("/outbox").status_code == 403 and c.get("/quarantine").status_code == 403
    assert c.post(f"/outbox/{row_id}/requeue", data={"csrf_token": token}).status_code == 403
    assert c.post(f"/quarantine/{demo.ids['01']}/reprocess", data={"csrf_token": token}).status_code == 403
    assert 'href="/outbox"' not in c.get("/mails").text
    with factory() as s:
        assert s.get(OutboxMessage, row_id).status == outbox.FAILED  # type: ignore[union-attr]


def test_requeue_without_csrf_token_is_refused(demo: Demo, factory: sessionmaker[Session]) -> None:
    row_id = fail_row(factory)
    c = admin(web_config(demo.url))
    assert c.post(f"/outbox/{row_id}/requeue", data={}).status_code == 403
    assert c.post(f"/outbox/{row_id}/requeue", data={"csrf_token": "0" * 64}).status_code == 403
    with factory() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None and row.status == outbox.FAILED and row.attempts == 5
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "outbox_requeue")) is None


# -- 送信箱 -----------------------------------------------------------------------------------

def test_requeue_makes_a_failed_reply_pending_with_its_audit_row(demo: Demo, factory: sessionmaker[Session]) -> None:
    """Given a 差戻 reply given up after 5 attempts,
    when an admin opens 送信箱 and presses 再送,
    then the row is pending with 0 attempts and due now (same bytes, same Message-ID), an audit
    row names it, the page says so; a second press is refused with 409 and changes nothing."""
    row_id = fail_row(factory)
    with factory() as s:
        before = s.get(OutboxMessage, row_id)
        assert before is not None
        raw, message_id = before.raw, before.message_id
    c = admin(web_config(demo.url))
    page = c.get("/outbox").text
    problems = page.split('id="problems"')[1].split("</table>")[0]
    assert f'action="/outbox/{row_id}/requeue"' in problems and "送信失敗" in problems
    assert "550" in problems and "5回" in problems and "差戻返信" in problems
    assert 'id="recent"' in page  # every outgoing mail, newest first

    response = c.post(f"/outbox/{row_id}/requeue", data={"csrf_token": token_of(c, "/outbox")})
    assert response.status_code == 303 and response.headers["location"] == f"/outbox?done={row_id}"
    notice = c.get(response.headers["location"]).text.split('id="notice"')[1].split("</p>")[0]
    assert f"送信箱 #{row_id}" in notice and "再送待ち" in notice and "送信待ち" in notice and "試行 0回" in notice
    with factory() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None and row.status == outbox.PENDING and row.attempts == 0
        assert row.next_attempt_at == NOW and row.raw == raw and row.message_id == message_id
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "outbox_requeue")).all()
        assert entry.username == ADMIN[0] and entry.detail["outbox_id"] == row_id and entry.mail_id == row.mail_id
        assert entry.detail["before"]["status"] == "failed" and entry.detail["before"]["attempts"] == 5
    assert "送信箱のメールを再送" in c.get("/audit").text
    listed = c.get("/outbox").text.split('id="problems"')[1].split("</table>")[0]  # bot outbox list still names it
    assert f'id="problems-{row_id}"' in listed and f'action="/outbox/{row_id}/requeue"' not in listed

    again = c.post(f"/outbox/{row_id}/requeue", data={"csrf_token": token_of(c, "/outbox")})
    assert again.status_code == 409 and "送信待ち" in again.text
    assert c.post("/outbox/999999/requeue", data={"csrf_token": token_of(c, "/outbox")}).status_code == 404


def test_a_sent_mail_cannot_be_requeued(demo: Demo, factory: sessionmaker[Session]) -> None:
    with db.transaction(factory) as s:
        row = s.scalar(select(OutboxMessage).order_by(OutboxMessage.id).limit(1))
        assert row is not None
        row.status, row.sent_at, row_id = outbox.SENT, NOW, row.id
    c = admin(web_config(demo.url))
    response = c.post(f"/outbox/{row_id}/requeue", data={"csrf_token": token_of(c, "/outbox")})
    assert response.status_code == 409 and "送信済み" in response.text


# -- 隔離 -------------------------------------------------------------------------------------

def _web_cfg(url: str, dovecot: Dovecot, smtp: EmbeddedSmtp, pdf_seconds: float) -> Config:
    cfg = reprocess_config(url, dovecot, smtp, pdf_seconds)  # [limits] pdf_seconds, one reader
    return cfg.replace(web=dataclasses.replace(WebConfig(), secret_key=SECRET))


def test_reprocess_a_quarantined_mail_from_the_console(sqlite_url: str, dovecot: Dovecot,
                                                       smtp_sink: EmbeddedSmtp) -> None:
    """Given a mail quarantined for real (its PDF took longer than pdf_seconds = 0.3),
    when an admin presses 再処理 while the limit is still too low, it stays quarantined and the
    page says why (pdf_seconds); after [limits] pdf_seconds = 20 it is decided: the page shows
    the new decision, it left the quarantine list and IMAP's Quarantine folder, and the audit
    row (written with the decision) says what it became."""
    mail_id = _quarantine_one(sqlite_url, dovecot, smtp_sink)
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    with db.transaction(factory) as s:
        users.add_user(s, ADMIN[0], ADMIN[1], role="admin", display_name="管理 太郎", now=DEFAULT_NOW, by="test")
    try:
        low = admin(_web_cfg(sqlite_url, dovecot, smtp_sink, 0.2))
        listing = low.get("/quarantine").text
        assert f'action="/quarantine/{mail_id}/reprocess"' in listing and "pdf_seconds" in listing
        response = low.post(f"/quarantine/{mail_id}/reprocess", data={"csrf_token": token_of(low, "/quarantine")})
        assert response.status_code == 303
        page = low.get(response.headers["location"]).text
        assert "隔離のまま" in page.split('id="result"')[1] and "pdf_seconds" in page.split('id="failed-again"')[1]
        with factory() as s:
            assert s.get(Mail, mail_id).status == QUARANTINED  # type: ignore[union-attr]

        fixed = admin(_web_cfg(sqlite_url, dovecot, smtp_sink, 20.0))
        response = fixed.post(f"/quarantine/{mail_id}/reprocess", data={"csrf_token": token_of(fixed, "/quarantine")})
        assert response.status_code == 303
        page = fixed.get(response.headers["location"]).text
        result = page.split('id="result"')[1].split("</section>")[0]
        with factory() as s:
            row = s.get(Mail, mail_id)
            assert row is not None and row.status == FILED and row.decision in ("accepted", "rejected", "manual")
            label = {"accepted": "受付", "rejected": "差戻", "manual": "保留"}[row.decision]
            assert row.filed_folder != "Quarantine"
            entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "mail_reprocess")
                                .order_by(AuditEntry.id)).all()
            assert [e.detail["done"] for e in entries] == [False, True]
            assert entries[1].detail["decision"] == row.decision and entries[1].username == ADMIN[0]
            codes = [d["code"] for d in row.defects]
        assert "を再処理しました" in result and f'id="new-decision">{label}<' in result
        assert all(code in result for code in codes) and "フォルダへ移動済み" in result
        assert f'action="/quarantine/{mail_id}/reprocess"' not in page
        assert dovecot.folder_uids("Quarantine") == []
        twice = fixed.post(f"/quarantine/{mail_id}/reprocess", data={"csrf_token": token_of(fixed, "/quarantine")})
        assert twice.status_code == 409 and "もう隔離されていません" in twice.text
    finally:
        engine.dispose()


# -- downloads are audited ----------------------------------------------------------------------

def test_downloads_write_an_audit_row(demo: Demo, factory: sessionmaker[Session]) -> None:
    """Given a mail with a PDF and a vendor batch sent,
    when a staff member downloads the attachment and both CSV files,
    then each download is an audit row naming who took which file."""
    batch = build(demo.url)
    c = signed_in(vendor_config(demo.url), STAFF, Clock(NOW))
    assert c.get(f"/mails/{demo.ids['03']}/attachments/0").status_code == 200
    assert c.get(f"/vendor/batches/{batch.batch_id}/csv").status_code == 200
    assert c.get(f"/vendor/batches/{batch.batch_id}/ledger-csv").status_code == 200
    assert c.get("/vendor/batches/999999/csv").status_code == 404  # nothing served, nothing recorded
    with factory() as s:
        [att] = s.scalars(select(AuditEntry).where(AuditEntry.action == "attachment_download")).all()
        assert att.mail_id == demo.ids["03"] and att.username == STAFF[0] and att.detail["filename"].endswith(".pdf")
        csvs = s.scalars(select(AuditEntry).where(AuditEntry.action == "vendor_csv_download")
                         .order_by(AuditEntry.id)).all()
        assert [(e.detail["batch"], e.detail["filename"]) for e in csvs] == [
            (batch.batch_id, batch.csv_name), (batch.batch_id, batch.ledger_name)]
    audit_page = signed_in(web_config(demo.url), ADMIN, Clock(NOW)).get("/audit").text
    assert "添付ファイルをダウンロード" in audit_page and "ベンダーCSVをダウンロード" in audit_page


# -- served inside `bot run` ----------------------------------------------------------------------

def test_serve_in_thread_serves_until_stopped(demo: Demo) -> None:
    from bot.web.app import serve_in_thread

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = web_config(demo.url, port=port)
    assert WebConfig().in_run is False
    served = serve_in_thread(cfg)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as response:
            assert response.status == 200 and "ログイン" in response.read().decode()
    finally:
        served.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
