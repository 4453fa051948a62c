"""A small builder of REAL raw mails for tests: the bytes a Japanese mailer would send.

Built by hand rather than with ``email.message.EmailMessage`` because the point is to
reproduce what Outlook, Becky!, Thunderbird and iPhone mail put on the wire, including
what the stdlib will not produce: CP50220-style ISO-2022-JP (① ㈱ ～ inside ``ESC $ B``),
RFC 2047 ISO-2022-JP file names, RFC 2231 continuations, bounces and auto-replies.

    raw = build_mail("USEN SPOT 器材発注依頼_988776654", "顧客CD : 988776654\\n",
                     charset="cp50220", attachments=[("申込書.pdf", pdf, "application/pdf")])
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence

__all__ = [
    "AUTO",
    "DEFAULT_DATE",
    "build_auto_reply",
    "build_bounce",
    "build_mail",
    "cp50220_encode",
    "encode_word",
    "minimal_pdf",
]

CRLF = "\r\n"
DEFAULT_DATE = "Mon, 30 Nov 2026 10:00:00 +0900"
DEFAULT_FROM = "内田 <uchida@aoyama.usen.co.jp>"
DEFAULT_TO = "usen_spot@mx.usen.co.jp"


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


#: "Make one up": the default for ``message_id``; pass None to leave the header out.
AUTO = _Auto()
_counter = itertools.count(1)

Attach = tuple[str | None, bytes, str]


# ---------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------


def _sjis_to_jis(s1: int, s2: int) -> tuple[int, int]:
    """One Shift_JIS double-byte code → its two 7-bit JIS bytes."""
    if 0x81 <= s1 <= 0x9F:
        row = s1 - 0x70
    elif 0xE0 <= s1 <= 0xEF:
        row = s1 - 0xB0
    else:
        raise ValueError(f"Shift_JIS lead byte {s1:#x} has no 7-bit JIS form (user-defined area?)")
    j1 = row * 2 - 1
    if s2 >= 0x9F:
        return j1 + 1, s2 - 0x7E
    return j1, s2 - 0x1F - (1 if s2 >= 0x80 else 0)


def cp50220_encode(text: str) -> bytes:
    """Text → ISO-2022-JP bytes the way Outlook writes them (Microsoft CP50220).

    Each character is encoded to CP932 and the double-byte ones are converted Shift_JIS →
    JIS inside ``ESC $ B … ESC ( B``, so ① ㈱ ～ 髙 get the NEC/IBM positions Python's
    ``iso2022_jp`` codecs refuse.  Half-width katakana become full-width, as CP50220 does.
    Every line ends in ASCII mode (RFC 1468).
    """
    out = bytearray()
    kanji = False
    for ch in text:
        if 0xFF61 <= ord(ch) <= 0xFF9F:
            ch = unicodedata.normalize("NFKC", ch)
        for c in ch:
            if ord(c) < 0x80:
                if kanji:
                    out += b"\x1b(B"
                    kanji = False
                out += c.encode("ascii")
                continue
            sjis = c.encode("cp932")
            if len(sjis) != 2:
                raise ValueError(f"{c!r} has no double-byte CP932 form")
            if not kanji:
                out += b"\x1b$B"
                kanji = True
            out += bytes(_sjis_to_jis(sjis[0], sjis[1]))
    if kanji:
        out += b"\x1b(B"
    return bytes(out)


def _encode_text(text: str, charset: str) -> tuple[bytes, str]:
    """Text → (bytes, the charset label a mailer would declare)."""
    key = charset.lower()
    if key == "cp50220":
        # Outlook labels CP50220 output as plain ISO-2022-JP: that is the trap.
        return cp50220_encode(text), "ISO-2022-JP"
    if key == "iso-2022-jp":
        return text.encode("iso2022_jp"), "ISO-2022-JP"  # strict: no ①㈱, like non-MS mailers
    if key in ("shift_jis", "cp932"):
        return text.encode("cp932"), "Shift_JIS"
    if key == "utf-8":
        return text.encode("utf-8"), "UTF-8"
    return text.encode(charset), charset


def encode_word(text: str, charset: str = "cp50220", *, encoding: str = "B") -> str:
    """Text → RFC 2047 encoded words, folded (CRLF SP) as mailers do for long subjects.

    Every word is self-contained: an ISO-2022-JP word starts in and returns to ASCII.
    """
    label = _encode_text("", charset)[1]
    words: list[str] = []
    chunk = ""
    for ch in text:
        candidate = chunk + ch
        data = _encode_text(candidate, charset)[0]
        if len(data) > 45 and chunk:  # ~60 base64 characters per word
            words.append(_one_word(_encode_text(chunk, charset)[0], label, encoding))
            chunk = ch
        else:
            chunk = candidate
    if chunk or not words:
        words.append(_one_word(_encode_text(chunk, charset)[0], label, encoding))
    return (CRLF + " ").join(words)


def _one_word(data: bytes, label: str, encoding: str) -> str:
    if encoding.upper() == "Q":
        body = "".join(
            chr(b) if (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A) else ("_" if b == 0x20 else f"={b:02X}")
            for b in data
        )
        return f"=?{label}?Q?{body}?="
    return f"=?{label}?B?{base64.b64encode(data).decode('ascii')}?="


def _address(value: str) -> str:
    """``表示名 <addr>`` → the display name RFC 2047-encoded (ISO-2022-JP), as Outlook sends it."""
    if "<" not in value:
        return value
    name, _, rest = value.partition("<")
    name = name.strip().strip('"')
    if not name:
        return "<" + rest
    if name.isascii():
        return f'"{name}" <{rest}'
    return f"{encode_word(name, 'cp50220')} <{rest}"


def _addresses(value: str | Sequence[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _address(value)
    return ", ".join(_address(v) for v in value)


def _transfer_encode(data: bytes, cte: str) -> str:
    cte = cte.lower()
    if cte == "base64":
        text = base64.b64encode(data).decode("ascii")
        return CRLF.join(text[i:i + 76] for i in range(0, len(text), 76))
    if cte == "quoted-printable":
        lf = data.replace(b"\r\n", b"\n")
        return binascii.b2a_qp(lf, istext=True).decode("ascii").replace("\n", CRLF)
    # 7bit / 8bit: the bytes themselves; latin-1 round-trips them through str.
    return data.decode("latin-1")


def _filename_params(name: str, style: str) -> tuple[str, str]:
    """(Content-Type name param, Content-Disposition filename param) for a file name."""
    if name.isascii():
        return f'name="{name}"', f'filename="{name}"'
    if style == "rfc2047":  # Outlook, Becky!: encoded words inside the quotes
        word = encode_word(name, "cp50220").replace(CRLF + " ", " ")
        return f'name="{word}"', f'filename="{word}"'
    if style == "rfc2231-jis":  # ISO-2022-JP %-encoded (some Japanese mailers)
        quoted = urllib.parse.quote(cp50220_encode(name), safe="")
        return f"name*=ISO-2022-JP'ja'{quoted}", f"filename*=ISO-2022-JP'ja'{quoted}"
    if style == "rfc2231":  # Thunderbird: UTF-8, split into continuations
        quoted = urllib.parse.quote(name.encode("utf-8"), safe="")
        tokens = re.findall(r"%[0-9A-F]{2}|.", quoted)  # never split inside a %XX escape
        fixed: list[str] = [""]
        for token in tokens:
            if len(fixed[-1]) + len(token) > 36:
                fixed.append("")
            fixed[-1] += token
        params = [f"filename*{i}*=" + ("UTF-8''" if i == 0 else "") + p for i, p in enumerate(fixed)]
        return f"name*=UTF-8''{quoted}", (";" + CRLF + " ").join(params)
    raise ValueError(f"unknown file name style {style!r}")


def minimal_pdf(text: str = "USEN SPOT", *, size: int = 0) -> bytes:
    """A tiny well-formed-looking PDF, padded with a binary stream to ``size`` bytes."""
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" \
           b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    body = f"% {text}\n".encode("ascii", "replace")
    pad = max(0, size - len(head) - len(body) - 30)
    filler = bytes((i * 37 + 11) % 256 for i in range(pad))
    return head + body + b"3 0 obj<<>>stream\n" + filler + b"\nendstream endobj\n%%EOF\n"


# ---------------------------------------------------------------------------------------
# Mails
# ---------------------------------------------------------------------------------------


def _header_lines(headers: Sequence[tuple[str, str | None]]) -> str:
    return "".join(f"{name}: {value}{CRLF}" for name, value in headers if value is not None)


def _default_cte(label: str) -> str:
    return "7bit" if label.upper() == "ISO-2022-JP" else "base64"


def build_mail(
    subject: str | None = "USEN SPOT 器材発注依頼_988776654",
    body: str = "申込書送付します。\n",
    *,
    charset: str = "cp50220",
    html_only: bool = False,
    html: str | None = None,
    transfer_encoding: str | None = None,
    attachments: Sequence[Attach] = (),
    attachment_name_style: str = "rfc2047",
    from_: str | None = DEFAULT_FROM,
    to: str | Sequence[str] | None = DEFAULT_TO,
    cc: str | Sequence[str] | None = None,
    reply_to: str | None = None,
    headers: Mapping[str, str | None] | None = None,
    message_id: str | None | _Auto = AUTO,
    date: str | None = DEFAULT_DATE,
    in_reply_to: str | None = None,
    references: str | None = None,
    subject_encoding: str | None = None,
    format_flowed: bool = False,
) -> bytes:
    """One raw mail as a Japanese mailer would send it.

    ``charset``: ``cp50220`` (Outlook: ISO-2022-JP label, ①㈱ allowed), ``iso-2022-jp``
    (strict JIS X 0208), ``shift_jis`` (CP932 bytes), ``utf-8``, or any Python codec.
    ``html_only``: ``body`` is HTML markup, sent as the only part (text/html).
    ``html``: also send this HTML as the text/html alternative of the plain ``body``.
    ``transfer_encoding``: 7bit / 8bit / base64 / quoted-printable (default: 7bit for
    ISO-2022-JP, base64 otherwise).
    ``attachments``: (file name, bytes, content type); names encoded per
    ``attachment_name_style``: ``rfc2047`` (ISO-2022-JP words), ``rfc2231`` (UTF-8
    continuations) or ``rfc2231-jis``.
    ``subject_encoding``: None → the body charset (ASCII subjects stay raw); ``raw`` →
    8-bit bytes of the body charset in the header; ``utf-8-q`` → UTF-8 Q-encoding;
    otherwise a charset name for B-encoded words.
    ``headers``: extra headers, added after the standard ones; a value of None removes
    a standard header of that name (``headers={"Date": None}``).
    """
    extra = dict(headers or {})
    removed = {k.lower() for k, v in extra.items() if v is None}
    body_bytes, label = _encode_text(body.replace("\r\n", "\n").replace("\n", CRLF), charset)
    cte = transfer_encoding or _default_cte(label)

    raw_subject_bytes: bytes | None = None
    encoded_subject: str | None
    if subject is None:
        encoded_subject = None
    elif subject_encoding == "raw":
        raw_subject_bytes, _ = _encode_text(subject, charset)
        encoded_subject = "\x00RAW\x00"
    elif subject.isascii() and subject_encoding is None:
        encoded_subject = subject
    elif subject_encoding == "utf-8-q":
        encoded_subject = encode_word(subject, "utf-8", encoding="Q")
    else:
        encoded_subject = encode_word(subject, subject_encoding or charset)

    mid = f"<{next(_counter):06d}.mailbuilder@aoyama.usen.co.jp>" if message_id is AUTO else message_id
    standard: list[tuple[str, str | None]] = [
        ("Return-Path", "<" + _bare(from_) + ">" if from_ and "return-path" not in {k.lower() for k in extra} else None),
        ("From", _addresses(from_)),
        ("To", _addresses(to)),
        ("Cc", _addresses(cc)),
        ("Reply-To", _addresses(reply_to)),
        ("Subject", encoded_subject),
        ("Date", date),
        ("Message-ID", mid if isinstance(mid, str) else None),
        ("In-Reply-To", in_reply_to),
        ("References", references),
        ("MIME-Version", "1.0"),
        ("X-Mailer", "Microsoft Outlook 16.0"),
    ]
    head = [(n, v) for n, v in standard if n.lower() not in removed]
    head += [(n, v if v.isascii() else encode_word(v, "utf-8")) for n, v in extra.items() if v is not None]

    flowed = "; format=flowed; delsp=yes" if format_flowed else ""
    if html_only:
        text_part = (f'Content-Type: text/html; charset="{label}"', cte, body_bytes)
    else:
        text_part = (f'Content-Type: text/plain; charset="{label}"{flowed}', cte, body_bytes)
    parts: list[str] = []
    if html is not None and not html_only:
        html_bytes, _ = _encode_text(html.replace("\n", CRLF), charset)
        inner = _multipart(
            "alternative",
            [_leaf(*text_part), _leaf(f'Content-Type: text/html; charset="{label}"', cte, html_bytes)],
        )
        parts.append(inner)
    else:
        parts.append(_leaf(*text_part))

    if attachments:
        for name, data, ctype in attachments:
            if name is None:
                ct, cd = f"Content-Type: {ctype}", "Content-Disposition: attachment"
            else:
                name_param, filename_param = _filename_params(name, attachment_name_style)
                ct = f"Content-Type: {ctype};{CRLF} {name_param}"
                cd = f"Content-Disposition: attachment;{CRLF} {filename_param}"
            parts.append(_leaf(ct + CRLF + cd, "base64", data))
        top = _multipart("mixed", parts)
    else:
        top = parts[0]

    text = _header_lines(head) + top
    out = text.encode("latin-1")
    if raw_subject_bytes is not None:
        out = out.replace(b"\x00RAW\x00", raw_subject_bytes)
    return out


def _bare(addr: str) -> str:
    if "<" in addr:
        return addr.split("<", 1)[1].split(">", 1)[0]
    return addr.strip()


def _leaf(content_type: str, cte: str, data: bytes) -> str:
    return f"{content_type}{CRLF}Content-Transfer-Encoding: {cte}{CRLF}{CRLF}{_transfer_encode(data, cte)}{CRLF}"


def _multipart(subtype: str, parts: Sequence[str]) -> str:
    boundary = f"----=_NextPart_{next(_counter):04d}_{subtype.upper()}"
    out = f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
    out += f"This is a multi-part message in MIME format.{CRLF}{CRLF}"
    for part in parts:
        out += f"--{boundary}{CRLF}{part}{CRLF}"
    return out + f"--{boundary}--{CRLF}"


def build_bounce(
    original: bytes | None = None,
    *,
    recipient: str = "uchida@aoyama.usen.co.jp",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <uchida@aoyama.usen.co.jp>: Recipient address rejected",
    from_: str = "MAILER-DAEMON@mx.usen.co.jp (Mail Delivery System)",
    to: str = "usen_spot@mx.usen.co.jp",
    subject: str = "Undelivered Mail Returned to Sender",
    headers_only: bool = False,
    message_id: str | None | _Auto = AUTO,
) -> bytes:
    """A Postfix-style DSN: multipart/report; report-type=delivery-status, Return-Path <>.

    ``original``: the returned mail (message/rfc822), or only its headers
    (text/rfc822-headers) with ``headers_only``.
    """
    original = original if original is not None else build_mail(subject="USEN SPOT 差戻", body="差戻です。\n")
    mid = f"<{next(_counter):06d}.bounce@mx.usen.co.jp>" if message_id is AUTO else message_id
    boundary = f"{next(_counter):04d}.DSN/mx.usen.co.jp"
    head = _header_lines(
        [
            ("Return-Path", "<>"),
            ("From", from_),
            ("To", to),
            ("Subject", subject),
            ("Date", DEFAULT_DATE),
            ("Message-ID", mid if isinstance(mid, str) else None),
            ("Auto-Submitted", "auto-replied"),
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/report; report-type=delivery-status;{CRLF} boundary="{boundary}"'),
        ]
    )
    human = (
        "This is the mail system at host mx.usen.co.jp." + CRLF + CRLF
        + "I'm sorry to have to inform you that your message could not" + CRLF
        + "be delivered to one or more recipients." + CRLF
    )
    status_block = (
        f"Reporting-MTA: dns; mx.usen.co.jp{CRLF}Arrival-Date: {DEFAULT_DATE}{CRLF}{CRLF}"
        f"Final-Recipient: rfc822; {recipient}{CRLF}Action: failed{CRLF}Status: {status}{CRLF}"
        f"Diagnostic-Code: {diagnostic}{CRLF}"
    )
    if headers_only:
        returned_type = "text/rfc822-headers"
        returned = original.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    else:
        returned_type = "message/rfc822"
        returned = original
    out = head.encode("ascii") + (
        f"{CRLF}This is a MIME-encapsulated message.{CRLF}{CRLF}"
        f"--{boundary}{CRLF}Content-Description: Notification{CRLF}"
        f"Content-Type: text/plain; charset=us-ascii{CRLF}{CRLF}{human}{CRLF}"
        f"--{boundary}{CRLF}Content-Description: Delivery report{CRLF}"
        f"Content-Type: message/delivery-status{CRLF}{CRLF}{status_block}{CRLF}"
        f"--{boundary}{CRLF}Content-Description: Undelivered Message{CRLF}"
        f"Content-Type: {returned_type}{CRLF}Content-Transfer-Encoding: 8bit{CRLF}{CRLF}"
    ).encode("ascii") + returned + f"{CRLF}--{boundary}--{CRLF}".encode("ascii")
    return out


def build_auto_reply(
    subject: str = "自動応答: USEN SPOT 器材発注依頼_988776654",
    body: str = "ただいま不在にしております。12月1日に戻ります。\n",
    *,
    style: str = "rfc3834",
    from_: str = "内田 <uchida@aoyama.usen.co.jp>",
    to: str = "usen_spot@mx.usen.co.jp",
    in_reply_to: str | None = None,
) -> bytes:
    """An out-of-office reply (不在通知).

    ``style``: ``rfc3834`` (Auto-Submitted: auto-replied), ``exchange`` (Outlook OOF:
    X-Auto-Response-Suppress + Auto-Submitted: auto-generated), ``vacation`` (Unix
    vacation: Precedence: bulk + X-Autoreply), ``bare`` (no marker at all: what a
    careless mailer sends; only the subject tells).
    """
    markers: dict[str, str | None] = {
        "rfc3834": {"Auto-Submitted": "auto-replied"},
        "exchange": {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
        "vacation": {"Precedence": "bulk", "X-Autoreply": "yes"},
        "bare": {},
    }[style]
    return build_mail(subject, body, charset="cp50220", from_=from_, to=to, headers=markers, in_reply_to=in_reply_to)
