"""Raw mail bytes → one immutable :class:`InboundMail`.

Branch mails (支店からの依頼メール) arrive in every Japanese encoding a mailer ever used:
ISO-2022-JP 7-bit with Microsoft's extra characters (①, ㈱, ～: what Outlook calls
ISO-2022-JP is really CP50220), Shift_JIS / CP932, UTF-8 in base64 or quoted-printable,
and HTML-only bodies; and some mails are hostile.  Everything here is pure: bytes in, a
value out, no I/O, no exception, time and memory linear in the input.

The package follows the mail through :func:`parse_mail`, its one entry point:

* :mod:`bot.mail.mime`: the MIME walk, bounded by :class:`~bot.config.limits.Limits`
  (parts, nesting, header bytes).  The stdlib's ``email`` parser reads each part's header
  block only (``compat32``, the policy mail-parser itself uses); its whole-message parser
  and its parameter splitter are not used, both being superlinear on hostile input.
* :mod:`bot.mail.charsets`: bytes of a body or header word → text (CP50220 ISO-2022-JP,
  CP932, EUC-JP, UTF-8, lying or unknown labels by detection, carrier emoji).
* :mod:`bot.mail.headers`: RFC 2047 encoded words, raw 8-bit headers, one-line values.
  mail-parser's own body and header decoding is not used, because it cannot do the one
  thing this mailbox needs most: it returns 7-bit ISO-2022-JP bodies undecoded, and its
  header decoder drops CP50220 characters, so ``USEN SPOT 器材発注依頼 ㈱…`` would lose ㈱.
* :mod:`bot.mail.fields`: Message-ID/References validation, addresses and Date (the last
  two with mail-parser, which is better at them than the stdlib).
* :mod:`bot.mail.html`: the visible text of an HTML-only body.
* :mod:`bot.mail.parse`: :class:`InboundMail`, :class:`Attachment`, the body and the
  attachments, and the dedupe hashes.

Nothing in this package imports the rest of the bot except :mod:`bot.config.limits`.
"""

from __future__ import annotations

from bot.mail.charsets import decode_bytes, decode_jis
from bot.mail.headers import decode_header_text
from bot.mail.html import html_to_text
from bot.mail.parse import (
    Attachment,
    InboundMail,
    content_fingerprint,
    message_id_hash,
    parse_header_block,
    parse_mail,
)

__all__ = [
    "Attachment",
    "InboundMail",
    "parse_mail",
    "parse_header_block",
    "message_id_hash",
    "content_fingerprint",
    "decode_bytes",
    "decode_header_text",
    "decode_jis",
    "html_to_text",
]
