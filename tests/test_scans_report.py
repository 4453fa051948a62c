"""``bot scans report`` and the console's 状態 page: the shadow figures of issue 19 point 6
(bot/actions/scan_report.py), counted from the rows :mod:`bot.actions.scan_shadow` writes when a person
finishes a held scan. The rows here are written by that module's :func:`record` on a migrated
SQLite database; the flows through the pipeline, the console and the command line are in
tests/test_scan_shadow.py (there, a correction after 受付 shows as 不一致 too).
Given/when/then in each docstring."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions import scan_shadow
from bot.cli import main
from bot.commands.scans_report import cli_scans
from bot.db.models import Mail
from bot.web import users
from tests.support.app import DEFAULT_NOW, Clock, make_config
from tests.test_web_support import STAFF, signed_in, web_config

JST = dt.timezone(dt.timedelta(hours=9))
SURE_FAMILY = {"value": "family", "state": "read", "sure": True}
SURE_NEXT = {"value": "hikari_next", "state": "read", "sure": True}
UNSURE_MAIL = {"value": None, "state": "unsure", "sure": False}


def finished(factory: sessionmaker[Session], n: int, *, at: dt.datetime, outcome: str, bot: str,
             fields: dict[str, dict[str, Any]], typed: dict[str, Any] | None = None,
             bot_defects: tuple[str, ...] = (), person_defects: tuple[str, ...] = (),
             kind: str = "dedicated") -> None:
    """Mail n, held, then finished by a person at `at` with `outcome`; the bot had read `fields`."""
    with db.transaction(factory) as s:
        s.add(Mail(id=n, folder="INBOX", uidvalidity=1, uid=n, msgid_hash=hashlib.sha256(str(n).encode()).hexdigest(),
                   raw=b"", received_at=at, decision="manual", status="filed", defects=[], warnings=[], facts={}))
        s.flush()
        seen = scan_shadow.Seen(n, kind, bot, bot_defects, fields)
        scan_shadow.record(s, seen, outcome=outcome, by="kagawa", now=at, typed=typed, person_defects=person_defects)


def report_of(cfg: Any, capsys: pytest.CaptureFixture[str], *, since: dt.date | None = None,
              as_json: bool = False) -> str:
    assert cli_scans(argparse.Namespace(scans_command="report", since=since, json=as_json), cfg) == 0
    return capsys.readouterr().out


@pytest.fixture
def three(sqlite_url: str) -> sessionmaker[Session]:
    """Three finished scans: Nov 20 accepted with a typed value that contradicts a sure reading,
    Nov 24 rejected by both for LINE_TYPE_MISSING, Nov 25 dismissed (the bot would have held)."""
    factory = db.session_factory(db.make_engine(sqlite_url))
    finished(factory, 1, at=dt.datetime(2026, 11, 20, 11, 0, tzinfo=JST), outcome="accepted", bot="accept",
             fields={"line_kind": SURE_NEXT, "line_type": SURE_FAMILY, "mail_local": UNSURE_MAIL},
             typed={"line_type": "マンション", "mail_address": "midori@uspot.jp"})
    finished(factory, 2, at=dt.datetime(2026, 11, 24, 0, 30, tzinfo=JST), outcome="rejected", bot="reject",
             fields={"line_kind": {"value": "b_flets", "state": "read", "sure": True},
                     "line_type": {"value": None, "state": "unsure", "sure": False}},
             bot_defects=("LINE_TYPE_MISSING",), person_defects=("LINE_TYPE_MISSING", "CC_MANAGER_MISSING"))
    finished(factory, 3, at=dt.datetime(2026, 11, 25, 9, 0, tzinfo=JST), outcome="done", bot="hold",
             fields={"line_kind": SURE_NEXT, "customer_code": {"value": "123456789", "state": "read", "sure": True}})
    return factory


def test_a_sure_reading_the_person_changed_is_counted_as_a_disagreement(
        three: sessionmaker[Session], sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Given the three finished scans,
    when `bot scans report` runs,
    then ご利用回線タイプ shows 1 不一致 (the bot was sure of ファミリー, the person typed マンション)
    and 1 保留 (unsure on the rejected one), 回線種別 2 一致 (kept at 受付 / nothing to compare on the
    差戻) …; the decisions are all the person's, and the defect codes say who sent back for what."""
    text = report_of(make_config(sqlite_url), capsys)
    lines = text.splitlines()
    assert lines[0].endswith("全期間") and "件数: 3 件（ご加入申込書 3、統合申込書 0、解約申請書 0）" in text
    line_type = next(x for x in lines if x.startswith("ご利用回線タイプ"))
    assert "件数 2  一致 0  不一致 1 ←要確認  保留 1  照合なし 0（うち人が入力 1）" in line_type
    line_kind = next(x for x in lines if x.startswith("ご利用回線種別"))
    assert "件数 3  一致 1  不一致 0  保留 0  照合なし 2" in line_kind
    mail = next(x for x in lines if x.startswith("ご希望のメールアドレス"))
    assert "一致 0  不一致 0  保留 1" in mail  # typed where the bot was not sure: no disagreement
    assert "ボット 受付: 1 件  人と同じ 1  内訳 受付 1、差戻 0、対応済み 0" in text
    assert "ボット 差戻: 1 件  人と同じ 1（うち不備も同じ 0）  内訳 受付 0、差戻 1、対応済み 0" in text
    assert "ボット 保留: 1 件  人と同じ 1  内訳 受付 0、差戻 0、対応済み 1" in text
    assert "LINE_TYPE_MISSING: 両方 1  ボットのみ 0  人のみ 0" in text
    assert "CC_MANAGER_MISSING: 両方 0  ボットのみ 0  人のみ 1" in text


def test_since_counts_only_the_scans_finished_from_that_day_in_japan(
        three: sessionmaker[Session], sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Given the three scans (the second finished at 00:30 Japan time on Nov 24, Nov 23 in UTC),
    when the report runs with --since 2026-11-24,
    then it counts the last two only; with --since 2026-11-26 it counts none and says so."""
    cfg = make_config(sqlite_url)
    text = report_of(cfg, capsys, since=dt.date(2026, 11, 24))
    assert text.splitlines()[0].endswith("2026-11-24 以降") and "件数: 2 件" in text
    assert "不一致 1" not in text and "ボット 受付: 0 件" in text
    found = json.loads(report_of(cfg, capsys, since=dt.date(2026, 11, 24), as_json=True))
    assert found["scans"] == 2 and found["fields"]["line_type"]["disagreed"] == 0
    empty = report_of(cfg, capsys, since=dt.date(2026, 11, 26))
    assert "件数: 0 件" in empty and "まだ記録がありません" in empty


def test_json_has_stable_english_keys(three: sessionmaker[Session], sqlite_url: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Given the three scans, when the report runs with --json, then one JSON object with the
    keys scripts rely on: per field, per would-be decision (with the person's outcomes), per code."""
    found = json.loads(report_of(make_config(sqlite_url), capsys, as_json=True))
    assert list(found) == ["since", "scans", "forms", "fields", "decisions", "defects"]
    assert found["since"] is None and found["scans"] == 3
    assert found["forms"] == {"dedicated": 3, "integrated": 0, "termination": 0}
    assert list(found["fields"]) == ["customer_code", "line_kind", "line_type", "mail_local"]  # the form's order
    assert found["fields"]["line_type"] == {"count": 2, "agreed": 0, "disagreed": 1, "unsure": 1, "unchecked": 0,
                                            "typed": 1}
    assert found["decisions"]["reject"] == {"count": 1, "accepted": 0, "rejected": 1, "done": 0, "agreed": 1,
                                            "same_defects": 0}
    assert list(found["decisions"]) == ["accept", "reject", "hold"]
    assert found["defects"]["LINE_TYPE_MISSING"] == {"both": 1, "bot_only": 0, "person_only": 0}


def test_a_bad_since_is_bad_usage(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BOT_DATABASE_URL", sqlite_url)
    with pytest.raises(SystemExit) as stopped:
        main(["scans", "report", "--since", "2026-11-31"])
    assert stopped.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_the_status_page_shows_the_figures_in_japanese(three: sessionmaker[Session], sqlite_url: str) -> None:
    """Given the three scans and a staff user,
    when staff open 状態,
    then a table of the fields (Japanese labels, the same counts as the report), a table of the
    would-be decisions against the person's, and the defects as the office's sentences: no code,
    no field name in English."""
    cfg = web_config(sqlite_url)
    factory = db.session_factory(db.make_engine(sqlite_url))
    with db.transaction(factory) as s:
        users.add_user(s, STAFF[0], STAFF[1], role="staff", display_name="香川", now=DEFAULT_NOW, by="test")
    page = signed_in(cfg, STAFF, Clock(DEFAULT_NOW)).get("/status").text
    section = page.split('id="shadow"')[1].split("</section>")[0]
    assert "スキャン申込書の照合" in section and "3 件" in section
    rows = section.split('id="shadow-fields"')[1].split("</table>")[0].split("<tr>")[2:]
    cells = {r.split("<td>")[1].split("</td>")[0]: r for r in rows}
    assert list(cells) == ["顧客コード", "ご利用回線種別", "ご利用回線タイプ", "ご希望のメールアドレス"]
    assert "<td>2</td><td>0</td><td><span class=\"badge bad\">1</span></td><td>1</td><td>0</td>" in cells["ご利用回線タイプ"]
    decisions = section.split('id="shadow-decisions"')[1].split("</table>")[0]
    assert "<td>差戻</td><td>1</td><td>1（不備も同じ 0）</td><td>0</td><td>1</td><td>0</td>" in decisions
    defects = section.split('id="shadow-defects"')[1].split("</table>")[0]
    assert "Bフレッツの場合は「ご利用回線タイプ」" in defects and "支店長" in defects
    for english in ("LINE_TYPE_MISSING", "CC_MANAGER_MISSING", "line_type", "mail_local", "accept", "reject", "hold"):
        assert english not in section, english


def test_the_status_page_without_finished_scans_says_so(sqlite_url: str) -> None:
    """Given no finished scan, when staff open 状態, then the section says there is nothing yet
    (and how rows come), with no empty table."""
    cfg = web_config(sqlite_url)
    factory = db.session_factory(db.make_engine(sqlite_url))
    with db.transaction(factory) as s:
        users.add_user(s, STAFF[0], STAFF[1], role="staff", display_name="香川", now=DEFAULT_NOW, by="test")
    section = signed_in(cfg, STAFF, Clock(DEFAULT_NOW)).get("/status").text.split('id="shadow"')[1]
    assert "まだ記録がありません" in section.split("</section>")[0] and 'id="shadow-fields"' not in section
