"""Phone and keyboard (issue 21 point 7), in a real browser (Debian's Chromium through
Playwright) over the database of every state (tests/support/office_states.py):

- at 390 px (a phone), no page is wider than the screen: ``document.documentElement.scrollWidth``
  is measured on every page, as staff and as an admin;
- axe-core (the ``axe-playwright-python`` wheel carries axe.min.js; nothing is downloaded)
  reports no serious or critical violation on any page;
- a skip link is the first stop of the Tab key and moves the focus to the page's content; the
  focused element is outlined visibly (at least 2 px, not the browser's thin default);
- on a held mail, the 差戻 remark is reached in a few Tab presses (the defect groups are folded:
  a person does not pass 25 checkboxes), and a group opens from the keyboard.
Saves docs/console-phone-*.png (the changed pages at 390 px)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.app import Clock
from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.support.office_states import NOW, Office, build_office
from tests.test_web_support import ADMIN, ROOT, STAFF
from tests.test_web_words_browser import ADMIN_PAGES, staff_pages

PHONE = {"width": 390, "height": 844}
WIDTH_JS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
# What stands out wider than the screen (to name it when the width check fails).
WIDE_JS = """() => { const w = document.documentElement.clientWidth; const out = [];
  for (const el of document.querySelectorAll('body *')) { const r = el.getBoundingClientRect();
    if (r.right > w + 1 && getComputedStyle(el).position !== 'fixed') out.push(el.tagName.toLowerCase() +
      (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '') +
      ' ' + Math.round(r.right)); }
  return out.slice(0, 5); }"""
FOCUS_JS = """() => { const el = document.activeElement; const s = getComputedStyle(el);
  return [el.tagName.toLowerCase(), el.id || el.getAttribute('href') || el.name || '', s.outlineStyle,
          parseFloat(s.outlineWidth), s.boxShadow]; }"""


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Office]]:
    from bot.web.app import create_app

    built = build_office(tmp_path_factory.mktemp("a11y"))
    with serve(create_app(built.cfg, clock=Clock(NOW))) as base:
        yield base, built


def _too_wide(page: Any, base: str, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status < 500, path
        scroll, client = page.evaluate(WIDTH_JS)
        if scroll > client:
            found.append(f"{path}: {scroll} px > {client} px: {page.evaluate(WIDE_JS)}")
    return found


def test_no_page_is_wider_than_a_phone(office: tuple[str, Office]) -> None:
    """Given the office's every state, when staff and an admin open every page at 390 px,
    then no page scrolls sideways. Saves the phone screenshots of the changed pages."""
    from playwright.sync_api import sync_playwright

    base, o = office
    shots = ROOT / "docs"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE, locale="ja-JP", device_scale_factor=1)
            found = _too_wide(page, base, ["/login"])
            sign_in(page, base, STAFF)
            found += _too_wide(page, base, staff_pages(o))
            for name, path in (("queue", "/manual"), ("held", f"/manual/{o.ids['held2']}"),
                               ("scan", f"/manual/{o.ids['scan']}"), ("mail", f"/mails/{o.ids['03']}")):
                page.goto(f"{base}{path}")
                page.screenshot(path=str(shots / f"console-phone-{name}.png"), full_page=name in ("queue", "held"))
            admin = browser.new_page(viewport=PHONE, locale="ja-JP")
            sign_in(admin, base, ADMIN)
            found += _too_wide(admin, base, ADMIN_PAGES)
        finally:
            browser.close()
    assert not found, "\n".join(found)


def _axe(page: Any, base: str, paths: list[str]) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = []
    for path in paths:
        page.goto(f"{base}{path}")
        results = axe.run(page)
        for v in results.response["violations"]:
            if v.get("impact") in ("serious", "critical"):
                targets = [n["target"] for n in v["nodes"][:3]]
                found.append(f"{path}: {v['impact']} {v['id']}: {v['help']} {targets}")
    return found


def test_axe_finds_nothing_serious_on_any_page(office: tuple[str, Office]) -> None:
    """Given every page (staff's and an admin's, a held mail with its 差戻 preview open), when
    axe-core checks it, then there is no serious or critical violation."""
    from playwright.sync_api import sync_playwright

    base, o = office
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            found = _axe(page, base, ["/login"])
            sign_in(page, base, STAFF)
            found += _axe(page, base, staff_pages(o))
            admin = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            sign_in(admin, base, ADMIN)
            found += _axe(admin, base, ADMIN_PAGES)
        finally:
            browser.close()
    assert not found, "\n".join(found)


def test_keyboard_skip_link_focus_style_and_the_reject_choices(office: tuple[str, Office]) -> None:
    """Given a held mail, when a person uses only the keyboard, then the first Tab lands on the
    skip link (visible, outlined) which moves to the content; the 差戻 remark is reached
    within 12 Tab presses from the 差戻 heading (the groups are folded), and Enter on a
    group's summary opens it."""
    from playwright.sync_api import sync_playwright

    base, o = office
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            sign_in(page, base, STAFF)
            page.goto(f"{base}/manual/{o.ids['held2']}")
            page.keyboard.press("Tab")
            tag, target, style, width, shadow = page.evaluate(FOCUS_JS)
            assert (tag, target) == ("a", "#main"), (tag, target)
            assert page.locator("a.skip").is_visible()
            assert (style != "none" and width >= 2) or shadow != "none", (style, width, shadow)
            page.keyboard.press("Enter")
            assert page.evaluate("() => location.hash") == "#main"
            # the 差戻 choices: from the first box of the 差戻 form to the remark
            page.focus("#reject-form input[type=checkbox]")
            presses = 0
            while page.evaluate("() => document.activeElement.id") != "remark":
                page.keyboard.press("Tab")
                presses += 1
                assert presses <= 12, "the remark is more than 12 Tab presses away"
            tag, _t, style, width, shadow = page.evaluate(FOCUS_JS)
            assert (style != "none" and width >= 2) or shadow != "none", (tag, style, width, shadow)
            summary = page.locator("#group-form summary")
            summary.focus()
            page.keyboard.press("Enter")
            assert page.locator("#group-form").get_attribute("open") is not None
            assert page.locator("input[name=defect_SSID_NOT_HALFWIDTH]").is_visible()
        finally:
            browser.close()
