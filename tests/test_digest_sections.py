"""The digest's newer sections: UNIS registration findings per branch (after a real import),
and what makes the bot unhealthy when the daemon's own digest job sends it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot import db
from bot.digest import build_digest
from bot.templating import Templates
from bot.unis import import_extract
from tests.support.app import make_config
from tests.test_unis_audit import csv_bytes, line

JST = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 11, 24, 8, 30, tzinfo=JST)


def test_unis_findings_are_shown_per_branch_with_what_to_fix_and_leave_when_fixed(sqlite_url: str) -> None:
    cfg = make_config(sqlite_url)
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    bad = line(customer_code="410106061", serial="123456", branch="渋谷支店")  # a management number left
    good = line(customer_code="410106062", branch="青山支店")
    with db.transaction(factory) as s:
        import_extract(s, csv_bytes([bad, good]), name="unis_1124.csv", now=NOW)
    with factory() as s:
        text = build_digest(s, cfg=cfg, day=NOW.date(), now=NOW, templates=Templates()).text
    assert "■ UNIS登録の要修正" in text and "【渋谷支店】1件（新規 1件）" in text
    assert "顧客番号 410106061" in text and "記載：123456" in text and "→ " in text
    assert "青山支店" not in text.split("■ UNIS登録の要修正")[1].split("■ メールボックスの取得")[0]
    later = NOW + dt.timedelta(days=1)
    with db.transaction(factory) as s:  # the branch fixed the serial: the next extract has it right
        import_extract(s, csv_bytes([line(customer_code="410106061", branch="渋谷支店"), good]),
                       name="unis_1125.csv", now=later)
    with factory() as s:
        text = build_digest(s, cfg=cfg, day=later.date(), now=later, templates=Templates()).text
    assert "顧客番号 410106061" not in text
    engine.dispose()


def test_the_daemons_digest_names_what_makes_the_bot_unhealthy(sqlite_url: str) -> None:
    cfg = make_config(sqlite_url)
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    with factory() as s:
        by_hand = build_digest(s, cfg=cfg, day=NOW.date(), now=NOW, templates=Templates()).text
        job = build_digest(s, cfg=cfg, day=NOW.date(), now=NOW, templates=Templates(), health=True)
    assert "ボットの異常" not in by_hand
    assert "ボットの異常　　　　　1件" in job.text and "稼働中のボットがありません" in job.text
    assert "稼働中のボットがありません" in job.html
    engine.dispose()
