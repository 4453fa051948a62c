"""テンプレート's history in a real browser (Debian's Chromium through Playwright, as
tests/test_web_templates_browser.py), issue 21 point 6: the variables a template may use
beside the editor, the difference between two versions (added and removed lines said in words,
not by colour alone), and a revert that asks first and writes nothing until confirmed.
Saves docs/console-templates-diff.png and docs/console-templates-confirm.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import TemplatesConfig
from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.support.words import VISIBLE_TEXT_JS, offences
from tests.test_web_support import ADMIN, ROOT, web_config
from tests.test_web_templates import _versions, database_with_users

NAME = "vendor_batch.txt.j2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    from bot.web.app import create_app

    where = tmp_path_factory.mktemp("template-history-browser")
    admin_dir = where / "admin-templates"
    url = database_with_users(f"sqlite:///{where / 'bot.sqlite3'}")
    cfg = web_config(url).replace(templates=TemplatesConfig(dir=str(admin_dir)))
    with serve(create_app(cfg)) as base:
        yield base, admin_dir, url


def _save_with_line(page: object, base: str, line: str) -> None:
    """Add `line` at the top of the editor's text and save (through the page's own form)."""
    page.goto(f"{base}/templates/{NAME}")  # type: ignore[attr-defined]
    area = page.locator("#body")  # type: ignore[attr-defined]
    area.fill(line + "\n" + area.input_value())
    page.click("#save")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/templates/{NAME}?saved=*")  # type: ignore[attr-defined]


def test_variables_diff_and_a_revert_that_asks_first(server: tuple[str, Path, str]) -> None:
    """Given two saved versions of the vendor mail, when the admin opens the editor, then the
    variables of its sample data are listed beside it; the 差分 of the newest version shows
    the added line marked 「追加」 and the removed one 「削除」 in text; この版に戻す shows what
    would change and writes nothing until 「この版に戻す」 is pressed on that page."""
    from playwright.sync_api import expect, sync_playwright

    base, admin_dir, url = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ja-JP")
            sign_in(page, base, ADMIN, f"/templates/{NAME}")
            variables = page.locator("#variables")
            expect(variables).to_contain_text("使える変数")
            for name in ("batch_date", "counts", "csv_name"):
                expect(variables.locator("code", has_text=name).first).to_be_visible()
            expect(variables).to_contain_text("一覧（サンプルでは9件）")  # counts (one per 区分), with what is inside each
            box = variables.bounding_box()
            editor = page.locator("#body").bounding_box()
            assert box and editor and box["x"] > editor["x"] + editor["width"]  # beside the editor, not under it

            assert not offences(page.evaluate(VISIBLE_TEXT_JS)), offences(page.evaluate(VISIBLE_TEXT_JS))

            # An error while typing reads in Japanese with its line (the live preview's list).
            area = page.locator("#body")
            original = area.input_value()
            area.fill("{{ tantousha_mei }}\n" + original)
            problems = page.locator("#preview-problems li")
            expect(problems).to_contain_text("vendor_batch.txt.j2 1行目：変数 tantousha_mei はありません",
                                             timeout=10_000)
            assert not offences(page.evaluate(VISIBLE_TEXT_JS)), offences(page.evaluate(VISIBLE_TEXT_JS))
            assert "undefined" in (problems.first.get_attribute("title") or "")  # Jinja's words only in the title

            _save_with_line(page, base, "{# 第一版の行 #}")
            page.goto(f"{base}/templates/{NAME}")
            page.locator("#body").fill(page.locator("#body").input_value().replace("{# 第一版の行 #}",
                                                                                    "{# 第二版の行 #}"))
            page.click("#save")
            page.wait_for_url(f"{base}/templates/{NAME}?saved=*")
            first, second = _versions(url, NAME)

            page.locator(f"#v{second.id} a.diff-link").click()
            page.wait_for_url(f"{base}/templates/{NAME}/diff?from={first.id}&to={second.id}")
            removed = page.locator("table.diff tr.removed")
            added = page.locator("table.diff tr.added")
            expect(removed).to_have_count(1)
            expect(added).to_have_count(1)
            expect(removed.locator("td.change")).to_have_text("－ 削除")  # in words, not only red
            expect(added.locator("td.change")).to_have_text("＋ 追加")
            expect(removed).to_contain_text("第一版の行")
            expect(added).to_contain_text("第二版の行")
            expect(page.locator("p.diff-summary")).to_contain_text("追加 1行・削除 1行")
            assert not offences(page.evaluate(VISIBLE_TEXT_JS)), offences(page.evaluate(VISIBLE_TEXT_JS))
            page.screenshot(path=str(ROOT / "docs" / "console-templates-diff.png"), full_page=False)

            page.goto(f"{base}/templates/{NAME}#history")
            page.locator(f"#v{first.id} button.revert").click()
            page.wait_for_url(f"{base}/templates/{NAME}/revert")
            expect(page.locator("h1")).to_contain_text("この版に戻す前の確認")
            expect(page.locator("#diff table.diff tr.added")).to_contain_text("第一版の行")
            assert len(_versions(url, NAME)) == 2  # asking wrote nothing
            assert not offences(page.evaluate(VISIBLE_TEXT_JS)), offences(page.evaluate(VISIBLE_TEXT_JS))
            assert "第二版の行" in (admin_dir / NAME).read_text(encoding="utf-8")
            page.screenshot(path=str(ROOT / "docs" / "console-templates-confirm.png"), full_page=False)

            page.click("#cancel")  # やめる: back to the editor, still nothing written
            page.wait_for_url(f"{base}/templates/{NAME}")
            assert len(_versions(url, NAME)) == 2

            page.locator(f"#v{first.id} button.revert").click()
            page.fill("#confirm-form input[name=note]", "第一版に戻す")
            page.click("#confirm-button")
            page.wait_for_url(f"{base}/templates/{NAME}?saved=*")
            rows = _versions(url, NAME)
            assert [r.action for r in rows] == ["save", "save", "revert"] and rows[-1].reverted_from == first.id
            assert "第一版の行" in (admin_dir / NAME).read_text(encoding="utf-8")
            expect(page.locator(f"#v{rows[-1].id}")).to_contain_text("第一版に戻す")
        finally:
            browser.close()
    for shot in ("diff", "confirm"):
        assert (ROOT / "docs" / f"console-templates-{shot}.png").stat().st_size > 10_000
