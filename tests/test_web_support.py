"""Helpers for the console tests (tests/test_web_*.py): a database holding the demo's nine
branch mails decided by the real pipeline plus a hostile one, two users, and a signed-in
in-process client. (No tests here.)"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from email.message import EmailMessage
from pathlib import Path

from starlette.testclient import TestClient

from bot import db
from bot.config import Config, WebConfig
from bot.demo.run import DEMO_CORPORATE, DEMO_DIR
from bot.unis import import_extract
from bot.web import users
from bot.web.app import create_app
from tests.support.app import DEFAULT_NOW, Clock, make_config, make_processor

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
ADMIN = ("kanri", "admin-password-123")
STAFF = ("kagawa", "staff-password-456")
HOSTILE_SUBJECT = "USEN SPOT 器材発注依頼_123456789 <img src=x onerror=alert(1)>"


def web_config(url: str, **web: object) -> Config:
    cfg = make_config(url)
    return cfg.replace(web=dataclasses.replace(WebConfig(), secret_key=SECRET, **web))


def hostile_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Attacker <uchida@aoyama.usen.co.jp>"
    msg["To"] = "usen_spot@mx.usen.co.jp"
    msg["Subject"] = HOSTILE_SUBJECT
    msg["Message-ID"] = "<hostile-1@aoyama.usen.co.jp>"
    msg["Date"] = "Tue, 24 Nov 2026 10:30:00 +0900"
    msg.set_content('<p>お世話になっております。</p><script>document.title="pwned"</script>'
                    '<img src="x" onerror="document.title=\'pwned\'"><b>顧客CD : 123456789</b>', subtype="html")
    return msg.as_bytes()


def populate(url: str) -> dict[str, int]:
    """Decide the demo mails (and the hostile one) with the real pipeline; add two users.
    Returns mail ids by the demo file's number ("01".."09") and "hostile"."""
    db.upgrade(url)
    cfg = make_config(url).replace(corporate=DEMO_CORPORATE)  # the demo's 法人営業 lists are accepted
    processor, factory = make_processor(cfg, Clock(DEFAULT_NOW))
    with db.transaction(factory) as s:
        import_extract(s, (DEMO_DIR / "unis.csv").read_bytes(), name="unis.csv", now=DEFAULT_NOW)
    ids: dict[str, int] = {}
    raws = [(p.name[:2], p.read_bytes()) for p in sorted(DEMO_DIR.glob("*.eml"))] + [("hostile", hostile_mail())]
    for uid, (key, raw) in enumerate(raws, start=1):
        stored = processor.store(raw, folder="INBOX", uidvalidity=1, uid=uid,
                                 arrived_at=DEFAULT_NOW + dt.timedelta(minutes=uid))
        processor.process(stored.mail_id)
        ids[key] = stored.mail_id
    with db.transaction(factory) as s:
        users.add_user(s, ADMIN[0], ADMIN[1], role="admin", display_name="管理 太郎", now=DEFAULT_NOW, by="test")
        users.add_user(s, STAFF[0], STAFF[1], role="staff", display_name="香川", now=DEFAULT_NOW, by="test")
    factory.kw["bind"].dispose()
    return ids


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def client(cfg: Config, clock: Clock | None = None, *, base_url: str = "http://testserver") -> TestClient:
    return TestClient(create_app(cfg, clock=clock or Clock(DEFAULT_NOW)), follow_redirects=False, base_url=base_url)


def login(c: TestClient, who: tuple[str, str] = STAFF, *, password: str | None = None) -> object:
    token = csrf_token(c.get("/login").text)
    return c.post("/login", data={"username": who[0], "password": who[1] if password is None else password,
                                  "csrf_token": token, "next": "/"})


def signed_in(cfg: Config, who: tuple[str, str] = STAFF, clock: Clock | None = None) -> TestClient:
    c = client(cfg, clock)
    response = login(c, who)
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    return c


def token_of(c: TestClient, path: str = "/mails") -> str:
    return csrf_token(c.get(path).text)


ROOT = Path(__file__).resolve().parents[1]
