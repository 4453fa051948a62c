"""Fewer defects at the source (issue 23 point 6): each branch manager's mail on the month before,
sent on the first business morning of the next month, once, caught up after downtime, through
the outbox, from the admin-editable template; the digest ranks the branches by 差戻 rate. A
controlled clock over 2026-12 and 2027-01 (元日 a holiday), mails decided by the real pipeline's
rows written directly (their figures only matter), SQLite."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.config import BranchesConfig, Config
from bot.db.models import JobRun, Mail, OutboxMessage
from bot.digest import build_digest
from bot.digest.monthly import due_month, run_due
from bot.domain.calendar import BusinessCalendar
from bot.jobs import MONTHLY_REPORT
from bot.templating import Templates
from tests.support.app import make_config

JST = ZoneInfo("Asia/Tokyo")
MANAGERS = {"青山支店": "aoyama-shitencho@aoyama.usen.co.jp", "渋谷支店": "shibuya-shitencho@shibuya.usen.co.jp"}


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=JST)


@pytest.fixture
def cfg(sqlite_url: str, tmp_path: Path) -> Config:
    directory = tmp_path / "branches.csv"
    directory.write_text("支店名,ドメイン,支店長\n青山支店,aoyama.usen.co.jp,aoyama-shitencho@aoyama.usen.co.jp\n"
                         "渋谷支店,shibuya.usen.co.jp,shibuya-shitencho@shibuya.usen.co.jp\n", encoding="utf-8")
    return make_config(sqlite_url).replace(branches=BranchesConfig(file=str(directory)))


def mail(s: Session, uid: int, when: dt.datetime, branch: str, kind: str, decision: str, *codes: str) -> None:
    s.add(Mail(folder="INBOX", uidvalidity=1, uid=uid, msgid_hash=f"h{uid}", raw=b"x", subject=f"s{uid}",
               from_addr=f"staff{uid}@{branch}.usen.co.jp", received_at=when, status="filed", kind=kind,
               decision=decision, defects=[{"code": c, "detail": {}} for c in codes], warnings=[], facts={}))


@pytest.fixture
def november(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """青山: 6 requests, 2 sent back (LINE_TYPE_MISSING twice, CC_MANAGER_MISSING once); 渋谷: 2,
    none sent back; one mail of December that November's report must not count."""
    with db.transaction(factory) as s:
        for i in range(4):
            mail(s, i, at(2026, 11, 2 + i), "aoyama", "equipment_order", "accepted")
        mail(s, 10, at(2026, 11, 10), "aoyama", "equipment_order", "rejected", "LINE_TYPE_MISSING", "CC_MANAGER_MISSING")
        mail(s, 11, at(2026, 11, 11), "aoyama", "contract_change", "rejected", "LINE_TYPE_MISSING")
        mail(s, 20, at(2026, 11, 12), "shibuya", "equipment_order", "accepted")
        mail(s, 21, at(2026, 11, 13), "shibuya", "termination", "accepted")
        mail(s, 30, at(2026, 12, 2), "aoyama", "equipment_order", "rejected", "PDF_NOT_ENCRYPTED")
    return factory


def run(factory: sessionmaker[Session], cfg: Config, when: dt.datetime) -> str | None:
    results = run_due(factory, cfg=cfg, calendar=BusinessCalendar(tz=JST), templates=Templates(), now_fn=lambda: when)
    return None if not results else (results[0].status or "not ours")


def reports(factory: sessionmaker[Session]) -> dict[str, str]:
    with factory() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "monthly_report")).all()
    return {row.ref: message_from_bytes(row.raw).get_payload(decode=True).decode("utf-8") for row in rows}


def test_the_month_is_due_from_the_first_business_morning() -> None:
    cal = BusinessCalendar(tz=JST)
    assert due_month(cal, at(2026, 12, 1, 8, 0), dt.time(8, 30)) is None  # Tue 12/01, before the digest time
    assert due_month(cal, at(2026, 12, 1, 8, 30), dt.time(8, 30)) == dt.date(2026, 11, 1)
    assert due_month(cal, at(2027, 1, 1), dt.time(8, 30)) is None  # 元日
    assert due_month(cal, at(2027, 1, 4), dt.time(8, 30)) == dt.date(2026, 12, 1)  # Monday, the first business day


def test_each_manager_gets_the_branchs_month_once(november: sessionmaker[Session], cfg: Config) -> None:
    assert run(november, cfg, at(2026, 12, 1, 8, 0)) is None
    assert run(november, cfg, at(2026, 12, 1, 9, 0)) == "done"
    sent = reports(november)
    assert sorted(sent) == ["monthly_report:2026-11:渋谷支店", "monthly_report:2026-11:青山支店"]
    aoyama = sent["monthly_report:2026-11:青山支店"]
    assert "ご依頼の件数：6件" in aoyama and "器材発注依頼：5件" in aoyama and "契約変更：1件" in aoyama
    assert "差戻：2件（差戻率 33.3%／全社 25.0%）" in aoyama
    assert aoyama.index("1. 回線タイプの選択なし（2件）") < aoyama.index("2. CCに支店長なし（1件）")
    assert "「ファミリー／マンション」を必ず選択してください" in aoyama  # the manual's fix
    assert "PDFにパスワードなし" not in aoyama  # December's mail is December's
    assert "差戻：0件（差戻率 0.0%／全社 25.0%）" in sent["monthly_report:2026-11:渋谷支店"]
    with november() as s:
        rcpts = {r.ref: r.rcpt_to for r in s.scalars(select(OutboxMessage))}
        subjects = {r.subject for r in s.scalars(select(OutboxMessage))}
    assert rcpts["monthly_report:2026-11:青山支店"] == [MANAGERS["青山支店"]]
    assert "【USEN SPOT】2026年11月のご依頼状況（青山支店）" in subjects
    # A restart that morning, and the next mornings of the month: nothing more.
    assert run(november, cfg, at(2026, 12, 1, 10, 0)) == "not ours"
    assert run(november, cfg, at(2026, 12, 2, 9, 0)) == "not ours"
    assert len(reports(november)) == 2


def test_a_bot_down_on_the_first_morning_sends_when_back_and_the_holiday_waits(november: sessionmaker[Session],
                                                                            cfg: Config) -> None:
    assert run(november, cfg, at(2026, 12, 3, 14, 0)) == "done"  # down on 12/01 and 12/02
    assert len(reports(november)) == 2
    assert run(november, cfg, at(2027, 1, 1)) is None  # 元日: December's report waits
    assert run(november, cfg, at(2027, 1, 4, 9, 0)) == "done"
    december = reports(november)["monthly_report:2026-12:青山支店"]
    assert "差戻：1件（差戻率 100.0%" in december and "PDFにパスワードなし" in december
    with november() as s:
        assert sorted(s.scalars(select(JobRun.period).where(JobRun.job == MONTHLY_REPORT))) == ["2026-11", "2026-12"]


def test_the_digest_ranks_the_branches_by_their_rate(november: sessionmaker[Session], cfg: Config) -> None:
    with november() as s:
        digest = build_digest(s, cfg=cfg, day=dt.date(2026, 11, 30), now=at(2026, 11, 30, 8, 30), templates=Templates())
    ranking = digest.text.split("■ 支店別の差戻率")[1].split("■")[0]
    assert ranking.index("青山支店　33.3%（差戻 2／6件）　※全社平均より高い") < ranking.index("渋谷支店　0.0%（差戻 0／2件）")


def test_the_console_shows_the_same_per_branch(november: sessionmaker[Session], cfg: Config, sqlite_url: str) -> None:
    """The console's 支店 page: the month before (as the managers' mails have it) and this month."""
    from bot.web import users
    from tests.support.app import Clock
    from tests.test_web_support import STAFF, client, login, web_config

    wcfg = web_config(sqlite_url).replace(branches=cfg.branches)
    with db.transaction(november) as s:
        users.add_user(s, STAFF[0], STAFF[1], role="staff", display_name="香川", now=at(2026, 12, 1), by="test")
    c = client(wcfg, Clock(at(2026, 12, 7, 10, 0)))
    assert login(c, STAFF).status_code == 303  # type: ignore[attr-defined]
    text = c.get("/branches").text
    november_part = text.split("2026年11月")[1]
    assert "全社の差戻率 25.0%" in november_part
    assert november_part.index("青山支店") < november_part.index("渋谷支店") and "33.3%" in november_part
    assert "回線タイプの選択なし（2件）" in november_part and "ファミリー／マンション" in november_part
    assert "2026年12月" in text and 'href="/branches"' in text
