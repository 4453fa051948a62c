"""リンク品使用連絡 (issue 23): an engineer's (or テクサポ課's) report of a link item put in, checked
(role, serials by the §VIII rule, 親機/子機), and the next business morning's one mail to FG社 and
UTS, with a controlled clock: two business days with a holiday between, a restart the same
morning, a bot down over two mornings, a day without recipients. The real pipeline on SQLite;
the report's outbox rows read back."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email import message_from_bytes
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import db
from bot.config import Config
from bot.db.models import JobRun, LedgerEntry, LedgerEvent, OutboxMessage
from bot.domain import classify
from bot.jobs import FAILED
from bot.jobs.link_items import JOB, run_due
from bot.pipeline.outcome import Outcome
from bot.templating import Templates
from bot.unis import import_extract
from tests.support.app import Clock, make_config, make_processor
from tests.support.mailbuilder import build_mail
from tests.test_kinds_part2 import BRANCH, INSTALLED, TECH, UNIS

JST = ZoneInfo("Asia/Tokyo")
ENGINEER = "技術 太郎 <engineer@tech.usen.co.jp>"
BODY = "顧客CD : {code}\n旧シリアル : FG6014112617\n新シリアル : {new}\n親機/子機 : {unit}\n"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=JST)  # 11/20 Fri, 11/23 Mon 勤労感謝の日, 11/24 Tue


def config(url: str, *, to: tuple[str, ...] = ("fg@fibergate.example", "uts@uts.example")) -> Config:
    cfg = make_config(url)
    return cfg.replace(senders=dataclasses.replace(cfg.senders, allowed_domains=("usen.co.jp",),
                                                   engineers=("tech.usen.co.jp",), techsupport=("techsupport@usen.co.jp",)),
                       vendor=dataclasses.replace(cfg.vendor, link_items_to=to))


class Bot:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.clock = Clock(at(20, 9))
        self.processor, self.factory = make_processor(cfg, self.clock)
        self.uid = 0
        with db.transaction(self.factory) as s:
            import_extract(s, UNIS.encode("cp932"), name="unis.csv", now=at(20, 9))

    def mail(self, when: dt.datetime, *, new: str = "FG6014119930", unit: str = "親機", from_: str = ENGINEER,
             code: str = INSTALLED) -> Outcome:
        self.uid += 1
        self.clock.now = when
        raw = build_mail(f"USEN SPOT リンク品使用連絡_{code}", BODY.format(code=code, new=new, unit=unit), from_=from_,
                         message_id=f"<link-{self.uid}@tech.usen.co.jp>")
        stored = self.processor.store(raw, folder="INBOX", uidvalidity=1, uid=self.uid, arrived_at=when)
        outcome = self.processor.process(stored.mail_id)
        assert outcome is not None
        return outcome

    def morning(self, when: dt.datetime) -> list[str]:
        """The daemon's trigger at `when` (its schedule, its catch-up at start: the same call)."""
        results = run_due(self.factory, cfg=self.cfg, calendar=self.processor.calendar, templates=Templates(),
                          now_fn=lambda: when)
        return [r.status or "" for r in results]

    def reports(self) -> dict[str, list[str]]:
        """Outbox ref → the new serials its mail names."""
        with self.factory() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "link_items")
                             .order_by(OutboxMessage.id)).all()
        found = {}
        for row in rows:
            text = message_from_bytes(row.raw).get_payload(decode=True).decode("utf-8")
            found[row.ref] = [line.split("：")[1].split("（")[0] for line in text.splitlines() if "新シリアル：" in line]
        return found


@pytest.fixture
def bot(sqlite_url: str) -> Bot:
    return Bot(config(sqlite_url))


def test_an_engineers_report_is_accepted_and_the_ledger_takes_the_new_serial(bot: Bot) -> None:
    outcome = bot.mail(at(20, 10))
    assert (outcome.kind, outcome.decision) == (classify.LINK_ITEM_USED, "accepted"), outcome
    with bot.factory() as s:
        entry = s.get(LedgerEntry, INSTALLED)
        assert entry is not None and entry.data["serial"] == "FG6014119930"
        [event] = s.scalars(select(LedgerEvent).where(LedgerEvent.event == "link_item"))
        assert event.detail == {"旧シリアル": "FG6014112617", "新シリアル": "FG6014119930", "親機/子機": "親機",
                                "day": "2026-11-20"}


@pytest.mark.parametrize(("new", "codes"), [
    ("FG601411993", ("SERIAL_INVALID",)),  # eleven characters
    ("1G6014119930", ("SERIAL_INVALID",)),  # a digit first
    ("FG-601411993", ("SERIAL_INVALID",)),  # a hyphen inside the twelve
])
def test_a_serial_against_the_manuals_rule_is_sent_back_naming_it(bot: Bot, new: str, codes: tuple[str, ...]) -> None:
    outcome = bot.mail(at(20, 10), new=new)
    assert (outcome.decision, outcome.defects) == ("rejected", codes)
    with bot.factory() as s:
        [row] = s.scalars(select(OutboxMessage))
    msg = message_from_bytes(row.raw)
    text = msg.get_payload(decode=True).decode(msg.get_content_charset())
    assert f"「{new}」" in text and "新シリアル" in text


def test_near_misses_full_width_and_lower_case_serials_pass(bot: Bot) -> None:
    assert bot.mail(at(20, 10), new="ＦＧ６０１４１１９９３０").decision == "accepted"
    assert bot.mail(at(20, 11), new="fg6014119931").decision == "accepted"


def test_a_branch_reporting_a_link_item_is_told_who_sends_it(bot: Bot) -> None:
    outcome = bot.mail(at(20, 10), from_=BRANCH)
    assert (outcome.decision, outcome.defects) == ("rejected", ("SENDER_NOT_PERMITTED",))
    assert bot.mail(at(20, 11), from_=TECH).decision == "accepted"  # テクサポ課 may send it too


def test_a_link_item_for_a_child_unit_is_held(bot: Bot) -> None:
    outcome = bot.mail(at(20, 10), unit="子機")
    assert outcome.decision == "manual" and "子機はリンク品が使用できません" in outcome.reason


def test_the_next_business_morning_gets_one_mail_across_a_holiday_a_restart_and_downtime(bot: Bot) -> None:
    """Given link items on Fri 11/20 10:00, Fri 18:00 (after the cutoff: Tuesday's, since Monday
    is 勤労感謝の日) and Thu 11/26, then: Tuesday's morning reports Friday's one item; a restart
    that morning sends nothing more; Wednesday reports Tuesday's; a bot down Thursday and Friday
    morning catches up on Friday noon, each morning once (Thursday's: Wednesday had none)."""
    bot.mail(at(20, 10), new="FG0000000001")
    bot.mail(at(20, 18), new="FG0000000002")
    assert bot.morning(at(23, 9, 40)) == []  # a holiday: no morning
    assert bot.morning(at(24, 9, 0)) == []  # before its time
    assert bot.morning(at(24, 9, 40)) == ["done"]
    assert bot.reports() == {"link_items:2026-11-20": ["FG0000000001"]}
    assert bot.morning(at(24, 10, 0)) == []  # restarted: done already
    assert bot.morning(at(25, 9, 31)) == ["done"]
    bot.mail(at(26, 11), new="FG0000000003")
    assert bot.morning(at(27, 12, 0)) == ["done", "done"]  # Thursday's and Friday's mornings
    assert bot.reports() == {"link_items:2026-11-20": ["FG0000000001"], "link_items:2026-11-24": ["FG0000000002"],
                             "link_items:2026-11-26": ["FG0000000003"]}
    with bot.factory() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.ref == "link_items:2026-11-26"))
        assert row is not None and row.rcpt_to == ["fg@fibergate.example", "uts@uts.example"]
        assert "リンク品使用連絡 2026/11/26 (1件)" in row.subject


def test_items_without_recipients_fail_the_morning_until_the_address_is_set(sqlite_url: str) -> None:
    bot = Bot(config(sqlite_url, to=()))
    bot.mail(at(20, 10))
    assert bot.morning(at(24, 9, 40)) == [FAILED]
    with bot.factory() as s:
        assert "[vendor] link_items_to is empty" in (s.scalar(select(JobRun.detail).where(JobRun.job == JOB)) or "")
    bot.cfg = config(sqlite_url)
    assert bot.morning(at(24, 11, 0)) == ["done"] and list(bot.reports()) == ["link_items:2026-11-20"]
    assert bot.morning(at(24, 12, 0)) == []
