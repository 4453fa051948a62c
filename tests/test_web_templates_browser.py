"""テンプレート in a real browser (Debian's Chromium, headless, through Playwright, as
tests/test_web_browser.py): an admin edits the 差戻 mail, the preview follows the typing, an
error names its line, the save is a new version in the history and the file the bot reads;
the digest's HTML preview frame shows the draft and runs none of its script. Saves
docs/console-templates.png (the editor as admins see it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import TemplatesConfig
from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.test_web_support import ADMIN, ROOT, web_config
from tests.test_web_templates import database_with_users

GREETING = "USEN SPOT 事務センター（開業支援G）です。"
TYPED = "本日はブラウザから編集しています。"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from bot.web.app import create_app

    where = tmp_path_factory.mktemp("templates-browser")
    admin_dir = where / "admin-templates"
    cfg = web_config(database_with_users(f"sqlite:///{where / 'bot.sqlite3'}"))
    cfg = cfg.replace(templates=TemplatesConfig(dir=str(admin_dir)))
    with serve(create_app(cfg)) as base:
        yield f"{base}", admin_dir


def test_edit_a_template_and_see_the_preview_change(server: tuple[str, Path]) -> None:
    """Given the built-in 差戻 mail, when an admin types a sentence after its greeting, the
    preview shows it without a click; a broken expression shows its line and the last good
    preview stays; after saving, the history has the version and the folder has the file."""
    from playwright.sync_api import expect, sync_playwright

    base, admin_dir = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            errors: list[str] = []  # script errors and failed requests (the browser's own favicon aside)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            sign_in(page, base, ADMIN, "/templates")
            page.click("a[href='/templates/reject.txt.j2']")
            page.wait_for_url(f"{base}/templates/reject.txt.j2")
            preview = page.locator("#preview-text")
            expect(preview).to_contain_text("内田 太郎 様")
            assert TYPED not in preview.inner_text()
            assert page.locator("#history .empty").count() == 1

            area = page.locator("#body")
            area.click()
            page.keyboard.press("Control+Home")
            for _ in range(3):  # line 4: the greeting
                page.keyboard.press("ArrowDown")
            page.keyboard.press("End")
            page.keyboard.type(TYPED)
            expect(preview).to_contain_text(GREETING + TYPED, timeout=10_000)
            expect(page.locator("#preview-status")).to_have_text("エラーはありません")

            page.keyboard.type("{{ nope }}")
            expect(page.locator("#preview-status")).to_have_text("エラーがあります（保存できません）", timeout=10_000)
            expect(page.locator("#preview-problems li")).to_contain_text("reject.txt.j2 4行目：")
            expect(page.locator("#preview-problems li")).to_contain_text("変数 nope はありません")  # in Japanese
            assert "undefined" not in page.locator("#preview-problems li").inner_text()
            expect(preview).to_contain_text(GREETING + TYPED)  # the last good rendering stays
            page.locator("#preview-problems li[data-line='4']").click()  # selects line 4 of the draft
            assert page.evaluate("() => { const a = document.getElementById('body');"
                                 " return a.value.slice(a.selectionStart, a.selectionEnd); }").startswith(GREETING)
            page.keyboard.press("End")  # the textarea has the focus, line 4 selected
            for _ in range(len("{{ nope }}")):
                page.keyboard.press("Backspace")
            expect(page.locator("#preview-status")).to_have_text("エラーはありません", timeout=10_000)

            page.fill("input[name=note]", "挨拶のあとに一文を追加")
            page.click("#save")
            page.wait_for_url(f"{base}/templates/reject.txt.j2?saved=*")
            expect(page.locator("#notice")).to_contain_text("を保存しました")
            rows = page.locator("#history tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("挨拶のあとに一文を追加")
            expect(rows.first).to_contain_text("管理 太郎")  # who saved it, by display name (issue 21 point 8)
            expect(preview).to_contain_text(GREETING + TYPED)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(ROOT / "docs" / "console-templates.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
    assert GREETING + TYPED in (admin_dir / "reject.txt.j2").read_text(encoding="utf-8")
    assert (ROOT / "docs" / "console-templates.png").stat().st_size > 10_000


def test_the_html_preview_frame_shows_the_draft_and_runs_no_script(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, _admin_dir = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            sign_in(page, base, ADMIN, "/templates/digest.html.j2")
            frame = page.frame_locator("#preview-frame")
            expect(frame.locator("body")).to_contain_text("日次レポート", timeout=10_000)
            page.locator("#body").fill("<p>フレームの確認</p><script>document.body.textContent = 'pwned';"
                                       "parent.document.title = 'pwned'</script><p>{{ subject }}</p>")
            expect(frame.locator("body")).to_contain_text("フレームの確認", timeout=10_000)
            expect(frame.locator("body")).to_contain_text("日次レポート")
            assert "pwned" not in frame.locator("body").inner_text() and page.title() != "pwned"
        finally:
            browser.close()
