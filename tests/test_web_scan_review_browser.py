"""The scan review in a real browser (Debian's Chromium, headless, through Playwright, as
tests/test_web_browser.py): a staff member opens a held scan from the queue, sees the page
image beside its fields, types the values the reader could not read, accepts, and the mail
leaves the queue. Saves docs/console-scan-review.png: the screen office staff work a scan on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.db.models import Mail, VendorRow
from bot.vendor.forms import REFER
from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.test_web_scan_review import held_scan
from tests.test_web_support import ROOT, STAFF

SCREENSHOT = ROOT / "docs" / "console-scan-review.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object, int, dict]]:
    from bot.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('scan-browser') / 'bot.sqlite3'}"
    cfg, factory, mail_id, truth = held_scan(url)
    with serve(create_app(cfg)) as base:
        yield f"{base}", factory, mail_id, truth
    factory.kw["bind"].dispose()


def test_open_a_held_scan_type_a_value_and_accept(server: tuple[str, object, int, dict]) -> None:
    """Given a handwritten scan held because its mail address is unsure,
    when a staff member opens it from the queue, sees the page image with the unsure field
    first in the table, types the address, the SSID and the shop name and presses 受付する,
    then the mail leaves the queue (its count one lower) and the vendor row carries the typed
    values, 申込書参照 where nothing was typed."""
    from playwright.sync_api import sync_playwright

    base, factory, mail_id, truth = server
    local = truth["fields"]["mail_local"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            sign_in(page, base, STAFF)
            before = int(page.inner_text("#held-count"))
            page.click(f"a[href='/manual/{mail_id}']")
            page.wait_for_url(f"{base}/manual/{mail_id}")
            page.wait_for_function("() => { const i = document.querySelector('#scan-image');"
                                   " return i && i.complete && i.naturalWidth >= 1000; }", timeout=30_000)
            image, table = page.locator("#scan-image").bounding_box(), page.locator("#scan-fields").bounding_box()
            assert image is not None and table is not None
            assert image["x"] + image["width"] <= table["x"] and abs(image["y"] - table["y"]) < 40  # side by side
            first = page.locator("#scan-fields tbody tr").first
            assert "要確認" in first.inner_text()
            page.fill("#value_mail_address", local)
            page.fill("#value_ssid", "midori_Wi-Fi")
            page.fill("#value_shop_name", truth["fields"]["shop_name"])
            assert page.locator("#accept").is_visible() and page.locator("#accept").is_enabled()
            accept = page.locator("#accept").bounding_box()
            assert accept is not None and accept["y"] + accept["height"] <= 900  # no scrolling to finish
            page.screenshot(path=str(SCREENSHOT), full_page=False)
            page.click("#accept")
            page.wait_for_url(f"{base}/manual?done={mail_id}", timeout=60_000)
            assert f"メール #{mail_id} を受付しました" in page.inner_text("#notice")
            assert int(page.inner_text("#held-count")) == before - 1
            assert page.locator(f"table.queue a[href='/manual/{mail_id}']").count() == 0
        finally:
            browser.close()
    with factory() as s:  # type: ignore[attr-defined]
        row = s.get(Mail, mail_id)
        assert row is not None and row.decision == "accepted"
        [vendor] = s.scalars(select(VendorRow)).all()
        assert vendor.payload["mail_address"] == f"{local}@uspot.jp" and vendor.payload["ssid"] == "midori_Wi-Fi"
        assert vendor.payload["shop_name"] == truth["fields"]["shop_name"] and vendor.payload["shop_phone"] == REFER
    assert SCREENSHOT.stat().st_size > 50_000
