"""bot.mail: raw bytes → InboundMail, for every encoding branch mail arrives in."""

from __future__ import annotations

import base64
import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mail import Attachment, InboundMail, decode_bytes, decode_header_text, decode_jis, html_to_text, message_id_hash, parse_mail
from tests.support.mailbuilder import (
    build_auto_reply,
    build_bounce,
    build_mail,
    cp50220_encode,
    encode_word,
    minimal_pdf,
)

JST = timezone(timedelta(hours=9))

ORDER_BODY = (
    "申込書送付します。\n"
    "\n"
    "顧客CD : 988776654\n"
    "店舗名 : ㈱スパゲティーUSEN 髙島屋店\n"
    "リンク品使用 無\n"
    "SPOT Plus該当 有\n"
    "送付支店名 : 青山支店\n"
    "担当者名 : 内田\n"
    "備考 : 親①台～子②台\n"
)
ORDER_TEXT = ORDER_BODY.rstrip("\n")


def _only(raw: bytes) -> InboundMail:
    mail = parse_mail(raw)
    assert isinstance(mail, InboundMail)
    return mail


# --- bodies, one charset at a time -----------------------------------------------------


def test_iso2022jp_7bit_body_with_microsoft_characters_decodes_exactly() -> None:
    """Given an Outlook mail (ISO-2022-JP label, CP50220 bytes: ①㈱～髙 inside ESC $ B),
    when parsed, then the body is the exact text, not mojibake."""
    raw = build_mail(body=ORDER_BODY, charset="cp50220")
    assert b"\x1b$B-j" in raw and b"Content-Transfer-Encoding: 7bit" in raw  # ㈱ at JIS 0x2D6A
    with pytest.raises(UnicodeDecodeError):
        cp50220_encode("①").decode("iso2022_jp_ext")  # why the detour via CP932 is needed
    mail = _only(raw)
    assert mail.body_text == ORDER_TEXT
    assert mail.problems == ()


def test_strict_iso2022jp_body_decodes() -> None:
    body = "解約日 : 2026/11/30\n店舗名 : カフェ青山\n"
    mail = _only(build_mail("USEN SPOT 解約申請_988776654", body, charset="iso-2022-jp"))
    assert mail.body_text == "解約日 : 2026/11/30\n店舗名 : カフェ青山"


def test_halfwidth_katakana_escape_and_so_si_decode() -> None:
    # ESC ( I (CP50221) and SO/SI (CP50222) half-width katakana
    assert decode_jis(b"\x1b(I10\x1b(B") == ("ｱｰ", 0)
    assert decode_jis(b"a\x0e10\x0fb") == ("aｱｰb", 0)


def test_shift_jis_base64_body_with_nec_characters() -> None:
    mail = _only(build_mail(body=ORDER_BODY, charset="shift_jis"))
    assert mail.body_text == ORDER_TEXT
    assert mail.problems == ()


def test_shift_jis_8bit_body() -> None:
    mail = _only(build_mail(body=ORDER_BODY, charset="shift_jis", transfer_encoding="8bit"))
    assert mail.body_text == ORDER_TEXT


@pytest.mark.parametrize("cte", ["base64", "quoted-printable", "8bit"])
def test_utf8_bodies(cte: str) -> None:
    mail = _only(build_mail(body=ORDER_BODY, charset="utf-8", transfer_encoding=cte))
    assert mail.body_text == ORDER_TEXT
    assert mail.problems == ()


def test_html_only_body_becomes_clean_text() -> None:
    markup = (
        "<html><head><meta charset=\"utf-8\"><style>p {margin:0}</style>"
        "<title>無視</title></head><body>"
        "<!--[if gte mso 9]><xml>x</xml><![endif]-->"
        "<p class=MsoNormal>申込書送付します。</p><p>&nbsp;</p>"
        "<p>顧客CD&nbsp;:&nbsp;988776654</p>\n"
        "<div>店舗名 : スパゲティー&amp;USEN &lt;青山&gt;</div>"
        "リンク品使用 無<br>SPOT Plus該当 <b>有</b><br/>"
        "<table><tr><td>担当者名</td><td>内田</td></tr></table>"
        "<script>alert('x')</script></body></html>"
    )
    mail = _only(build_mail(body=markup, charset="utf-8", html_only=True))
    assert mail.body_text == (
        "申込書送付します。\n"
        "\n"
        "顧客CD : 988776654\n"
        "店舗名 : スパゲティー&USEN <青山>\n"
        "リンク品使用 無\n"
        "SPOT Plus該当 有\n"
        "担当者名 内田"
    )


def test_html_only_iso2022jp_body() -> None:
    mail = _only(build_mail(body="<p>顧客CD : 988776654</p><p>店舗名 : ㈱青山</p>", html_only=True))
    assert mail.body_text == "顧客CD : 988776654\n店舗名 : ㈱青山"


def test_alternative_prefers_plain_text() -> None:
    raw = build_mail(body="本文です", html="<p>HTML版</p>", charset="utf-8")
    assert b"multipart/alternative" in raw
    assert _only(raw).body_text == "本文です"


def test_alternative_with_empty_plain_falls_back_to_html() -> None:
    mail = _only(build_mail(body="", html="<p>HTML版</p>", charset="utf-8"))
    assert mail.body_text == "HTML版"


def test_format_flowed_soft_breaks_are_joined() -> None:
    body = "顧客CD : 9887 \n76654\n店舗名 : 青山\n"
    mail = _only(build_mail(body=body, charset="utf-8", format_flowed=True))
    assert mail.body_text == "顧客CD : 988776654\n店舗名 : 青山"


# --- subjects and headers ----------------------------------------------------------------


def test_iso2022jp_encoded_subject_with_microsoft_characters() -> None:
    subject = "Re: 【至急】USEN SPOT 器材発注依頼_988776654 ㈱青山①～"
    raw = build_mail(subject, charset="cp50220")
    assert b"=?ISO-2022-JP?B?" in raw
    assert _only(raw).subject == subject


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-q", "shift_jis"])
def test_encoded_subject_variants(encoding: str) -> None:
    subject = "USEN SPOT 解約キャンセル依頼_988776654"
    assert _only(build_mail(subject, charset="utf-8", subject_encoding=encoding)).subject == subject


@pytest.mark.parametrize("charset", ["utf-8", "shift_jis"])
def test_raw_8bit_subject(charset: str) -> None:
    subject = "USEN SPOT 移設依頼_988776654 ①"
    mail = _only(build_mail(subject, charset=charset, subject_encoding="raw"))
    assert mail.subject == subject
    assert any("raw 8-bit" in p for p in mail.problems)


def test_encoded_words_split_inside_a_character_are_joined() -> None:
    data = "器材発注依頼".encode("utf-8")
    first, second = base64.b64encode(data[:4]).decode(), base64.b64encode(data[4:]).decode()
    text, problems = decode_header_text(f"USEN SPOT =?UTF-8?B?{first}?=\r\n =?UTF-8?B?{second}?=_988776654")
    assert text == "USEN SPOT 器材発注依頼_988776654"
    assert problems == []


def test_folded_plain_subject_is_unfolded() -> None:
    raw = b"Subject: USEN SPOT\r\n =?ISO-2022-JP?B?GyRCMnJMcz89QEEbKEI=?=_988776654\r\nFrom: a@usen.co.jp\r\n\r\nx\r\n"
    assert _only(raw).subject == "USEN SPOT 解約申請_988776654"


def test_addresses_date_and_thread_headers() -> None:
    raw = build_mail(
        from_="内田 ㈱ <Uchida@Aoyama.USEN.co.jp>",
        to=["usen_spot@mx.usen.co.jp", "Other <Other@Example.JP>"],
        cc="支店長 <Boss@Aoyama.usen.co.jp>",
        reply_to="reply@usen.co.jp",
        message_id=" <ABC.123@Aoyama.usen.co.jp> ",
        in_reply_to="<x1@usen.co.jp>",
        references="<x0@usen.co.jp>\r\n <x1@usen.co.jp>",
    )
    mail = _only(raw)
    assert mail.from_addr == "uchida@aoyama.usen.co.jp"
    assert mail.from_name == "内田 ㈱"
    assert mail.to == ("usen_spot@mx.usen.co.jp", "other@example.jp")
    assert mail.cc == ("boss@aoyama.usen.co.jp",)
    assert mail.reply_to == "reply@usen.co.jp"
    assert mail.message_id == "<ABC.123@Aoyama.usen.co.jp>"
    assert mail.in_reply_to == "<x1@usen.co.jp>"
    assert mail.references == ("<x0@usen.co.jp>", "<x1@usen.co.jp>")
    assert mail.date == datetime(2026, 11, 30, 10, 0, tzinfo=JST)
    assert mail.date.utcoffset() == timedelta(hours=9)


def test_empty_return_path_is_distinguishable_from_absent() -> None:
    empty = _only(build_mail(headers={"Return-Path": "<>"}))
    absent = _only(build_mail(headers={"Return-Path": None}))
    present = _only(build_mail())
    assert empty.headers["return-path"] == "<>"
    assert "return-path" not in absent.headers
    assert present.headers["return-path"] == "<uchida@aoyama.usen.co.jp>"


def test_loop_detection_headers_are_decoded_and_lower_cased() -> None:
    raw = build_mail(
        headers={
            "Precedence": "bulk",
            "X-Auto-Response-Suppress": "All",
            "List-Id": "<spot.usen.co.jp>",
            "List-Unsubscribe": "<mailto:leave@usen.co.jp>",
            "X-Autorespond": "yes",
        }
    )
    headers = _only(raw).headers
    assert headers["precedence"] == "bulk"
    assert headers["x-auto-response-suppress"] == "All"
    assert headers["list-id"] == "<spot.usen.co.jp>"
    assert headers["list-unsubscribe"] == "<mailto:leave@usen.co.jp>"
    assert headers["x-autorespond"] == "yes"
    assert headers["content-type"].startswith("text/plain")
    with pytest.raises(TypeError):
        headers["precedence"] = "list"  # type: ignore[index]


@pytest.mark.parametrize(
    ("style", "header", "value"),
    [
        ("rfc3834", "auto-submitted", "auto-replied"),
        ("exchange", "x-auto-response-suppress", "All"),
        ("vacation", "x-autoreply", "yes"),
    ],
)
def test_auto_replies(style: str, header: str, value: str) -> None:
    mail = _only(build_auto_reply(style=style))
    assert mail.headers[header] == value
    assert mail.subject == "自動応答: USEN SPOT 器材発注依頼_988776654"
    assert mail.body_text == "ただいま不在にしております。12月1日に戻ります。"


@pytest.mark.parametrize("headers_only", [False, True])
def test_bounce_is_a_delivery_status_report(headers_only: bool) -> None:
    mail = _only(build_bounce(headers_only=headers_only))
    assert mail.content_type == "multipart/report"
    assert mail.report_type == "delivery-status"
    assert mail.from_addr == "mailer-daemon@mx.usen.co.jp"
    assert mail.headers["return-path"] == "<>"
    assert mail.body_text.startswith("This is the mail system at host mx.usen.co.jp.")
    assert "差戻です" not in mail.body_text  # the returned mail is not our body
    kinds = [a.content_type for a in mail.attachments]
    assert "message/delivery-status" in kinds
    assert ("text/rfc822-headers" if headers_only else "message/rfc822") in kinds
    assert mail.pdf_attachments() == ()


def test_bare_mailer_daemon_sender_is_kept() -> None:
    raw = b"From: MAILER-DAEMON\r\nSubject: failure\r\nReturn-Path: <>\r\n\r\nfailed\r\n"
    assert _only(raw).from_addr == "mailer-daemon"


# --- attachments -------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["rfc2047", "rfc2231", "rfc2231-jis"])
def test_attachment_names_decode(style: str) -> None:
    pdf = minimal_pdf(size=2000)
    name = "USEN SPOT申込書①㈱_988776654（パスワード付）.pdf"
    mail = _only(build_mail(attachments=[(name, pdf, "application/pdf")], attachment_name_style=style))
    assert mail.attachments == (Attachment(filename=name, content_type="application/pdf", data=pdf),)
    assert mail.pdf_attachments() == mail.attachments
    assert mail.body_text == "申込書送付します。"


def test_pdf_attachments_by_type_or_name() -> None:
    mail = _only(
        build_mail(
            attachments=[
                ("解約申請書.PDF", b"%PDF-1.7", "application/octet-stream"),
                ("scan", b"%PDF-1.7", "application/pdf"),
                ("写真.jpg", b"\xff\xd8\xff", "image/jpeg"),
                (None, b"data", "application/octet-stream"),
            ]
        )
    )
    assert [a.filename for a in mail.attachments] == ["解約申請書.PDF", "scan", "写真.jpg", None]
    assert [a.filename for a in mail.pdf_attachments()] == ["解約申請書.PDF", "scan"]


# --- malformed mails: a value and problems, never an exception --------------------------


def test_missing_headers() -> None:
    raw = build_mail(subject=None, from_=None, to=None, message_id=None, date=None)
    mail = _only(raw)
    assert (mail.subject, mail.from_addr, mail.from_name, mail.message_id, mail.date) == ("", None, None, None, None)
    assert mail.to == ()
    for what in ("Subject", "From", "Message-ID", "Date"):
        assert f"header {what}: missing" in mail.problems
    assert mail.body_text == "申込書送付します。"


def test_unlabelled_iso2022jp_body_is_recognised() -> None:
    raw = b"Subject: x\r\nFrom: a@usen.co.jp\r\n\r\n" + cp50220_encode("顧客CD : 988776654 ㈱") + b"\r\n"
    mail = _only(raw)
    assert mail.body_text == "顧客CD : 988776654 ㈱"
    assert "part 1: no charset declared but 8-bit or escaped text, decoded as iso-2022-jp" in mail.problems


def test_raw_8bit_headers_never_leak_surrogates() -> None:
    raw = (
        b"Subject: \x82\xa0\r\nMessage-ID: <\xe3\x81\x82@x>\r\nX-Note: \xff\xfe\r\n"
        b"From: \x93\xe0\x93c <a@usen.co.jp>\r\nTo: undisclosed-recipients:;\r\n\r\nx\r\n"
    )
    mail = _only(raw)
    _assert_storable(mail)
    # A Message-ID is printable ASCII: a raw 8-bit one is dropped (reply headers copy it).
    assert (mail.subject, mail.message_id, mail.from_name, mail.to) == ("あ", None, "内田", ())
    assert not any("To" in p for p in mail.problems)


def test_named_inline_text_is_body_and_attachment() -> None:
    raw = (
        b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain; charset=utf-8; name=body.txt\r\nContent-Disposition: inline; filename=body.txt\r\n\r\n"
        + "顧客CD : 988776654".encode() + b"\r\n--b--\r\n"
    )
    mail = _only(raw)
    assert mail.body_text == "顧客CD : 988776654"
    assert [a.filename for a in mail.attachments] == ["body.txt"]


def test_forwarded_message_is_an_attachment_not_the_body() -> None:
    inner = build_mail("USEN SPOT 解約申請_111111111", "顧客CD : 111111111\n", charset="utf-8")
    raw = (
        b"Subject: Fw: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nouter\r\n--b\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    mail = _only(raw)
    assert mail.body_text == "outer"
    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]
    assert b"USEN SPOT" in parse_mail(mail.attachments[0].data).subject.encode()


def test_boundary_mismatch_is_recovered() -> None:
    raw = build_mail(attachments=[("a.pdf", b"%PDF-1", "application/pdf")])
    broken = raw.replace(b'boundary="----=_NextPart_', b'boundary="WRONG_', 1)
    mail = _only(broken)
    assert mail.body_text == "申込書送付します。"
    assert [a.filename for a in mail.attachments] == ["a.pdf"]
    assert any("boundary 'WRONG_" in p and "recovered" in p for p in mail.problems)


def test_boundary_absent_gives_text_and_problem() -> None:
    raw = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=zzz\r\n\r\njust text\r\n"
    mail = _only(raw)
    assert mail.body_text == "just text"
    assert any("boundary 'zzz' not found" in p for p in mail.problems)


def test_unknown_charset_is_guessed_and_reported() -> None:
    raw = (
        b"Subject: x\r\nFrom: a@usen.co.jp\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n"
        + "顧客CD : 988776654 ①".encode("cp932")
    )
    mail = _only(raw)
    assert mail.body_text == "顧客CD : 988776654 ①"
    assert "part 1: charset 'x-unknown' unknown, decoded as cp932" in mail.problems


def test_undecodable_bytes_are_replaced_and_reported() -> None:
    raw = b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nab\xff\xfe\x80cd\r\n"
    mail = _only(raw)
    assert mail.body_text.startswith("ab") and mail.body_text.endswith("cd")
    assert any(p.startswith("part 1: charset 'utf-8'") for p in mail.problems)


def test_broken_jis_pair_is_replaced_and_reported() -> None:
    raw = b"Subject: x\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B$\"$\x1b(B ok\r\n"
    mail = _only(raw)
    assert mail.body_text == "あ\ufffd ok"
    assert any("undecodable" in p for p in mail.problems)


def test_truncated_base64_keeps_what_decodes() -> None:
    encoded = base64.b64encode("顧客CD : 988776654".encode("utf-8")).decode()[:-3]
    raw = f"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
    mail = _only(raw.encode())
    assert mail.body_text == "顧客CD : 9887766"
    assert mail.problems


def test_garbage_bytes() -> None:
    mail = _only(bytes(range(256)) * 4)
    assert mail.problems
    assert isinstance(mail.body_text, str)


def test_empty_input() -> None:
    mail = _only(b"")
    assert mail.subject == "" and mail.body_text == "" and mail.attachments == ()
    assert "message: no headers found" in mail.problems


def test_deeply_nested_multipart_does_not_raise() -> None:
    depth = 3000
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth)
    )
    raw = b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nleaf\r\n"
    mail = _only(raw)
    assert mail.subject == "deep"
    assert mail.problems


def test_broken_encoded_word_is_kept_as_text() -> None:
    mail = _only(b"Subject: =?utf-8?B?###?= =?x-nope?B?gqA=?=\r\n\r\nx\r\n")
    assert "###" in mail.subject
    assert mail.problems


def test_bad_date_is_reported() -> None:
    mail = _only(build_mail(date="sometime next week"))
    assert mail.date is None
    assert any(p.startswith("header Date: unreadable") for p in mail.problems)


def test_inbound_mail_is_frozen() -> None:
    mail = _only(build_mail())
    with pytest.raises(dataclasses.FrozenInstanceError):
        mail.subject = "x"  # type: ignore[misc]


def _assert_storable(mail: InboundMail) -> None:
    """Every text of the mail is real Unicode (no lone surrogates): it can go into the DB."""
    texts = [mail.subject, mail.body_text, mail.from_addr or "", mail.from_name or "", mail.message_id or "",
             mail.in_reply_to or "", mail.reply_to or "", mail.content_type, mail.report_type or ""]
    texts += list(mail.to) + list(mail.cc) + list(mail.references) + list(mail.problems)
    texts += [k + v for k, v in mail.headers.items()] + [a.filename or "" for a in mail.attachments]
    for text in texts:
        text.encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_parse_without_exception(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert isinstance(mail, InboundMail)
    _assert_storable(mail)


_SAMPLE = build_mail(
    "USEN SPOT 器材発注依頼_988776654 ①",
    ORDER_BODY,
    attachments=[("申込書.pdf", minimal_pdf(size=600), "application/pdf")],
    cc="支店長 <boss@aoyama.usen.co.jp>",
)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(_SAMPLE)), st.integers(0, 64), st.binary(max_size=32))
def test_mutated_real_mail_parses_without_exception(at: int, cut: int, junk: bytes) -> None:
    mail = parse_mail(_SAMPLE[:at] + junk + _SAMPLE[at + cut:])
    assert isinstance(mail, InboundMail)
    _assert_storable(mail)


# --- helpers -------------------------------------------------------------------------------


def test_message_id_hash() -> None:
    a = message_id_hash(b"one", "<abc@usen.co.jp>")
    assert a == message_id_hash(b"two", " <abc@usen.co.jp>\r\n")
    assert a == message_id_hash(b"three", "abc@usen.co.jp")
    assert a != message_id_hash(b"one", "<ABC@usen.co.jp>")
    assert message_id_hash(b"raw-1", None) != message_id_hash(b"raw-2", None)
    assert message_id_hash(b"raw-1", "  ") == message_id_hash(b"raw-1", None)
    assert len(a) == 64 and int(a, 16) >= 0


def test_mail_without_message_id_delivered_twice_has_one_hash() -> None:
    """Two deliveries differ only in the trace headers servers prepend; a different mail
    (other body) must not share the hash."""
    mail = b"From: a@usen.co.jp\r\nSubject: USEN SPOT\r\nDate: Mon, 30 Nov 2026 10:00:00 +0900\r\n\r\nbody\r\n"
    first = b"Received: from mx1 by mx2; Mon, 30 Nov 2026 10:00:01 +0900\r\n" + mail
    second = b"Delivered-To: alias@usen.co.jp\r\nReceived: from mx1 by mx3\r\n" + mail
    assert message_id_hash(first, None) == message_id_hash(second, None)
    assert message_id_hash(first, None) != message_id_hash(first.replace(b"body", b"bodY"), None)


def test_cp50220_round_trip_over_every_jis_reachable_cp932_character() -> None:
    chars = []
    for lead in list(range(0x81, 0xA0)) + list(range(0xE0, 0xF0)):
        for trail in list(range(0x40, 0x7F)) + list(range(0x80, 0xFD)):
            try:
                ch = bytes((lead, trail)).decode("cp932")
            except UnicodeDecodeError:
                continue
            if ch.encode("cp932") == bytes((lead, trail)):  # the preferred code of ch
                chars.append(ch)
    text = "".join(chars)
    assert len(text) > 7000
    assert decode_jis(cp50220_encode(text)) == (text, 0)


def test_decode_bytes_labels() -> None:
    assert decode_bytes("①".encode("cp932"), "Shift_JIS") == ("①", None)
    assert decode_bytes("あ".encode("euc_jp"), "EUC-JP") == ("あ", None)
    assert decode_bytes("é".encode("latin-1"), '"ISO-8859-1"') == ("é", None)
    text, problem = decode_bytes("あ".encode("cp932"), "utf-8")
    assert text == "あ" and problem == "charset 'utf-8' does not fit the bytes, decoded as cp932"
    assert encode_word("①", "cp50220").startswith("=?ISO-2022-JP?B?")


def test_html_to_text_pre_and_entities() -> None:
    assert html_to_text("<pre>a  b\nc</pre>&#x2460;&copy;") == "a  b\nc\n①©"


# --- hostile thread headers: what a reply copies must stay one clean header line ----------


def _with_header(name: str, value: bytes) -> bytes:
    """A normal branch mail whose ``name`` header carries exactly ``value`` (raw bytes)."""
    raw = build_mail(message_id="<placeholder@usen.co.jp>", in_reply_to="<irt@usen.co.jp>",
                     references="<ref@usen.co.jp>")
    line = {b"Message-ID": b"<placeholder@usen.co.jp>", b"In-Reply-To": b"<irt@usen.co.jp>",
            b"References": b"<ref@usen.co.jp>"}[name.encode()]
    assert raw.count(line) == 1
    return raw.replace(line, value)


def _reply_head(mail: InboundMail) -> list[bytes]:
    """The header lines of a reply built the way actions/reply.py builds one (stdlib default
    policy, which decodes RFC 2047 words in what it is given), unfolded."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["To"] = mail.from_addr or "x@usen.co.jp"
    msg["Subject"] = f"Re: {mail.subject}"
    if mail.message_id:
        msg["In-Reply-To"] = mail.message_id
        msg["References"] = " ".join((*mail.references, mail.message_id))
    msg.set_content("x")
    head = msg.as_bytes().split(b"\n\n", 1)[0]
    return [line for line in head.replace(b"\n ", b" ").split(b"\n")]


_ENCODED_CRLF = b"=?utf-8?Q?a=0D=0ABcc:_x@evil.example?="
HOSTILE_IDS = {
    "encoded CR/LF, no brackets": _ENCODED_CRLF,
    "encoded CR/LF inside brackets": b"<=?utf-8?Q?a=0D=0ABcc:_x?=@evil.example>",
    "base64 word holding id and Bcc line": b"=?utf-8?B?" + base64.b64encode(b"<a@b>\r\nBcc: x@evil.example") + b"?=",
    "bare CR inside the id": b"<a\rb@usen.co.jp>",
    "U+2028 inside the id": "<a\u2028b@usen.co.jp>".encode(),
    "encoded U+2028": b"=?utf-8?B?" + base64.b64encode("<a\u2028Bcc: x@evil.example>".encode()) + b"?=",
    "no angle brackets": b"abc.123@aoyama.usen.co.jp",
    "space inside": b"<abc def@usen.co.jp>",
    "no @": b"<abc.def.usen.co.jp>",
    "too long": b"<" + b"a" * 240 + b"@usen.co.jp>",
    "empty": b"<>",
}


@pytest.mark.parametrize("value", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
@pytest.mark.parametrize("name", ["Message-ID", "In-Reply-To"])
def test_invalid_thread_ids_are_dropped(name: str, value: bytes) -> None:
    """Given a Message-ID or In-Reply-To that is not a plain <left@right> (encoded CR/LF,
    bare CR, U+2028, no brackets, too long), when parsed, then it is None (threading is
    dropped), a problem says so, and a reply built from the mail has no injected header."""
    mail = _only(_with_header(name, value))
    assert (mail.message_id if name == "Message-ID" else mail.in_reply_to) is None
    assert any(p.startswith(f"header {name}:") for p in mail.problems)
    _assert_storable(mail)
    head = _reply_head(mail)
    assert not any(line.lower().startswith(b"bcc") for line in head), head


def test_id_followed_by_a_bcc_line_keeps_only_the_id() -> None:
    """A raw ``<a@b>\\r\\nBcc: x@evil`` is two header lines: the id is kept, nothing else."""
    mail = _only(_with_header("Message-ID", b"<a.1@usen.co.jp>\r\nBcc: x@evil.example"))
    assert mail.message_id == "<a.1@usen.co.jp>"
    assert not any(line.lower().startswith(b"bcc") for line in _reply_head(mail))


def test_valid_ids_are_kept_and_hash_as_before() -> None:
    longest = "<" + "a" * 237 + "@usen.co.jp>"
    assert len(longest) == 250
    mail = _only(_with_header("Message-ID", b" " + longest.encode() + b" (comment)"))
    assert mail.message_id == longest
    mail = _only(build_mail(message_id="<ABC.123+x=y@Aoyama.usen.co.jp>"))
    assert mail.message_id == "<ABC.123+x=y@Aoyama.usen.co.jp>"
    # the dedupe hash of a valid id is what it always was: sha256 of the id without brackets
    import hashlib

    assert message_id_hash(b"", mail.message_id) == hashlib.sha256(b"ABC.123+x=y@Aoyama.usen.co.jp").hexdigest()


def test_references_keep_only_valid_ids_and_the_last_20() -> None:
    junk = b"<a@b> junk <no-at-sign> <=?utf-8?Q?a=0D=0A?=@evil> <c d@e> <\xe3\x81\x82@x> " + _ENCODED_CRLF
    good = b" ".join(b"<id%02d@usen.co.jp>" % i for i in range(30))
    mail = _only(_with_header("References", junk + b"\r\n " + good))
    assert mail.references == tuple(f"<id{i:02d}@usen.co.jp>" for i in range(10, 30))
    assert "header References: 4 invalid message id(s) dropped" in mail.problems
    assert not any(line.lower().startswith(b"bcc") for line in _reply_head(mail))


@pytest.mark.parametrize(
    "subject",
    [
        b"=??q?x=0D=0ABcc:_x@evil.example?=",  # a loose word we do not decode, the stdlib does
        b"=?utf-8?B?" + base64.b64encode(b"=?utf-8?q?x=0D=0ABcc:_x@evil.example?=") + b"?=",  # double encoded
        b"=?utf-8?Q?USEN_SPOT=0D=0ABcc:_x@evil.example?=",
        "USEN SPOT\u2028Bcc: x@evil.example".encode(),
    ],
)
def test_subject_cannot_inject_into_a_reply(subject: bytes) -> None:
    """The 差戻 copies the subject into ``Subject: Re: …``: whatever the mail's subject held,
    the reply's subject stays one line and no Bcc appears."""
    mail = _only(b"From: a@usen.co.jp\r\nMessage-ID: <s@usen.co.jp>\r\nSubject: " + subject + b"\r\n\r\nx\r\n")
    assert "\n" not in mail.subject and "\r" not in mail.subject and "\u2028" not in mail.subject
    head = _reply_head(mail)
    assert not any(line.lower().startswith(b"bcc") for line in head), head


def test_address_with_an_encoded_word_is_dropped() -> None:
    """An encoded word in an address is decoded again when the address is written into a
    header (To/Cc of the 差戻): such an address is not kept."""
    mail = _only(build_mail(from_="=?utf-8?q?x=0d=0a?=@evil.example", cc="ok@usen.co.jp, =?x?q?=0a?=@y.jp"))
    assert mail.from_addr is None
    assert mail.cc == ("ok@usen.co.jp",)
    assert any("unsafe characters" in p for p in mail.problems)


# --- unknown charsets: detected, not guessed blind --------------------------------------


def _labelled(data: bytes, charset: str) -> bytes:
    return (f"Subject: x\r\nFrom: a@usen.co.jp\r\nContent-Type: text/plain; charset={charset}\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + data


_EUC_TEXT = "顧客CD : 988776654\n店舗名 : スパゲティーUSEN 青山店"


@pytest.mark.parametrize(
    ("encoded", "used", "text"),
    [
        (ORDER_TEXT.encode("utf-8"), "utf-8", ORDER_TEXT),
        (ORDER_TEXT.encode("cp932"), "cp932", ORDER_TEXT),
        (cp50220_encode(ORDER_TEXT), "iso-2022-jp", ORDER_TEXT),
        (_EUC_TEXT.encode("euc_jp"), "euc-jp", _EUC_TEXT),
    ],
    ids=["utf-8", "shift_jis", "iso-2022-jp", "euc-jp"],
)
@pytest.mark.parametrize("label", ["zlib", "x-unknown", "punycode", "base64"])
def test_unknown_charset_label_is_detected(label: str, encoded: bytes, used: str, text: str) -> None:
    """Given a body labelled with a charset Python has no text codec for (zlib is a
    bytes-to-bytes codec; punycode one we refuse), when parsed, then the text is exact and
    the problem names the label and what was used; never blind CP932 mojibake."""
    mail = _only(_labelled(encoded, label))
    assert mail.body_text == text
    assert f"part 1: charset {label!r} unknown, decoded as {used}" in mail.problems


def test_unknown_charset_in_an_encoded_word_is_detected() -> None:
    word = base64.b64encode("器材発注依頼".encode()).decode()
    text, problems = decode_header_text(f"USEN SPOT =?zlib?B?{word}?=_988776654")
    assert text == "USEN SPOT 器材発注依頼_988776654"
    assert problems == ["charset 'zlib' unknown, decoded as utf-8"]


def test_unlabelled_euc_jp_body_is_not_read_as_cp932() -> None:
    """EUC-JP decodes as CP932 without a single error (as half-width katakana mojibake)."""
    raw = b"Subject: x\r\nFrom: a@usen.co.jp\r\n\r\n" + _EUC_TEXT.encode("euc_jp")
    assert _EUC_TEXT.encode("euc_jp").decode("cp932")  # the trap
    mail = _only(raw)
    assert mail.body_text == _EUC_TEXT
    assert "part 1: no charset declared but 8-bit or escaped text, decoded as euc-jp" in mail.problems


def test_unlabelled_iso2022jp_with_a_broken_pair_is_still_decoded() -> None:
    raw = b"Subject: x\r\nFrom: a@usen.co.jp\r\n\r\n\x1b$B$\"\x29\x21$\"\x1b(B ok\r\n"
    mail = _only(raw)
    assert mail.body_text == "あ\ufffdあ ok"  # not the raw escape sequences
    assert any("decoded as iso-2022-jp with replacement" in p for p in mail.problems)


# --- carrier emoji and unmappable JIS pairs: one character each ---------------------------

# au (KDDI) emoji as its phones send them in ISO-2022-JP: JIS rows 0x75-0x78 (Shift_JIS
# F3xx-F4xx on the phone, EBxx-ECxx by the standard JIS → Shift_JIS formula).
AU_EMOJI = [b"\x75\x21", b"\x76\x7e", b"\x77\x30", b"\x78\x50"]


def test_au_emoji_in_an_iso2022jp_body_are_one_character_each() -> None:
    body = b"\x1b$B$\"" + b"".join(AU_EMOJI) + b"$\"\x1b(B@ok\r\n"
    mail = _only(_labelled(body, "iso-2022-jp"))
    assert mail.body_text == "あ〓〓〓〓あ@ok"
    assert "\ufffd" not in mail.body_text
    assert not any("undecodable" in p for p in mail.problems)


def test_au_emoji_in_an_iso2022jp_subject_are_one_character_each() -> None:
    jis = cp50220_encode("USEN SPOT 器材_988776654 ") + b"\x1b$B" + AU_EMOJI[0] + AU_EMOJI[1] + b"\x1b(B"
    word = base64.b64encode(jis).decode()
    mail = _only(f"Subject: =?ISO-2022-JP?B?{word}?=\r\nFrom: a@usen.co.jp\r\n\r\nx\r\n".encode())
    assert mail.subject == "USEN SPOT 器材_988776654 〓〓"


def test_unmappable_jis_pairs_become_exactly_one_replacement_each() -> None:
    """Rows CP932 lacks outside the carrier area (here row 9: 0x29xx) give U+FFFD once per
    pair: no stray half-width character, no byte eaten from the text around it."""
    text, bad = decode_jis(b"\x1b$B$\"\x29\x21\x29\x7e$\"\x1b(Bx")
    assert (text, bad) == ("あ\ufffd\ufffdあx", 2)
    # the NEC-selected IBM rows (0x79-0x7C) stay kanji: Outlook writes 髙 there
    assert decode_jis(cp50220_encode("髙﨑")) == ("髙﨑", 0)
