"""法人一括発注依頼 (manual §IX, bot/corporate/): a customer list (.xlsx or CP932 .csv) from 法人営業
through the real pipeline, on SQLite and PostgreSQL: management numbers never reused, vendor
rows flagged corporate and kept apart in the batch, the list to 登録G through the outbox (a real
aiosmtpd server), one 差戻 naming every bad row and column, the serial linked after a UNIS
import, and hostile lists refused within bounded time."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import vendor
from bot.actions import outbox
from bot.checks import unis_order
from bot.checks.base import Facts, RuleSettings
from bot.config import Config, CorporateConfig, VendorConfig
from bot.corporate import CORPORATE_LIST_INVALID, CORPORATE_ROW_INVALID, VENDOR_CATEGORY
from bot.corporate.act import PURPOSE
from bot.db.models import (
    CorporateNumber,
    CorporateSite,
    LedgerEntry,
    LedgerEvent,
    Mail,
    OutboxMessage,
    VendorRow,
)
from bot.demo.embedded import EmbeddedSmtp
from bot.domain import classify
from bot.templating import Templates
from bot.unis import import_extract
from tests.fixtures.corporate import (
    CORPORATE_DOMAIN,
    GOOD_ROWS,
    HEADER,
    REGISTRATION_TO,
    corporate_mail,
    csv_bytes,
    lying_xlsx,
    many_rows_xlsx,
    xlsx,
    zip_bomb_xlsx,
)
from tests.support.app import Clock, make_config, make_processor

JST = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST)
VENDOR_TO = ("hacchu@fibergate.example",)


def corporate_config(url: str, smtp: EmbeddedSmtp | None = None, **corporate: object) -> Config:
    cfg = make_config(url, smtp=smtp)
    return cfg.replace(
        corporate=dataclasses.replace(CorporateConfig(), senders=(CORPORATE_DOMAIN,), registration_to=REGISTRATION_TO,
                                      **corporate),
        vendor=dataclasses.replace(VendorConfig(), to=VENDOR_TO),
    )


class Bot:
    """A processor over a migrated database: store a raw mail, decide it, look at the rows."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.clock = Clock(NOW)
        self.processor, self.factory = make_processor(cfg, self.clock)
        self.uid = 0

    def decide(self, raw: bytes):
        self.uid += 1
        stored = self.processor.store(raw, folder="INBOX", uidvalidity=1, uid=self.uid)
        outcome = self.processor.process(stored.mail_id)
        assert outcome is not None
        return outcome

    def session(self) -> Session:
        return self.factory()


def defects_of(bot: Bot, mail_id: int) -> list[dict[str, object]]:
    with bot.session() as s:
        row = s.get(Mail, mail_id)
        assert row is not None
        return list(row.defects)


def attachment(raw: bytes, suffix: str) -> tuple[str, bytes]:
    msg = message_from_bytes(raw, policy=policy.default)
    for part in msg.iter_attachments():
        name = part.get_filename() or ""
        if name.endswith(suffix):
            return name, part.get_payload(decode=True)
    raise AssertionError(f"no attachment *{suffix}")


# -- a good list --------------------------------------------------------------------------------

def test_good_lists_get_numbers_never_reused_vendor_rows_ledger_and_the_registration_mail(
        any_db_url: str, smtp_sink: EmbeddedSmtp) -> None:
    """Given two good lists from 法人営業 (an .xlsx, then a CP932 .csv),
    when both are decided,
    then each router has its own 6-digit number (none used twice across the lists), one vendor row
    per router flagged corporate, the sites are in the ledger (the one with a code also in the
    管理台帳), and 登録G receives each list with its numbers."""
    bot = Bot(corporate_config(any_db_url, smtp_sink))
    first = bot.decide(corporate_mail(xlsx(GOOD_ROWS)))
    assert (first.kind, first.decision, first.defects) == ("corporate_order", "accepted", ())
    second_rows = [("", "さくらカフェ 横浜店", "神奈川県横浜市西区1-1", "045-111-1111", "2", "0", "有", "sakura-yokohama")]
    second = bot.decide(corporate_mail(csv_bytes(second_rows), name="顧客リスト.csv", content_type="text/csv"))
    assert second.decision == "accepted", second.reason
    with bot.session() as s:
        numbers = list(s.scalars(select(CorporateNumber).order_by(CorporateNumber.number)))
        assert [n.number for n in numbers] == ["100001", "100002", "100003", "100004", "100005", "100006"]
        assert len({n.number for n in numbers}) == 6 and all(len(n.number) == 6 for n in numbers)
        rows = list(s.scalars(select(VendorRow).order_by(VendorRow.id)))
        assert [r.category for r in rows] == [VENDOR_CATEGORY] * 6
        assert all(r.payload["corporate"] is True for r in rows)
        assert [r.payload["management_no"] for r in rows] == [n.number for n in numbers]
        assert [r.payload["role"] for r in rows[:2]] == ["親機", "子機"]
        assert rows[2].customer_code == "988000001" and rows[0].customer_code == ""
        sites = list(s.scalars(select(CorporateSite).order_by(CorporateSite.id)))
        assert [(x.list_row, x.parent_units, x.child_units, x.enterprise) for x in sites] == [
            (3, 1, 1, True), (4, 1, 0, False), (5, 1, 0, False), (2, 2, 0, True)]
        entry = s.get(LedgerEntry, "988000001")
        assert entry is not None and entry.state == "ordered" and entry.data["corporate"] is True
        mails = list(s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == PURPOSE).order_by(OutboxMessage.id)))
        assert len(mails) == 2 and all(m.rcpt_to[0] == REGISTRATION_TO[0] for m in mails)
    outbox.flush(bot.factory, bot.cfg.smtp, now=NOW)
    got = [m for m in smtp_sink.wait_for(2, timeout=10) if REGISTRATION_TO[0] in m.rcpt_tos]
    assert len(got) == 2
    name, data = attachment(got[0].data, ".csv")
    assert data.startswith(b"\xef\xbb\xbf") and name.startswith("houjin_kanri_")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][:3] == ["リスト行", "管理番号", "親機/子機"]
    assert [r[1] for r in table[1:]] == ["100001", "100002", "100003", "100004"]
    assert table[1][4] == "さくらカフェ 渋谷店"


def test_the_vendor_batch_keeps_corporate_rows_in_their_own_csv(sqlite_url: str) -> None:
    """Given a corporate list and a district order queued, when the batch is built ("csv"), then
    the district CSV has only the district row, and the corporate rows travel in their own file
    with 管理番号."""
    bot = Bot(corporate_config(sqlite_url))
    assert bot.decide(corporate_mail(xlsx(GOOD_ROWS))).decision == "accepted"
    with bot.session() as s, s.begin():
        s.add(VendorRow(customer_code="988776654", category="新規", payload={"shop_name": "カフェ青山"},
                        received_at=NOW, batch_date=NOW.date(), created_at=NOW))
    with bot.session() as s, s.begin():
        result = vendor.build_batch(s, cfg=bot.cfg, day=NOW.date(), now=NOW.replace(hour=17), templates=Templates())
    assert result is not None and result.row_count == 5
    district = result.csv_bytes.decode("cp932").splitlines()
    assert len(district) == 2 and district[1].startswith("新規,988776654,カフェ青山")
    assert "管理番号" not in district[0]
    _name, data = attachment(result.raw, f"houjin_{NOW:%Y%m%d}.csv")
    lines = list(csv.reader(io.StringIO(data.decode("cp932"))))
    assert lines[0][-3:] == ["管理番号", "親機/子機", "Enterprise"]
    assert [ln[-3] for ln in lines[1:]] == ["100001", "100002", "100003", "100004"]
    assert {ln[0] for ln in lines[1:]} == {VENDOR_CATEGORY}
    assert ("法人新規", 4) in result.counts


def test_the_vendor_batch_section_puts_corporate_rows_after_the_district_rows(sqlite_url: str) -> None:
    bot = Bot(corporate_config(sqlite_url, vendor_separate="section"))
    assert bot.decide(corporate_mail(xlsx(GOOD_ROWS[:1]))).decision == "accepted"
    with bot.session() as s, s.begin():
        s.add(VendorRow(customer_code="988776654", category="新規", payload={"shop_name": "カフェ青山"},
                        received_at=NOW + dt.timedelta(minutes=5), batch_date=NOW.date(), created_at=NOW))
    with bot.session() as s, s.begin():
        result = vendor.build_batch(s, cfg=bot.cfg, day=NOW.date(), now=NOW.replace(hour=17), templates=Templates())
    assert result is not None
    lines = list(csv.reader(io.StringIO(result.csv_bytes.decode("cp932"))))
    assert lines[0][-3:] == ["管理番号", "親機/子機", "Enterprise"]
    assert [ln[0] for ln in lines[1:]] == ["新規", VENDOR_CATEGORY, VENDOR_CATEGORY]
    assert lines[1][-3:] == ["", "", ""] and lines[2][-3:] == ["100001", "親機", "有"]
    with pytest.raises(AssertionError):
        attachment(result.raw, f"houjin_{NOW:%Y%m%d}.csv")


# -- bad lists ----------------------------------------------------------------------------------

def test_three_bad_rows_get_one_reject_naming_each_row_and_column(any_db_url: str) -> None:
    """Given a list with three bad rows (no address; 親機 'two'; a full-width SSID),
    then one 差戻 lists all three with their row and column, and nothing is issued."""
    rows = [
        ("", "店A", "", "03-1", "1", "0", "無", ""),
        ("", "店B", "住所B", "03-2", "two", "0", "無", ""),
        ("", "店C", "住所C", "03-3", "1", "0", "有", "ｓａｋｕｒａ"),
        ("", "店D", "住所D", "03-4", "1", "0", "無", ""),
    ]
    bot = Bot(corporate_config(any_db_url))
    outcome = bot.decide(corporate_mail(xlsx(rows)))
    assert outcome.decision == "rejected" and outcome.reply_to == ("tanaka@hojin.usen.co.jp",)
    found = [(d["detail"]["row"], d["detail"]["column"]) for d in defects_of(bot, outcome.mail_id)]
    assert found == [("3", "住所"), ("4", "親機台数"), ("5", "SSID")]
    with bot.session() as s:
        assert s.scalars(select(CorporateNumber)).first() is None
        assert s.scalars(select(VendorRow)).first() is None
        replies = list(s.scalars(select(OutboxMessage)))
        assert len(replies) == 1
        text = message_from_bytes(replies[0].raw, policy=policy.default).get_body().get_content()
    assert "顧客リスト 3行目「住所」：空欄です" in text
    assert "顧客リスト 4行目「親機台数」" in text
    assert "顧客リスト 5行目「SSID」" in text and "ｓａｋｕｒａ" in text


def test_duplicates_within_the_list_and_against_the_ledger(any_db_url: str) -> None:
    bot = Bot(corporate_config(any_db_url))
    with bot.session() as s, s.begin():
        s.add(LedgerEntry(customer_code="988000009", state="installed", plus=False, router_not_removed=False, data={},
                          updated_at=NOW))
    assert bot.decide(corporate_mail(xlsx(GOOD_ROWS))).decision == "accepted"
    rows = [
        ("", "新店", "大阪府大阪市1", "06-1", "1", "0", "無", ""),
        ("", "新店", "大阪府大阪市１", "06-1", "1", "0", "無", ""),  # the same site, full-width digit
        ("988000009", "既存店", "京都府京都市", "075-1", "1", "0", "無", ""),  # live in the 管理台帳
        ("", "さくらカフェ　渋谷店", "東京都渋谷区道玄坂1-1-1", "03-1111-1111", "1", "0", "無", ""),  # earlier list
    ]
    outcome = bot.decide(corporate_mail(xlsx(rows)))
    assert outcome.decision == "rejected"
    found = {(d["detail"]["row"], d["detail"]["column"]): d["detail"]["problem"] for d in defects_of(bot, outcome.mail_id)}
    assert set(found) == {("4", "店舗名"), ("5", "顧客コード"), ("6", "店舗名")}
    assert "3行目と同じ設置先" in found[("4", "店舗名")]
    assert "管理台帳" in found[("5", "顧客コード")]
    assert "以前の法人一括発注依頼" in found[("6", "店舗名")]


def test_a_full_width_ssid_is_refused_and_enterprise_needs_one(sqlite_url: str) -> None:
    bot = Bot(corporate_config(sqlite_url))
    rows = [("", "店A", "住所A", "03-1", "1", "0", "有", "ｃａｆｅ"), ("", "店B", "住所B", "03-2", "1", "0", "有", "")]
    outcome = bot.decide(corporate_mail(csv_bytes(rows), name="list.csv", content_type="text/csv"))
    details = [d["detail"] for d in defects_of(bot, outcome.mail_id)]
    assert [(d["row"], d["column"]) for d in details] == [("2", "SSID"), ("3", "SSID")]
    assert "半角以外" in details[0]["problem"]


def test_a_list_without_a_required_column_names_it(sqlite_url: str) -> None:
    bot = Bot(corporate_config(sqlite_url))
    header = tuple(h for h in HEADER if h != "電話番号")
    outcome = bot.decide(corporate_mail(xlsx([r[:3] + r[4:] for r in GOOD_ROWS], header=header)))
    assert outcome.decision == "rejected"
    assert [(d["code"], d["detail"]["column"]) for d in defects_of(bot, outcome.mail_id)] == [
        (CORPORATE_ROW_INVALID, "電話番号")]


def test_a_mail_without_a_list_is_sent_back(sqlite_url: str) -> None:
    bot = Bot(corporate_config(sqlite_url))
    outcome = bot.decide(corporate_mail(b"%PDF-1.4\n", name="list.pdf", content_type="application/pdf"))
    assert outcome.decision == "rejected" and outcome.defects == (CORPORATE_LIST_INVALID,)


# -- who may send it ----------------------------------------------------------------------------

def test_a_corporate_order_from_a_district_branch_is_held_never_acted_on(sqlite_url: str) -> None:
    bot = Bot(corporate_config(sqlite_url))
    outcome = bot.decide(corporate_mail(xlsx(GOOD_ROWS), from_="内田 <uchida@aoyama.usen.co.jp>"))
    assert outcome.decision == "manual" and "法人営業" in outcome.reason
    with bot.session() as s:
        assert s.scalars(select(OutboxMessage)).first() is None
        assert s.scalars(select(VendorRow)).first() is None


def test_a_configured_prefix_and_an_exact_sender_address(sqlite_url: str) -> None:
    cfg = corporate_config(sqlite_url)
    cfg = cfg.replace(corporate=dataclasses.replace(cfg.corporate, prefix="法人発注", senders=("tanaka@hojin.usen.co.jp",)))
    bot = Bot(cfg)
    outcome = bot.decide(corporate_mail(xlsx(GOOD_ROWS), subject="USEN SPOT 法人発注 さくら"))
    assert (outcome.kind, outcome.decision) == ("corporate_order", "accepted")
    other = bot.decide(corporate_mail(xlsx(GOOD_ROWS), subject="USEN SPOT 法人発注 さくら",
                                      from_="suzuki@hojin.usen.co.jp"))
    assert other.decision == "manual"


def test_corporate_orders_are_exempt_from_unis_order_missing() -> None:
    """FAQ 3: ※法人営業案件については対象外 — even with a code UNIS does not know."""
    from bot.domain.calendar import BusinessCalendar
    from bot.mail import parse_mail
    from bot.mail.body import parse_body

    mail = parse_mail(corporate_mail(b""))
    c = classify.classify_subject("USEN SPOT 法人一括発注依頼_988000001")
    facts = Facts(mail=mail, classification=c, body=parse_body(""), forms=(), termination_forms=(), unis=(),
                  ledger=None, received_at=NOW,
                  settings=RuleSettings(allowed_domains=("usen.co.jp",), calendar=BusinessCalendar(tz=JST)))
    assert c.kind == "corporate_order" and unis_order.order_exists(facts) == []


# -- the serial link ----------------------------------------------------------------------------

UNIS_HEADER = "顧客番号,契約番号,明細番号,契約品目,品目名,契約状態,店舗名,管轄支店,契約種類,獲得区分,完成予定日,確定日,シリアルNo,明細備考,キャンセル日,解約日"


def test_a_confirmed_unis_line_links_the_serial_to_the_management_number(any_db_url: str) -> None:
    """Given an accepted list (渋谷店 without a code: numbers 100001 親機, 100002 子機),
    when UNIS shows 登録G's order lines with the numbers in the serial field, and later the
    branch's confirmed lines with the routers' serials,
    then the site gets its customer code and each number its serial, with a 管理台帳 event."""
    bot = Bot(corporate_config(any_db_url))
    assert bot.decide(corporate_mail(xlsx(GOOD_ROWS[:1]))).decision == "accepted"
    ordered = "\r\n".join([UNIS_HEADER,
                           "988111111,C1,1,Z100369,受注専用,受注,さくらカフェ 渋谷店,渋谷支店,,法人,,,100001,親機,,",
                           "988111111,C1,2,Z100369,受注専用,受注,さくらカフェ 渋谷店,渋谷支店,,法人,,,100002,,,"]) + "\r\n"
    confirmed = "\r\n".join([UNIS_HEADER,
                             "988111111,C1,1,9603032,FGN-1000,確定,さくらカフェ 渋谷店,渋谷支店,,法人,,2026/12/01,FB05HFH01703,親機,,",
                             "988111111,C1,2,9603032,FGN-1000,確定,さくらカフェ 渋谷店,渋谷支店,,法人,,2026/12/01,NV7113086111,,,"]) + "\r\n"
    with bot.session() as s, s.begin():
        import_extract(s, ordered.encode("cp932"), name="unis1.csv", now=NOW)
    with bot.session() as s:
        site = s.scalars(select(CorporateSite)).one()
        assert site.customer_code == "988111111"
        assert all(n.serial is None for n in s.scalars(select(CorporateNumber)))
    later = NOW + dt.timedelta(days=7)
    for _ in range(2):  # an import repeated links nothing twice
        with bot.session() as s, s.begin():
            import_extract(s, confirmed.encode("cp932"), name="unis2.csv", now=later)
    with bot.session() as s:
        got = {n.number: (n.role, n.serial) for n in s.scalars(select(CorporateNumber))}
        assert got == {"100001": ("親機", "FB05HFH01703"), "100002": ("子機", "NV7113086111")}
        events = list(s.scalars(select(LedgerEvent).where(LedgerEvent.event == "corporate_serial")))
        assert sorted(e.detail["管理番号"] for e in events) == ["100001", "100002"]
        assert all(e.customer_code == "988111111" for e in events)


# -- hostile lists ------------------------------------------------------------------------------

def test_a_zip_bomb_xlsx_is_refused_before_parsing_within_bounded_time(sqlite_url: str) -> None:
    bot = Bot(corporate_config(sqlite_url))
    raw = corporate_mail(zip_bomb_xlsx())
    started = time.monotonic()
    outcome = bot.decide(raw)
    assert time.monotonic() - started < 20
    assert outcome.decision == "rejected" and outcome.defects == (CORPORATE_LIST_INVALID,)
    detail = defects_of(bot, outcome.mail_id)[0]["detail"]
    assert detail["limit"] == "max_unzipped_bytes" and "展開後" in detail["problem"]


def test_an_xlsx_whose_sizes_lie_is_refused_not_inflated(sqlite_url: str) -> None:
    """A sheet declaring 1,000 bytes that inflates to 10 MB: zipfile stops at the declared size
    and fails the CRC, so the list is refused as unreadable, in a reader process."""
    bot = Bot(corporate_config(sqlite_url))
    started = time.monotonic()
    outcome = bot.decide(corporate_mail(lying_xlsx()))
    assert time.monotonic() - started < 20
    assert (outcome.decision, outcome.defects) == ("rejected", (CORPORATE_LIST_INVALID,))
    assert "開けません" in defects_of(bot, outcome.mail_id)[0]["detail"]["problem"]


def test_a_list_over_the_row_cap_is_refused(sqlite_url: str) -> None:
    bot = Bot(corporate_config(sqlite_url, max_rows=100))
    started = time.monotonic()
    outcome = bot.decide(corporate_mail(many_rows_xlsx(5_000)))
    assert time.monotonic() - started < 20
    detail = defects_of(bot, outcome.mail_id)[0]["detail"]
    assert (outcome.decision, detail["limit"]) == ("rejected", "max_rows")


def test_a_list_over_the_size_cap_is_refused(sqlite_url: str) -> None:
    bot = Bot(corporate_config(sqlite_url, max_bytes=2048))
    outcome = bot.decide(corporate_mail(xlsx(GOOD_ROWS)))
    assert defects_of(bot, outcome.mail_id)[0]["detail"]["limit"] == "max_bytes"


# -- end to end ---------------------------------------------------------------------------------

def test_bot_process_dry_run_json_prints_the_kind_and_its_decision(tmp_path: Path) -> None:
    good = tmp_path / "corporate.eml"
    good.write_bytes(corporate_mail(csv_bytes(GOOD_ROWS), name="顧客リスト.csv", content_type="text/csv"))
    bad = tmp_path / "corporate-bad.eml"
    bad.write_bytes(corporate_mail(xlsx([("", "店A", "", "03-1", "1", "0", "無", "")])))
    env = dict(os.environ, BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
               BOT_CORPORATE_SENDERS=CORPORATE_DOMAIN, BOT_CORPORATE_REGISTRATION_TO=REGISTRATION_TO[0])
    env.pop("BOT_CONFIG", None)
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "bot", "process", str(good), str(bad), "--dry-run", "--json",
                           "--now", "2026-11-24T10:00:00+09:00"], check=False, env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["kind"], r["decision"], r["defects"]) for r in results] == [
        ("corporate_order", "accepted", []), ("corporate_order", "rejected", [CORPORATE_ROW_INVALID])]


def test_a_cancellation_of_a_corporate_site_keeps_its_routers_from_shipping(sqlite_url: str) -> None:
    """Given a corporate list accepted (routers queued, not sent yet), when the site's order is
    cancelled (vendor.cancel_order, as a キャンセル申請 does), then its 法人新規 rows are
    cancelled too: a cancelled site never ships."""
    bot = Bot(corporate_config(sqlite_url))
    assert bot.decide(corporate_mail(xlsx(GOOD_ROWS))).decision == "accepted"
    with bot.session() as s:
        code = s.scalar(select(VendorRow.customer_code).where(VendorRow.category == VENDOR_CATEGORY,
                                                               VendorRow.customer_code != ""))
    assert code
    with bot.session() as s, s.begin():
        vendor.cancel_order(s, customer_code=code, now=NOW, mail_id=None)
    with bot.session() as s:
        left = s.scalars(select(VendorRow).where(VendorRow.customer_code == code,
                                                 VendorRow.cancelled_at.is_(None))).all()
    assert left == []
