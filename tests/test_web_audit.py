"""監査ログ (issue 21 point 5) through the in-process client: filters by who, what and when
(the office's days), pages of 100 whose links keep the filters, a filter that does not parse
named above the list (never a 500), and details in Japanese: a template by its name, a
version as #3, an attachment as 1番目, a size in KB, typed values one per line, defects by
name; no Python repr, no code in the page text (codes only in titles)."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from starlette.testclient import TestClient

from bot import db
from bot.web import audit
from tests.support.app import DEFAULT_NOW
from tests.support.words import offences
from tests.test_web_support import ADMIN, STAFF, signed_in, web_config
from tests.test_web_templates import database_with_users

JST = dt.timezone(dt.timedelta(hours=9))
DAY1 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=JST)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The two console users, and 250 audit rows over three days by two people: 120 of kagawa's
    downloads on 11/20 (one per minute from 09:00), 100 of kanri's template saves on 11/21 and
    30 failed logins of 'yamada' on 11/22 at 23:50 JST (still 11/22 in Japan, 11/22 14:50 UTC)."""
    found = database_with_users(f"sqlite:///{tmp_path_factory.mktemp('audit') / 'bot.sqlite3'}")
    factory = db.session_factory(db.make_engine(found))
    with db.transaction(factory) as s:
        for n in range(120):
            audit.record(s, action=audit.ATTACHMENT_DOWNLOAD, at=DAY1 + dt.timedelta(minutes=n), username="kagawa",
                         detail={"attachment": 0, "filename": "申込書.pdf", "bytes": 20480})
        for n in range(100):
            audit.record(s, action="template_save", at=DAY1 + dt.timedelta(days=1, minutes=n), username="kanri",
                         detail={"template": "reject.txt.j2", "version": n + 1, "note": "署名を変更"})
        for n in range(30):
            audit.record(s, action=audit.LOGIN_FAILED, at=DAY1.replace(hour=23, minute=50) + dt.timedelta(days=2),
                         username="yamada", ip="192.0.2.7", detail={"reason": "password"})
        audit.record(s, action=audit.MANUAL_ACCEPT, at=DEFAULT_NOW, username="kagawa",
                     detail={"note": "受付", "typed": {"ssid": "midori-wifi", "shop_name": "カフェ ひかり"}})
        audit.record(s, action=audit.MAIL_REPROCESS, at=DEFAULT_NOW, username="kanri",
                     detail={"done": True, "decision": "rejected", "defects": ["ATTACHMENT_MISSING"],
                             "kind": "equipment_order", "customer_code": "988776658"})
    factory.kw["bind"].dispose()
    return found


@pytest.fixture(scope="module")
def admin(url: str) -> TestClient:
    return signed_in(web_config(url), ADMIN)


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return re.findall(r"<tr.*?</tr>", body, re.S)


def _text(fragment: str) -> str:
    """What a person reads: tags, attributes and what mails or people wrote (translate="no") left out."""
    fragment = re.sub(r'<(\w+)[^>]*translate="no"[^>]*>.*?</\1>', " ", fragment, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _total(page: str) -> int:
    found = re.search(r"<h1>監査ログ <small>([\d,]+)件", page)
    assert found
    return int(found.group(1).replace(",", ""))


def test_filters_by_person_action_and_days(admin: TestClient) -> None:
    everything = _total(admin.get("/audit").text)
    assert everything >= 252  # the rows above and this client's own sign-in

    by_person = admin.get("/audit?actor=kagawa")
    assert _total(by_person.text) == 121 and all("香川" in _text(r) for r in _rows(by_person.text))
    by_action = admin.get("/audit?action=template_save")
    assert _total(by_action.text) == 100 and all("テンプレートを保存" in _text(r) for r in _rows(by_action.text))
    assert 'value="template_save" selected' in by_action.text
    one_day = admin.get("/audit?since=2026-11-21&until=2026-11-21")
    assert _total(one_day.text) == 100
    late = admin.get("/audit?since=2026-11-22&until=2026-11-22")  # 23:50 in Japan is still that day
    assert _total(late.text) == 30 and 'class="fail"' in late.text
    both = admin.get("/audit?actor=kagawa&since=2026-11-20&until=2026-11-21&action=attachment_download")
    assert _total(both.text) == 120
    assert _total(admin.get("/audit?actor=kagawa&action=template_save").text) == 0
    assert "条件に合う記録はありません" in admin.get("/audit?actor=kagawa&action=template_save").text


def test_pages_keep_the_filters(admin: TestClient) -> None:
    """Given 120 rows found, page 1 shows 100, its 「古い →」 link carries the filters, page 2
    the 20 oldest, and a page past the end shows the last one."""
    first = admin.get("/audit?actor=kagawa&action=attachment_download")
    assert len(_rows(first.text)) == 100 and "1 / 2 ページ" in first.text
    nxt = re.search(r'href="(/audit\?[^"]+)" rel="next"', first.text)
    assert nxt
    link = html.unescape(nxt.group(1))
    assert "actor=kagawa" in link and "action=attachment_download" in link and "page=2" in link
    second = admin.get(link)
    assert len(_rows(second.text)) == 20 and "2 / 2 ページ" in second.text
    assert "2026/11/20 09:00" in second.text and "2026/11/20 09:19" in second.text  # the oldest
    assert "2026/11/20 09:20" not in second.text
    prev = re.search(r'href="(/audit\?[^"]+)" rel="prev"', second.text)
    assert prev and "page" not in html.unescape(prev.group(1)) and "actor=kagawa" in html.unescape(prev.group(1))
    assert "2 / 2 ページ" in admin.get("/audit?actor=kagawa&action=attachment_download&page=99").text


@pytest.mark.parametrize(("query", "problem"), [
    ("since=2026-13-40", "開始日「2026-13-40」が読めません"), ("until=あした", "終了日「あした」が読めません"),
    ("action=drop_table", "操作の指定が不正です"), ("since=2026-11-22&until=2026-11-20", "開始日が終了日より後です"),
    ("page=zzz", ""),
])
def test_a_filter_that_does_not_parse_is_named_not_a_500(admin: TestClient, query: str, problem: str) -> None:
    response = admin.get(f"/audit?{query}")
    assert response.status_code == 200
    assert problem in html.unescape(response.text)
    if "until=2026-11-20" in query:  # swapped, so still found
        assert _total(response.text) == 250


def test_details_read_in_japanese(admin: TestClient) -> None:
    pages = [admin.get(f"/audit?action={a}").text for a in ("attachment_download", "template_save", "manual_accept",
                                                            "mail_reprocess", "login_failed")]
    text = " ".join(_text(page) for page in pages)
    for words in ("テンプレート 差戻メール（支店への返信）", "版 #100", "添付 1番目", "サイズ 20 KB",
                  "入力した値：SSID", "入力した値：店舗/施設名", "判定 差戻", "不備 PDFの添付なし", "結果 成功",
                  "種別 器材発注依頼", "理由 パスワード違い"):
        assert words in re.sub(r"\s+", " ", text), words
    assert not offences(text), offences(text)[:5]
    assert "midori-wifi" in pages[2] and "カフェ ひかり" in pages[2]  # what a person typed, as typed


def test_staff_get_403(url: str) -> None:
    staff = signed_in(web_config(url), STAFF)
    assert staff.get("/audit?actor=kanri").status_code == 403
