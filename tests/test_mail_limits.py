"""bot.mail under hostile input: the limits at the edge, and no input that makes parsing slow.

Every test asserts on what the parse returns; the inputs are the ones that used to take
seconds to minutes (nesting, unclosed HTML, punycode, parameter lists), so a regression
shows up as a suite that hangs, not as a flaky timing assertion.
"""

from __future__ import annotations

import base64

import pytest

from bot.config.limits import DEFAULT, Limits
from bot.mail import InboundMail, parse_mail
from tests.support.mailbuilder import build_mail, minimal_pdf

PDF = minimal_pdf(size=600)


def _multipart(parts: list[bytes], *, boundary: bytes = b"b", head: bytes = b"") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + boundary + b"--\r\n"
    return (b"From: uchida@aoyama.usen.co.jp\r\nSubject: USEN SPOT order_988776654\r\n" + head
            + b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n" + body)


def _attachment(i: int) -> bytes:
    return (b"Content-Type: application/pdf; name=\"f%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" % i
            + base64.b64encode(PDF))


_TEXT_PART = "Content-Type: text/plain; charset=utf-8\r\n\r\n顧客CD : 988776654".encode()


def _nested(depth: int, leaf: bytes = b"Content-Type: text/plain\r\n\r\nleaf", lines: int = 0) -> bytes:
    head = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth))
    return b"From: a@usen.co.jp\r\nSubject: deep\r\n" + head + leaf + b"\r\n" * (lines + 1)


def _exceeded(mail: InboundMail, limit: str) -> None:
    """The mail names the limit in limit_exceeded and in its problems."""
    assert mail.limit_exceeded is not None and limit in mail.limit_exceeded, mail.limit_exceeded
    assert any(limit in p for p in mail.problems), mail.problems


# --- each limit ---------------------------------------------------------------------------


def test_a_normal_mail_exceeds_nothing() -> None:
    mail = parse_mail(build_mail(attachments=[("申込書.pdf", PDF, "application/pdf")]))
    assert mail.limit_exceeded is None
    assert not any("limit" in p for p in mail.problems)


def test_attachments_over_the_limit_are_not_kept() -> None:
    """Given 61 attachments (default limit 20), when parsed, then the first 20 are kept,
    the body is still read, and the mail says "61 attachments, over the limit
    attachments=20" for the pipeline to hold it for a person."""
    mail = parse_mail(_multipart([_TEXT_PART] + [_attachment(i) for i in range(61)]))
    assert [a.filename for a in mail.attachments] == [f"f{i}.pdf" for i in range(20)]
    assert all(a.data == PDF for a in mail.attachments)
    assert mail.body_text == "顧客CD : 988776654"
    assert mail.limit_exceeded == "61 attachments, over the limit attachments=20"
    assert "message: 61 attachments, over the limit attachments=20; only the first 20 kept" in mail.problems


def test_attachment_limit_comes_from_the_limits_given() -> None:
    raw = _multipart([_attachment(i) for i in range(3)])
    assert len(parse_mail(raw, Limits(attachments=3)).attachments) == 3
    mail = parse_mail(raw, Limits(attachments=2))
    assert len(mail.attachments) == 2
    assert mail.limit_exceeded == "3 attachments, over the limit attachments=2"


def test_mime_parts_over_the_limit_stop_the_walk() -> None:
    mail = parse_mail(_multipart([_TEXT_PART] + [_attachment(i) for i in range(30)]), Limits(mime_parts=10))
    # the top multipart and 9 parts are walked: the text and 8 attachments
    assert mail.body_text == "顧客CD : 988776654"
    assert len(mail.attachments) == 8
    assert mail.limit_exceeded == "more than 10 MIME parts, over the limit mime_parts=10"
    _exceeded(mail, "mime_parts=10")


def test_parts_exactly_at_the_limit_pass() -> None:
    mail = parse_mail(_multipart([_attachment(i) for i in range(9)]), Limits(mime_parts=10))
    assert len(mail.attachments) == 9
    assert mail.limit_exceeded is None


def test_mime_depth_over_the_limit_is_not_walked() -> None:
    within = parse_mail(_nested(3), Limits(mime_depth=3))
    assert within.body_text == "leaf"
    assert within.limit_exceeded is None
    deeper = parse_mail(_nested(4), Limits(mime_depth=3))
    assert deeper.body_text == ""
    assert deeper.subject == "deep"
    assert deeper.limit_exceeded == "MIME nesting deeper than 3 levels, over the limit mime_depth=3"
    _exceeded(deeper, "mime_depth=3")


def test_header_block_over_the_limit_is_cut_and_the_body_kept() -> None:
    filler = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"x" * 40) for i in range(200))
    raw = (b"From: a@usen.co.jp\r\nSubject: USEN SPOT termination_988776654\r\n" + filler
           + b"Cc: late@usen.co.jp\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "本文".encode())
    mail = parse_mail(raw, Limits(header_bytes=2000))
    assert mail.subject == "USEN SPOT termination_988776654"
    assert mail.cc == ()  # past the cut
    assert mail.body_text == "本文"  # kept; its charset header was past the cut, so detected
    assert len(mail.headers) < 50
    _exceeded(mail, "header_bytes=2000")
    assert parse_mail(raw).limit_exceeded is None


def test_mail_over_mail_bytes_is_read_up_to_the_limit() -> None:
    raw = build_mail(body="顧客CD : 988776654\n" + "x" * 5000, charset="utf-8", transfer_encoding="8bit")
    mail = parse_mail(raw, Limits(mail_bytes=len(raw) - 1000))
    assert mail.subject == "USEN SPOT 器材発注依頼_988776654"
    assert mail.body_text.startswith("顧客CD : 988776654")
    assert mail.limit_exceeded == f"mail of {len(raw)} bytes, over the limit mail_bytes={len(raw) - 1000}"
    _exceeded(mail, "mail_bytes=")


def test_several_limits_are_all_named() -> None:
    mail = parse_mail(_multipart([_attachment(i) for i in range(30)]), Limits(mime_parts=25, attachments=5))
    assert mail.limit_exceeded is not None
    assert "mime_parts=25" in mail.limit_exceeded and "attachments=5" in mail.limit_exceeded


# --- the inputs that used to hang: behaviour only, each parses in milliseconds now --------


def test_5000_cc_addresses_are_all_read() -> None:
    cc = ", ".join(f"Branch {i} <user{i}@aoyama.usen.co.jp>" for i in range(5000))
    raw = build_mail(cc=cc, charset="utf-8")
    assert len(raw) < DEFAULT.header_bytes
    mail = parse_mail(raw)
    assert len(mail.cc) == 5000 and mail.cc[-1] == "user4999@aoyama.usen.co.jp"
    assert mail.limit_exceeded is None


@pytest.mark.parametrize("style", ["plain", "encoded words", "raw shift_jis"])
def test_200kb_subject_is_read_whole(style: str) -> None:
    if style == "plain":
        subject, expected = b"USEN SPOT " + b"a" * 200_000, "USEN SPOT " + "a" * 200_000
    elif style == "encoded words":
        word = b"=?UTF-8?B?" + base64.b64encode("器材".encode()) + b"?="
        subject, expected = b"\r\n ".join([word] * 10_000), "器材" * 10_000
    else:
        subject, expected = "器".encode("cp932") * 100_000, "器" * 100_000
    assert len(subject) >= 100_000
    mail = parse_mail(b"From: a@usen.co.jp\r\nSubject: " + subject + b"\r\n\r\nbody\r\n")
    assert mail.subject == expected
    assert mail.body_text == "body"


def test_10000_parts_stop_at_the_part_limit() -> None:
    mail = parse_mail(_multipart([_TEXT_PART] + [b"Content-Type: application/octet-stream; name=f%d.bin\r\n\r\nx" % i
                                                 for i in range(10_000)]))
    assert mail.body_text == "顧客CD : 988776654"
    assert len(mail.attachments) == DEFAULT.attachments
    assert "mime_parts=500" in (mail.limit_exceeded or "")


@pytest.mark.parametrize("lines", [0, 200_000])
def test_1000_deep_nesting_stops_at_the_depth_limit(lines: int) -> None:
    """1,000 nested multiparts (and, worse, 200,000 lines inside them: the stdlib parser
    checked each line against every enclosing boundary, 14 s for 900 levels)."""
    mail = parse_mail(_nested(1000, lines=lines))
    assert mail.subject == "deep"
    assert mail.body_text == ""
    assert mail.limit_exceeded == "MIME nesting deeper than 20 levels, over the limit mime_depth=20"


def test_1000_nested_forwarded_messages_are_one_attachment() -> None:
    nested = b"Content-Type: message/rfc822\r\n\r\n" * 1000
    raw = b"From: a@usen.co.jp\r\nSubject: fw\r\n" + nested + b"Subject: in\r\n\r\nx"
    mail = parse_mail(raw)
    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]
    assert mail.attachments[0].data.startswith(b"Content-Type: message/rfc822")


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<a" * 100_000, ""),  # unclosed tags: quadratic in CPython 3.11's HTMLParser
        ("<!--" * 100_000 + "x", ""),  # an unclosed comment runs to the end
        ("<![CDATA[" * 50_000, ""),
        ("</" * 100_000, ""),
        ("<?" * 100_000, ""),
        ("顧客CD <b>988776654</b>" + "<p>" * 100_000, "顧客CD 988776654"),
    ],
    ids=["tags", "comments", "cdata", "end tags", "processing instructions", "paragraphs"],
)
def test_pathological_html_bodies(markup: str, text: str) -> None:
    mail = parse_mail(build_mail(body=markup, charset="utf-8", html_only=True))
    assert mail.body_text == text


def test_punycode_label_on_a_large_body_is_not_decoded_as_punycode() -> None:
    """Python's punycode decoder is quadratic (a 1 MB body took minutes); the label is
    treated as unknown and the body detected."""
    body = b"a" * 500_000 + b"-" + b"b" * 500_000
    raw = b"From: a@usen.co.jp\r\nContent-Type: text/plain; charset=punycode\r\n\r\n" + body
    mail = parse_mail(raw)
    assert len(mail.body_text) == len(body)
    assert "part 1: charset 'punycode' unknown, decoded as us-ascii" in mail.problems


def test_long_parameter_lists_are_read_in_linear_time() -> None:
    """The stdlib's parameter splitter counts the quotes before every ';' from the start of
    the value (a quoted value of 60,000 ';' took 2 s, per parameter asked for); ours reads
    the charset behind it, and behind 20,000 plain parameters."""
    quoted = 'a="' + ";" * 60_000 + '"'
    plain = "; ".join(f"p{i}=v" for i in range(20_000))
    for params in (quoted, plain):
        raw = f"From: a@usen.co.jp\r\nContent-Type: text/plain; {params}; charset=iso-8859-1\r\n\r\n".encode()
        mail = parse_mail(raw + b"caf\xe9")
        assert mail.body_text == "caf\u00e9"  # only the declared charset reads it so


def test_header_of_many_short_lines() -> None:
    raw = b"From: a@usen.co.jp\r\nSubject: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)) + b"\r\nbody"
    mail = parse_mail(raw)
    assert mail.body_text == "body"
    assert len(mail.headers) == 20_002
