"""The UNIS audit's window (issue 23 point 5): findings are about lines the branches work on now.
A finding on a line confirmed (or, unconfirmed, due) more than [unis] audit_window_days before
the audit first saw it is historic: stored, counted in one line of the digest, listed only by
`bot audit-unis --historic`, never in the branches' findings. A first import of a large extract
therefore reports the week's few, not the years' thousands. Real imports on SQLite (the
50,000-line figure: bench/bench_unis_window.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.commands.audit_unis import cli_audit_unis
from bot.digest import build_digest
from bot.templating import Templates
from bot.unis import import_extract
from bot.unis.audit import digest_findings, historic_open
from bot.unis.rules import CONFIRMED_WITHOUT_SERIAL, FORBIDDEN_ITEM
from tests.support.app import make_config
from tests.test_unis_audit import COLUMNS, JST, cli_args, csv_bytes, line

NOW = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)  # Monday 10:00 JST
TODAY = NOW.astimezone(JST).date()


def fgn400_2016(code: str = "300000001") -> dict[str, str]:
    """A clean FGN-400 line of a 2016 new install: FGN-400 is 「基本的に新規設置/新規UNIS登録はありません」 today."""
    return line(customer_code=code, item_code="9603010", item_name="USEN SPOT FGN-400", contract_type="01-99 新設 その他",
                planned_date="2016/03/01", confirmed_date="2016/03/10", serial="FG6014112617", branch="青山支店")


def without_serial(code: str, confirmed: str, branch: str = "渋谷支店") -> dict[str, str]:
    return line(customer_code=code, serial="", confirmed_date=confirmed, planned_date=confirmed, branch=branch)


def load(factory: sessionmaker[Session], lines: list[dict[str, str]], now: dt.datetime = NOW, window: int = 30) -> None:
    with db.transaction(factory) as s:
        report = import_extract(s, csv_bytes(lines), name="unis.csv", now=now, columns=COLUMNS, audit_window_days=window)
    assert report.refused == []


def branch_findings(factory: sessionmaker[Session], now: dt.datetime = NOW) -> list[tuple[str, str]]:
    with factory() as s:
        return [(f.rule, f.customer_code) for g in digest_findings(s, day=now.astimezone(JST).date(), tz=JST)
                for f in g.findings]


def test_a_clean_fgn400_line_confirmed_in_2016_is_no_finding_for_the_branch(factory: sessionmaker[Session]) -> None:
    """Given the first import of an extract with a 2016 FGN-400 new install and a line of this week
    confirmed without a serial, then only this week's line is the branch's; the 2016 one is
    kept as historic (one figure), and with a window of 0 it would be listed as before."""
    load(factory, [fgn400_2016(), without_serial("300000002", "2026/12/03")])
    assert branch_findings(factory) == [(CONFIRMED_WITHOUT_SERIAL, "300000002")]
    with factory() as s:
        assert historic_open(s) == 1
        [old] = [f for g in digest_findings(s, day=TODAY, tz=JST, historic=True) for f in g.findings]
        assert (old.rule, old.customer_code) == (FORBIDDEN_ITEM, "300000001")


def test_window_zero_lists_every_finding(factory: sessionmaker[Session]) -> None:
    load(factory, [fgn400_2016(), without_serial("300000002", "2026/12/03")], window=0)
    assert sorted(branch_findings(factory)) == [(CONFIRMED_WITHOUT_SERIAL, "300000002"), (FORBIDDEN_ITEM, "300000001")]


def test_a_finding_first_seen_current_stays_the_branchs_as_its_line_ages(factory: sessionmaker[Session]) -> None:
    """The window is measured when the audit first sees a finding: a line of this week not fixed
    for two months is still listed (it was the branch's work when found), and a line of long ago
    found only now is historic even on later imports."""
    load(factory, [without_serial("300000002", "2026/12/03")])
    later = NOW + dt.timedelta(days=60)
    load(factory, [without_serial("300000002", "2026/12/03"), fgn400_2016()], now=later)
    assert branch_findings(factory, later) == [(CONFIRMED_WITHOUT_SERIAL, "300000002")]
    with factory() as s:
        assert historic_open(s) == 1


def test_a_line_without_dates_is_current(factory: sessionmaker[Session]) -> None:
    load(factory, [line(customer_code="300000003", serial="", confirmed_date="", planned_date="")])
    assert branch_findings(factory) == [(CONFIRMED_WITHOUT_SERIAL, "300000003")]


def test_a_first_import_of_years_of_lines_reports_the_weeks_few(factory: sessionmaker[Session], sqlite_url: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Given the first import of 2,000 lines, 100 of them (5 %) breaking a rule years ago and 10
    this week, then the branches' findings are those 10; the digest names the 100 in one line,
    not one by one; `bot audit-unis` lists the 10 and `--historic` the 100."""
    lines = []
    for i in range(2000):
        code = f"4{i:08d}"
        if i % 20 == 0:  # 100 historic breaches
            lines.append(without_serial(code, f"20{18 + i % 6}/0{1 + i % 9}/15", branch=f"支店{i % 7}"))
        elif i % 200 == 1:  # 10 of this week
            lines.append(without_serial(code, "2026/12/0" + str(1 + i % 5), branch=f"支店{i % 7}"))
        else:
            lines.append(line(customer_code=code, confirmed_date="2019/05/01", planned_date="2019/04/20"))
    load(factory, lines)
    found = branch_findings(factory)
    assert sorted(code for _, code in found) == [f"4{i:08d}" for i in range(1, 2000, 200)]
    with factory() as s:
        assert historic_open(s) == 100
        digest = build_digest(s, cfg=make_config(sqlite_url), day=TODAY, now=NOW, templates=Templates())
    assert "要修正 100件は、支店別の一覧に含めていません" in digest.text
    assert digest.text.count("要修正") < 10 and digest.text.count("顧客番号 4") == 10
    cfg = make_config(sqlite_url)
    assert cli_audit_unis(cli_args(), cfg) == 0
    assert "未対応 10 件" in capsys.readouterr().out
    assert cli_audit_unis(cli_args("--historic"), cfg) == 0
    assert "過去の登録（支店へは通知していません）" in (out := capsys.readouterr().out) and "未対応 100 件" in out
