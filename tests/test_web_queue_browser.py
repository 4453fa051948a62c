"""A day's manual queue in a real browser (Debian's Chromium through Playwright), against the
real Dovecot and aiosmtpd: a staff member accepts one held mail, rejects one and the 差戻
arrives at the SMTP server (the daemon's outbox flush), dismisses one; a form posted without
its CSRF token is refused; staff are refused on an admin page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.actions import outbox
from bot.db.models import Mail
from bot.demo.embedded import EmbeddedSmtp
from bot.web.app import create_app
from tests.support.app import DEFAULT_NOW, Clock
from tests.support.browser import CHROMIUM_ARGS, chromium, serve, sign_in
from tests.support.dovecot import Dovecot
from tests.test_end_to_end import bad_mail, good_mail
from tests.test_web_manual_actions import held_config, hold
from tests.test_web_support import STAFF


@pytest.fixture
def office(sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> Iterator[tuple[str, object, object, dict]]:
    cfg = held_config(sqlite_url, dovecot, smtp_sink)
    third = bad_mail("<browser-dismiss@aoyama.usen.co.jp>")
    for raw in (good_mail(), bad_mail(), third):
        dovecot.append(raw)
    factory = hold(cfg, [good_mail(), bad_mail(), third], imap=True)
    with factory() as s:
        ids = {m.message_id: m.id for m in s.scalars(select(Mail))}
    with serve(create_app(cfg, clock=Clock(DEFAULT_NOW + dt.timedelta(minutes=30)))) as base:
        yield base, cfg, factory, ids
    factory.kw["bind"].dispose()  # type: ignore[attr-defined]


def test_accept_reject_and_dismiss_a_days_queue_then_refusals(office: tuple[str, object, object, dict],
                                                             dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    from playwright.sync_api import sync_playwright

    base, cfg, factory, ids = office
    good, bad = _id(ids, good_mail()), _id(ids, bad_mail())
    dismissed = ids["<browser-dismiss@aoyama.usen.co.jp>"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            sign_in(page, base, STAFF)
            assert page.inner_text("#held-count") == "3"
            # accept
            page.goto(f"{base}/manual/{good}")
            page.click("#accept")
            page.wait_for_url(f"{base}/manual?done={good}")
            # reject with a chosen defect
            page.goto(f"{base}/manual/{bad}")
            # (its group folded unless the bot found it; the mail previewed, then sent)
            page.locator("input[name=defect_LINE_TYPE_MISSING]").evaluate("e => { e.closest('details').open = true; }")
            page.check("input[name=defect_LINE_TYPE_MISSING]")
            page.click("#reject")
            page.click("#reject-send")
            page.wait_for_url(f"{base}/manual?done={bad}")
            # dismiss with a note
            page.goto(f"{base}/manual/{dismissed}")
            page.fill("textarea[name=note]", "電話で支店に確認済み")
            page.click("#dismiss")
            page.wait_for_url(f"{base}/manual?done={dismissed}")
            assert page.inner_text("#held-count") == "0"
            # a form whose CSRF token was taken away is refused, and nothing happens
            page.goto(f"{base}/mails/{good}")
            status = page.evaluate("""async (url) => {
                const r = await fetch(url, {method: 'POST', body: new URLSearchParams({note: 'x'}),
                                            headers: {'Content-Type': 'application/x-www-form-urlencoded'}});
                return r.status; }""", f"{base}/manual/{good}/dismiss")
            assert status == 403
            # staff on an admin page
            response = page.goto(f"{base}/templates")
            assert response is not None and response.status == 403
        finally:
            browser.close()
    with factory() as s:  # type: ignore[attr-defined]
        decisions = {m.id: (m.decision, m.resolution) for m in s.scalars(select(Mail))}
    assert decisions[good][0] == "accepted" and decisions[bad][0] == "rejected"
    assert decisions[dismissed][1] and "電話で支店に確認済み" in decisions[dismissed][1]
    # The daemon's flusher sends the 差戻: it arrives at the SMTP server, threaded to the mail.
    outbox.flush(factory, cfg.smtp, now=DEFAULT_NOW + dt.timedelta(minutes=31))  # type: ignore[attr-defined,arg-type]
    [reply] = smtp_sink.wait_for(1, timeout=10)
    assert _mid(bad_mail()) in reply.data.decode("utf-8", "replace")
    assert len(dovecot.folder_uids("Processed")) == 1 and len(dovecot.folder_uids("Rejected")) == 1


def _mid(raw: bytes) -> str:
    from email import message_from_bytes

    return str(message_from_bytes(raw)["Message-ID"]).strip()


def _id(ids: dict, raw: bytes) -> int:
    return ids[_mid(raw)]

