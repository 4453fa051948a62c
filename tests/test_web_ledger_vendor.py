"""管理台帳 and ベンダー pages (issue 7) through the in-process client, over the demo's mails
decided by the real pipeline and a vendor batch built by the real :func:`bot.vendor.build_batch`.

The CSV download must be the very bytes the vendor mail carried (the attachment of the stored
outbox message), with its file name and ``text/csv; charset=…`` as announced in the mail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import re

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot import db, vendor
from bot.config import Config
from bot.db.models import OutboxMessage, VendorBatch, VendorRow
from bot.templating import Templates
from bot.vendor.forms import REFER
from tests.support.app import DEFAULT_NOW
from tests.test_web_support import ADMIN, STAFF, client, populate, signed_in, web_config

DAY = dt.date(2026, 11, 24)
BATCH_AT = DEFAULT_NOW + dt.timedelta(hours=7, minutes=5)  # 17:05 JST, after the cutoff
HOSTILE_SHOP = "<script>document.title='pwned'</script>店"


@dataclasses.dataclass(frozen=True)
class Demo:
    url: str
    ids: dict[str, int]
    batch: vendor.BatchResult
    pending_id: int


def vendor_config(url: str, encoding: str = "cp932") -> Config:
    cfg = web_config(url)
    return cfg.replace(vendor=dataclasses.replace(cfg.vendor, to=("order@fibergate.example",), encoding=encoding))


def build(url: str, *, day: dt.date = DAY, now: dt.datetime = BATCH_AT, encoding: str = "cp932") -> vendor.BatchResult:
    engine = db.make_engine(url)
    try:
        with db.transaction(db.session_factory(engine)) as s:
            result = vendor.build_batch(s, cfg=vendor_config(url, encoding), day=day, now=now, templates=Templates())
    finally:
        engine.dispose()
    assert result is not None
    return result


def add_pending_scan_row(url: str) -> int:
    """A row of a scanned form waiting for the next batch: two cells the reader was unsure of
    are 申込書参照 (as bot.vendor.forms.scanned_payload writes them); the shop name is hostile."""
    engine = db.make_engine(url)
    try:
        with db.transaction(db.session_factory(engine)) as s:
            row = VendorRow(
                mail_id=None, customer_code="988776657", category=vendor.NEW,
                payload={"shop_name": HOSTILE_SHOP, "shop_address": REFER, "shop_phone": "03-1234-5678",
                         "mail_address": REFER, "plus": False, "parent_units": 1, "child_units": 0,
                         "form_refer": ["shop_address", "mail_address"]},
                received_at=BATCH_AT + dt.timedelta(minutes=30), batch_date=DAY + dt.timedelta(days=1),
                ship_date=None, created_at=BATCH_AT + dt.timedelta(minutes=30))
            s.add(row)
            s.flush()
            return row.id
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'bot.sqlite3'}"
    ids = populate(url)
    batch = build(url)
    return Demo(url, ids, batch, add_pending_scan_row(url))


@pytest.fixture
def staff(demo: Demo) -> TestClient:
    return signed_in(vendor_config(demo.url), STAFF)


def sent_attachment(url: str, outbox_id: int, filename: str) -> tuple[bytes, str]:
    """The attachment as the vendor receives it: parsed from the outbox row's raw bytes."""
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as s:
            raw = s.get(OutboxMessage, outbox_id).raw  # type: ignore[union-attr]
    finally:
        engine.dispose()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.iter_attachments():  # type: ignore[attr-defined]
        if part.get_filename() == filename:
            return part.get_payload(decode=True), str(part.get_param("charset"))
    raise AssertionError(f"{filename} not attached")


# -- 管理台帳 ----------------------------------------------------------------------------------

def test_nav_links_both_pages(staff: TestClient) -> None:
    page = staff.get("/mails").text
    assert 'href="/ledger"' in page and ">管理台帳<" in page and 'href="/vendor"' in page and ">ベンダー<" in page


def test_customer_page_shows_state_history_unis_and_mails(staff: TestClient, demo: Demo) -> None:
    page = staff.get("/ledger/988776654")
    assert page.status_code == 200
    text = page.text
    assert "顧客 988776654" in text and "発注済" in text  # STATE_LABELS, not the code "ordered"
    assert "ordered" not in re.sub(r"<[^>]+>", "", text).replace("ordered_", "")
    assert "台帳の履歴" in text and "発注" in text and "（なし） → 発注済" in text
    assert "UNIS明細" in text and "受注" in text
    mails = [int(x) for x in re.findall(r'href="/mails/(\d+)"', text.split("この顧客のメール")[1])]
    assert mails == sorted(mails, reverse=True)
    assert {demo.ids["01"], demo.ids["07"], demo.ids["09"]} <= set(mails)
    assert demo.ids["02"] not in mails
    # the vendor row of its order, sent in the batch
    assert f'href="/vendor/batches/{demo.batch.batch_id}"' in text and "送付済" in text


def test_customer_flags(staff: TestClient) -> None:
    text = staff.get("/ledger/410106060").text
    assert ">Plus<" in text and "+kitsune_Wi-Fi" in text and "ルーター撤去" in text and "解約日" in text


def test_search_forms(staff: TestClient) -> None:
    full = staff.get("/ledger", params={"code": "９８８７７６６５４"})  # 全角 as typed from a form
    assert full.status_code == 303 and full.headers["location"] == "/ledger/988776654"
    prefix = staff.get("/ledger", params={"code": "9887"}).text
    assert 'href="/ledger/988776654"' in prefix and 'href="/ledger/410106060"' not in prefix
    everyone = staff.get("/ledger").text
    assert 'href="/ledger/988776654"' in everyone and 'href="/ledger/410106060"' in everyone
    bad = staff.get("/ledger", params={"code": "<b>abc</b>"})
    # Words search the shop names (issue 21 point 4), shown escaped.
    assert bad.status_code == 200 and "を含む顧客は台帳にありません" in bad.text and "<b>abc</b>" not in bad.text


def test_unknown_and_unledgered_customers(staff: TestClient, demo: Demo) -> None:
    missing = staff.get("/ledger/000000001")
    assert missing.status_code == 404 and "どこにもありません" in missing.text
    assert staff.get("/ledger/12ab").status_code == 404
    # In UNIS and in a rejected mail, never ordered: no ledger row, but its lines and mails show.
    only_unis = staff.get("/ledger/988776655")
    assert only_unis.status_code == 200 and "管理台帳にまだありません" in only_unis.text
    assert f'href="/mails/{demo.ids["03"]}"' in only_unis.text and "受注" in only_unis.text


def test_mail_detail_links_to_the_ledger(staff: TestClient, demo: Demo) -> None:
    text = staff.get(f"/mails/{demo.ids['01']}").text
    assert 'href="/ledger/988776654"' in text


def test_admin_may_view_and_anonymous_may_not(demo: Demo) -> None:
    admin = signed_in(vendor_config(demo.url), ADMIN)
    for path in ("/ledger", "/ledger/988776654", "/vendor", f"/vendor/batches/{demo.batch.batch_id}",
                 f"/vendor/batches/{demo.batch.batch_id}/csv"):
        assert admin.get(path).status_code == 200, path
        anonymous = client(vendor_config(demo.url)).get(path)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login"), path


# -- ベンダー ----------------------------------------------------------------------------------

def test_batches_newest_first_with_outbox_status(staff: TestClient, demo: Demo) -> None:
    text = staff.get("/vendor").text
    assert "送った便" in text and f'href="/vendor/batches/{demo.batch.batch_id}"' in text
    assert "2026/11/24" in text and "送信待ち" in text  # the outbox row, not sent yet
    assert f'href="/vendor/batches/{demo.batch.batch_id}/csv"' in text


def test_pending_rows_mark_refer_cells_and_escape(staff: TestClient, demo: Demo) -> None:
    text = staff.get("/vendor").text
    pending = text.split("次の便を待つ行")[1].split("送った便")[0]
    assert "1件" in pending and "申込書参照あり 1件" in pending
    assert pending.count('<td class="refer"') == 2 and f'<span class="badge hold">{REFER}</span></td>' in pending
    assert 'href="/ledger/988776657"' in pending
    assert "<script>document.title" not in text and "&lt;script&gt;" in text
    # the rows already sent are not pending
    assert 'href="/ledger/988776654"' not in pending


def test_batch_page_lists_its_rows(staff: TestClient, demo: Demo) -> None:
    page = staff.get(f"/vendor/batches/{demo.batch.batch_id}")
    assert page.status_code == 200
    text = page.text
    # 2 district routers, the 5 of the demo's corporate list (11-accepted-corporate-list.eml) and
    # the 変更 of its 顧客情報変更 (14-accepted-customer-info-change.eml)
    assert f"業者便 #{demo.batch.batch_id}" in text and "8行" in text and demo.batch.row_count == 8
    rows = text.split("この便の行")[1]
    assert 'href="/ledger/988776654"' in rows and 'href="/ledger/410106060"' in rows
    assert 'href="/ledger/988776657"' not in rows
    assert demo.batch.csv_name in text and demo.batch.ledger_name in text and "Shift_JIS" in text
    assert staff.get("/vendor/batches/9999").status_code == 404


def test_csv_download_is_byte_identical_to_the_vendor_mail(staff: TestClient, demo: Demo) -> None:
    assert demo.batch.outbox_id is not None
    mailed, charset = sent_attachment(demo.url, demo.batch.outbox_id, demo.batch.csv_name)
    got = staff.get(f"/vendor/batches/{demo.batch.batch_id}/csv")
    assert got.status_code == 200
    assert got.content == mailed == demo.batch.csv_bytes
    assert got.headers["content-type"] == f"text/csv; charset={charset}" == "text/csv; charset=Shift_JIS"
    assert got.headers["content-disposition"] == f'attachment; filename="{demo.batch.csv_name}"'
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "988776654" in got.content.decode("cp932")

    ledger_mailed, _ = sent_attachment(demo.url, demo.batch.outbox_id, demo.batch.ledger_name)
    ledger = staff.get(f"/vendor/batches/{demo.batch.batch_id}/ledger-csv")
    assert ledger.content == ledger_mailed == demo.batch.ledger_bytes
    assert ledger.headers["content-disposition"] == f'attachment; filename="{demo.batch.ledger_name}"'


def test_csv_stays_as_sent_when_rows_change_later(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A UTF-8 batch on its own database: announced as UTF-8, and the download does not follow
    a later change to a row it carried (it is the mail's bytes, not a rebuild)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('utf8') / 'bot.sqlite3'}"
    populate(url)
    result = build(url, encoding="utf-8")
    engine = db.make_engine(url)
    with db.transaction(db.session_factory(engine)) as s:
        for row in s.scalars(select(VendorRow).where(VendorRow.batch_id == result.batch_id)):
            row.payload = {**row.payload, "shop_name": "後から変えた店名"}
        assert s.get(VendorBatch, result.batch_id) is not None
    engine.dispose()
    c = signed_in(vendor_config(url), STAFF)
    got = c.get(f"/vendor/batches/{result.batch_id}/csv")
    assert got.content == result.csv_bytes and "後から変えた店名" not in got.content.decode("utf-8")
    assert got.headers["content-type"] == "text/csv; charset=UTF-8"


def test_the_corporate_csv_is_listed_and_downloads_as_mailed(staff: TestClient, demo: Demo) -> None:
    """Given a batch that carries the 法人営業 list's routers in their own file,
    then the batch page names that file as 法人一括発注データ (not as an encrypted form) and it
    downloads byte for byte as the vendor mail carried it."""
    name = f"usen_spot_houjin_{demo.batch.batch_date:%Y%m%d}.csv"
    page = staff.get(f"/vendor/batches/{demo.batch.batch_id}").text
    files = page.split("送ったファイル")[1].split("</ul>")[0]
    assert name in files and "法人一括発注データ" in files and "暗号化PDF" not in files
    assert f'href="/vendor/batches/{demo.batch.batch_id}/houjin-csv"' in files
    mailed, charset = sent_attachment(demo.url, demo.batch.outbox_id, name)
    got = staff.get(f"/vendor/batches/{demo.batch.batch_id}/houjin-csv")
    assert got.status_code == 200 and got.content == mailed
    assert got.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert "法人新規" in got.content.decode("cp932") and charset == "Shift_JIS"
