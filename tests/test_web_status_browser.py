"""状態, 送信箱, 隔離, 管理台帳 and ベンダー in a real browser (Debian's Chromium through Playwright,
as tests/test_web_browser.py), over the demo mails decided by the real pipeline, a day later
in the office: the vendor batch went out, the replies were sent but one (given up), two mails
were quarantined (their PDF took longer than pdf_seconds). An admin opens 状態 (異常: the given
up reply), presses 再送 on 送信箱 and sees the mail pending again, and 再処理 on 隔離.

Writes the screenshots office staff see: docs/console-status.png, console-outbox.png,
console-quarantine.png, console-ledger.png and console-vendor.png.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot import db
from bot.actions import outbox
from bot.config.limits import Limits
from bot.daemon.health import beat
from bot.db.models import JobRun, OutboxMessage
from tests.fixtures import hostile
from tests.support.app import DEFAULT_NOW, Clock, make_processor
from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.test_web_ledger_vendor import BATCH_AT, build, vendor_config
from tests.test_web_support import ADMIN, ROOT, populate

NOW = BATCH_AT + dt.timedelta(minutes=25)  # 17:30 JST, the batch sent at 17:06
CUSTOMER = "988776654"  # the demo's accepted order: a ledger row, its events and a vendor row


@dataclasses.dataclass(frozen=True)
class Served:
    base: str
    url: str
    failed_id: int
    quarantined: tuple[int, ...]
    batch_id: int


def _office_day(url: str) -> tuple[int, tuple[int, ...], int]:
    """The demo decided at 10:00, then the day's traffic: returns (the given-up reply's outbox
    id, the quarantined mail ids, the vendor batch id)."""
    cfg = vendor_config(url)
    slow = cfg.replace(limits=dataclasses.replace(Limits(), workers=1, pdf_seconds=0.3))
    processor, factory = make_processor(slow, Clock(DEFAULT_NOW + dt.timedelta(hours=2)))
    quarantined = []
    for n, (code, sender) in enumerate((("988776658", "tanaka@shibuya.usen.co.jp"),
                                         ("145390993", "sato@aoyama.usen.co.jp")), start=1):
        raw = hostile._mail(subject=f"USEN SPOT 器材発注依頼_{code}", from_=sender,
                            attachments=[("申込書.pdf", hostile.object_stream_bomb(), "application/pdf")],
                            message_id=f"<slow-{n}@usen.co.jp>")
        stored = processor.store(raw, folder="INBOX", uidvalidity=1, uid=900 + n,
                                 arrived_at=DEFAULT_NOW + dt.timedelta(hours=2, minutes=n * 7))
        outcome = processor.process(stored.mail_id)
        assert outcome is not None and outcome.decision == "quarantined"
        quarantined.append(stored.mail_id)
    batch = build(url)
    with db.transaction(factory) as s:
        rows = list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for row in rows:  # the flusher sent everything a minute after it was queued...
            row.status, row.attempts, row.sent_at = outbox.SENT, 1, row.created_at + dt.timedelta(minutes=1)
        failed = rows[0]  # ...but one reply, refused by the branch's server five times
        failed.status, failed.attempts, failed.sent_at = outbox.FAILED, 5, None
        failed.last_error = "SMTPRecipientsRefused: {'uchida@aoyama.usen.co.jp': (452, '4.2.2 Mailbox full')}"
        for job, period, at in (("digest", "2026-11-24", DEFAULT_NOW - dt.timedelta(hours=1, minutes=30)),
                                ("vendor-batch", "2026-11-24", BATCH_AT)):
            s.add(JobRun(job=job, period=period, status="done", owner="usen-bot:2714:88211", started_at=at,
                         finished_at=at + dt.timedelta(seconds=4)))
        failed_id = failed.id
    beat(factory, "usen-bot:2714:88211", now=NOW - dt.timedelta(seconds=40), state="running",
         started_at=DEFAULT_NOW - dt.timedelta(hours=2), last_fetch_at=NOW - dt.timedelta(seconds=40), idle=True,
         next_jobs={"digest": "2026-11-25T08:30:00+09:00", "vendor-batch": "2026-11-25T17:00:00+09:00"})
    factory.kw["bind"].dispose()
    assert batch.batch_id is not None
    return failed_id, tuple(quarantined), batch.batch_id


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from bot.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('status-browser') / 'bot.sqlite3'}"
    populate(url)
    failed_id, quarantined, batch_id = _office_day(url)
    app = create_app(vendor_config(url), clock=Clock(NOW))
    with serve(app) as base:
        yield Served(f"{base}", url, failed_id, quarantined, batch_id)


def test_status_outbox_and_quarantine_as_admin(served: Served) -> None:
    from playwright.sync_api import sync_playwright

    base, docs = served.base, ROOT / "docs"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            sign_in(page, base, ADMIN)
            assert page.inner_text("#health-alarm") == "異常"  # on every page's header
            page.click("#status-link")
            page.wait_for_url(f"{base}/status")
            verdict = page.inner_text("#verdict")
            assert "異常" in verdict and "送信をあきらめたメールが 1 通あります" in verdict
            assert "隔離中のメール 2 通" in verdict
            assert "usen-bot:2714:88211" in page.inner_text("#processes")
            page.screenshot(path=str(docs / "console-status.png"), full_page=True)

            page.click("header nav a[href='/outbox']")
            page.wait_for_url(f"{base}/outbox")
            row = page.locator(f"#problems-{served.failed_id}")
            assert row.locator(".status").inner_text() == "送信失敗"
            page.screenshot(path=str(docs / "console-outbox.png"), full_page=True)
            row.locator("button.requeue").click()
            page.wait_for_url(f"{base}/outbox?done={served.failed_id}")
            assert "再送待ち" in page.inner_text("#notice")
            row = page.locator(f"#problems-{served.failed_id}")
            assert row.locator(".status").inner_text() == "送信待ち"
            assert row.locator(".attempts").inner_text() == "0回" and row.locator("button.requeue").count() == 0

            page.click("header nav a[href='/quarantine']")
            page.wait_for_url(f"{base}/quarantine")
            first, second = served.quarantined
            assert "PDF1通の読み取り時間" in page.inner_text(f"#q-{first}")  # the limit in words (issue 21)
            page.locator(f"#q-{first} button.reprocess").click()  # the server's limit: the default
            page.wait_for_url(f"{base}/quarantine?done={first}#result", timeout=60_000)
            assert "を再処理しました" in page.inner_text("#result")
            assert page.inner_text("#new-decision") in ("受付", "差戻", "保留")
            assert page.locator(f"#q-{first}").count() == 0 and page.locator(f"#q-{second}").count() == 1
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(docs / "console-quarantine.png"), full_page=True)

            page.goto(f"{base}/ledger/{CUSTOMER}")
            assert CUSTOMER in page.inner_text("h1")
            page.screenshot(path=str(docs / "console-ledger.png"), full_page=True)
            page.goto(f"{base}/vendor/batches/{served.batch_id}")
            page.screenshot(path=str(docs / "console-vendor.png"), full_page=True)
        finally:
            browser.close()
    for name in ("status", "outbox", "quarantine", "ledger", "vendor"):
        assert (docs / f"console-{name}.png").stat().st_size > 10_000
    engine = db.make_engine(served.url)
    with db.session_factory(engine)() as s:
        row = s.get(OutboxMessage, served.failed_id)
        assert row is not None and row.status == outbox.PENDING and row.attempts == 0
    engine.dispose()
