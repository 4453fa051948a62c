"""No header of a 差戻 can be injected, and replies stay inside the allowed domains.

Every header the bot writes from input (subject, Message-ID, In-Reply-To, References) is rebuilt
from validated parts; every kind of line break is removed; a reply is always built; the
recipients are From/Reply-To/Cc inside the allowed domains only, at most a configured number.
"""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes
from email.policy import default

import pytest

from bot.actions.outbox import _recipients
from bot.actions.reply import build_reply, header_text, valid_message_id
from bot.checks.base import Defect
from bot.decide import REJECTED, Decision
from bot.mail import parse_mail
from bot.templating import Templates
from tests.support.mailbuilder import build_mail, encode_word

JST = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST)
ALLOWED = ("usen.co.jp",)


def reply_bytes(raw: bytes, *, extra_cc: tuple[str, ...] = (), max_recipients: int = 5) -> bytes:
    mail = parse_mail(raw)
    decision = Decision("equipment_order", "988776654", REJECTED, defects=(Defect("ATTACHMENT_MISSING"),))
    msg = build_reply(mail, decision, templates=Templates(), from_addr="usen_spot@mx.usen.co.jp",
                      own_addresses=("usen_spot@mx.usen.co.jp",), received_at=NOW, tz=JST, now=NOW,
                      extra_cc=extra_cc, allowed_domains=ALLOWED, max_recipients=max_recipients)
    return msg.as_bytes()


def header_block(data: bytes) -> bytes:
    return data.split(b"\n\n", 1)[0]


BCC_INJECTION = [
    pytest.param("abc" + encode_word("\r\nBcc: victim@example.com", "utf-8"), id="encoded-crlf-no-brackets"),
    pytest.param("<a@b>" + encode_word("\r\nBcc: victim@example.com", "utf-8"), id="encoded-crlf-after-id"),
    pytest.param(encode_word("<x@y>\nBcc: victim@example.com", "utf-8"), id="whole-id-encoded"),
    pytest.param(encode_word("<x@y>\u2028Bcc: victim@example.com", "utf-8"), id="u2028"),
    pytest.param(encode_word("<x@y>\rBcc: victim@example.com", "utf-8"), id="bare-cr"),
    pytest.param(encode_word("<x@y>\r\n\r\nbody takeover", "utf-8"), id="ends-headers"),
    pytest.param("<=?utf-8?q?a=0d=0aBcc:_victim@example.com?=@y>", id="encoded-word-inside-brackets"),
    pytest.param("=?utf-8?Q?a=0D=0ABcc:_victim@example.com?=", id="bare-encoded-word"),
]


@pytest.mark.parametrize("value", BCC_INJECTION)
@pytest.mark.parametrize("header", ["Message-ID", "References", "In-Reply-To"])
def test_no_header_injection_through_threading_headers(header: str, value: str) -> None:
    raw = build_mail(message_id=None, headers={header: value})
    out = reply_bytes(raw)
    parsed = message_from_bytes(out, policy=default)
    assert parsed["Bcc"] is None and b"victim@example.com" not in header_block(out)
    assert parsed["Auto-Submitted"] == "auto-replied"  # our own headers stay headers
    assert b"body takeover" not in out
    assert _recipients(parsed) == ["uchida@aoyama.usen.co.jp"]  # type: ignore[arg-type]


@pytest.mark.parametrize("brk", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\r", "\n", "\r\n", "\x1c"])
def test_a_reply_is_built_whatever_line_break_the_subject_holds(brk: str) -> None:
    subject = f"USEN SPOT 器材発注依頼_988776654{brk}Bcc: victim@example.com"
    raw = build_mail(subject=None, headers={"Subject": encode_word(subject, "utf-8")})
    out = reply_bytes(raw)
    parsed = message_from_bytes(out, policy=default)
    assert parsed["Bcc"] is None
    assert "988776654" in parsed["Subject"] and parsed["Subject"].startswith("Re: ")
    for ch in ("\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\r", "\n", "\x1c"):
        assert ch not in parsed["Subject"]


@pytest.mark.parametrize("subject", [
    encode_word("=?utf-8?q?x=0D=0ABcc:_victim@example.com?=", "utf-8"),  # double-encoded
    "=??q?x=0D=0ABcc:_victim@example.com?=",  # a loose word the stdlib still decodes
])
def test_no_injection_through_an_encoded_word_left_in_the_subject(subject: str) -> None:
    raw = build_mail(subject=None, headers={"Subject": "USEN SPOT 器材発注依頼_988776654 " + subject})
    out = reply_bytes(raw)
    parsed = message_from_bytes(out, policy=default)
    assert parsed["Bcc"] is None and b"\nBcc:" not in header_block(out)


def test_a_valid_thread_is_kept() -> None:
    raw = build_mail(message_id="<orig.1@aoyama.usen.co.jp>", references="<r1@a.jp> junk <r2@a.jp>")
    parsed = message_from_bytes(reply_bytes(raw), policy=default)
    assert parsed["In-Reply-To"] == "<orig.1@aoyama.usen.co.jp>"
    assert parsed["References"].split() == ["<r1@a.jp>", "<r2@a.jp>", "<orig.1@aoyama.usen.co.jp>"]


def test_cc_outside_the_allowed_domains_never_receives_the_reply() -> None:
    cc = [f"u{i}@aoyama.usen.co.jp" for i in range(2500)] + [f"x{i}@evil.example" for i in range(2501)]
    cc = cc[::2] + cc[1::2]
    raw = build_mail(cc=["spy@usen.co.jp.evil.example", "a@evilusen.co.jp", *cc])
    parsed = message_from_bytes(reply_bytes(raw, extra_cc=("shitencho@aoyama.usen.co.jp",)), policy=default)
    rcpts = _recipients(parsed)  # type: ignore[arg-type]
    assert len(rcpts) == 5
    assert rcpts[:2] == ["uchida@aoyama.usen.co.jp", "shitencho@aoyama.usen.co.jp"]  # the manager first
    assert all(r.endswith("@aoyama.usen.co.jp") for r in rcpts)


def test_reply_to_outside_the_domains_is_not_used() -> None:
    raw = build_mail(reply_to="harvest@evil.example")
    parsed = message_from_bytes(reply_bytes(raw), policy=default)
    assert _recipients(parsed) == ["uchida@aoyama.usen.co.jp"]  # type: ignore[arg-type]


def test_header_text_and_message_id_rules() -> None:
    assert header_text("a\u2028b\u0085c\r\nd\x00e") == "a b c d e"
    assert valid_message_id("<a.b@c>") == "<a.b@c>"
    for bad in ("a@b", "<a b@c>", "<a@b>\r\n", "<a<b@c>", "<@>", "<ａ@b>", "<a@b> <c@d>"):
        assert valid_message_id(bad) is None, bad


def test_the_reply_builder_defends_itself_whatever_the_parser_hands_over() -> None:
    """Defence in depth: even given hostile values directly (a parser bug, a new code path),
    build_reply writes no injected header."""
    import dataclasses

    mail = dataclasses.replace(
        parse_mail(build_mail()),
        subject="USEN SPOT 器材発注依頼_988776654 =?utf-8?q?x=0D=0ABcc:_victim@example.com?=\u2028Cc: a@b",
        message_id="<=?utf-8?q?a=0d=0aBcc:_victim@example.com?=@y>",
        references=("<r@a.jp>\r\nBcc: victim@example.com", "<ok@a.jp>"),
    )
    decision = Decision("equipment_order", "988776654", REJECTED, defects=(Defect("ATTACHMENT_MISSING"),))
    msg = build_reply(mail, decision, templates=Templates(), from_addr="usen_spot@mx.usen.co.jp",
                      own_addresses=(), received_at=NOW, tz=JST, now=NOW, allowed_domains=ALLOWED)
    out = msg.as_bytes()
    parsed = message_from_bytes(out, policy=default)
    assert parsed["Bcc"] is None and parsed["Cc"] is None
    assert not re.search(rb"^(Bcc|Cc):", header_block(out), re.M | re.I)
    assert parsed["In-Reply-To"] is None and parsed["References"] is None
