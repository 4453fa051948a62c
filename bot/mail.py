"""Raw mail bytes → one immutable :class:`InboundMail`.

Branch mails (支店からの依頼メール) arrive in every Japanese encoding a mailer ever used:
ISO-2022-JP 7-bit with Microsoft's extra characters (①, ㈱, ～: what Outlook calls
ISO-2022-JP is really CP50220), Shift_JIS / CP932, UTF-8 in base64 or quoted-printable,
and HTML-only bodies.  Everything here is pure: bytes in, a value out, no I/O.

Which library does what, and why:

* The MIME tree is parsed by the stdlib ``email`` package (``compat32`` policy, the policy
  mail-parser itself uses).  mail-parser's own body and header decoding is not used,
  because it cannot do the one thing this mailbox needs most: it returns 7-bit
  ISO-2022-JP bodies undecoded, and its header decoder drops CP50220 characters
  (decode errors are ignored), so ``USEN SPOT 器材発注依頼 ㈱…`` would lose the ㈱.
  Walking the tree ourselves also lets every problem name the part it came from.
* mail-parser is used where it is better than the stdlib: the Date header
  (:func:`mailparser.dates.parse_mail_date`, strict RFC 5322 with obsolete forms) and
  address lists (:func:`mailparser.utils.get_addresses`, structural recovery of broken
  ``From:`` lines).

Nothing in this module raises on malformed input: it degrades and records a problem.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import html
import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from types import MappingProxyType

from mailparser.dates import DateResult, parse_mail_date
from mailparser.utils import get_addresses

log = logging.getLogger(__name__)

__all__ = [
    "Attachment",
    "InboundMail",
    "parse_mail",
    "message_id_hash",
    "decode_bytes",
    "decode_header_text",
    "decode_jis",
    "html_to_text",
]

#: Deeper MIME nesting than this is not walked (a crafted mail could nest thousands).
MAX_DEPTH = 20


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
    """A parsed inbound mail: every text decoded, every address bare and lower-cased."""

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

    def pdf_attachments(self) -> tuple[Attachment, ...]:
        """The attachments that are PDFs (申込書 / 解約申請書), by content type or ``.pdf`` name."""
        return tuple(a for a in self.attachments if a.is_pdf)


# ---------------------------------------------------------------------------------------
# Charsets
# ---------------------------------------------------------------------------------------

# Every label mailers put on ISO-2022-JP.  All are decoded the CP50220 way (JIS → Shift_JIS
# → CP932), which is a superset: plain JIS X 0208 text decodes identically.
_JIS_CHARSETS = frozenset(
    {
        "iso-2022-jp", "iso2022-jp", "iso2022jp", "iso_2022_jp", "csiso2022jp", "jis",
        "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3", "iso-2022-jp-2004",
        "iso-2022-jp-ms", "iso-2022-jp-ext", "x-iso-2022-jp", "cp50220", "cp50221",
        "cp50222", "x-cp50220", "x-cp50221",
    }
)
# Shift_JIS as sent by Windows is CP932 (Windows-31J): ① ㈱ and IBM kanji such as 髙 live
# only there.  CP932 is a superset of the JIS X 0208 part, so it is safe for all of them.
_SJIS_CHARSETS = frozenset(
    {
        "shift_jis", "shift-jis", "shiftjis", "sjis", "x-sjis", "s-jis", "ms_kanji",
        "csshiftjis", "cp932", "windows-31j", "ms932", "x-ms-cp932", "ibm-943",
        "shift_jisx0213", "shift_jis_2004", "x-mac-japanese",
    }
)
_EUC_CHARSETS = frozenset({"euc-jp", "euc_jp", "eucjp", "x-euc-jp", "cseucpkdfmtjapanese", "cp51932"})
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", "utf_8", "x-utf-8", "unicode-1-1-utf-8"})
# Labels that say "I do not know": treated like an absent charset.
_UNLABELLED = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "unknown-8bit", "unknown", "x-unknown-8bit", "default"})

_JIS_ESCAPE = re.compile(rb"\x1b(?:\$[@B]|\$\([@BDOPQ]|\([BJIH]|&@)|[\x0e\x0f]")
_JIS_PAIR_RUN = re.compile(rb"(?:[\x21-\x7e]{2})+")


def _jis_to_sjis_pair(j1: int, j2: int) -> bytes:
    """One JIS X 0208 code (two 7-bit bytes) → its Shift_JIS code."""
    s1 = ((j1 + 1) >> 1) + (0x70 if j1 < 0x5F else 0xB0)
    if j1 & 1:
        s2 = j2 + 0x1F
        if s2 >= 0x7F:
            s2 += 1
    else:
        s2 = j2 + 0x7E
    return bytes((s1, s2))


# All 94×94 pairs, precomputed: a body converts with one dict lookup per character.
_JIS_TO_SJIS: dict[bytes, bytes] = {
    bytes((j1, j2)): _jis_to_sjis_pair(j1, j2)
    for j1 in range(0x21, 0x7F)
    for j2 in range(0x21, 0x7F)
}


def _decode_kanji(segment: bytes) -> tuple[str, int]:
    """Bytes in JIS X 0208 mode → text; returns (text, count of undecodable bytes).

    Microsoft's NEC row 13 (①, ㈱, Ⅰ) and NEC-selected IBM kanji (髙, 﨑) are valid JIS
    positions that no Python ISO-2022-JP codec knows; via Shift_JIS, CP932 knows them all.
    Control bytes (CR, LF) and spaces inside the kanji run are kept as they are.
    """
    out: list[str] = []
    bad = 0
    pos = 0
    for run in _JIS_PAIR_RUN.finditer(segment):
        if run.start() > pos:
            text, n = _decode_stray(segment[pos:run.start()])
            out.append(text)
            bad += n
        raw = run.group()
        sjis = b"".join([_JIS_TO_SJIS[raw[i:i + 2]] for i in range(0, len(raw), 2)])
        text = sjis.decode("cp932", "replace")
        bad += text.count("\ufffd")
        out.append(text)
        pos = run.end()
    if pos < len(segment):
        text, n = _decode_stray(segment[pos:])
        out.append(text)
        bad += n
    return "".join(out), bad


def _decode_stray(segment: bytes) -> tuple[str, int]:
    """Bytes between JIS pairs: controls and spaces are kept, anything else is replaced."""
    out = []
    bad = 0
    for b in segment:
        if b <= 0x20 or b == 0x7F:
            out.append(chr(b))
        else:
            out.append("\ufffd")
            bad += 1
    return "".join(out), bad


def _decode_ascii(segment: bytes) -> tuple[str, int]:
    text = segment.decode("ascii", "replace")
    return text, text.count("\ufffd")


def _decode_halfwidth_kana(segment: bytes) -> tuple[str, int]:
    """JIS X 0201 katakana (ESC ( I, or SO … SI): 0x21–0x5F are ｡–ﾟ."""
    out = []
    bad = 0
    for b in segment:
        if 0x21 <= b <= 0x5F:
            out.append(chr(0xFF61 + b - 0x21))
        elif b <= 0x20:
            out.append(chr(b))
        else:
            out.append("\ufffd")
            bad += 1
    return "".join(out), bad


def _decode_with_codec(segment: bytes, escape: bytes, codec: str) -> tuple[str, int]:
    """JIS X 0212 / 0213 runs, which CP932 lacks: let the Python codec that has them try."""
    try:
        return (escape + segment + b"\x1b(B").decode(codec), 0
    except UnicodeDecodeError:
        return _decode_kanji(segment)


def decode_jis(data: bytes) -> tuple[str, int]:
    """ISO-2022-JP (CP50220/50221/50222 flavours included) → (text, undecodable bytes).

    Python's ``iso2022_jp*`` codecs reject Microsoft's extra characters, so each JIS X 0208
    run is converted to Shift_JIS and decoded as CP932 (LAB-NOTES, Mail).
    """
    out: list[str] = []
    bad = 0
    mode = b"(B"
    before_so = mode
    pos = 0

    def flush(segment: bytes) -> None:
        nonlocal bad
        if not segment:
            return
        if mode in (b"$B", b"$@", b"$(B", b"$(@"):
            text, n = _decode_kanji(segment)
        elif mode in (b"(I", b"SO"):
            text, n = _decode_halfwidth_kana(segment)
        elif mode == b"$(D":
            text, n = _decode_with_codec(segment, b"\x1b$(D", "iso2022_jp_2")
        elif mode in (b"$(O", b"$(Q", b"$(P"):
            text, n = _decode_with_codec(segment, b"\x1b" + mode, "iso2022_jp_2004")
        else:  # ( B, ( J (JIS Roman), ( H: ASCII for our purposes
            text, n = _decode_ascii(segment)
        out.append(text)
        bad += n

    for esc in _JIS_ESCAPE.finditer(data):
        flush(data[pos:esc.start()])
        seq = esc.group()
        if seq == b"\x0e":
            before_so, mode = mode, b"SO"
        elif seq == b"\x0f":
            mode = before_so if mode == b"SO" else mode
        elif seq != b"\x1b&@":  # ESC & @ only announces JIS X 0208-1990: no mode change
            mode = seq[1:]
        pos = esc.end()
    flush(data[pos:])
    return "".join(out), bad


def _normalise_charset(charset: str | None) -> str | None:
    if charset is None:
        return None
    name = str(charset).strip().strip("\"'").strip().lower()
    # RFC 2231 language suffix (utf-8*ja) and stray parameters.
    name = name.split("*", 1)[0].split(";", 1)[0].strip()
    return name or None


def _guess(data: bytes) -> tuple[str, str]:
    """Decode unlabelled bytes: ISO-2022-JP, ASCII, UTF-8, CP932, EUC-JP, in that order.

    Returns (text, what was used); the last resort is CP932 with replacement.
    """
    if b"\x1b$" in data or b"\x1b(" in data:  # 7-bit ISO-2022-JP is ASCII-clean: test it first
        text, bad = decode_jis(data)
        if not bad:
            return text, "iso-2022-jp"
    try:
        return data.decode("ascii"), "us-ascii"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("euc_jp"), "euc-jp"
    except UnicodeDecodeError:
        pass
    return data.decode("cp932", "replace"), "cp932 with replacement"


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode ``data`` labelled ``charset``; returns (text, problem or None).

    The problem text names the charset and what was done instead, without a location
    (the caller knows which part or header it was).  Never raises.
    """
    if not data:
        return "", None
    name = _normalise_charset(charset)
    try:
        if name is None or name in _UNLABELLED:
            text, used = _guess(data)
            if used == "us-ascii":
                return text, None
            label = f"charset {charset!r}" if charset else "no charset declared"
            return text, f"{label} but 8-bit or escaped text, decoded as {used}"
        if name in _JIS_CHARSETS:
            if b"\x1b" not in data and any(b > 0x7F for b in data):
                text, used = _guess(data)
                return text, f"charset {charset!r} but 8-bit bytes without escapes, decoded as {used}"
            text, bad = decode_jis(data)
            if bad:
                return text, f"charset {charset!r}: {bad} undecodable byte(s) replaced"
            return text, None
        if name in _SJIS_CHARSETS:
            return _decode_or_guess(data, "cp932", charset)
        if name in _EUC_CHARSETS:
            try:
                return data.decode("euc_jp"), None
            except UnicodeDecodeError:
                return _decode_or_guess(data, "euc_jis_2004", charset)
        if name in _UTF8_CHARSETS:
            return _decode_or_guess(data, "utf-8-sig", charset)
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            text, used = _guess(data)
            return text, f"charset {charset!r} unknown, decoded as {used}"
        return _decode_or_guess(data, codec, charset)
    except Exception as err:  # a codec bug must not take the mail down
        log.warning("decoding %d bytes as %r failed: %s", len(data), charset, err)
        return data.decode("cp932", "replace"), f"charset {charset!r}: decoder failed ({err}), decoded as cp932 with replacement"


def _decode_or_guess(data: bytes, codec: str, charset: str | None) -> tuple[str, str | None]:
    """Strict decode with ``codec``; on failure guess, and fall back to replacement."""
    try:
        return data.decode(codec), None
    except UnicodeDecodeError:
        pass
    text, used = _guess(data)
    if not used.endswith("replacement"):
        return text, f"charset {charset!r} does not fit the bytes, decoded as {used}"
    text = data.decode(codec, "replace")
    return text, f"charset {charset!r}: {text.count(chr(0xFFFD))} undecodable sequence(s) replaced"


# ---------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SURROGATES = re.compile("[\udc80-\udcff]")


def _unfold(value: str) -> str:
    return _FOLD.sub("", value).replace("\r", "").replace("\n", "")


def _decode_8bit(text: str) -> tuple[str, str | None]:
    """Header text carrying raw 8-bit bytes (surrogate-escaped by the parser) → text."""
    if "\x1b" in text and not _SURROGATES.search(text):
        jis, bad = decode_jis(text.encode("ascii", "replace"))
        return jis, ("raw ISO-2022-JP in the header" + (f", {bad} byte(s) replaced" if bad else ""))
    if not _SURROGATES.search(text):
        return text, None
    try:
        data = text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        # Already text plus stray surrogates: drop only the surrogates.
        return _SURROGATES.sub("\ufffd", text), "undecodable raw bytes replaced"
    decoded, used = _guess(data)
    return decoded, f"raw 8-bit bytes, decoded as {used}"


def _decode_word(charset: str, encoding: str, payload: str) -> bytes | None:
    """The bytes of one RFC 2047 encoded word, or None when its encoding is broken."""
    try:
        raw = payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return None
    if encoding in "bB":
        raw = re.sub(rb"\s+", b"", raw).rstrip(b"=")
        if re.search(rb"[^A-Za-z0-9+/]", raw):
            return None
        if len(raw) % 4 == 1:  # one stray char: cannot be base64, drop it
            raw = raw[:-1]
        raw += b"=" * (-len(raw) % 4)
        try:
            return base64.b64decode(raw)
        except (binascii.Error, ValueError):
            return None
    try:
        return binascii.a2b_qp(raw, header=True)
    except (binascii.Error, ValueError):
        return None


def decode_header_text(raw: str | None) -> tuple[str, list[str]]:
    """A raw header value → (unfolded decoded text, problems).

    Handles RFC 2047 encoded words (B and Q, any charset, ISO-2022-JP with ①㈱ included),
    words split in the middle of a character (adjacent words of one charset are joined as
    bytes before decoding), encoded words without the whitespace RFC 2047 asks for, raw
    8-bit UTF-8 / Shift_JIS and raw ISO-2022-JP.  Never raises.
    """
    if raw is None:
        return "", []
    problems: list[str] = []
    text = _unfold(str(raw))
    # Chunks: (bytes, charset) for encoded words, (str, None) for literal text.
    chunks: list[tuple[bytes | str, str | None]] = []
    pos = 0
    last_was_word = False
    for word in _ENCODED_WORD.finditer(text):
        literal = text[pos:word.start()]
        pos = word.end()
        if literal and not (last_was_word and not literal.strip(" \t")):
            chunks.append((literal, None))
        charset = word.group(1)
        data = _decode_word(charset, word.group(2), word.group(3))
        if data is None:
            problems.append(f"broken encoded word {word.group()[:60]!r} kept as text")
            chunks.append((word.group(), None))
            last_was_word = False
            continue
        charset_key = (_normalise_charset(charset) or "").lower()
        previous = chunks[-1] if chunks else None
        if previous is not None and previous[1] == charset_key and isinstance(previous[0], bytes):
            chunks[-1] = (previous[0] + data, charset_key)
        else:
            chunks.append((data, charset_key))
        last_was_word = True
    if pos < len(text):
        chunks.append((text[pos:], None))

    out: list[str] = []
    for value, charset in chunks:
        if charset is None:
            assert isinstance(value, str)
            decoded, problem = _decode_8bit(value)
        else:
            assert isinstance(value, bytes)
            decoded, problem = decode_bytes(value, charset)
        if problem:
            problems.append(problem)
        out.append(decoded)
    return "".join(out), problems


# ---------------------------------------------------------------------------------------
# HTML → text
# ---------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "p", "div", "tr", "li", "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody",
        "tfoot", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "section",
        "article", "header", "footer", "address", "center", "form", "fieldset", "caption",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "xml"})
_CELL_TAGS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\f\v\r\n\u200b]+")  # not U+00A0: &nbsp; is meant (kept till the end)


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML body: blocks and <br> become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def _newline(self) -> None:
        while self.parts and self.parts[-1] and not self.parts[-1].strip(" "):
            self.parts.pop()  # inline whitespace before a block boundary
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._newline()
            if tag == "pre":
                self.pre += 1
        elif tag in _CELL_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self._newline()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.parts.append(data)
        else:
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(markup: str) -> str:
    """HTML → clean plain text: no tags, entities decoded, <br>/<p>/<div> → line breaks.

    Lines are stripped, runs of blank lines become one.  Never raises: on a parser
    failure the tags are stripped by pattern instead.
    """
    try:
        extractor = _TextExtractor()
        extractor.feed(markup)
        extractor.close()
        text = "".join(extractor.parts)
    except Exception as err:  # HTMLParser is lenient, but a crafted input must not escape
        log.warning("HTML parse failed, stripping tags by pattern: %s", err)
        text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    lines = [line.replace("\u00a0", " ").strip(" \t") for line in text.replace("\r", "").split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip("\n")


# ---------------------------------------------------------------------------------------
# Bodies and attachments
# ---------------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _payload_bytes(part: Message) -> tuple[bytes, str | None]:
    """The transfer-decoded bytes of a leaf part; returns (bytes, problem or None).

    Base64 is decoded leniently here (stray characters dropped, padding repaired, a
    truncated tail cut) because the stdlib gives back the undecoded text on a bad length.
    """
    payload = part.get_payload()
    if isinstance(payload, list):  # not a leaf (message/* parsed as sub-messages)
        return _message_bytes(part), None
    if not isinstance(payload, str):
        return b"", "payload of unexpected type, ignored"
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        raw = payload.encode("ascii", "replace")
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
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


def _message_bytes(part: Message) -> bytes:
    """An attached message (message/rfc822, message/delivery-status …) as bytes."""
    subs = part.get_payload()
    if not isinstance(subs, list):
        return b""
    try:
        return b"".join(sub.as_bytes() for sub in subs if isinstance(sub, Message))
    except Exception as err:  # as_bytes on a malformed sub-message
        log.debug("attached message not serialisable: %s", err)
        return b""


def _unflow(text: str, *, delsp: bool) -> str:
    """RFC 3676 format=flowed → plain lines (soft breaks joined, space-stuffing removed)."""
    out: list[str] = []
    current: str | None = None
    current_depth = -1
    for line in text.split("\n"):
        if line == "-- ":  # signature separator is never flowed
            if current is not None:
                out.append(current)
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
            current += content
        else:
            if current is not None:
                out.append(current)
            current = prefix + content
            current_depth = depth
        if not flowed:
            out.append(current)
            current = None
    if current is not None:
        out.append(current)
    return "\n".join(out)


def _filename(part: Message, where: str, problems: list[str]) -> str | None:
    """The decoded file name: Content-Disposition filename, else Content-Type name.

    RFC 2231 (``filename*=charset''%..``, continuations) and RFC 2047 (``=?ISO-2022-JP?B?…``,
    as Outlook and Becky! write it) are both decoded with our CP50220-aware decoder.
    """
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        try:
            value = part.get_param(param, header=header)
        except Exception as err:  # malformed parameter list
            problems.append(f"{where}: {header} parameters unreadable ({err})")
            continue
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
        decoded = decoded.strip()
        if decoded:
            return decoded
    return None


def _walk(
    part: Message, where: str, depth: int, problems: list[str]
) -> Iterator[tuple[Message, str]]:
    """Yield (leaf or message/* part, IMAP-style part number); repairs lost boundaries."""
    label = where if where == "message" else f"part {where}"
    for defect in part.defects:
        problems.append(f"{label}: MIME defect {type(defect).__name__}")
    maintype = part.get_content_maintype()
    if maintype == "multipart":
        children = part.get_payload()
        if isinstance(children, str):
            recovered = _recover_multipart(part, label, problems)
            if recovered is None:
                yield part, where
                return
            children = recovered
        if depth >= MAX_DEPTH:
            problems.append(f"{label}: MIME nesting deeper than {MAX_DEPTH}, rest ignored")
            return
        for index, child in enumerate(children, start=1):
            if isinstance(child, Message):
                number = str(index) if where == "message" else f"{where}.{index}"
                yield from _walk(child, number, depth + 1, problems)
        return
    yield part, ("1" if where == "message" else where)


_BOUNDARY_LINE = re.compile(r"^--([^\s]{1,200}?)[ \t]*\r?$", re.M)


def _recover_multipart(part: Message, label: str, problems: list[str]) -> list[Message] | None:
    """A multipart whose declared boundary never occurs: find the one its body really uses."""
    payload = part.get_payload()
    assert isinstance(payload, str)
    declared = part.get_boundary()
    match = _BOUNDARY_LINE.search(payload)
    if match is None:
        problems.append(f"{label}: {part.get_content_type()} boundary {declared!r} not found, body taken as text")
        return None
    found = match.group(1)
    if found.endswith("--"):
        found = found[:-2]
    head = f'Content-Type: {part.get_content_type()}; boundary="{found}"\r\n\r\n'
    try:
        rebuilt = message_from_bytes(head.encode("ascii", "replace") + payload.encode("ascii", "surrogateescape"))
    except Exception as err:
        problems.append(f"{label}: boundary {declared!r} not found, recovery failed ({err})")
        return None
    children = rebuilt.get_payload()
    if not isinstance(children, list) or not children:
        problems.append(f"{label}: {part.get_content_type()} boundary {declared!r} not found, body taken as text")
        return None
    problems.append(f"{label}: boundary {declared!r} not found, parts recovered with boundary {found!r}")
    return children


def _extract_body_and_attachments(
    msg: Message, problems: list[str]
) -> tuple[str, tuple[Attachment, ...]]:
    plain: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    for part, where in _walk(msg, "message", 0, problems):
        content_type = part.get_content_type()
        filename = _filename(part, f"part {where}", problems)
        if content_type.startswith("multipart/"):  # its boundary was lost: plain text
            data, _problem = _payload_bytes(part)
            text, problem = decode_bytes(data, _param(part, "charset"))
            if problem:
                problems.append(f"part {where}: {problem}")
            plain.append(text.replace("\r\n", "\n").replace("\r", "\n"))
            continue
        disposition = (part.get_content_disposition() or "").lower()
        is_message = content_type.startswith("message/") or isinstance(part.get_payload(), list)
        is_text = content_type in ("text/plain", "text/html") and not is_message
        # Body: text parts not marked as attachments.  A *named* inline text part is both
        # (as mail-parser treats it): some mailers name the body, others inline a .txt file.
        as_body = is_text and (disposition == "inline" or (disposition != "attachment" and filename is None))
        if not as_body or filename is not None:
            if is_message:
                data = _message_bytes(part)
            else:
                data, problem = _payload_bytes(part)
                if problem:
                    problems.append(f"part {where}: {problem}")
            attachments.append(Attachment(filename=filename, content_type=content_type, data=data))
        if not as_body:
            continue
        data, problem = _payload_bytes(part)
        if problem:
            problems.append(f"part {where}: {problem}")
        charset = _param(part, "charset")
        if content_type == "text/html" and charset is None:
            meta = _META_CHARSET.search(data[:4096])
            charset = meta.group(1).decode("ascii") if meta else None
        text, problem = decode_bytes(data, charset)
        if problem:
            problems.append(f"part {where}: {problem}")
        text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
        if content_type == "text/html":
            htmls.append(text)
        else:
            if (_param(part, "format") or "").lower() == "flowed":
                text = _unflow(text, delsp=(_param(part, "delsp") or "").lower() == "yes")
            plain.append(text)
    body = "\n".join(t.strip("\n") for t in plain if t.strip())
    if not body.strip() and htmls:
        body = "\n".join(html_to_text(h) for h in htmls)
    return body.rstrip(), tuple(attachments)


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):
        value = value[2]
    if value is None:
        return None
    return str(value).strip().strip('"') or None


# ---------------------------------------------------------------------------------------
# Header fields
# ---------------------------------------------------------------------------------------

_MSGID_TOKEN = re.compile(r"<[^<>\s]*>")
_EMPTY_GROUP = re.compile(r"^[^:<>@,]*:\s*;?\s*$")


def _text_or_none(raw: str | None) -> str | None:
    """An identifier header as text: raw 8-bit bytes (never valid there) decoded, unfolded."""
    return None if raw is None else _decode_8bit(_unfold(raw))[0]


def _clean_message_id(value: str | None) -> str | None:
    """Message-ID as in the header, angle brackets kept, whitespace (folding) removed."""
    if value is None:
        return None
    compact = re.sub(r"\s+", "", value)
    token = _MSGID_TOKEN.search(compact)
    result = token.group() if token else compact
    return result or None


def _addresses(raw: str | None, name: str, problems: list[str]) -> list[tuple[str, str]]:
    """(display name, lower-cased bare address) pairs of an address header."""
    if raw is None:
        return []
    text, problem = _decode_8bit(_unfold(raw))
    if problem:
        problems.append(f"header {name}: {problem}")
    if not text.strip() or _EMPTY_GROUP.match(text):  # "undisclosed-recipients:;"
        return []
    defects: list[dict[str, object]] = []
    try:
        pairs = get_addresses(text, defects=defects, decode_names=False)
    except Exception as err:  # mail-parser's recovery is thorough but not our contract
        log.debug("get_addresses failed on %r: %s", text, err)
        pairs = []
    result: list[tuple[str, str]] = []
    for display, addr in pairs:
        addr = addr.strip().strip("<>").strip().lower()
        if not addr:
            continue
        decoded_name, name_problems = decode_header_text(display)
        problems.extend(f"header {name}: {p}" for p in name_problems)
        result.append((decoded_name.strip(), addr))
    if not result:
        # A bare word such as "MAILER-DAEMON" has no '@': keep it, loop detection needs it.
        display, addr = parseaddr(text)
        addr = addr.strip().strip("<>").strip().lower()
        if addr and re.fullmatch(r"[^\s<>,;:\"]+", addr):
            decoded_name, _ = decode_header_text(display)
            result.append((decoded_name.strip(), addr))
        else:
            reasons = ", ".join(sorted({str(d.get("reason", "")) for d in defects} - {""})) or "no address"
            problems.append(f"header {name}: unreadable address {text[:80]!r} ({reasons})")
    return result


def _parse_date(raw: str | None, problems: list[str]) -> datetime | None:
    if raw is None:
        problems.append("header Date: missing")
        return None
    text = _unfold(raw).strip()
    try:
        result = parse_mail_date(text)
    except Exception as err:  # mail-parser's own contract, not ours: stay defensive
        log.debug("parse_mail_date failed on %r: %s", text, err)
        result = DateResult(reasons=("invalid-date-syntax",))
    if result.value is not None:
        try:
            offset = timedelta(hours=float(result.timezone))
            return result.value.astimezone(timezone(offset))
        except (TypeError, ValueError, OverflowError):
            return result.value
    try:  # the stdlib is looser (e.g. no space before the zone)
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        value = None
    if value is not None:
        problems.append(f"header Date: {text[:60]!r} is not RFC 5322 ({', '.join(result.reasons)}), read loosely")
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    problems.append(f"header Date: unreadable {text[:60]!r} ({', '.join(result.reasons) or 'no date'})")
    return None


class _Headers:
    """Raw header index: lower-cased name → raw values in order."""

    def __init__(self, msg: Message) -> None:
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(str(name).strip().lower(), []).append(str(value))

    def first(self, name: str) -> str | None:
        values = self.raw.get(name)
        return values[0] if values else None


def _decoded_headers(headers: _Headers, problems: list[str]) -> dict[str, str]:
    """Every header (first occurrence), decoded: loop detection reads these.

    A present-but-empty header stays present with value ``""`` and ``Return-Path: <>``
    stays ``"<>"``, so "empty" and "absent" remain distinguishable.
    """
    out: dict[str, str] = {}
    for name, values in headers.raw.items():
        text, header_problems = decode_header_text(values[0])
        if name not in ("subject", "from", "to", "cc", "reply-to"):  # reported where read
            problems.extend(f"header {name}: {p}" for p in header_problems)
        out[name] = text.strip()
    return out


# ---------------------------------------------------------------------------------------
# The entry points
# ---------------------------------------------------------------------------------------


def parse_mail(raw: bytes) -> InboundMail:
    """Parse raw RFC 5322 bytes into an :class:`InboundMail`.  Never raises.

    Malformed input (no headers, broken boundaries, unknown charsets, garbage) degrades to
    the best value available; each repair is listed in ``problems``.
    """
    try:
        return _parse(bytes(raw))
    except Exception as err:  # the last line of defence: a mail must never stop the loop
        log.exception("mail parse failed outright (%d bytes)", len(raw) if raw else 0)
        return _empty(f"message: parse failed ({type(err).__name__}: {err}); nothing extracted")


def _empty(problem: str) -> InboundMail:
    return InboundMail(
        message_id=None, subject="", from_addr=None, from_name=None, to=(), cc=(),
        reply_to=None, date=None, in_reply_to=None, references=(), body_text="",
        attachments=(), headers=MappingProxyType({}), content_type="text/plain",
        report_type=None, problems=(problem,),
    )


def _parse(raw: bytes) -> InboundMail:
    problems: list[str] = []
    try:
        msg = message_from_bytes(raw)
    except RecursionError:
        # The stdlib recurses once per multipart level: keep the headers, drop the body.
        problems.append("message: MIME nesting too deep for the parser; body and attachments ignored")
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        msg = message_from_bytes(head + b"\r\n\r\n")
        msg.set_payload("")
    headers = _Headers(msg)
    if not headers.raw:
        problems.append("message: no headers found")

    raw_subject = headers.first("subject")
    if raw_subject is None:
        problems.append("header Subject: missing")
    subject, subject_problems = decode_header_text(raw_subject)
    problems.extend(f"header Subject: {p}" for p in subject_problems)
    subject = re.sub(r"[\t\x00-\x1f\x7f]", " ", subject).strip()

    senders = _addresses(headers.first("from"), "From", problems)
    if headers.first("from") is None:
        problems.append("header From: missing")
    from_name, from_addr = senders[0] if senders else (None, None)
    to = tuple(addr for _name, addr in _addresses(headers.first("to"), "To", problems))
    cc = tuple(addr for _name, addr in _addresses(headers.first("cc"), "Cc", problems))
    reply_to_list = _addresses(headers.first("reply-to"), "Reply-To", problems)

    message_id = _clean_message_id(_text_or_none(headers.first("message-id")))
    if message_id is None:
        problems.append("header Message-ID: missing")
    in_reply_to = _clean_message_id(_text_or_none(headers.first("in-reply-to")))
    references = tuple(_MSGID_TOKEN.findall(_text_or_none(headers.first("references")) or ""))

    content_type = msg.get_content_type()
    report_type = None
    if content_type == "multipart/report":
        report_type = (_param(msg, "report-type") or "").lower() or None

    body_text, attachments = _extract_body_and_attachments(msg, problems)
    decoded = _decoded_headers(headers, problems)

    mail = InboundMail(
        message_id=message_id,
        subject=subject,
        from_addr=from_addr,
        from_name=from_name or None,
        to=to,
        cc=cc,
        reply_to=reply_to_list[0][1] if reply_to_list else None,
        date=_parse_date(headers.first("date"), problems),
        in_reply_to=in_reply_to,
        references=references,
        body_text=body_text,
        attachments=attachments,
        headers=MappingProxyType(decoded),
        content_type=content_type,
        report_type=report_type,
        problems=tuple(dict.fromkeys(problems)),
    )
    if mail.problems:
        log.debug("mail %s parsed with %d problem(s): %s", message_id, len(mail.problems), "; ".join(mail.problems))
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
