"""UNIS registration audit (bot/unis/audit.py, manual §VIII and FAQ 4–8): each rule with lines
that break it and near misses that must not; findings stored after every import, kept once on
a re-import, resolved when a later extract no longer has them, new again when they come back;
`bot audit-unis` with --branch and --json; on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.commands.audit_unis import add_parser, cli_audit_unis
from bot.config import load_config
from bot.db.models import UnisFinding, UnisOrder
from bot.unis import import_drop_folder, import_extract
from bot.unis import rules as unis_audit
from bot.unis.audit import digest_findings, refresh_findings
from bot.unis.rules import (
    CONFIRMED_WITHOUT_SERIAL,
    FORBIDDEN_ITEM,
    NO_PARENT_LINE,
    ORDER_ONLY_ITEM_CONFIRMED,
    PARENT_IN_SERIAL,
    SERIAL_FORMAT,
    SERIAL_IS_MANAGEMENT_NO,
    UnisRow,
    audit,
)
from tests.support.app import make_config

JST = ZoneInfo("Asia/Tokyo")
DAY1 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)  # 10:00 JST, Tuesday
DAY2 = DAY1 + dt.timedelta(days=1)
DAY3 = DAY1 + dt.timedelta(days=2)
COLUMNS = load_config(env={}).unis.columns  # the extract's column names, as the config maps them


# -- building UNIS lines ------------------------------------------------------------------------

def line(**over: str) -> dict[str, str]:
    """One 契約明細 of the extract: a confirmed, correctly registered FGN-1000 unless told."""
    values = {
        "customer_code": "410106060", "contract_no": "1", "line_no": "1", "item_code": "9603030",
        "item_name": "USEN SPOT Plus FGN-1000", "status": "確定", "shop_name": "スパゲティーUSEN",
        "branch": "渋谷支店", "contract_type": "11-99 増設 その他", "acquisition": "地区",
        "planned_date": "2026/11/01", "confirmed_date": "2026/11/05", "serial": "FB05HFH01703", "remarks": "",
        "cancel_date": "", "termination_date": "",
    }
    values.update(over)
    return values


def csv_bytes(lines: list[dict[str, str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS[a] for a in COLUMNS)
    for values in lines:
        writer.writerow(values[a] for a in COLUMNS)
    return out.getvalue().encode("cp932")


def row(**over: str) -> UnisRow:
    values = line(**over)
    return UnisRow(**{f: values[f] or None for f in unis_audit.ROW_FIELDS})


def rules(*rows: UnisRow) -> list[str]:
    return [f.rule for f in audit(rows)]


# -- the rules, one by one (pure) -----------------------------------------------------------------

def test_a_correct_confirmed_line_has_no_finding() -> None:
    assert rules(row()) == []


@pytest.mark.parametrize("item", ["Z100403", "Z100404", "Z100369"])
def test_order_only_item_confirmed(item: str) -> None:
    """Given a 受注専用品目 on a 確定 line, when audited, then the finding quotes 確定不可."""
    [finding] = audit([row(item_code=item, item_name="受注専用")])
    assert finding.rule == ORDER_ONLY_ITEM_CONFIRMED
    assert finding.value.startswith(item)
    assert "確定不可" in finding.fix and "型番別の品目でUNIS確定してください" in finding.fix
    assert (finding.customer_code, finding.contract_no, finding.line_no, finding.branch) == (
        "410106060", "1", "1", "渋谷支店")


@pytest.mark.parametrize("status", ["受注", "キャンセル", "解約"])
def test_order_only_item_not_confirmed_is_fine(status: str) -> None:
    assert rules(row(item_code="Z100403", status=status, serial="")) == []


@pytest.mark.parametrize("serial", [
    "FB05HFH0170",  # 11
    "FB05HFH017033",  # 13
    "1B05HFH01703",  # a digit first
    "F005HFH01703",  # a digit second
    "FB05-HFH0170",  # a hyphen inside
    "FB05 HFH0170",  # a space inside
    "ＦＢ05ＨＦＨ0170ー",  # a long-vowel mark (NFKC leaves it)
])
def test_serial_format(serial: str) -> None:
    [finding] = audit([row(serial=serial)])
    assert finding.rule == SERIAL_FORMAT and finding.value == serial
    assert "最初の2文字が英文字で、後は数字と英文字のランダム12桁" in finding.fix


@pytest.mark.parametrize("serial", [
    "FB05HFH01703", "NV7113086111", "FG6014112617", "DM00DMI01703",  # FAQ 6 and 8
    "DM1234567890",  # FAQ 7: the dummy serial of a 付け替え
    "fb05hfh01703",  # lower case: the manual says 英文字, not capitals
    "FBOYA1234567",  # letters that spell oya inside a valid serial
])
def test_valid_serials_are_fine(serial: str) -> None:
    assert rules(row(serial=serial)) == []


def test_serial_rules_only_on_confirmed_router_lines() -> None:
    assert rules(row(status="受注", serial="12345")) == []  # at 受注 the field holds anything
    assert rules(row(status="解約", serial="bad")) == []
    assert rules(row(item_code="Z200549", item_name="USEN SPOT Original SSID", serial="bad")) == []
    assert rules(row(item_code="9170200", item_name="FGN1000(AP)", serial="")) == []  # sold, not rented
    assert rules(row(item_code="9999999", serial="")) == []  # an item the manual does not list


def test_management_number_left_after_confirmation() -> None:
    [finding] = audit([row(serial="123456", acquisition="法人")])
    assert finding.rule == SERIAL_IS_MANAGEMENT_NO and finding.value == "123456"
    assert "6桁の管理番号が入っている場合は、支店総務が機器のシリアルナンバー(12桁)で上書きしてください" in finding.fix


def test_management_number_near_misses() -> None:
    assert rules(row(status="受注", serial="123456")) == []  # before confirmation: as it should be
    assert rules(row(serial="1234567")) == [SERIAL_FORMAT]  # seven digits: not a 管理番号, a bad serial


@pytest.mark.parametrize("serial", ["oya", "OYA", "親機", "親", "FB05HFH01703oya", "FB05HFH01703 親機"])
def test_parent_written_in_the_serial(serial: str) -> None:
    [finding] = audit([row(serial=serial)])
    assert finding.rule == PARENT_IN_SERIAL and finding.value == serial
    assert "シリアルナンバー欄にはoyaとは入れません" in finding.fix and "明細備考" in finding.fix


def test_parent_in_the_serial_of_an_ordered_line_too() -> None:
    assert rules(row(status="受注", serial="oya")) == [PARENT_IN_SERIAL]


def test_parent_in_remarks_is_where_it_belongs() -> None:
    assert rules(row(remarks="親機")) == []


def two_routers(**second: str) -> list[UnisRow]:
    """A site's FGN-1000 (1-1) and a second router (1-2, changed by `second`)."""
    values = {"line_no": "2", "item_code": "9603040", "item_name": "USEN SPOT FGN-CR1", "serial": "NV7113086111"}
    return [row(), row(**(values | second))]


def test_several_routers_without_a_parent_line() -> None:
    [finding] = audit(two_routers())
    assert finding.rule == NO_PARENT_LINE
    assert (finding.contract_no, finding.line_no) == ("1", "1")  # keyed on the first router line
    assert "1-1 9603030" in finding.value and "1-2 9603040" in finding.value
    assert "親機の明細備考に「親機」と入力してください" in finding.fix


def test_several_routers_near_misses() -> None:
    assert rules(*two_routers(remarks="親機")) == []  # the 親機 line is there
    assert rules(*two_routers(status="受注", serial="", confirmed_date="")) == []  # one installed so far
    assert rules(*two_routers(status="キャンセル")) == []
    assert rules(*two_routers(customer_code="410106061")) == []  # two sites, one router each
    assert rules(row(), row(line_no="2", item_code="Z200549", serial="")) == []  # a router and its SSID option
    # 親機 typed in the serial: one finding saying where it goes, not two
    assert rules(*two_routers(serial="oya")) == [PARENT_IN_SERIAL]


@pytest.mark.parametrize(("item", "status", "serial"), [
    ("9601310", "受注", ""), ("9601310", "確定", "DM1234567890"), ("9603010", "確定", "FG6014112617"),
    ("9601312", "受注", ""),
])
def test_item_not_for_a_new_registration(item: str, status: str, serial: str) -> None:
    [finding] = audit([row(item_code=item, status=status, serial=serial, contract_type="01-99 新設 その他")])
    assert finding.rule == FORBIDDEN_ITEM and finding.value.startswith(item)
    assert item in finding.fix
    assert ("新規登録では使用しません" in finding.fix) or ("新規設置/新規UNIS登録はありません" in finding.fix)


def test_item_not_for_new_near_misses() -> None:
    assert rules(row(item_code="9601310", serial="DM1234567890")) == []  # 増設/付け替え: the dummy serial
    assert rules(row(item_code="9601310", serial="DM1234567890", contract_type="")) == []  # unknown: not reported
    assert rules(row(item_code="9603023", contract_type="01-99 新設 その他")) == []  # FGN600 has a stated use
    assert rules(row(item_code="9601310", status="キャンセル", contract_type="01-99 新設 その他")) == []


def test_confirmed_without_serial() -> None:
    [finding] = audit([row(item_code="9603052", serial="", acquisition="法人")])
    assert finding.rule == CONFIRMED_WITHOUT_SERIAL
    assert "作業日報に記載のある機器のシリアルNoを入力してください" in finding.fix


def test_without_serial_near_misses() -> None:
    assert rules(row(status="受注", serial="", confirmed_date="")) == []  # 受注登録時はシリアルナンバー欄は空欄
    assert rules(row(status="解約", serial="")) == []


def test_odd_lines_do_not_break_the_rules() -> None:
    """Whatever the import lets through (empty optional cells, odd text) the rules only judge."""
    odd = [UnisRow(customer_code="410106060", contract_no=c, line_no=n, status=st, item_code=i, serial=sn,
                   remarks=rm, contract_type=ct)
           for c, n in (("1", "1"), ("A", "x"), ("10", "02"))
           for st in ("受注", "確定", "キャンセル", "解約")
           for i, sn, rm, ct in ((None, None, None, None), ("9601310", "親", "oya", "01"), ("Z100369", "\x00", "", "新設"))]
    assert {f.rule for f in audit(odd)} <= set(unis_audit.PROBLEMS)


def test_every_rule_has_its_words() -> None:
    ids = {ORDER_ONLY_ITEM_CONFIRMED, SERIAL_FORMAT, SERIAL_IS_MANAGEMENT_NO, PARENT_IN_SERIAL, NO_PARENT_LINE,
           FORBIDDEN_ITEM, CONFIRMED_WITHOUT_SERIAL}
    assert set(unis_audit.PROBLEMS) == ids == set(unis_audit.FIXES)


# -- stored findings: after each import, on SQLite and PostgreSQL ----------------------------------

@pytest.fixture
def any_factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(any_db_url)
    yield db.session_factory(engine)
    engine.dispose()


def load(factory: sessionmaker[Session], lines: list[dict[str, str]], now: dt.datetime, *, window: int = 0) -> None:
    """Import `lines` as of `now`. Window 0 by default: these tests are about the rules and the
    findings' life, on lines of fixed dates read at any date (the window: tests/test_unis_window.py)."""
    with db.transaction(factory) as s:
        report = import_extract(s, csv_bytes(lines), name="unis.csv", now=now, columns=COLUMNS,
                                audit_window_days=window)
    assert report.refused == []


def stored(factory: sessionmaker[Session]) -> dict[tuple[str, str, str, str], UnisFinding]:
    with factory() as s:
        return {(f.rule, f.customer_code, f.contract_no, f.line_no): f for f in s.scalars(select(UnisFinding))}


BAD_SERIAL = line(customer_code="410106061", serial="123456", branch="渋谷支店", shop_name="カフェ渋谷")
ORDER_ONLY = line(customer_code="988776654", item_code="Z100403", item_name="受注専用USEN SPOT 通常ルータ",
                  branch="青山支店", shop_name="カフェ AOYAMA")
GOOD = line(customer_code="145390992", serial="ＦＧ６０１４１１２６１７", branch="福岡支店")  # full width: NFKC'd


def test_findings_appear_stay_once_resolve_and_come_back(any_factory: sessionmaker[Session]) -> None:
    # Given an extract with two wrong registrations and a right one, when imported: two findings.
    load(any_factory, [BAD_SERIAL, ORDER_ONLY, GOOD], DAY1)
    found = stored(any_factory)
    mgmt = (SERIAL_IS_MANAGEMENT_NO, "410106061", "1", "1")
    assert set(found) == {mgmt, (ORDER_ONLY_ITEM_CONFIRMED, "988776654", "1", "1")}
    assert found[mgmt].value == "123456" and found[mgmt].branch == "渋谷支店" and found[mgmt].shop_name == "カフェ渋谷"
    assert found[mgmt].first_seen_at == DAY1 == found[mgmt].last_seen_at and found[mgmt].resolved_at is None

    # The same extract again: the same two rows, first seen still day 1.
    load(any_factory, [BAD_SERIAL, ORDER_ONLY, GOOD], DAY2)
    again = stored(any_factory)
    assert set(again) == set(found)
    assert again[mgmt].first_seen_at == DAY1 and again[mgmt].last_seen_at == DAY2

    # The branch overwrote the 管理番号 with the serial: resolved, the other stays open.
    load(any_factory, [dict(BAD_SERIAL, serial="FB05HFH01703"), ORDER_ONLY, GOOD], DAY3)
    later = stored(any_factory)
    assert later[mgmt].resolved_at == DAY3 and later[mgmt].last_seen_at == DAY2
    assert later[(ORDER_ONLY_ITEM_CONFIRMED, "988776654", "1", "1")].resolved_at is None

    # Someone typed the number back in: the same row, open again and new.
    back = DAY3 + dt.timedelta(days=1)
    load(any_factory, [BAD_SERIAL, ORDER_ONLY, GOOD], back)
    final = stored(any_factory)
    assert len(final) == 2
    assert final[mgmt].resolved_at is None and final[mgmt].first_seen_at == back


def test_digest_findings_per_branch_new_first(any_factory: sessionmaker[Session]) -> None:
    load(any_factory, [ORDER_ONLY], DAY1)
    day2_lines = [ORDER_ONLY, BAD_SERIAL, line(customer_code="410106062", serial="", branch="渋谷支店"),
                  line(customer_code="410106063", serial="oya", branch="")]
    load(any_factory, day2_lines, DAY2)
    with any_factory() as s:
        groups = digest_findings(s, day=DAY2.astimezone(JST).date(), tz=JST)
        assert [g.branch for g in groups] == ["渋谷支店", "青山支店", "支店不明"]
        shibuya = groups[0]
        assert [f.rule for f in shibuya.findings] == [SERIAL_IS_MANAGEMENT_NO, CONFIRMED_WITHOUT_SERIAL]
        assert all(f.is_new for f in shibuya.findings) and shibuya.new_count == 2
        [aoyama] = groups[1].findings
        assert not aoyama.is_new and aoyama.unis_line == "顧客番号 988776654 契約番号 1 明細番号 1"
        assert "確定不可" in aoyama.fix
        # the day before: only what was open then
        [day1] = digest_findings(s, day=DAY1.astimezone(JST).date(), tz=JST)
        assert day1.branch == "青山支店" and day1.findings[0].is_new
        assert [g.branch for g in digest_findings(s, day=DAY2.astimezone(JST).date(), tz=JST, branch="渋谷")] == [
            "渋谷支店"]

    # Day 3: 渋谷's two are fixed; the digest counts them as resolved that day.
    load(any_factory, [ORDER_ONLY, dict(BAD_SERIAL, serial="FB05HFH01703"),
                       line(customer_code="410106062", branch="渋谷支店"), day2_lines[3]], DAY3)
    with any_factory() as s:
        groups = {g.branch: g for g in digest_findings(s, day=DAY3.astimezone(JST).date(), tz=JST)}
        assert groups["渋谷支店"].findings == () and groups["渋谷支店"].resolved_today == 2


def test_drop_folder_import_refreshes_findings(any_db_url: str, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "unis-20261124.csv").write_bytes(csv_bytes([BAD_SERIAL]))
    engine = db.make_engine(any_db_url)
    try:
        factory = db.session_factory(engine)
        [report] = import_drop_folder(factory, drop_dir=drop, columns=COLUMNS, now=DAY1)
        assert report.inserted == 1
        assert set(stored(factory)) == {(SERIAL_IS_MANAGEMENT_NO, "410106061", "1", "1")}
    finally:
        engine.dispose()


def test_two_processes_refreshing_at_once_store_each_finding_once(any_factory: sessionmaker[Session]) -> None:
    """Given UNIS rows with findings not stored yet, when two sessions refresh side by side,
    then each finding is one row and neither fails (db.serialise makes them take turns)."""
    with db.transaction(any_factory) as s:
        for i in range(20):
            s.add(UnisOrder(customer_code=f"4101060{i:02d}", contract_no="1", line_no="1", item_code="9603030",
                            status="確定", serial="123456", branch="渋谷支店", imported_at=DAY1))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            with db.transaction(any_factory) as s:
                barrier.wait(timeout=10)
                refresh_findings(s, DAY1)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with any_factory() as s:
        assert s.scalar(select(func.count()).select_from(UnisFinding)) == 20


def test_a_failing_rule_does_not_stop_the_import(factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    def broken(row: UnisRow) -> None:
        raise RuntimeError("a bug in a rule")

    monkeypatch.setattr(unis_audit, "LINE_RULES", (broken,))
    with caplog.at_level(logging.ERROR, logger="bot.unis.audit"):
        load(factory, [BAD_SERIAL, GOOD], DAY1)
    assert "UNIS audit failed" in caplog.text
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(UnisOrder)) == 2


# -- bot audit-unis ------------------------------------------------------------------------------

def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bot")
    add_parser(parser.add_subparsers(dest="command"), argparse.ArgumentParser)
    return parser.parse_args(["audit-unis", *argv])


def test_cli_prints_findings_per_branch_new_first(any_db_url: str, any_factory: sessionmaker[Session],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    load(any_factory, [ORDER_ONLY, line(customer_code="410106062", serial="", branch="渋谷支店")],
         now - dt.timedelta(days=3))
    load(any_factory, [ORDER_ONLY, line(customer_code="410106062", serial="", branch="渋谷支店"), BAD_SERIAL], now)
    cfg = make_config(any_db_url)

    assert cli_audit_unis(cli_args(), cfg) == 0
    out = capsys.readouterr().out
    assert "未対応 3 件（本日の新規 1 件）" in out
    assert out.index("■ 渋谷支店") < out.index("■ 青山支店")
    shibuya = out[out.index("■ 渋谷支店"):out.index("■ 青山支店")]
    assert shibuya.index("【新規】 顧客番号 410106061") < shibuya.index("顧客番号 410106062")
    assert "6桁の管理番号" in shibuya and "123456" in shibuya and "作業日報" in shibuya

    assert cli_audit_unis(cli_args("--branch", "青山"), cfg) == 0
    out = capsys.readouterr().out
    assert "青山支店" in out and "渋谷支店" not in out and "確定不可" in out

    assert cli_audit_unis(cli_args("--json", "--branch", "渋谷支店"), cfg) == 0
    records: list[dict[str, Any]] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["rule"], r["customer_code"], r["new"]) for r in records] == [
        (SERIAL_IS_MANAGEMENT_NO, "410106061", True), (CONFIRMED_WITHOUT_SERIAL, "410106062", False)]
    assert records[0]["branch"] == "渋谷支店" and records[0]["value"] == "123456"
    assert {"contract_no", "line_no", "fix", "problem", "first_seen_at"} <= set(records[0])


def test_cli_with_no_findings_and_without_the_table(sqlite_url: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_audit_unis(cli_args(), make_config(sqlite_url)) == 0
    assert "指摘はありません" in capsys.readouterr().out

    old = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    db.upgrade(old, "0008")
    assert cli_audit_unis(cli_args(), make_config(old)) == 1
    assert "bot db upgrade" in capsys.readouterr().err


def test_parser_refuses_unknown_options() -> None:
    with pytest.raises(SystemExit):
        cli_args("--all")
