"""The console in a real browser: Debian's Chromium, headless, driven by Playwright (its Python
package; no browser download: `executable_path` is /usr/bin/chromium). Signs in, opens the
manual queue and a mail, checks that a mail carrying <script> runs nothing, and saves the
screenshots office staff will see: docs/console.png (desktop) and docs/console-phone.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.test_web_support import ROOT, STAFF, populate, web_config

_URLS: dict[str, str] = {}  # server base → its database, for tests that add mails


def _database_url(base: str) -> str:
    return _URLS[base]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    from bot.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'bot.sqlite3'}"
    ids = populate(url)
    with serve(create_app(web_config(url))) as base:
        _URLS[base] = url
        yield f"{base}", ids


def test_sign_in_work_the_queue_and_open_a_mail(server: tuple[str, dict[str, int]], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    base, ids = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            page.goto(f"{base}/manual")
            assert page.url.startswith(f"{base}/login")
            page.fill("input[name=username]", STAFF[0])
            page.fill("input[name=password]", STAFF[1])
            page.click("button.primary")
            page.wait_for_url(f"{base}/manual")
            assert page.inner_text("#held-count") == page.locator("table.queue tbody tr").count().__str__()
            page.screenshot(path=str(ROOT / "docs" / "console-queue.png"), full_page=True)
            page.click(f"a[href='/manual/{ids['06']}']")
            page.wait_for_url(f"{base}/manual/{ids['06']}")
            assert "判定の理由" in page.inner_text("main") and page.locator("#actions").count() == 1
            page.goto(f"{base}/mails/{ids['03']}")
            img = page.locator("figure.pdfpage img").first
            img.scroll_into_view_if_needed()
            page.wait_for_function("() => { const i = document.querySelector('figure.pdfpage img');"
                                   " return i.complete && i.naturalWidth > 500; }", timeout=30_000)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(ROOT / "docs" / "console.png"), full_page=True)
            page.goto(f"{base}/mails/{ids['hostile']}")
            assert page.title() != "pwned" and "pwned" not in page.evaluate("document.title")
            assert page.locator("script").count() == 0

            phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="ja-JP")
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{base}/mails")
            phone.screenshot(path=str(ROOT / "docs" / "console-phone.png"), full_page=False)
        finally:
            browser.close()
    for name in ("console.png", "console-queue.png", "console-phone.png"):
        assert (ROOT / "docs" / name).stat().st_size > 10_000


def test_reject_a_held_mail_with_two_defects(server: tuple[str, dict[str, int]]) -> None:
    """Given a defective order held for a person (its sender's authentication missing),
    when a staff member opens the queue, opens the mail, ticks two defects and sends the 差戻,
    then the mail leaves the queue, the queue says so, and the 差戻 waits in the outbox.
    Saves docs/console-reject.png (the action panel with the two defects ticked)."""
    import dataclasses

    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from bot.db.models import Mail, OutboxMessage
    from tests.support.app import Clock, make_processor
    from tests.test_end_to_end import bad_mail

    base, _ids = server
    url = _database_url(base)
    cfg = web_config(url)
    held = cfg.replace(senders=dataclasses.replace(cfg.senders, authentication="hold", authserv_id="mx.usen.co.jp"))
    processor, factory = make_processor(held, Clock())
    mail_id = processor.store(bad_mail("<browser-reject@aoyama.usen.co.jp>"), folder="INBOX", uidvalidity=1,
                              uid=900).mail_id
    assert processor.process(mail_id).decision == "manual"  # type: ignore[union-attr]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            sign_in(page, base, STAFF)
            page.goto(f"{base}/manual")
            before = int(page.inner_text("#held-count"))
            page.click(f"a[href='/manual/{mail_id}']")
            page.wait_for_url(f"{base}/manual/{mail_id}")
            page.click("#group-form summary")  # the 申込書 group is folded until opened
            page.check("input[name=defect_LINE_TYPE_MISSING]")
            page.check("input[name=defect_BODY_FIELD_MISSING]")
            page.locator("#actions").scroll_into_view_if_needed()
            page.locator("#actions").screenshot(path=str(ROOT / "docs" / "console-reject.png"))
            page.click("#reject")  # the mail to be sent is shown first, then confirmed
            assert "【回線タイプの選択なし】" in page.inner_text("#reject-preview-body")
            page.click("#reject-send")
            page.wait_for_url(f"{base}/manual?done={mail_id}")
            assert f"メール #{mail_id} を差戻しました" in page.inner_text("#notice")
            assert int(page.inner_text("#held-count")) == before - 1
            assert page.locator(f"a[href='/manual/{mail_id}']").count() == 0
        finally:
            browser.close()
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.decision == "rejected"
        assert [d["code"] for d in row.defects] == ["LINE_TYPE_MISSING", "BODY_FIELD_MISSING"]
        assert len(s.scalars(select(OutboxMessage).where(OutboxMessage.mail_id == mail_id)).all()) == 1
    factory.kw["bind"].dispose()
    assert (ROOT / "docs" / "console-reject.png").stat().st_size > 10_000
