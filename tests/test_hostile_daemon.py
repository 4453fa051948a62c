"""Hostile mail against the real daemon: `bot run` as a subprocess, Dovecot, aiosmtpd.

Given the daemon running (sender authentication on, as in production: the harness adds our MTA's
Authentication-Results to every mail it delivers, as the MTA would), when each hostile mail of
tests/fixtures/hostile.py arrives, followed by an ordinary defective order from a branch, then
the ordinary order's 差戻 arrives within seconds (one mail never stops the office), the hostile
mail ends in a folder with a clear outcome, and no reply ever leaves the allowed domains or
carries an injected header. docs/reliability.md lists these rows.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from bot.demo.embedded import EmbeddedSmtp
from tests.fixtures import hostile, pdfs
from tests.fixtures.demo_mails import order_body
from tests.support.dovecot import Dovecot, find_dovecot
from tests.support.mailbuilder import build_mail

ROOT = Path(__file__).resolve().parents[1]
AUTHSERV = "mx.usen.co.jp"
PASS = f"Authentication-Results: {AUTHSERV}; spf=pass smtp.mailfrom=usen.co.jp; dmarc=pass header.from=usen.co.jp\r\n"
FOLDERS = ("Processed", "Rejected", "Manual", "Ignored", "Quarantine")
_codes = itertools.count(988700001)


@dataclass
class Office:
    dovecot: Dovecot
    smtp: EmbeddedSmtp
    proc: subprocess.Popen[bytes]
    log: Path

    def deliver(self, raw: bytes, *, authenticated: bool = True) -> None:
        """As our MTA delivers: its Authentication-Results header on top."""
        self.dovecot.append((PASS.encode("ascii") if authenticated else b"") + raw)

    def where(self, needle: bytes) -> str | None:
        for folder in (*FOLDERS, "INBOX"):
            try:
                if any(needle in m for m in self.dovecot.folder_messages(folder)):
                    return folder
            except Exception:  # noqa: BLE001 - a folder the bot has not created yet
                continue
        return None


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    if find_dovecot() is None:
        pytest.fail("Dovecot is not installed (scripts/test.sh installs it)", pytrace=False)
    tmp = tmp_path_factory.mktemp("hostile")
    with Dovecot() as dovecot, EmbeddedSmtp() as smtp:
        config = tmp / "config.toml"
        config.write_text(
            f'[mailbox]\nhost = "{dovecot.host}"\nport = {dovecot.port}\nuser = "{dovecot.user}"\npoll_seconds = 5.0\n'
            f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\n'
            f'[database]\nurl = "sqlite:///{tmp / "bot.sqlite3"}"\n'
            f'[senders]\nauthentication = "hold"\nauthserv_id = "{AUTHSERV}"\nmax_replies_per_hour = 1000\n'
            f'[limits]\npdf_seconds = 10.0\nmail_seconds = 20.0\nworkers = 1\n',
            encoding="utf-8",
        )
        log = tmp / "bot.log"
        env = dict(os.environ, BOT_MAILBOX_PASSWORD=dovecot.password)
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], env=env, cwd=ROOT,
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            yield Office(dovecot, smtp, proc, log)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def ordinary_order() -> tuple[bytes, str]:
    """A branch's defective order (Bフレッツ without type): always answered with a 差戻."""
    code = str(next(_codes))
    msgid = f"<ordinary-{code}@aoyama.usen.co.jp>"
    fields = dict(pdfs.DEFAULT_FIELDS, customer_code=code, line_kind="b_flets", line_type=None)
    raw = build_mail(f"USEN SPOT 器材発注依頼_{code}", order_body(code), charset="iso-2022-jp",
                     cc="aoyama-shitencho@aoyama.usen.co.jp", message_id=msgid,
                     attachments=[("申込書.pdf", pdfs.typed_form(fields), "application/pdf")])
    return raw, msgid


def wait_reply(office: Office, msgid: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        for m in office.smtp.messages:
            if f"In-Reply-To: {msgid}".encode() in m.data:
                return time.monotonic() - started
        if office.proc.poll() is not None:
            pytest.fail(f"the daemon died (exit {office.proc.returncode}):\n{office.log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"no reply to {msgid} within {timeout} s; log tail:\n{office.log.read_text(errors='replace')[-3000:]}")


def with_pdf(make: Callable[[], bytes]) -> Callable[[], bytes]:
    return lambda: hostile._mail(attachments=[("申込書.pdf", make(), "application/pdf")])


# name → (hostile mail, the folders a clear outcome may be in)
CASES: dict[str, tuple[Callable[[], bytes], tuple[str, ...]]] = {
    **{f"pdf-{name}": (with_pdf(make), ("Rejected", "Manual", "Quarantine")) for name, make in hostile.PDFS.items()},
    **{f"mail-{name}": (make, ("Rejected", "Manual", "Ignored")) for name, make in hostile.MAILS.items()
       if name not in ("dmarc_fail",)},
}


@pytest.mark.parametrize("name", list(CASES))
def test_after_a_hostile_mail_the_next_order_is_answered_within_seconds(office: Office, name: str) -> None:
    make, folders = CASES[name]
    raw = make()
    tag = f"X-Hostile-Case: {name}\r\n".encode("ascii")
    office.deliver(tag + raw)
    ordinary, msgid = ordinary_order()
    office.deliver(ordinary)
    seconds = wait_reply(office, msgid, timeout=45)
    assert seconds < 45
    deadline = time.monotonic() + 30
    folder = office.where(tag)
    while folder == "INBOX" and time.monotonic() < deadline:
        time.sleep(0.2)
        folder = office.where(tag)
    print(f"HOSTILE {name}: {folder}, ordinary reply after {seconds:.1f} s")  # docs/reliability.md
    assert folder in folders, f"{name}: ended in {folder}"


def test_dmarc_fail_is_held_never_answered(office: Office) -> None:
    raw = b"X-Hostile-Case: dmarc\r\n" + hostile.mail_dmarc_fail(AUTHSERV)
    before = len(office.smtp.messages)
    office.deliver(raw, authenticated=False)  # our MTA's own verdict is inside: fail
    ordinary, msgid = ordinary_order()
    office.deliver(ordinary)
    wait_reply(office, msgid, timeout=45)
    deadline = time.monotonic() + 20
    while office.where(b"X-Hostile-Case: dmarc") == "INBOX" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert office.where(b"X-Hostile-Case: dmarc") == "Manual"
    replies = [m for m in office.smtp.messages[before:] if b"tanaka@aoyama.usen.co.jp" in b",".join(
        r.encode() for r in m.rcpt_tos)]
    assert replies == []


def test_no_reply_ever_left_the_allowed_domains_or_carried_an_injected_header(office: Office) -> None:
    """Run last in this module: every mail the office sent during the hostile run."""
    sent = office.smtp.messages
    assert sent
    for m in sent:
        assert all(re.search(r"@([a-z0-9-]+\.)*usen\.co\.jp$", r) for r in m.rcpt_tos), m.rcpt_tos
        assert len(m.rcpt_tos) <= 5
        parsed = message_from_bytes(m.data, policy=default)
        assert parsed["Bcc"] is None
        assert parsed["Auto-Submitted"] == "auto-replied"
        head = m.data.split(b"\r\n\r\n", 1)[0]
        assert b"victim@example.com" not in b"\n".join(
            line for line in head.split(b"\r\n") if not line.lower().startswith((b"subject:", b" ", b"\t")))
    log = office.log.read_text(errors="replace")
    assert log.count("Traceback") <= 2, log[-4000:]
