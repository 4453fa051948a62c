"""CSV exports of 受信一覧 and 保留 (issue 21 point 5) through the in-process client, over the
demo's mails decided by the real pipeline: the page links to a CSV with its own filters, the
file holds exactly the mails the filters find (every one, not one page), is UTF-8 with a BOM,
names decisions and defects in Japanese (codes in a column of their own), neutralises a cell a
spreadsheet would run as a formula, and leaves an audit row."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot import db
from bot.db.models import AuditEntry
from bot.web.exports import csv_bytes
from tests.support.app import DEFAULT_NOW, Clock, make_config, make_processor
from tests.test_web_support import STAFF, client, populate, signed_in, web_config

FORMULA_SUBJECT = '=HYPERLINK("http://evil.example/","開く")'


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, int]]:
    """The demo's mails, and one stored (not decided) whose subject is a spreadsheet formula."""
    url = f"sqlite:///{tmp_path_factory.mktemp('exports') / 'bot.sqlite3'}"
    ids = populate(url)
    processor, factory = make_processor(make_config(url), Clock(DEFAULT_NOW))
    msg = EmailMessage()
    msg["From"] = "uchida@aoyama.usen.co.jp"
    msg["To"] = "usen_spot@mx.usen.co.jp"
    msg["Subject"] = FORMULA_SUBJECT
    msg["Message-ID"] = "<formula-1@aoyama.usen.co.jp>"
    msg["Date"] = "Tue, 24 Nov 2026 10:40:00 +0900"
    msg.set_content("顧客CD : 988776654")
    raw = msg.as_bytes()
    ids["formula"] = processor.store(raw, folder="INBOX", uidvalidity=1, uid=900,
                                     arrived_at=DEFAULT_NOW + dt.timedelta(minutes=30)).mail_id
    factory.kw["bind"].dispose()
    return url, ids


@pytest.fixture
def staff(demo: tuple[str, dict[str, int]]) -> TestClient:
    return signed_in(web_config(demo[0]), STAFF)


def _rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "no BOM: Excel would not read it as UTF-8"
    text = data.decode("utf-8")[1:]
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text)))


def _listed(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'href="/mails/(\d+)"', page)}


def _export_link(page: str) -> str:
    links = re.findall(r'href="(/(?:mails|manual)\.csv[^"]*)" id="export-csv"', page)
    assert len(links) == 1, "no single CSV link on the page"
    return html.unescape(links[0])


def _exports(url: str) -> list[AuditEntry]:
    factory = db.session_factory(db.make_engine(url))
    try:
        with factory() as s:
            return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "list_export").order_by(AuditEntry.id)))
    finally:
        factory.kw["bind"].dispose()


@pytest.mark.parametrize("query", ["decision=rejected", "kind=equipment_order&decision=accepted", "q=demo-03",
                                   "branch=青山支店", "day=2026-11-24&decision=manual", ""])
def test_the_mail_list_exports_what_its_filters_find(staff: TestClient, demo: tuple[str, dict[str, int]],
                                                    query: str) -> None:
    """Given the list filtered as a person filters it, when they follow its CSV link, then the
    file holds exactly the mails the page lists, in Japanese, and the export is audited."""
    page = staff.get(f"/mails?{query}")
    link = _export_link(page.text)
    assert link.startswith("/mails.csv")
    before = len(_exports(demo[0]))

    response = staff.get(link)

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''%E5%8F%97%E4%BF%A1%E4%B8%80%E8%A6%A7_" in response.headers["content-disposition"]
    rows = _rows(response.content)
    assert {int(r["メール番号"]) for r in rows} == _listed(page.text)
    assert set(rows[0]) >= {"受信日時", "差出人", "支店", "件名", "種別", "判定", "不備", "不備・注意のコード"}
    if "decision=rejected" in query:
        assert {r["判定"] for r in rows} == {"差戻"}
        assert any("回線タイプの選択なし" in r["不備"] and "LINE_TYPE_MISSING" in r["不備・注意のコード"] for r in rows)
    [entry] = _exports(demo[0])[before:]
    assert entry.username == STAFF[0] and entry.detail["list"] == "受信一覧" and entry.detail["rows"] == len(rows)


def test_every_match_is_exported_not_one_page(staff: TestClient, demo: tuple[str, dict[str, int]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Given more mails than a page shows, the CSV holds them all."""
    from bot.web import queries

    monkeypatch.setattr(queries, "PAGE_SIZE", 3)
    page = staff.get("/mails")
    assert len(_listed(page.text)) == 3
    rows = _rows(staff.get(_export_link(page.text)).content)
    assert len(rows) == len(demo[1])


def test_a_formula_in_a_subject_is_neutralised(staff: TestClient, demo: tuple[str, dict[str, int]]) -> None:
    """Given a mail whose subject is a spreadsheet formula, its cell starts with ' (shown as
    text, never run); the other cells are as they were."""
    rows = _rows(staff.get("/mails.csv").content)
    [row] = [r for r in rows if int(r["メール番号"]) == demo[1]["formula"]]
    assert row["件名"].startswith("'=") and "HYPERLINK" in row["件名"]
    assert all(not r["件名"].startswith(("=", "+", "-", "@")) for r in rows)
    assert row["判定"] == "未判定"


def test_cells_that_start_a_formula_get_a_quote() -> None:
    data = csv_bytes(("a",), [(c,) for c in ("=1+1", "@SUM(A1)", "\t=1", "\r=1", "+SUM(A1)", "-2+3(", "+81 3 1234",
                                             "普通の文字", "")])
    assert [r["a"] for r in _rows(data)] == ["'=1+1", "'@SUM(A1)", "'\t=1", "'\r=1", "'+SUM(A1)", "'-2+3(",
                                             "+81 3 1234", "普通の文字", ""]


def test_the_held_queue_exports_its_reason_filter(staff: TestClient, demo: tuple[str, dict[str, int]]) -> None:
    """Given the 保留 queue, its CSV holds the held mails the page shows; filtered by a reason,
    only those; each with its wait and its reason in Japanese."""
    page = staff.get("/manual")
    link = _export_link(page.text)
    rows = _rows(staff.get(link).content)
    shown = {int(i) for i in re.findall(r'href="/manual/(\d+)"', page.text)}
    assert {int(r["メール番号"]) for r in rows} == shown and rows
    held = demo[1]["06"]
    [row] = [r for r in rows if int(r["メール番号"]) == held]
    assert row["状態"] == "保留" and row["理由"] and row["待ち時間"].endswith(("分", "時間", "日"))
    group = row["理由の分類"]
    key = re.search(r'href="/manual\?reason=(\w+)"[^>]*>' + re.escape(group), page.text)
    assert key, group

    filtered = staff.get(f"/manual?reason={key.group(1)}")
    link = _export_link(filtered.text)
    assert link == f"/manual.csv?reason={key.group(1)}"
    only = _rows(staff.get(link).content)
    assert held in {int(r["メール番号"]) for r in only} and {r["理由の分類"] for r in only} == {group}
    assert _exports(demo[0])[-1].detail == {"list": "保留", "rows": len(only), "matched": len(only),
                                            "hold_reason": key.group(1)}
    other = next(k for k in ("quarantined", "auth", "unread", "ledger", "scope", "other", "scan") if k != key.group(1))
    assert held not in {int(r["メール番号"]) for r in _rows(staff.get(f"/manual.csv?reason={other}").content)}


def test_a_download_needs_a_signed_in_person(demo: tuple[str, dict[str, int]]) -> None:
    anonymous = client(web_config(demo[0]))
    for path in ("/mails.csv", "/manual.csv"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
