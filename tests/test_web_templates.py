"""テンプレート (admins): the editor through the in-process client. A valid draft becomes a
version row, an override file and the text a running bot's Templates renders; a draft that does
not render is refused naming its line, with nothing written; revert and 組み込みに戻す are new
versions; staff get 403, a POST without the CSRF token 403, a name off the allow-list 404."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.testclient import TestClient

from bot import db
from bot.config import Config, TemplatesConfig
from bot.db.models import AuditEntry, TemplateVersion
from bot.templating import Templates
from bot.templating import store as template_store
from bot.templating.samples import sample_for
from bot.web import users
from tests.support.app import DEFAULT_NOW
from tests.test_web_support import ADMIN, STAFF, csrf_token, signed_in, web_config

REJECT = "reject.txt.j2"
GREETING = "USEN SPOT 事務センター（開業支援G）です。"


def database_with_users(url: str) -> str:
    """A migrated database holding the two console users (no mails: these pages need none)."""
    db.upgrade(url)
    factory = db.session_factory(db.make_engine(url))
    with db.transaction(factory) as s:
        users.add_user(s, ADMIN[0], ADMIN[1], role="admin", display_name="管理 太郎", now=DEFAULT_NOW, by="test")
        users.add_user(s, STAFF[0], STAFF[1], role="staff", display_name="香川", now=DEFAULT_NOW, by="test")
    factory.kw["bind"].dispose()
    return url


@pytest.fixture
def url(tmp_path: Path) -> str:
    return database_with_users(f"sqlite:///{tmp_path / 'bot.sqlite3'}")


@pytest.fixture
def admin_dir(tmp_path: Path) -> Path:
    return tmp_path / "admin-templates"  # not there yet: the first save creates it


@pytest.fixture
def cfg(url: str, admin_dir: Path) -> Config:
    return web_config(url).replace(templates=TemplatesConfig(dir=str(admin_dir)))


@pytest.fixture
def admin(cfg: Config) -> TestClient:
    return signed_in(cfg, ADMIN)


def _editor(c: TestClient, name: str = REJECT) -> tuple[str, str]:
    """(CSRF token, base version) from the editor page."""
    page = c.get(f"/templates/{name}")
    assert page.status_code == 200, page.text
    base = re.search(r'name="base" value="(\d+)"', page.text)
    assert base
    return csrf_token(page.text), base.group(1)


def _save(c: TestClient, body: str, name: str = REJECT, note: str = "") -> Response:
    token, base = _editor(c, name)
    return c.post(f"/templates/{name}/save", data={"csrf_token": token, "base": base, "body": body, "note": note})


def _versions(url: str, name: str = REJECT) -> list[TemplateVersion]:
    factory = db.session_factory(db.make_engine(url))
    try:
        with factory() as s:
            return list(s.scalars(select(TemplateVersion).where(TemplateVersion.name == name)
                                  .order_by(TemplateVersion.id)))
    finally:
        factory.kw["bind"].dispose()


def _audit(url: str) -> list[AuditEntry]:
    factory = db.session_factory(db.make_engine(url))
    try:
        with factory() as s:
            return list(s.scalars(select(AuditEntry).where(AuditEntry.action.like("template_%"))
                                  .order_by(AuditEntry.id)))
    finally:
        factory.kw["bind"].dispose()


def _edited(marker: str) -> str:
    return template_store.builtin_source(REJECT).replace(GREETING, f"{GREETING}{marker}")


def test_the_list_shows_every_template_and_where_it_comes_from(admin: TestClient, admin_dir: Path) -> None:
    page = admin.get("/templates")
    assert page.status_code == 200
    for name in ("reject.txt.j2", "_defects.j2", "digest.txt.j2", "digest.html.j2", "vendor_batch.txt.j2"):
        assert f'href="/templates/{name}"' in page.text
    assert "差戻メール" in page.text and "組み込み" in page.text and str(admin_dir) in page.text
    assert 'href="/templates"' in admin.get("/mails").text  # the header links to it for admins


def test_saving_a_valid_template_makes_a_version_the_file_and_the_bots_text(
        admin: TestClient, url: str, admin_dir: Path) -> None:
    """Given a running bot's Templates (built-in text so far), when an admin saves an edited
    差戻 mail, then a version row, the override file and the audit row exist, and the same
    Templates object renders the new text without a restart."""
    daemon = Templates(admin_dir)
    sample = sample_for(REJECT)
    assert sample is not None
    assert "署名テスト" not in daemon.render(REJECT, sample)

    response = _save(admin, _edited("署名テスト").replace("\n", "\r\n"), note="挨拶文を変更")

    assert response.status_code == 303
    [row] = _versions(url)
    assert response.headers["location"] == f"/templates/{REJECT}?saved={row.id}"
    assert (row.action, row.created_by, row.note, row.body) == ("save", ADMIN[0], "挨拶文を変更", _edited("署名テスト"))
    assert (admin_dir / REJECT).read_text(encoding="utf-8") == _edited("署名テスト")  # LF, as the files are
    assert [p.name for p in admin_dir.iterdir()] == [REJECT]  # no temp file left behind
    assert "署名テスト" in daemon.render(REJECT, sample) and daemon.breakages == []
    [entry] = _audit(url)
    assert entry.action == "template_save" and entry.username == ADMIN[0]
    assert entry.detail == {"template": REJECT, "version": row.id, "note": "挨拶文を変更"}

    page = admin.get(f"/templates/{REJECT}?saved={row.id}")
    assert f"版 #{row.id} を保存しました" in page.text and f'id="v{row.id}"' in page.text
    assert "署名テスト" in page.text and "上書き" in page.text
    assert "テンプレートを保存" in admin.get("/audit").text


def _problems_text(page: str) -> str:
    """The error list as a person reads it (tags and attributes such as the title left out)."""
    found = re.search(r'<ul id="preview-problems"[^>]*>(.*?)</ul>', page, re.S)
    assert found, "no error list on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))


@pytest.mark.parametrize(("broken", "line", "message", "english"), [
    ("{{ sender_name }} 様\n\n{% if show_subjects %}\n閉じていない if\n", 4,
     "{% if %} が閉じられていません。対応する {% endif %} を書いてください。", "TemplateSyntaxError"),
    ("{{ sender_name }} 様\n{{ customer_code }}\n{{ no_such_name }}\n", 3, "変数 no_such_name はありません。",
     "'no_such_name' is undefined"),
    ("{{ sender_name }} 様\n{{ sender_name.__class__ }}\n", 2, "__class__ は安全のため使えません", "SecurityError"),
])
def test_a_template_that_does_not_render_is_not_saved(
        admin: TestClient, url: str, admin_dir: Path, broken: str, line: int, message: str, english: str) -> None:
    """Given a draft with a syntax error, an unknown variable or an unsafe attribute, when it is
    saved, then nothing is written and the error reads in Japanese with its file and line
    (Jinja's English only in the item's title)."""
    response = _save(admin, broken)

    assert response.status_code == 422
    text = response.text
    shown = _problems_text(text)
    assert "保存しませんでした" in text and f"{REJECT} {line}行目：" in shown and message in shown, shown
    assert english not in shown and english in html.unescape(text)  # the original rides in the title
    assert f'data-line="{line}"' in text  # the script can select that line
    assert "閉じていない" in text or "no_such_name" in text or "__class__" in text  # the draft is kept
    assert _versions(url) == [] and _audit(url) == []
    assert not (admin_dir / REJECT).exists()


def test_a_partial_that_breaks_a_mail_is_not_saved(admin: TestClient, url: str, admin_dir: Path) -> None:
    """_defects.j2 without the macro the 差戻 mail calls: the mail using it fails, named with its line."""
    response = _save(admin, "{% macro other(d) %}{{ d.code }}{% endmacro %}\n", name="_defects.j2")
    assert response.status_code == 422
    assert re.search(r"reject\.txt\.j2（組み込み） \d+行目", response.text)
    assert _versions(url, "_defects.j2") == [] and not admin_dir.exists()


def test_a_digest_without_its_subject_is_not_saved(admin: TestClient, url: str) -> None:
    response = _save(admin, "本文だけ\n", name="digest.txt.j2")
    assert response.status_code == 422
    assert "{% set subject = … %} がありません" in response.text
    assert _versions(url, "digest.txt.j2") == []


def test_preview_answers_json_to_the_script_and_the_page_without_it(admin: TestClient) -> None:
    token, base = _editor(admin)
    json_headers = {"Accept": "application/json"}

    ok = admin.post(f"/templates/{REJECT}/preview", data={"csrf_token": token, "body": _edited("プレビュー確認")},
                    headers=json_headers).json()
    assert ok["ok"] and "プレビュー確認" in ok["text"] and "内田 太郎 様" in ok["text"] and ok["problems"] == []

    bad = admin.post(f"/templates/{REJECT}/preview", data={"csrf_token": token, "body": "1\n2\n{{ x }"},
                     headers=json_headers).json()
    assert not bad["ok"] and bad["problems"][0]["line"] == 3 and bad["problems"][0]["in_draft"]

    page = admin.post(f"/templates/{REJECT}/preview",
                      data={"csrf_token": token, "base": base, "body": "<b>{{ sender_name }}</b> 様"})
    assert page.status_code == 200
    assert "&lt;b&gt;内田 太郎&lt;/b&gt; 様</pre>" in page.text  # shown as text, never as markup
    assert "&lt;b&gt;{{ sender_name }}&lt;/b&gt; 様</textarea>" in page.text  # the draft stays in the editor


def test_revert_and_back_to_builtin_are_new_versions(admin: TestClient, url: str, admin_dir: Path) -> None:
    daemon = Templates(admin_dir)
    sample = sample_for(REJECT)
    assert sample is not None
    assert _save(admin, _edited("第一版")).status_code == 303
    assert _save(admin, _edited("第二版")).status_code == 303
    assert "第二版" in daemon.render(REJECT, sample)
    first, second = _versions(url)

    token, base = _editor(admin)
    assert base == str(second.id)
    asked = admin.post(f"/templates/{REJECT}/revert", data={"csrf_token": token, "base": base,
                                                            "version": str(first.id)})
    assert asked.status_code == 200 and "この版に戻す前の確認" in asked.text  # first the confirmation
    assert len(_versions(url)) == 2 and "第二版" in daemon.render(REJECT, sample)  # nothing written yet
    assert 'name="confirm" value="1"' in asked.text and csrf_token(asked.text)
    reverted = admin.post(f"/templates/{REJECT}/revert", data={"csrf_token": token, "base": base,
                                                               "version": str(first.id), "confirm": "1"})
    assert reverted.status_code == 303
    rows = _versions(url)
    assert [r.id for r in rows[:2]] == [first.id, second.id] and rows[1].body == _edited("第二版")  # kept as it was
    assert (rows[2].action, rows[2].reverted_from, rows[2].body) == ("revert", first.id, _edited("第一版"))
    assert (admin_dir / REJECT).read_text(encoding="utf-8") == _edited("第一版")
    assert "第一版" in daemon.render(REJECT, sample)

    token, base = _editor(admin)
    asked = admin.post(f"/templates/{REJECT}/builtin", data={"csrf_token": token, "base": base})
    assert asked.status_code == 200 and "組み込みに戻す前の確認" in asked.text and (admin_dir / REJECT).exists()
    assert admin.post(f"/templates/{REJECT}/builtin", data={"csrf_token": token, "base": base,
                                                            "confirm": "1"}).status_code == 303
    assert not (admin_dir / REJECT).exists()
    assert _versions(url)[-1].action == "builtin"
    assert daemon.render(REJECT, sample) == daemon.render_builtin(REJECT, sample)
    assert [e.action for e in _audit(url)] == ["template_save", "template_save", "template_revert", "template_builtin"]
    assert _audit(url)[2].detail["reverted_from"] == first.id


def test_a_save_over_a_newer_version_is_refused_and_keeps_the_draft(admin: TestClient, url: str,
                                                                   admin_dir: Path) -> None:
    token, base = _editor(admin)
    assert _save(admin, _edited("先に保存")).status_code == 303
    late = admin.post(f"/templates/{REJECT}/save", data={"csrf_token": token, "base": base,
                                                         "body": _edited("後から保存")})
    assert late.status_code == 409
    assert f"{ADMIN[0]} さんが新しい版" in late.text and "後から保存" in late.text
    assert len(_versions(url)) == 1 and "先に保存" in (admin_dir / REJECT).read_text(encoding="utf-8")


def test_unchanged_text_is_not_a_new_version(admin: TestClient, url: str) -> None:
    response = _save(admin, template_store.builtin_source(REJECT))
    assert response.status_code == 422 and "変更がない" in response.text
    assert _versions(url) == []


def test_staff_get_403_and_no_link(cfg: Config, admin_dir: Path, url: str) -> None:
    staff = signed_in(cfg, STAFF)
    assert staff.get("/templates").status_code == 403
    assert staff.get(f"/templates/{REJECT}").status_code == 403
    token = csrf_token(staff.get("/mails").text)
    assert 'href="/templates"' not in staff.get("/mails").text
    for action in ("save", "preview", "builtin"):
        response = staff.post(f"/templates/{REJECT}/{action}", data={"csrf_token": token, "body": _edited("職員")})
        assert response.status_code == 403 and "管理者のみ" in response.text
    assert not admin_dir.exists() and _versions(url) == []


def test_a_post_without_the_csrf_token_is_refused(admin: TestClient, admin_dir: Path, url: str) -> None:
    _token, base = _editor(admin)
    response = admin.post(f"/templates/{REJECT}/save", data={"base": base, "body": _edited("トークンなし")})
    assert response.status_code == 403 and "トークン" in response.text
    assert not admin_dir.exists() and _versions(url) == []


@pytest.mark.parametrize("name", [
    "..%2F..%2Fconfig.toml", "..%2Fpyproject.toml", "web%2Fbase.html", "base.html", "%2E%2E",
    "%2E%2E%2F%2E%2E%2Fconfig.toml", "pyproject.toml", "reject.txt.j2%00", "reject.txt", "REJECT.TXT.J2", "%2Fetc%2Fpasswd",
])
def test_a_name_off_the_allow_list_is_404(admin: TestClient, admin_dir: Path, url: str, name: str) -> None:
    token, base = _editor(admin)
    assert admin.get(f"/templates/{name}").status_code == 404
    for action in ("save", "preview", "frame"):
        response = admin.post(f"/templates/{name}/{action}", data={"csrf_token": token, "base": base, "body": "x"})
        assert response.status_code == 404
    assert not admin_dir.exists() and _versions(url, name) == []


def test_the_html_preview_frame_runs_nothing(admin: TestClient) -> None:
    token, _base = _editor(admin, "digest.html.j2")
    current = admin.get("/templates/digest.html.j2/frame")
    assert current.status_code == 200 and "日次レポート" in current.text
    posted = admin.post("/templates/digest.html.j2/frame",
                        data={"csrf_token": token, "body": "<p>x</p><script>document.title='pwned'</script>"})
    for response in (current, posted):
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert admin.get(f"/templates/{REJECT}/frame").status_code == 404  # text mails are shown as text
    assert '<iframe name="preview-frame" id="preview-frame" sandbox' in admin.get("/templates/digest.html.j2").text


def test_without_an_admin_folder_the_page_previews_but_does_not_save(url: str) -> None:
    admin = signed_in(web_config(url), ADMIN)
    page = admin.get(f"/templates/{REJECT}")
    assert "設定されていないため、テンプレートを保存できません" in page.text and 'id="save" disabled' in page.text
    response = _save(admin, _edited("フォルダなし"))
    assert response.status_code == 409 and "[templates] dir" in response.text
    assert _versions(url) == []


def test_a_file_changed_by_hand_is_flagged(admin: TestClient, admin_dir: Path) -> None:
    assert _save(admin, _edited("コンソール")).status_code == 303
    (admin_dir / REJECT).write_text(_edited("手で編集"), encoding="utf-8")
    page = admin.get(f"/templates/{REJECT}")
    assert 'id="drifted"' in page.text and "手で編集" in page.text
    assert "フォルダのファイルが履歴と異なります" in admin.get("/templates").text


def test_a_failed_commit_puts_the_file_back(url: str, admin_dir: Path) -> None:
    """The file is written as the last step before the commit; when the commit then fails,
    the folder is put back as it was and the history has no new row."""
    engine = db.make_engine(url)
    first = template_store.save(db.session_factory(engine), REJECT, _edited("残る版"), admin_dir=admin_dir,
                                by="cli:test", now=DEFAULT_NOW)
    seen: list[str] = []

    class RefusingSession(Session):
        pass

    def refuse(_session: Session) -> None:
        seen.append((admin_dir / REJECT).read_text(encoding="utf-8"))  # the new file is in place here
        raise RuntimeError("commit refused")

    event.listen(RefusingSession, "before_commit", refuse)
    with pytest.raises(RuntimeError, match="commit refused"):
        template_store.save(sessionmaker(engine, class_=RefusingSession), REJECT, _edited("消える版"),
                            admin_dir=admin_dir, by="cli:test", now=DEFAULT_NOW)
    assert seen == [_edited("消える版")]
    assert (admin_dir / REJECT).read_text(encoding="utf-8") == _edited("残る版")
    assert [v.id for v in _versions(url)] == [first.id]
    engine.dispose()


def test_versions_on_sqlite_and_postgresql(any_db_url: str, tmp_path: Path) -> None:
    """The store's save, revert and queries (with PostgreSQL's advisory lock) on both databases."""
    engine = db.make_engine(any_db_url)
    factory = db.session_factory(engine)
    folder = tmp_path / "admin"
    try:
        first = template_store.save(factory, REJECT, _edited("一"), admin_dir=folder, by="cli:test", now=DEFAULT_NOW)
        second = template_store.save(factory, REJECT, _edited("二"), admin_dir=folder, by="cli:test", now=DEFAULT_NOW,
                                     base=first.id)
        third = template_store.revert(factory, REJECT, first.id, admin_dir=folder, by="cli:test", now=DEFAULT_NOW,
                                      base=second.id)
        with factory() as s:
            assert [v.id for v in template_store.history(s, REJECT)] == [third.id, second.id, first.id]
            assert template_store.latest_versions(s)[REJECT].id == third.id
            assert not template_store.drifted(REJECT, template_store.latest(s, REJECT), folder)
        assert (folder / REJECT).read_text(encoding="utf-8") == _edited("一")
        with pytest.raises(template_store.StaleVersion):
            template_store.save(factory, REJECT, _edited("三"), admin_dir=folder, by="cli:test", now=DEFAULT_NOW,
                                base=second.id)
    finally:
        engine.dispose()
