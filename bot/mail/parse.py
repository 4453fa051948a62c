"""Raw mail bytes → one immutable :class:`InboundMail`: the walk, the fields and the body.

:func:`parse_mail` is the one entry point.  Nothing here raises on malformed input: it
degrades and records a problem.  Work and memory are linear in the input, and what one
mail can make us spend is bounded by :class:`~bot.config.limits.Limits` (over a limit, the mail
says which in ``limit_exceeded`` and the pipeline holds it for a person).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from types import MappingProxyType

from bot.config.limits import DEFAULT, Limits
from bot.mail import fields
from bot.mail.charsets import decode_bytes
from bot.mail.headers import decode_header_text, defuse_encoded_words, single_line
from bot.mail.html import html_to_text
from bot.mail.mime import Leaf, param, text_param, walk

log = logging.getLogger(__name__)

__all__ = ["Attachment", "InboundMail", "content_fingerprint", "message_id_hash", "parse_mail"]


@dataclass(frozen=True)
class Attachment:
    """One attached file (添付ファイル), its bytes already transfer-decoded."""

    filename: str | None
    content_type: str
    data: bytes

    @property
    def is_pdf(self) -> bool:
        """True for a PDF by content type or by a ``.pdf`` name (any width, any case)."""
        if self.content_type in ("application/pdf", "application/x-pdf", "application/acrobat"):
            return True
        name = unicodedata.normalize("NFKC", self.filename or "").strip().lower()
        return name.endswith(".pdf")


@dataclass(frozen=True)
class InboundMail:
    """A parsed inbound mail: every text decoded, every address bare and lower-cased.

    ``message_id``, ``in_reply_to`` and ``references`` hold only valid ``<left@right>`` ids
    and ``subject`` is one line without encoded words: other code copies them into the
    headers of a reply.  ``limit_exceeded`` names the limit a mail went over (None normally).
    """

    message_id: str | None
    subject: str
    from_addr: str | None
    from_name: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str | None
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    body_text: str
    attachments: tuple[Attachment, ...]
    headers: Mapping[str, str]
    content_type: str
    report_type: str | None
    problems: tuple[str, ...] = field(default=())
    limit_exceeded: str | None = None
    # Every Authentication-Results header, topmost first (one line each, at most 20): which of
    # them to trust is the sender check's business (bot/checks/authentication.py).
    auth_results: tuple[str, ...] = ()

    def pdf_attachments(self) -> tuple[Attachment, ...]:
        """The attachments that are PDFs (申込書 / 解約申請書), by content type or ``.pdf`` name."""
        return tuple(a for a in self.attachments if a.is_pdf)


# ---------------------------------------------------------------------------------------
# Bodies and attachments
# ---------------------------------------------------------------------------------------

_META = re.compile(rb"<meta\b[^<>]*", re.I)  # [^<>] stops at the next tag: no rescanning
_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def _meta_charset(data: bytes) -> str | None:
    """The charset an HTML body declares in a <meta> tag within its first 4 KB."""
    for meta in _META.finditer(data[:4096]):
        found = _META_CHARSET.search(meta.group())
        if found:
            return found.group(1).decode("ascii")
    return None


def _payload_bytes(leaf: Leaf) -> tuple[bytes, str | None]:
    """The transfer-decoded bytes of a leaf part; returns (bytes, problem or None).

    Base64 is decoded leniently here (stray characters dropped, padding repaired, a
    truncated tail cut) because the stdlib gives back the undecoded text on a bad length.
    """
    part = leaf.msg
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        raw = leaf.body.encode("ascii", "replace")
        cleaned = _BASE64_JUNK.sub(b"", raw)
        problem = None
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]
            problem = "base64 payload truncated, last partial group dropped"
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned), problem
        except (binascii.Error, ValueError) as err:
            return raw, f"base64 payload undecodable ({err}), kept as is"
    # 7bit/8bit/binary: the original bytes (the stdlib keeps 8-bit data surrogate-escaped
    # and gives it back exactly with decode=True); quoted-printable and uuencode decoded.
    decoded = part.get_payload(decode=True)
    if not isinstance(decoded, bytes):
        return b"", "payload unreadable, ignored"
    if cte in ("", "7bit", "8bit", "binary", "quoted-printable", "x-uuencode", "uuencode", "uue", "x-uue"):
        return decoded, None
    return decoded, f"transfer encoding {cte!r} unknown, taken as is"


def _unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed → plain lines (soft breaks joined, space-stuffing removed)."""
    out: list[str] = []
    current: list[str] | None = None  # the pieces of the paragraph being joined
    current_depth = -1
    for line in text.split("\n"):
        if line == "-- ":  # signature separator is never flowed
            if current is not None:
                out.append("".join(current))
                current = None
            out.append(line)
            continue
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ")
        if flowed and delsp:
            content = content[:-1]
        prefix = ">" * depth + (" " if depth else "")
        if current is not None and depth == current_depth:
            current.append(content)
        else:
            if current is not None:
                out.append("".join(current))
            current = [prefix, content]
            current_depth = depth
        if not flowed:
            out.append("".join(current))
            current = None
    if current is not None:
        out.append("".join(current))
    return "\n".join(out)


def _filename(part: Message, where: str, problems: list[str]) -> str | None:
    """The decoded file name: Content-Disposition filename, else Content-Type name.

    RFC 2231 (``filename*=charset''%..``, continuations) and RFC 2047 (``=?ISO-2022-JP?B?…``,
    as Outlook and Becky! write it) are both decoded with our CP50220-aware decoder.
    """
    for name, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = param(part, name, header)
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded latin-1 text)
            charset, _language, text = value
            data = str(text).encode("latin-1", "replace")
            decoded, problem = decode_bytes(data, charset or None)
            if problem:
                problems.append(f"{where}: file name {problem}")
        else:
            decoded, header_problems = decode_header_text(str(value).strip('"'))
            problems.extend(f"{where}: file name {p}" for p in header_problems)
        decoded = single_line(decoded).strip()
        if decoded:
            return decoded
    return None


def _body_and_attachments(
    leaves: tuple[Leaf, ...], limits: Limits, problems: list[str], exceeded: list[str]
) -> tuple[str, tuple[Attachment, ...]]:
    plain: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    count = 0  # attachments seen, kept or not
    for leaf in leaves:
        part, where = leaf.msg, f"part {leaf.where}"
        content_type = part.get_content_type()
        filename = _filename(part, where, problems)
        if content_type.startswith("multipart/"):  # its boundary was lost: plain text
            data, _problem = _payload_bytes(leaf)
            text, problem = decode_bytes(data, text_param(part, "charset"))
            if problem:
                problems.append(f"{where}: {problem}")
            plain.append(text.replace("\r\n", "\n").replace("\r", "\n"))
            continue
        disposition = (part.get_content_disposition() or "").lower()
        is_text = content_type in ("text/plain", "text/html")
        # Body: text parts not marked as attachments.  A *named* inline text part is both
        # (as mail-parser treats it): some mailers name the body, others inline a .txt file.
        # message/* parts (a forwarded mail, a bounce's report) are attachments, raw.
        as_body = is_text and (disposition == "inline" or (disposition != "attachment" and filename is None))
        if not as_body or filename is not None:
            count += 1
            if count <= limits.attachments:  # past the limit not even decoded
                data, problem = _payload_bytes(leaf)
                if problem:
                    problems.append(f"{where}: {problem}")
                attachments.append(Attachment(filename=filename, content_type=content_type, data=data))
        if not as_body:
            continue
        data, problem = _payload_bytes(leaf)
        if problem:
            problems.append(f"{where}: {problem}")
        charset = text_param(part, "charset")
        if content_type == "text/html" and charset is None:
            charset = _meta_charset(data)
        text, problem = decode_bytes(data, charset)
        if problem:
            problems.append(f"{where}: {problem}")
        text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
        if content_type == "text/html":
            htmls.append(text)
        else:
            if (text_param(part, "format") or "").lower() == "flowed":
                text = _unflow(text, delsp=(text_param(part, "delsp") or "").lower() == "yes")
            plain.append(text)
    if count > limits.attachments:
        description = f"{count} attachments, over the limit {limits.describe('attachments')}"
        problems.append(f"message: {description}; only the first {limits.attachments} kept")
        exceeded.append(description)
    body = "\n".join(t.strip("\n") for t in plain if t.strip())
    if not body.strip() and htmls:
        body = "\n".join(html_to_text(h) for h in htmls)
    return body.rstrip(), tuple(attachments)


# ---------------------------------------------------------------------------------------
# The entry points
# ---------------------------------------------------------------------------------------


def parse_mail(raw: bytes, limits: Limits = DEFAULT) -> InboundMail:
    """Parse raw RFC 5322 bytes into an :class:`InboundMail`.  Never raises.

    Malformed input (no headers, broken boundaries, unknown charsets, garbage) degrades to
    the best value available; each repair is listed in ``problems``.  Input over one of
    ``limits`` is read up to the limit, and ``limit_exceeded`` says which limit it was.
    """
    try:
        return _parse(bytes(raw), limits)
    except Exception as err:  # the last line of defence: a mail must never stop the loop
        log.exception("mail parse failed outright (%d bytes)", len(raw) if raw else 0)
        return _empty(f"message: parse failed ({type(err).__name__}: {err}); nothing extracted")


def parse_header_block(raw: bytes, limits: Limits = DEFAULT) -> InboundMail:
    """The mail's header fields only (Message-ID, Subject, From …), as :func:`parse_mail`
    reads them, without decoding the body and attachments: what storing a mail needs.

    The header block ends at the first empty line at the latest, so parsing the bytes up to
    it gives the same header values as parsing the whole mail.
    """
    data = bytes(raw or b"")
    end = re.search(rb"\r?\n\r?\n", data)
    return parse_mail(data[: end.start()] + b"\r\n\r\n" if end else data, limits)


def _empty(problem: str) -> InboundMail:
    return InboundMail(
        message_id=None, subject="", from_addr=None, from_name=None, to=(), cc=(),
        reply_to=None, date=None, in_reply_to=None, references=(), body_text="",
        attachments=(), headers=MappingProxyType({}), content_type="text/plain",
        report_type=None, problems=(problem,),
    )


def _parse(raw: bytes, limits: Limits) -> InboundMail:
    problems: list[str] = []
    exceeded: list[str] = []
    if len(raw) > limits.mail_bytes:
        description = f"mail of {len(raw)} bytes, over the limit {limits.describe('mail_bytes')}"
        problems.append(f"message: {description}; only the first {limits.mail_bytes} bytes read")
        exceeded.append(description)
        raw = raw[:limits.mail_bytes]
    # As the stdlib's BytesParser does: one byte, one character; 8-bit bytes kept as
    # surrogates, decoded later by whoever knows their charset.
    tree = walk(raw.decode("ascii", "surrogateescape"), limits, problems, exceeded)
    msg = tree.head
    headers = fields.HeaderIndex(msg)
    if not headers.raw:
        problems.append("message: no headers found")

    raw_subject = headers.first("subject")
    if raw_subject is None:
        problems.append("header Subject: missing")
    subject, subject_problems = decode_header_text(raw_subject)
    problems.extend(f"header Subject: {p}" for p in subject_problems)
    subject = defuse_encoded_words(single_line(subject), problems, "header Subject").strip()

    senders = fields.addresses(headers.first("from"), "From", problems)
    if headers.first("from") is None:
        problems.append("header From: missing")
    from_name, from_addr = senders[0] if senders else (None, None)
    to = tuple(addr for _name, addr in fields.addresses(headers.first("to"), "To", problems))
    cc = tuple(addr for _name, addr in fields.addresses(headers.first("cc"), "Cc", problems))
    reply_to_list = fields.addresses(headers.first("reply-to"), "Reply-To", problems)

    raw_message_id = headers.first("message-id")
    message_id = fields.message_id(raw_message_id, "Message-ID", problems)
    if raw_message_id is None:
        problems.append("header Message-ID: missing")
    in_reply_to = fields.message_id(headers.first("in-reply-to"), "In-Reply-To", problems)
    references = fields.references(headers.first("references"), problems)

    content_type = msg.get_content_type()
    report_type = None
    if content_type == "multipart/report":
        report_type = (text_param(msg, "report-type") or "").lower() or None

    body_text, attachments = _body_and_attachments(tree.leaves, limits, problems, exceeded)
    decoded = fields.decoded_headers(headers, problems)

    mail = InboundMail(
        message_id=message_id,
        subject=subject,
        from_addr=from_addr,
        from_name=from_name or None,
        to=to,
        cc=cc,
        reply_to=reply_to_list[0][1] if reply_to_list else None,
        date=fields.parse_date(headers.first("date"), problems),
        in_reply_to=in_reply_to,
        references=references,
        body_text=body_text,
        attachments=attachments,
        headers=MappingProxyType(decoded),
        content_type=content_type,
        report_type=report_type,
        problems=tuple(dict.fromkeys(problems)),
        limit_exceeded="; ".join(exceeded) or None,
        auth_results=tuple(single_line(v)[:4096] for v in headers.raw.get("authentication-results", [])[:20]),
    )
    if mail.limit_exceeded:
        log.info("mail %s over a limit: %s", message_id, mail.limit_exceeded)
    if mail.problems:
        log.debug("mail %s parsed with %d problem(s): %s", message_id, len(mail.problems), "; ".join(mail.problems[:50]))
    return mail


def message_id_hash(raw: bytes, message_id: str | None) -> str:
    """SHA-256 hex of the normalised Message-ID, or of the raw bytes when there is none.

    Normalised: whitespace removed and one pair of surrounding angle brackets dropped, so
    ``<a@b>``, `` <a@b> `` and ``a@b`` are the same mail.  Case is kept (the local part
    of a Message-ID is case-sensitive).
    """
    normalised = re.sub(r"\s+", "", message_id or "")
    if normalised.startswith("<") and normalised.endswith(">"):
        normalised = normalised[1:-1]
    if normalised:
        return hashlib.sha256(normalised.encode("utf-8", "surrogateescape")).hexdigest()
    return content_fingerprint(raw)


def content_fingerprint(raw: bytes) -> str:
    """SHA-256 hex of what makes a mail this mail: its From, Date and Subject header lines and
    its body bytes. Two deliveries of one mail differ only in the trace headers servers
    prepend (Received, Delivered-To, Return-Path …), so they get the same fingerprint; two
    different mails that happen to share a Message-ID do not."""
    data = bytes(raw or b"")
    match = re.search(rb"\r?\n\r?\n", data)
    head, body = (data[: match.start()], data[match.end():]) if match else (data, b"")
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head)
    wanted = sorted(
        line.strip() for line in re.split(rb"\r?\n", unfolded)
        if line.split(b":", 1)[0].strip().lower() in (b"from", b"date", b"subject")
    )
    digest = hashlib.sha256()
    for line in wanted:
        digest.update(line + b"\n")
    if not wanted:  # not a mail as we know it: every byte of it counts
        digest.update(head)
    digest.update(b"\n")
    digest.update(body.replace(b"\r\n", b"\n"))
    return digest.hexdigest()
