"""UNIS extract import: CP932 and UTF-8 (BOM or not), bad rows named by line, safe re-import."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.db.models import UnisOrder
from bot.unis import UnisImportError, import_extract

NOW = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
HEADER = "顧客番号,契約番号,明細番号,契約品目,品目名,契約状態,店舗名,管轄支店,契約種類,獲得区分,完成予定日,確定日,シリアルNo,明細備考,キャンセル日,解約日"
GOOD = [
    "988776654,1,1,Z100403,受注専用USEN SPOT 通常ルータ,受注,カフェ　ＡＯＹＡＭＡ,青山支店,01-99 新設 その他,地区,2026/12/01,,,,,",
    "410106060,1,1,9603030,USEN SPOT Plus FGN-1000,確定,スパゲティーUSEN,渋谷支店,11-99 増設 その他,法人,2026/11/01,2026/11/05,FB05HFH01703,親機,,2026/11/25",
]


def csv_bytes(lines: list[str], encoding: str = "cp932", bom: bool = False) -> bytes:
    data = ("\r\n".join([HEADER, *lines]) + "\r\n").encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(UnisOrder)) or 0


@pytest.mark.parametrize(("encoding", "bom"), [("cp932", False), ("utf-8", False), ("utf-8", True)])
def test_each_encoding_loads_japanese_text(factory: sessionmaker[Session], encoding: str, bom: bool) -> None:
    with db.transaction(factory) as s:
        report = import_extract(s, csv_bytes(GOOD, encoding, bom), name="unis.csv", now=NOW)
    assert (report.inserted, report.refused) == (2, [])
    with factory() as s:
        order = s.scalar(select(UnisOrder).where(UnisOrder.customer_code == "988776654"))
        assert order is not None
        assert order.shop_name == "カフェ AOYAMA"  # NFKC: full-width letters and U+3000 space
        assert order.status == "受注" and order.acquisition == "地区"
        assert order.planned_date == dt.date(2026, 12, 1)


def test_bad_rows_are_reported_by_line_and_good_rows_still_load(factory: sessionmaker[Session]) -> None:
    lines = [
        GOOD[0],
        "98877665,1,1,Z100403,x,受注,店,支店,,地区,,,,,,",  # line 3: 8-digit code
        "988776655,1,1,Z100403,x,保留,店,支店,,地区,,,,,,",  # line 4: unknown status
        "988776656,1,1,Z100403,x,受注,店,支店,,地区,2026/13/01,,,,,",  # line 5: bad date
        "988776657,1,1",  # line 6: too few cells
        GOOD[1],  # line 7
    ]
    with db.transaction(factory) as s:
        report = import_extract(s, csv_bytes(lines), name="unis.csv", now=NOW)
    assert report.inserted == 2
    refused = {p.line: p.reason for p in report.refused}
    assert set(refused) == {3, 4, 5, 6}
    assert "9-digit" in refused[3] and "保留" in refused[4] and "完成予定日" in refused[5] and "cells" in refused[6]


def test_reimport_same_and_newer_extract_upserts(factory: sessionmaker[Session]) -> None:
    with db.transaction(factory) as s:
        import_extract(s, csv_bytes(GOOD), name="day1.csv", now=NOW)
    with db.transaction(factory) as s:
        again = import_extract(s, csv_bytes(GOOD), name="day1.csv", now=NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    cancelled = GOOD[0].replace(",受注,", ",キャンセル,").removesuffix(",,,,,") + ",,,,2026/11/26,"
    newer = [cancelled, GOOD[1]]
    with db.transaction(factory) as s:
        report = import_extract(s, csv_bytes(newer), name="day2.csv", now=NOW)
    assert (report.inserted, report.updated) == (0, 1), report.refused
    assert count(factory) == 2
    with factory() as s:
        order = s.scalar(select(UnisOrder).where(UnisOrder.customer_code == "988776654"))
        assert order is not None and order.status == "キャンセル" and order.cancel_date == dt.date(2026, 11, 26)


def test_order_only_item_confirmed_is_noted_not_refused(factory: sessionmaker[Session]) -> None:
    line = GOOD[1].replace("9603030", "Z100404").replace("FB05HFH01703", "123456")
    with db.transaction(factory) as s:
        report = import_extract(s, csv_bytes([line]), name="u.csv", now=NOW)
    assert report.inserted == 1
    notes = " ".join(str(n) for n in report.notes)
    assert "Z100404" in notes and "123456" in notes


def test_missing_required_column_is_a_file_error(factory: sessionmaker[Session]) -> None:
    data = "顧客番号,契約番号,契約状態\r\n988776654,1,受注\r\n".encode("cp932")
    with db.transaction(factory) as s, pytest.raises(UnisImportError, match="明細番号"):
        import_extract(s, data, name="u.csv", now=NOW)


def test_undecodable_file_names_the_line(factory: sessionmaker[Session]) -> None:
    data = csv_bytes(GOOD) + b"\x81\xff\xfe,1,1\r\n"
    with db.transaction(factory) as s, pytest.raises(UnisImportError, match="line 4"):
        import_extract(s, data, name="u.csv", now=NOW)


def test_custom_column_names_from_config(factory: sessionmaker[Session]) -> None:
    from bot.unis import DEFAULT_COLUMNS

    columns = dict(DEFAULT_COLUMNS, customer_code="顧客CD")
    data = csv_bytes(GOOD).decode("cp932").replace("顧客番号", "顧客CD", 1).encode("cp932")
    with db.transaction(factory) as s:
        report = import_extract(s, data, name="u.csv", now=NOW, columns=columns)
    assert report.inserted == 2


def test_progress_is_reported_for_large_files(factory: sessionmaker[Session]) -> None:
    lines = [f"{100000000 + i},1,1,Z100403,x,受注,店{i},支店,,地区,,,,,," for i in range(2500)]
    seen: list[int] = []
    with db.transaction(factory) as s:
        report = import_extract(s, csv_bytes(lines), name="big.csv", now=NOW, progress=seen.append,
                                progress_every=1000)
    assert report.inserted == 2500
    assert seen == [1000, 2000]


def test_cli_import_prints_loaded_and_refused(tmp_path: Path) -> None:
    path = tmp_path / "unis.csv"
    path.write_bytes(csv_bytes([GOOD[0], "bad,row"]))
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    proc = subprocess.run([sys.executable, "-m", "bot", "import-unis", str(path)], capture_output=True, text=True,
                          env={"BOT_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
                          cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "loaded 1 rows, refused 1 rows" in proc.stdout
    assert "line 3" in proc.stdout
