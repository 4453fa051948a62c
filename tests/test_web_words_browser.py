"""Every console page speaks the office's words (issue 21 points 1 and 8), in a real browser
(Debian's Chromium through Playwright, as tests/test_web_browser.py), over a database that holds
every state a page can show (tests/support/office_states.py: every decision, many defects and
warnings, hold reasons of the reader, the scan and the sender check, a held scan, quarantined
mails, ledger events of every kind, every outbox purpose and status, a failed job, and the
audit actions people leave).

Each page is opened as staff and as an admin; its visible text (``document.body.innerText``,
without what mails and customers brought: ``translate="no"``) must hold no raw code, no
snake_case key, no True/False/None, no Python repr, no backtick, no command, no config
section and no English sentence (tests/support/words.py). Codes may ride in title attributes.
Saves the screenshots of the changed pages to docs/ (console-words-*.png)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.app import Clock
from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.support.office_states import NOW, Office, build_office
from tests.support.words import VISIBLE_TEXT_JS, offences
from tests.test_web_support import ADMIN, ROOT, STAFF


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Office]]:
    from bot.web.app import create_app

    built = build_office(tmp_path_factory.mktemp("words"))
    with serve(create_app(built.cfg, clock=Clock(NOW))) as base:
        yield base, built


def staff_pages(o: Office) -> list[str]:
    ids = o.ids
    mails = sorted(set(ids.values()) | set(o.quarantined))
    return ["/manual", f"/manual?done={ids['held']}", f"/manual?done={ids['06']}", "/manual?reason=auth", "/mails",
            *(f"/mails?decision={d}" for d in ("accepted", "rejected", "manual", "ignored", "quarantined", "undecided")),
            "/mails?q=整骨院", "/mails?branch=福岡", *(f"/mails/{i}" for i in mails),
            f"/manual/{ids['scan']}", f"/manual/{ids['held2']}", f"/manual/{o.quarantined[0]}",
            "/ledger", "/ledger?code=カフェ", f"/ledger/{o.customer}", "/ledger/988776654", "/ledger/988776698",
            "/vendor", f"/vendor/batches/{o.batch_id}", "/status", "/tasks", "/branches"]


ADMIN_PAGES = ["/outbox", "/quarantine", "/audit", "/templates", "/templates/reject.txt.j2",
               "/templates/_defects.j2", "/templates/digest.txt.j2", "/templates/digest.html.j2",
               "/templates/vendor_batch.txt.j2", "/templates/link_items.txt.j2", "/templates/monthly_report.txt.j2",
               # point 5: the audit log filtered (by person, action, days; one that does not parse)
               "/audit?actor=kagawa", "/audit?action=template_save&since=2026-11-24&until=2026-11-24",
               "/audit?action=list_export", "/audit?since=2026-13-40&action=drop_table",
               # point 6: the difference of two versions (the confirmation is a POST: tests/
               # test_web_template_history_browser.py checks its words)
               "/templates/reject.txt.j2/diff?from=builtin&to=current", "/templates/_defects.j2/diff"]


def _check(page: object, base: str, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        response = page.goto(f"{base}{path}")  # type: ignore[attr-defined]
        assert response is not None and response.status < 500, path
        for rule, words in offences(page.evaluate(VISIBLE_TEXT_JS)):  # type: ignore[attr-defined]
            found.append(f"{path}: {rule}: …{words}…")
    return found


def test_no_page_shows_codes_keys_or_english(office: tuple[str, Office]) -> None:
    """Given the office's every state, when staff and then an admin open every page, then no
    page shows a code, a key, a Python value or repr, a command, a config section or English."""
    from playwright.sync_api import sync_playwright

    base, o = office
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            found = _check(page, base, ["/login"])
            sign_in(page, base, STAFF)
            found += _check(page, base, staff_pages(o))
            admin = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            sign_in(admin, base, ADMIN)
            found += _check(admin, base, staff_pages(o) + ADMIN_PAGES + ["/outbox?done=1", f"/quarantine?done={o.quarantined[1]}"])
        finally:
            browser.close()
    assert not found, "\n".join(found)


def test_the_checker_catches_what_it_must() -> None:
    """The rules above fail on each thing the issue names (so the test above can fail)."""
    for bad in ("ATTACHMENT_MISSING", "line_kind", "plus False", "defects ['X']", "typed {'a': 1}", "`bot run`",
                "bot reprocess", "[scans] integrated", "the reader process exited with status 1"):
        assert offences(bad), bad
    assert not offences("USEN SPOT Plus の申込書（PDF）を受付しました。SSID midori")


def test_staff_see_words_people_and_times(office: tuple[str, Office]) -> None:
    """Given a mail held for ten minutes and mails from aoyama.usen.co.jp, when staff open the
    queue, the list and the audit log, then the wait reads 10分, the branch 青山支店 (its domain
    only in a title), defects by name (the code only in a title), people by display name, and
    the favicon is served. Saves the screenshots of the changed pages."""
    from playwright.sync_api import sync_playwright

    base, o = office
    shots = ROOT / "docs"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            page.goto(f"{base}/login")
            page.screenshot(path=str(shots / "console-words-login.png"))
            assert page.request.get(f"{base}/favicon.ico").status == 200
            sign_in(page, base, STAFF)
            row = page.locator(f"table.queue tr:has(a[href='/manual/{o.ids['held2']}'])")
            assert "20分" in row.inner_text() and "0時間" not in row.inner_text()
            assert row.locator("td.from small").inner_text() == "青山支店"
            page.screenshot(path=str(shots / "console-words-queue.png"), full_page=True)
            page.goto(f"{base}/mails")
            cell = page.locator(f"table.list tr:has(a[href='/mails/{o.ids['03']}']) td.codes")
            assert "回線タイプの選択なし" in cell.inner_text()
            assert cell.locator("[title=LINE_TYPE_MISSING]").count() == 1
            page.screenshot(path=str(shots / "console-words-mails.png"), full_page=False)
            page.goto(f"{base}/mails/{o.ids['01']}")
            page.screenshot(path=str(shots / "console-words-mail.png"), full_page=True)
            page.goto(f"{base}/ledger/{o.customer}")
            assert "発注" in page.inner_text("main") and "order" not in page.inner_text("main")
            page.screenshot(path=str(shots / "console-words-ledger.png"), full_page=True)
            page.goto(f"{base}/status")
            page.screenshot(path=str(shots / "console-words-status.png"), full_page=True)
            admin = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            sign_in(admin, base, ADMIN, "/audit")
            text = admin.inner_text("main")
            assert "香川" in text and "kagawa" not in text.replace("kagawa@", "")
            admin.screenshot(path=str(shots / "console-words-audit.png"), full_page=True)
            admin.goto(f"{base}/outbox")
            admin.screenshot(path=str(shots / "console-words-outbox.png"), full_page=True)
        finally:
            browser.close()
    for name in ("login", "queue", "mails", "mail", "ledger", "status", "audit", "outbox"):
        assert (shots / f"console-words-{name}.png").stat().st_size > 10_000
