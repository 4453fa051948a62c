"""Header fields: Message-ID and References, addresses, Date, and the decoded header map.

What other code copies into the headers it writes (the 差戻's To, In-Reply-To and
References) is validated here, at the edge: a Message-ID is kept only when it is a plain
``<left@right>``, an address only when it has no whitespace, control character or encoded
word in it.  mail-parser does what it is better at than the stdlib: the Date header
(:func:`mailparser.dates.parse_mail_date`, strict RFC 5322 with obsolete forms) and address
lists (:func:`mailparser.utils.get_addresses`, structural recovery of broken ``From:``).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

from mailparser.dates import DateResult, parse_mail_date
from mailparser.utils import get_addresses

from bot.mail.headers import decode_8bit, decode_header_text, single_line, unfold

log = logging.getLogger(__name__)

__all__ = ["HeaderIndex", "addresses", "decoded_headers", "message_id", "parse_date", "references"]

#: Longest Message-ID kept (angle brackets included); RFC 5322 sets none, real ones are < 100.
MESSAGE_ID_MAX = 250
#: References kept: the last ones, nearest the mail itself, are the ones threading needs.
REFERENCES_MAX = 20

_MSGID_TOKEN = re.compile(r"<[^<>]*>")
# <left@right>: printable ASCII (0x21-0x7E) without < and >, so no whitespace, no CR/LF.
_MSGID_VALID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")
_EMPTY_GROUP = re.compile(r"^[^:<>@,]*:\s*;?\s*$")
_BARE_ADDRESS = re.compile(r"[^\s<>,;:\"]+")
_UNSAFE_IN_ADDRESS = re.compile("[\\s\x00-\x1f\x7f-\x9f\u2028\u2029]|=\\?")


def valid_message_id(token: str) -> bool:
    """True for ``<left@right>`` in printable ASCII, no whitespace, ``<>`` or ``=?`` inside,
    at most :data:`MESSAGE_ID_MAX` characters."""
    if len(token) > MESSAGE_ID_MAX or "=?" in token:
        # "=?" is valid RFC 5322 but opens an RFC 2047 encoded word, and the stdlib's header
        # policy decodes one even inside a token: <=?utf-8?q?a=0D=0ABcc:_x?=@y> written as
        # In-Reply-To comes out as two header lines.  No real mailer puts one in an id.
        return False
    return _MSGID_VALID.fullmatch(token) is not None


def _id_text(raw: str) -> str:
    """An identifier header as text: unfolded, raw 8-bit bytes (never valid there) decoded
    so that a problem quoting it can be stored."""
    return decode_8bit(unfold(raw))[0].strip(" \t")


def message_id(raw: str | None, name: str, problems: list[str]) -> str | None:
    """The first valid message id of a Message-ID or In-Reply-To header, or None.

    An invalid one (no angle brackets, whitespace or a line separator inside, non-ASCII,
    too long) is dropped with a problem: other code copies this value into reply headers.
    """
    if raw is None:
        return None
    text = _id_text(raw)
    for token in _MSGID_TOKEN.finditer(text):
        if valid_message_id(token.group()):
            return token.group()
    if text:
        problems.append(f"header {name}: {text[:80]!r} is not a valid message id, ignored")
    return None


def references(raw: str | None, problems: list[str]) -> tuple[str, ...]:
    """The valid message ids of a References header, at most the last :data:`REFERENCES_MAX`."""
    if raw is None:
        return ()
    tokens = _MSGID_TOKEN.findall(_id_text(raw))
    valid = [t for t in tokens if valid_message_id(t)]
    if len(valid) < len(tokens):
        problems.append(f"header References: {len(tokens) - len(valid)} invalid message id(s) dropped")
    return tuple(valid[-REFERENCES_MAX:])


def addresses(raw: str | None, name: str, problems: list[str]) -> list[tuple[str, str]]:
    """(display name, lower-cased bare address) pairs of an address header."""
    if raw is None:
        return []
    text, problem = decode_8bit(unfold(raw))
    if problem:
        problems.append(f"header {name}: {problem}")
    if not text.strip() or _EMPTY_GROUP.match(text):  # "undisclosed-recipients:;"
        return []
    defects: list[dict[str, object]] = []
    try:
        pairs = get_addresses(text, defects=defects, decode_names=False)
    except Exception as err:  # mail-parser's recovery is thorough but not our contract
        log.debug("get_addresses failed on %r: %s", text[:200], err)
        pairs = []
    result: list[tuple[str, str]] = []
    for display, addr in pairs:
        addr = addr.strip().strip("<>").strip().lower()
        if not addr:
            continue
        if _UNSAFE_IN_ADDRESS.search(addr):
            # An encoded word in an address is decoded again (CR/LF included) by the
            # stdlib's header policy when we write it into To/Cc: never keep one.
            problems.append(f"header {name}: address {addr[:80]!r} has unsafe characters, dropped")
            continue
        decoded_name, name_problems = decode_header_text(display)
        problems.extend(f"header {name}: {p}" for p in name_problems)
        result.append((single_line(decoded_name).strip(), addr))
    if not result:
        # A bare word such as "MAILER-DAEMON" has no '@': keep it, loop detection needs it.
        display, addr = parseaddr(text)
        addr = addr.strip().strip("<>").strip().lower()
        if addr and _BARE_ADDRESS.fullmatch(addr) and not _UNSAFE_IN_ADDRESS.search(addr):
            decoded_name, _ = decode_header_text(display)
            result.append((single_line(decoded_name).strip(), addr))
        else:
            reasons = ", ".join(sorted({str(d.get("reason", "")) for d in defects} - {""})) or "no address"
            problems.append(f"header {name}: unreadable address {text[:80]!r} ({reasons})")
    return result


def parse_date(raw: str | None, problems: list[str]) -> datetime | None:
    """The Date header as an aware datetime, or None (with a problem saying why)."""
    if raw is None:
        problems.append("header Date: missing")
        return None
    text = unfold(raw).strip()
    try:
        result = parse_mail_date(text)
    except Exception as err:  # mail-parser's own contract, not ours: stay defensive
        log.debug("parse_mail_date failed on %r: %s", text[:200], err)
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


class HeaderIndex:
    """Raw header index: lower-cased name → raw values in order."""

    def __init__(self, msg: Message) -> None:
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(str(name).strip().lower(), []).append(str(value))

    def first(self, name: str) -> str | None:
        values = self.raw.get(name)
        return values[0] if values else None


def decoded_headers(headers: HeaderIndex, problems: list[str]) -> dict[str, str]:
    """Every header (first occurrence), decoded to one line: loop detection reads these.

    A present-but-empty header stays present with value ``""`` and ``Return-Path: <>``
    stays ``"<>"``, so "empty" and "absent" remain distinguishable.
    """
    out: dict[str, str] = {}
    for name, values in headers.raw.items():
        text, header_problems = decode_header_text(values[0])
        if name not in ("subject", "from", "to", "cc", "reply-to"):  # reported where read
            problems.extend(f"header {name}: {p}" for p in header_problems)
        out[name] = single_line(text).strip()
    return out
