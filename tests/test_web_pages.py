"""The console's pages through an in-process client, over the demo's mails decided by the real
pipeline: the list and its filters, a mail's detail (in Japanese), attachments, the manual
queue and closing an item (audited). The list query also runs on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot import db
from bot.actions.queue import open_items
from bot.db.models import FILED, QUARANTINED, AuditEntry, Mail
from bot.web.queries import MailFilter, held_count, mail_page
from tests.support.app import DEFAULT_NOW, make_config
from tests.test_web_support import (
    ADMIN,
    HOSTILE_SUBJECT,
    STAFF,
    populate,
    signed_in,
    token_of,
    web_config,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, int]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'bot.sqlite3'}"
    return url, populate(url)


@pytest.fixture
def staff(demo: tuple[str, dict[str, int]]) -> TestClient:
    return signed_in(web_config(demo[0]), STAFF)


def test_list_shows_every_mail_newest_first(staff: TestClient, demo: tuple[str, dict[str, int]]) -> None:
    page = staff.get("/mails")
    stored = len(demo[1])  # the demo mails and the hostile one, as populate() stored them
    assert page.status_code == 200 and "受信一覧" in page.text and f"{stored}件" in page.text
    ids = [int(x.split('"')[0]) for x in page.text.split('href="/mails/')[1:] if x.split('"')[0].isdigit()]
    assert ids == sorted(ids, reverse=True) and len(ids) == stored
    for word in ("受付", "差戻", "保留", "対象外", "LINE_TYPE_MISSING"):
        assert word in page.text


@pytest.mark.parametrize(("query", "expect", "absent"), [
    ("decision=rejected", ["03", "04", "05", "07"], ["01", "06"]),
    ("decision=manual", ["06"], ["01", "03"]),
    ("kind=equipment_order&decision=accepted", ["01", "02"], ["03"]),
    ("code=988776657", ["06"], ["01"]),
    ("q=demo-03", ["03"], ["01", "04"]),
    ("branch=%E9%9D%92%E5%B1%B1%E6%94%AF%E5%BA%97", ["06"], []),  # 青山支店 (the body's 送付支店名)
    ("day=2026-11-24", ["01", "09"], []),
    ("day=2026-11-23", [], ["01"]),
])
def test_list_filters(staff: TestClient, demo: tuple[str, dict[str, int]], query: str, expect: list[str],
                      absent: list[str]) -> None:
    _url, ids = demo
    page = staff.get(f"/mails?{query}").text
    for key in expect:
        assert f'href="/mails/{ids[key]}"' in page, (query, key)
    for key in absent:
        assert f'href="/mails/{ids[key]}"' not in page, (query, key)
    if not expect:
        assert "条件に合うメールはありません" in page


def test_a_bad_filter_is_named_not_a_crash(staff: TestClient) -> None:
    page = staff.get("/mails?day=2026-13-45&kind=nope&page=abc")
    assert page.status_code == 200 and "日付「2026-13-45」が読めません" in page.text and "種別の指定が不正です" in page.text


def test_detail_explains_the_decision_in_japanese(staff: TestClient, demo: tuple[str, dict[str, int]]) -> None:
    _url, ids = demo
    page = staff.get(f"/mails/{ids['03']}").text
    assert "LINE_TYPE_MISSING" in page and "ファミリー／マンション" in page  # the 差戻 mail's own sentence
    assert "送信したメール" in page and "差戻返信" in page and "送信待ち" in page  # the reply, as queued
    assert "申込書から読み取った項目" in page and "ご利用回線種別" in page
    accepted = staff.get(f"/mails/{ids['01']}").text
    assert "管理台帳・ベンダー" in accepted and "発注済" in accepted and "次の便を待つ" in accepted
    assert "本文" in accepted and "顧客CD" in accepted and "/attachments/0/pages/1.png" in accepted


def test_hostile_mail_is_shown_as_text(staff: TestClient, demo: tuple[str, dict[str, int]]) -> None:
    _url, ids = demo
    r = staff.get(f"/mails/{ids['hostile']}")
    assert r.status_code == 200
    assert "<script>" not in r.text and "onerror=" not in r.text.replace("onerror=alert(1)&gt;", "")
    assert html.escape(HOSTILE_SUBJECT, quote=False) in r.text.replace("&#34;", '"')
    assert "お世話になっております" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"


def test_attachments_download_and_pages_render(staff: TestClient, demo: tuple[str, dict[str, int]]) -> None:
    _url, ids = demo
    r = staff.get(f"/mails/{ids['01']}/attachments/0")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"] == "application/octet-stream" and r.headers["x-content-type-options"] == "nosniff"
    png = staff.get(f"/mails/{ids['01']}/attachments/0/pages/1.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG") and png.headers["content-type"] == "image/png"
    assert staff.get(f"/mails/{ids['01']}/attachments/0/pages/99.png").status_code == 422
    assert staff.get(f"/mails/{ids['01']}/attachments/7").status_code == 404
    assert staff.get("/mails/999999").status_code == 404


def test_unlocking_failure_is_said_not_hidden(staff: TestClient, demo: tuple[str, dict[str, int]]) -> None:
    _url, ids = demo
    page = staff.get(f"/mails/{ids['04']}").text  # the demo's PDF without a password: drawn, and flagged
    assert "PDF_NOT_ENCRYPTED" in page and "/attachments/0/pages/1.png" in page


def test_manual_queue_count_on_every_page_and_oldest_first(staff: TestClient, demo: tuple[str, dict[str, int]]) -> None:
    url, ids = demo
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        held = open_items(s)
        assert held_count(s) == len(held)  # the console's count and `bot manual list` agree
    engine.dispose()
    for path in ("/mails", "/manual", f"/mails/{ids['01']}"):
        assert f'id="held-count">{len(held)}<' in staff.get(path).text
    queue = staff.get("/manual").text
    positions = [queue.index(f'href="/manual/{h.id}"') for h in held]
    assert positions == sorted(positions) and "人の確認待ち・古い順" in queue


def test_dismiss_with_a_note_closes_the_item_and_is_audited(demo: tuple[str, dict[str, int]]) -> None:
    url, ids = demo
    c = signed_in(web_config(url), STAFF)
    page = c.get(f"/manual/{ids['06']}").text
    assert "対応済みにする" in page and "受付する" in page and "disabled" in page
    token = token_of(c, f"/manual/{ids['06']}")
    assert c.post(f"/manual/{ids['06']}/dismiss", data={"csrf_token": token, "note": ""}).status_code == 400
    r = c.post(f"/manual/{ids['06']}/dismiss", data={"csrf_token": token, "note": "支店に原本の再送を依頼"})
    assert r.status_code == 303 and r.headers["location"] == f"/manual?done={ids['06']}"
    assert f'href="/manual/{ids["06"]}"' not in c.get("/manual").text
    again = c.post(f"/manual/{ids['06']}/dismiss", data={"csrf_token": token, "note": "二回目"})
    assert again.status_code == 409
    engine = db.make_engine(url)
    with db.session_factory(engine)() as s:
        row = s.get(Mail, ids["06"])
        assert row is not None and (row.resolved_by, row.resolution) == (STAFF[0], "支店に原本の再送を依頼")
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "manual_dismiss"))
        assert entry is not None and (entry.username, entry.mail_id, entry.detail) == (
            STAFF[0], ids["06"], {"note": "支店に原本の再送を依頼"})
    engine.dispose()
    detail = c.get(f"/mails/{ids['06']}").text
    assert "対応済み" in detail and "保留を対応済みにする" in detail  # its history on the mail's page
    audit = signed_in(web_config(url), ADMIN).get("/audit").text
    assert "保留を対応済みにする" in audit and f'href="/mails/{ids["06"]}"' in audit


def _bulk(url: str, n: int) -> None:
    engine = db.make_engine(url)
    rows = []
    for i in range(n):
        rows.append({
            "folder": "INBOX", "uidvalidity": 1, "uid": i + 1, "msgid_hash": f"bulk{i}", "message_id": f"<m{i}@x>",
            "raw": b"", "subject": f"USEN SPOT 解約申請_{100000000 + i} 件名{i}",
            "from_addr": ("uchida@aoyama.usen.co.jp", "sato@shibuya.usen.co.jp", "hq@usen.co.jp")[i % 3],
            "status": QUARANTINED if i % 50 == 0 else FILED, "kind": ("termination", "equipment_order", None)[i % 3],
            "customer_code": str(100000000 + i), "decision": ("accepted", "rejected", "manual", "ignored")[i % 4],
            "defects": [{"code": "PDF_WRONG_PASSWORD", "detail": {}}] if i % 4 == 1 else [], "warnings": [],
            "facts": {"branch": "渋谷支店"} if i % 7 == 0 else {}, "attempts": 0,
            "received_at": DEFAULT_NOW - dt.timedelta(minutes=10 * i),
        })
    with engine.begin() as conn:
        conn.execute(Mail.__table__.insert(), rows)
    engine.dispose()


def test_list_query_and_paging_on_both_databases(any_db_url: str) -> None:
    _bulk(any_db_url, 260)
    cfg = make_config(any_db_url)
    engine = db.make_engine(any_db_url)
    with db.session_factory(engine)() as s:
        first = mail_page(s, MailFilter.parse({}), cfg=cfg)
        assert (first.total, first.pages, len(first.rows)) == (260, 6, 50)
        assert first.rows[0].customer_code == "100000000"
        last = mail_page(s, MailFilter.parse({"page": "6"}), cfg=cfg)
        assert len(last.rows) == 10 and last.rows[-1].customer_code == "100000259"
        beyond = mail_page(s, MailFilter.parse({"page": "60"}), cfg=cfg)
        assert beyond.page == 6
        shibuya = mail_page(s, MailFilter.parse({"branch": "shibuya"}), cfg=cfg)
        assert shibuya.total == 87 and all(r.from_addr.endswith("@shibuya.usen.co.jp") for r in shibuya.rows)
        by_fact = mail_page(s, MailFilter.parse({"branch": "渋谷支店"}), cfg=cfg)
        assert by_fact.total == 38
        assert mail_page(s, MailFilter.parse({"decision": "quarantined"}), cfg=cfg).total == 6
        rejected = mail_page(s, MailFilter.parse({"decision": "rejected"}), cfg=cfg)
        assert rejected.total == 65 and all(r.defects == ("PDF_WRONG_PASSWORD",) for r in rejected.rows)
        assert mail_page(s, MailFilter.parse({"kind": "unknown"}), cfg=cfg).total == 86
        assert mail_page(s, MailFilter.parse({"q": "件名1_"}), cfg=cfg).total == 0  # _ is not a wildcard
        assert mail_page(s, MailFilter.parse({"q": "USEN spot 解約申請_10000012"}), cfg=cfg).total == 10
        assert mail_page(s, MailFilter.parse({"code": "1000002"}), cfg=cfg).total == 60
        day = (DEFAULT_NOW - dt.timedelta(days=1)).date().isoformat()
        assert mail_page(s, MailFilter.parse({"day": day}), cfg=cfg).total == 144
        assert held_count(s) == len(open_items(s))
        from bot.web.queries import QUEUE_LIMIT, held_rows

        queue = held_rows(s, cfg=cfg, now=DEFAULT_NOW)
        assert [h.row.id for h in queue] == [i.id for i in open_items(s)][:QUEUE_LIMIT]
        assert [h.reason for h in queue] == [i.reason for i in open_items(s)][:QUEUE_LIMIT]
    engine.dispose()
