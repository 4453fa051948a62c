"""The vendor batch mail's text (templates/vendor_batch.txt.j2) tells the vendor where the 法人
rows are (manual §IX ⑤ 分別): their own CSV ("csv") or after the district rows ("section"), and
says nothing of them when there are none."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import db, vendor
from bot.config import Config, CorporateConfig, VendorConfig
from bot.corporate import VENDOR_CATEGORY
from bot.db.models import VendorRow
from bot.templating import Templates
from tests.support.app import make_config

JST = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 11, 24, 17, 0, tzinfo=JST)
HOUJIN = "■ 法人一括発注（法人営業）"


def config(url: str, separate: str) -> Config:
    return make_config(url).replace(
        vendor=dataclasses.replace(VendorConfig(), to=("hacchu@fibergate.example",)),
        corporate=dataclasses.replace(CorporateConfig(), vendor_separate=separate),
    )


@pytest.fixture
def factory(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(sqlite_url)
    yield db.session_factory(engine)
    engine.dispose()


def queue(factory: sessionmaker[Session], *, corporate: int) -> None:
    """One district order and `corporate` routers of a corporate list, not sent yet."""
    received = NOW.replace(hour=10)
    with factory() as s, s.begin():
        s.add(VendorRow(customer_code="988776654", category=vendor.NEW, payload={"shop_name": "カフェ青山"},
                        received_at=received, batch_date=NOW.date(), created_at=received))
        for i in range(corporate):
            payload = {"shop_name": "さくらカフェ 渋谷店", "corporate": True, "management_no": f"{100001 + i}",
                       "role": "親機" if i == 0 else "子機", "enterprise": False, "branch": "法人営業"}
            s.add(VendorRow(customer_code="", category=VENDOR_CATEGORY, payload=payload, received_at=received,
                            batch_date=NOW.date(), created_at=received))


def build(factory: sessionmaker[Session], cfg: Config) -> vendor.BatchResult:
    with factory() as s, s.begin():
        result = vendor.build_batch(s, cfg=cfg, day=NOW.date(), now=NOW, templates=Templates())
    assert result is not None
    return result


def test_the_mail_names_the_corporate_csv_when_the_rows_have_their_own_file(
        sqlite_url: str, factory: sessionmaker[Session]) -> None:
    """Given two corporate routers and one district order, when the batch is built with
    vendor_separate = "csv", then the text counts the 法人 rows and names their own file, and
    says the district CSV does not hold them."""
    queue(factory, corporate=2)
    result = build(factory, config(sqlite_url, "csv"))
    houjin = f"usen_spot_houjin_{NOW:%Y%m%d}.csv"
    assert f"{HOUJIN}：2件" in result.body
    assert f"地区営業の発注とは分けて、別ファイル「{houjin}」に記載しています" in result.body
    assert f"（{result.csv_name}には含まれていません）" in result.body
    assert f"■ 発注データ：{result.csv_name}・{houjin}（3件）" in result.body


def test_the_mail_says_the_corporate_rows_follow_the_district_rows_in_section_mode(
        sqlite_url: str, factory: sessionmaker[Session]) -> None:
    queue(factory, corporate=1)
    result = build(factory, config(sqlite_url, "section"))
    assert f"{HOUJIN}：1件" in result.body
    assert f"{result.csv_name}の地区営業分の行の後に" in result.body and "別ファイル" not in result.body
    assert "usen_spot_houjin_" not in result.body


def test_a_batch_without_corporate_rows_says_nothing_of_them(sqlite_url: str, factory: sessionmaker[Session]) -> None:
    queue(factory, corporate=0)
    result = build(factory, config(sqlite_url, "csv"))
    assert HOUJIN not in result.body and "法人" not in result.body
    assert f"■ 発注データ：{result.csv_name}（1件）" in result.body
