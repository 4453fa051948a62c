"""Accepted handwriting still reaches the vendor whole (issue 10 item 6, bot/vendor/forms.py):
a generated handwritten scan accepted ([scans] accept on) → a vendor row whose unread cells are
申込書参照 → the batch carries the form's pages encrypted with [vendor] pdf_password → staff
type a value in (`bot scan-values set`) before the batch → the CSV carries it; refused once sent."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
from email import message_from_bytes, policy
from pathlib import Path

import pikepdf
import pytest
from sqlalchemy import select

from bot import db, vendor
from bot.commands.scan_values import add_parser, cli_scan_values
from bot.config import Config, ScansConfig, VendorConfig
from bot.db.models import VendorRow
from bot.digest import collect
from bot.templating import Templates
from bot.unis import import_extract
from bot.vendor.forms import REFER, ScanValueError, reencrypt, validate
from tests.fixtures.scans import FormSpec, make
from tests.fixtures.scans.mails import order_mail
from tests.support.app import Clock, make_config, make_processor

JST = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST)
DAY = dt.date(2026, 11, 24)
VENDOR_PASSWORD = "fg-2026-secret"
TEMPLATES = Templates()

UNIS_HEADER = ("顧客番号,契約番号,明細番号,契約品目,品目名,契約状態,店舗名,管轄支店,契約種類,獲得区分,完成予定日,確定日,"
               "シリアルNo,明細備考,キャンセル日,解約日\r\n")


def scan_config(url: str, *, password: str = VENDOR_PASSWORD) -> Config:
    cfg = make_config(url)
    return cfg.replace(scans=dataclasses.replace(ScansConfig(), accept=True),
                       vendor=dataclasses.replace(VendorConfig(), to=("hacchu@fibergate.example",),
                                                  pdf_password=password))


def accept_scan(cfg: Config, spec: FormSpec) -> tuple[dict, bytes]:
    """The scan mail through the real pipeline (store → decide → act); returns (truth, pdf)."""
    pdf, truth = make(spec)
    code = truth["fields"]["customer_code"]
    processor, factory = make_processor(cfg, Clock(NOW))
    with db.transaction(factory) as s:
        line = (f"{code},1,1,Z100403,受注専用USEN SPOT 通常ルータ,受注,{truth['body']['店舗名']},"
                f"{truth['body']['送付支店名']},01-99 新設 その他,地区,2026/12/04,,,,,\r\n")
        import_extract(s, (UNIS_HEADER + line).encode("cp932"), name="unis.csv", now=NOW)
    stored = processor.store(order_mail(pdf, truth), folder="INBOX", uidvalidity=1, uid=1)
    outcome = processor.process(stored.mail_id)
    assert outcome is not None and outcome.decision == "accepted", outcome
    return truth, pdf


def rows_of(cfg: Config) -> list[VendorRow]:
    engine = db.make_engine(cfg.database.url)
    with db.session_factory(engine)() as s:
        rows = list(s.scalars(select(VendorRow).order_by(VendorRow.id)))
    engine.dispose()
    return rows


def scan_values(cfg: Config, *argv: str) -> int:
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers(dest="command"), argparse.ArgumentParser)
    return cli_scan_values(p.parse_args(["scan-values", *argv]), cfg)


def test_accepted_handwritten_scan_reaches_the_vendor_whole(sqlite_url: str, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    cfg = scan_config(sqlite_url)
    truth, _pdf = accept_scan(cfg, FormSpec(index=0, seed=33, fill="hand", mark_style="circle", dpi=200,
                                            color="gray"))
    code = truth["fields"]["customer_code"]
    [row] = rows_of(cfg)
    p = row.payload
    # Marks were read surely: they go as values; handwriting (not read) is 申込書参照.
    assert p["line_kind"] == "フレッツ光ネクスト" and p["line_type"] == "" and p["plus"] is truth["fields"]["plus"]
    for key in ("shop_name", "shop_address", "shop_phone", "mail_address", "ssid"):
        assert p[key] == REFER, key
    assert set(p["form_refer"]) >= {"shop_name", "mail_address", "ssid"}
    assert p["scan_form"]["attachment"] == 0

    # The digest lists the row and its 申込書参照 cells.
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    with factory() as s:
        data = collect(s, cfg=cfg, day=DAY, now=NOW, templates=TEMPLATES)
    [line] = data.scan_rows
    assert line.customer_code == code and "メールアドレス" in line.cells and "SSID" in line.cells

    # Staff type the address in before the cutoff; a wrong one is refused as the checks would.
    assert scan_values(cfg, "set", code, "メールアドレス", "ＡＢ..c@uspot.jp") == 2
    assert "MAIL_ADDRESS_INVALID" in capsys.readouterr().err
    assert scan_values(cfg, "set", code, "SSID", "ｋａｚｅ") == 2
    assert scan_values(cfg, "set", code, "メールアドレス", truth["fields"]["mail_local"]) == 0
    assert scan_values(cfg, "set", code, "ssid", "kaze_guest") == 0
    assert scan_values(cfg, "list") == 0
    listed = capsys.readouterr().out
    assert f"{truth['fields']['mail_local']}@uspot.jp" in listed and "申込書参照" in listed

    # The batch: CSV with the typed values and 申込書参照, the form PDF under the vendor password.
    with factory() as s, s.begin():
        result = vendor.build_batch(s, cfg=cfg, day=DAY, now=dt.datetime(2026, 11, 24, 17, 0, tzinfo=JST),
                                    templates=TEMPLATES)
    assert result is not None and result.form_names == (f"申込書_{code}.pdf",)
    rows = list(csv.DictReader(io.StringIO(result.csv_bytes.decode("cp932"))))
    assert rows[0]["メールアドレス"] == f"{truth['fields']['mail_local']}@uspot.jp"
    assert rows[0]["SSID"] == "kaze_guest" and rows[0]["店舗名"] == REFER and rows[0]["設置先住所"] == REFER
    msg = message_from_bytes(result.raw, policy=policy.default)
    [att] = [a for a in msg.iter_attachments() if a.get_content_type() == "application/pdf"]
    assert att.get_filename() == f"申込書_{code}.pdf"
    pdf_bytes = att.get_content()
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(pdf_bytes))
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(pdf_bytes), password=cfg.pdf.password)
    with pikepdf.open(io.BytesIO(pdf_bytes), password=VENDOR_PASSWORD) as opened:
        assert opened.is_encrypted and opened.encryption.R == 6 and opened.encryption.bits == 256
        assert len(opened.pages) == len(truth["pages"])
    assert f"申込書_{code}.pdf" in result.body and "申込書参照" in result.body

    # Sent: the row can no longer be changed, and the digest no longer lists it.
    assert scan_values(cfg, "set", code, "店舗名", "カフェ") == 1
    assert "送信済み" in capsys.readouterr().err
    with factory() as s:
        assert collect(s, cfg=cfg, day=DAY, now=NOW, templates=TEMPLATES).scan_rows == ()
    engine.dispose()


def test_a_batch_with_a_scanned_form_is_refused_without_a_vendor_password(sqlite_url: str) -> None:
    """A scan accepted while the vendor password was set, and the password removed before the
    batch: the batch is refused (never sent with the form unencrypted) and nothing is stamped."""
    accept_scan(scan_config(sqlite_url), FormSpec(index=0, seed=34, fill="hand", mark_style="cross", dpi=200,
                                                  color="gray"))
    cfg = scan_config(sqlite_url, password="")
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    with pytest.raises(vendor.VendorBatchError, match=r"\[vendor\] pdf_password"):
        vendor.run_vendor_batch(factory, cfg=cfg, day=DAY, now=NOW, templates=TEMPLATES, send=True)
    with factory() as s:  # nothing was stamped: the row waits for a batch with the password set
        assert all(r.batch_id is None for r in s.scalars(select(VendorRow)))
    engine.dispose()


def test_without_a_vendor_password_a_clean_scan_is_held_naming_the_key(sqlite_url: str) -> None:
    """[scans] accept is on by default, but a scan can only reach the vendor encrypted: without
    [vendor] pdf_password a scan with no defect is held for a person, and the reason says why."""
    cfg = make_config(sqlite_url)  # the defaults: accept = true, no vendor password
    assert cfg.scans.accept and not cfg.vendor.pdf_password
    pdf, truth = make(FormSpec(index=0, seed=34, fill="hand", mark_style="cross", dpi=200, color="gray"))
    code = truth["fields"]["customer_code"]
    processor, factory = make_processor(cfg, Clock(NOW))
    with db.transaction(factory) as s:
        line = (f"{code},1,1,Z100403,受注専用USEN SPOT 通常ルータ,受注,{truth['body']['店舗名']},"
                f"{truth['body']['送付支店名']},01-99 新設 その他,地区,2026/12/04,,,,,\r\n")
        import_extract(s, (UNIS_HEADER + line).encode("cp932"), name="unis.csv", now=NOW)
    outcome = processor.process(processor.store(order_mail(pdf, truth), folder="INBOX", uidvalidity=1, uid=1).mail_id)
    assert outcome is not None and outcome.decision == "manual"
    assert "[vendor] pdf_password" in outcome.reason
    assert rows_of(cfg) == []


def test_reencrypt_uses_the_vendor_password(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    buf = io.BytesIO()
    pdf.save(buf, encryption=pikepdf.Encryption(owner="uspot", user="uspot", R=4))
    out = reencrypt(buf.getvalue(), password="uspot", vendor_password="v")
    with pikepdf.open(io.BytesIO(out), password="v") as opened:
        assert opened.encryption.R == 6 and len(opened.pages) == 1


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("mail_address", "Cafe-Aoyama", "cafe-aoyama@uspot.jp"),
    ("mail_address", "ｃａｆｅ＠uspot.jp", "cafe@uspot.jp"),
    ("ssid", "cafe aoyama_01", "cafe aoyama_01"),
    ("shop_phone", "０３−１２３４−５６７８", "03-1234-5678"),
    ("line_type", "マンション", "マンション"),
    ("plus", "有", True),
    ("child_units", "２台", 2),
])
def test_typed_values_are_checked_like_the_checks(key: str, value: str, expected: object) -> None:
    assert validate(key, value) == expected


@pytest.mark.parametrize(("key", "value"), [
    ("mail_address", "cafe..x"), ("mail_address", "cafe@gmail.com"), ("ssid", "ｃａｆｅ"), ("ssid", "カフェ"),
    ("shop_phone", "12345"), ("line_type", "戸建"), ("parent_units", "0"), ("shop_name", "  "),
])
def test_typed_values_that_the_checks_would_refuse_are_refused(key: str, value: str) -> None:
    with pytest.raises(ScanValueError):
        validate(key, value)
