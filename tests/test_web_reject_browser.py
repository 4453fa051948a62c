"""差戻 by a person and the queue with owners (issue 21 points 2 and 3), in a real browser
(Debian's Chromium through Playwright) over the database of every state
(tests/support/office_states.py):

- staff take a held mail (対応中), open the folded 添付 group, choose 「添付が申込書ではない」,
  write a remark, see the exact mail, send it, and read on the queue that it is 送信待ち;
- a held scan taken by staff shows its owner to an admin, with the hold reason first on the
  scan review; the admin releases it.
Saves docs/console-reject-compose.png, console-reject-preview.png, console-reject-sent.png,
console-queue-owners.png and console-scan-claimed.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot import db
from bot.db.models import AuditEntry, Mail, OutboxMessage
from tests.support.app import Clock
from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.support.office_states import NOW, Office, build_office
from tests.test_web_support import ADMIN, ROOT, STAFF


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Office]]:
    from bot.web.app import create_app

    built = build_office(tmp_path_factory.mktemp("reject"))
    with serve(create_app(built.cfg, clock=Clock(NOW))) as base:
        yield base, built


def test_take_compose_preview_send_and_see_where_it_stands(office: tuple[str, Office]) -> None:
    from playwright.sync_api import sync_playwright

    base, o = office
    held = o.ids["held2"]
    shots = ROOT / "docs"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            sign_in(page, base, STAFF)
            page.goto(f"{base}/manual/{held}")
            page.click("#take")
            page.wait_for_url(f"{base}/manual/{held}")
            assert "あなたが対応中です" in page.inner_text("#claim")
            assert not page.locator("input[name=defect_ATTACHMENT_NOT_FORM]").is_visible()  # folded
            page.click("#group-attachment summary")
            page.check("input[name=defect_ATTACHMENT_NOT_FORM]")
            page.fill("#remark", "添付が見積書でした。申込書を添付してください。")
            page.locator("#reject-form").screenshot(path=str(shots / "console-reject-compose.png"))
            page.click("#reject")
            body = page.inner_text("#reject-preview-body")
            assert "【添付が申込書ではない】添付されたPDFはUSEN SPOT申込書ではありません" in body
            assert "添付が見積書でした。申込書を添付してください。" in body and "ATTACHMENT" not in body
            page.locator("#reject-preview").screenshot(path=str(shots / "console-reject-preview.png"))
            with db.session_factory(db.make_engine(o.url))() as s:  # nothing sent yet
                assert s.get(Mail, held).resolved_at is None  # type: ignore[union-attr]
            page.click("#reject-send")
            page.wait_for_url(f"{base}/manual?done={held}")
            assert "送信待ち" in page.inner_text("#reply-state")
            assert "送信待ち" in page.inner_text("#recent-rejections")
            page.screenshot(path=str(shots / "console-reject-sent.png"), full_page=True)

            # A held scan taken by staff: an admin sees whose it is and releases it.
            page.goto(f"{base}/manual/{o.ids['scan']}")
            page.click("#take")
            page.goto(f"{base}/manual")
            row = page.locator(f"table.queue tr:has(a[href='/manual/{o.ids['scan']}'])")
            assert "対応中" in row.inner_text() and "香川" in row.inner_text()
            page.screenshot(path=str(shots / "console-queue-owners.png"), full_page=True)
            admin = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            sign_in(admin, base, ADMIN, f"/manual/{o.ids['scan']}")
            assert admin.locator("#hold-reason").is_visible()  # the reason first, in the first screen
            assert admin.locator("#hold-reason").bounding_box()["y"] < 900  # type: ignore[index]
            assert "香川 さんが対応中です" in admin.inner_text("#claim")
            admin.screenshot(path=str(shots / "console-scan-claimed.png"))
            admin.click("#release")
            admin.wait_for_url(f"{base}/manual/{o.ids['scan']}")
            assert admin.locator("#take").is_visible()
        finally:
            browser.close()
    engine = db.make_engine(o.url)
    with db.session_factory(engine)() as s:
        row = s.get(Mail, held)
        assert row is not None and row.decision == "rejected" and row.facts["remark"].startswith("添付が見積書")
        assert s.scalar(select(OutboxMessage).where(OutboxMessage.mail_id == held)) is not None
        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.mail_id == o.ids["scan"]))]
        assert actions[-2:] == ["manual_take", "manual_release"]
    engine.dispose()
    for name in ("reject-compose", "reject-preview", "reject-sent", "queue-owners", "scan-claimed"):
        assert (shots / f"console-{name}.png").stat().st_size > 10_000
