"""The console's sign-in: users, sessions, the login limit, CSRF, roles, the audit log and
`bot users` (in-process client on SQLite; the CLI as a subprocess)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import db
from bot.db.models import AuditEntry, User, WebSession
from bot.web import users
from tests.support.app import DEFAULT_NOW, Clock
from tests.test_web_support import (
    ADMIN,
    ROOT,
    SECRET,
    STAFF,
    client,
    csrf_token,
    login,
    signed_in,
    token_of,
    web_config,
)


@pytest.fixture
def url(sqlite_url: str) -> str:
    engine = db.make_engine(sqlite_url)
    with db.transaction(db.session_factory(engine)) as s:
        users.add_user(s, ADMIN[0], ADMIN[1], role="admin", now=DEFAULT_NOW, by="test")
        users.add_user(s, STAFF[0], STAFF[1], role="staff", display_name="香川", now=DEFAULT_NOW, by="test")
    engine.dispose()
    return sqlite_url


def audit_rows(url: str) -> list[tuple[str, str, int | None]]:
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as s:
            return [(a.action, a.username, a.mail_id) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    finally:
        engine.dispose()


def test_every_page_needs_a_login(url: str) -> None:
    c = client(web_config(url))
    for path in ("/", "/mails", "/mails/1", "/manual", "/manual/1", "/audit", "/mails/1/attachments/0",
                 "/mails/1/attachments/0/pages/1.png"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    page = c.get("/login")
    assert page.status_code == 200 and "ログイン" in page.text and "パスワード" in page.text


def test_login_sets_a_safe_cookie_and_is_audited(url: str) -> None:
    c = client(web_config(url))
    r = login(c)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("bot_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Secure" not in cookie
    page = c.get("/mails")
    assert page.status_code == 200 and "香川" in page.text and "受信一覧" in page.text
    assert ("login", STAFF[0], None) in audit_rows(url)


def test_secure_cookies_behind_tls(url: str) -> None:
    first = client(web_config(url, https=True)).get("/login")
    assert "Secure" in first.headers["set-cookie"]
    c = client(web_config(url, https=True), base_url="https://testserver")
    r = login(c)
    cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    assert cookies and all("Secure" in v for v in cookies)
    http_only = client(web_config(url), base_url="https://testserver")  # over TLS without the setting: Secure too
    assert "Secure" in login(http_only).headers["set-cookie"]


def test_wrong_password_and_unknown_user_say_the_same(url: str) -> None:
    c = client(web_config(url))
    wrong = login(c, STAFF, password="not-the-password")
    unknown = login(c, ("nobody", "whatever-password"))
    for r in (wrong, unknown):
        assert r.status_code == 401 and "ユーザー名またはパスワードが違います" in r.text
        assert "bot_session" not in r.headers.get("set-cookie", "")
    assert [a for a in audit_rows(url) if a[0] == "login_failed"] == [
        ("login_failed", STAFF[0], None), ("login_failed", "nobody", None)]


def test_login_attempts_are_limited_per_user_then_pass_after_the_window(url: str) -> None:
    clock = Clock(DEFAULT_NOW)
    cfg = web_config(url, login_failures_per_user=3, login_window_minutes=15)
    c = client(cfg, clock)
    for _ in range(3):
        assert login(c, STAFF, password="wrong-password-x").status_code == 401
    limited = login(c, STAFF)  # the right password, but too many failures
    assert limited.status_code == 429 and "しばらく受け付けません" in limited.text
    assert login(c, ADMIN).status_code == 303  # another user is not limited
    clock.now += dt.timedelta(minutes=16)
    assert login(client(cfg, clock), STAFF).status_code == 303
    actions = [a[0] for a in audit_rows(url)]
    assert actions.count("login_failed") == 3 and actions.count("login_limited") == 1


def test_login_attempts_are_limited_per_address(url: str) -> None:
    cfg = web_config(url, login_failures_per_ip=4)
    c = client(cfg)
    for n in range(4):
        assert login(c, (f"guess{n}", "password-guess")).status_code == 401
    assert login(c, ADMIN).status_code == 429


def test_a_success_clears_the_users_count(url: str) -> None:
    cfg = web_config(url, login_failures_per_user=3)
    clock = Clock(DEFAULT_NOW)
    for attempt in ("wrong", "wrong", "right", "wrong", "wrong", "right"):
        clock.now += dt.timedelta(seconds=10)
        r = login(client(cfg, clock), STAFF, password=None if attempt == "right" else "wrong-password-x")
        assert r.status_code == (303 if attempt == "right" else 401)


@pytest.mark.parametrize("how", ["no token", "wrong token", "other origin", "no cookie"])
def test_a_post_without_a_valid_csrf_token_is_refused(url: str, how: str) -> None:
    c = signed_in(web_config(url))
    token = token_of(c)
    data = {"csrf_token": token}
    headers = {}
    if how == "no token":
        data = {}
    elif how == "wrong token":
        data = {"csrf_token": "0" * 64}
    elif how == "other origin":
        headers = {"Origin": "https://evil.example"}
    else:
        c.cookies.delete("bot_csrf")
    r = c.post("/logout", data=data, headers=headers)
    assert r.status_code == 403 and "送信できませんでした" in r.text
    assert c.get("/mails").status_code == 200  # still signed in: the logout did not happen


def test_login_form_itself_needs_the_token(url: str) -> None:
    c = client(web_config(url))
    c.get("/login")
    r = c.post("/login", data={"username": STAFF[0], "password": STAFF[1]})
    assert r.status_code == 403
    assert audit_rows(url) == [("user_add", "test", None), ("user_add", "test", None)]


def test_the_token_is_bound_to_the_secret(url: str) -> None:
    c = client(web_config(url))
    page = c.get("/login")
    other = client(web_config(url).replace(web=web_config(url).web.__class__(secret_key="another-secret-" + SECRET)))
    other.cookies.set("bot_csrf", c.cookies["bot_csrf"])
    assert csrf_token(other.get("/login").text) != csrf_token(page.text)


def test_logout_ends_the_session(url: str) -> None:
    c = signed_in(web_config(url))
    r = c.post("/logout", data={"csrf_token": token_of(c)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/mails").status_code == 303
    assert [a[0] for a in audit_rows(url)][-1] == "logout"


def test_session_expires_when_idle_and_at_its_lifetime(url: str) -> None:
    clock = Clock(DEFAULT_NOW)
    cfg = web_config(url, idle_minutes=30, session_minutes=120)
    c = signed_in(cfg, clock=clock)
    for _ in range(3):  # active every 25 minutes: the idle limit never passes
        clock.now += dt.timedelta(minutes=25)
        assert c.get("/mails").status_code == 200
    clock.now += dt.timedelta(minutes=31)  # idle too long
    assert c.get("/mails").status_code == 303
    c = signed_in(cfg, clock=clock)
    for _ in range(5):
        clock.now += dt.timedelta(minutes=25)
        c.get("/mails")
    assert c.get("/mails").status_code == 303  # 125 minutes: over the lifetime however active


def test_staff_cannot_open_admin_pages(url: str) -> None:
    staff = signed_in(web_config(url), STAFF)
    r = staff.get("/audit")
    assert r.status_code == 403 and "管理者のみ" in r.text
    assert "監査ログ" not in staff.get("/mails").text  # not offered in the menu either
    admin = signed_in(web_config(url), ADMIN)
    page = admin.get("/audit")
    assert page.status_code == 200 and "監査ログ" in page.text and "ログイン" in page.text


def test_disabled_user_and_new_password_end_sessions(url: str) -> None:
    cfg = web_config(url)
    c = signed_in(cfg, STAFF)
    engine = db.make_engine(url)
    factory = db.session_factory(engine)
    with db.transaction(factory) as s:
        users.set_password(s, STAFF[0], "a-new-password-789", now=DEFAULT_NOW, by="test")
    assert c.get("/mails").status_code == 303
    assert login(client(cfg), ("kagawa", "a-new-password-789")).status_code == 303
    with db.transaction(factory) as s:
        users.disable_user(s, STAFF[0], now=DEFAULT_NOW, by="test")
        assert s.scalars(select(WebSession)).all() == []
    assert login(client(cfg), ("kagawa", "a-new-password-789")).status_code == 401
    engine.dispose()
    engine = db.make_engine(url)
    with pytest.raises(users.UserError, match="10"), db.transaction(db.session_factory(engine)) as s:
        users.add_user(s, "short", "short", role="staff", now=DEFAULT_NOW, by="test")
    engine.dispose()


def test_users_cli_reads_the_password_from_stdin_never_argv(sqlite_url: str, tmp_path: Path) -> None:
    env = dict(os.environ, BOT_DATABASE_URL=sqlite_url)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "users", *args], env=env, cwd=ROOT, input=stdin,
                              capture_output=True, text=True, timeout=60, check=False)

    added = run("add", "Sato", "--role", "admin", "--name", "佐藤", "--password-stdin", stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert run("add", "sato", "--password-stdin", stdin="another password 1\n").returncode == 2  # exists
    assert run("add", "kato", "--password-stdin", stdin="short\n").returncode == 2
    listed = run("list")
    assert "sato\tadmin\t有効\t佐藤" in listed.stdout
    assert run("passwd", "sato", "--password-stdin", stdin="battery staple horse\n").returncode == 0
    assert run("disable", "sato").returncode == 0
    assert "sato\tadmin\t無効" in run("list").stdout
    engine = db.make_engine(sqlite_url)
    with db.session_factory(engine)() as s:
        user = s.scalar(select(User).where(User.username == "sato"))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        actions = [a.action for a in s.scalars(select(AuditEntry))]
    engine.dispose()
    assert actions == ["user_add", "user_passwd", "user_disable"]


def test_bot_web_refuses_to_start_without_a_secret(sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BOT_WEB_SECRET_KEY"}
    env["BOT_DATABASE_URL"] = sqlite_url
    done = subprocess.run([sys.executable, "-m", "bot", "web"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2 and "[web] secret_key" in done.stderr
