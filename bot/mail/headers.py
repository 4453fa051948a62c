"""Header text: RFC 2047 encoded words, raw 8-bit bytes and folding → one line of text.

Subjects and display names come as ``=?ISO-2022-JP?B?…?=`` (with ①㈱ inside), words split
in the middle of a character, raw Shift_JIS or UTF-8, or raw ISO-2022-JP.  Every function
here is pure, never raises, and runs in time linear in its input.
"""

from __future__ import annotations

import base64
import binascii
import re

from bot.mail.charsets import decode_bytes, decode_jis, guess, normalise_charset

__all__ = ["decode_8bit", "decode_header_text", "defuse_encoded_words", "single_line", "unfold"]

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
# The start of an encoded word as the stdlib's header parser sees it: any charset, even an
# empty or spaced one.
_LOOSE_OPENER = re.compile(r"=\?[^?]*\?[bBqQ]\?")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SURROGATES = re.compile("[\udc80-\udcff]")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_WHITESPACE = re.compile(rb"\s+")
# Everything that ends a line somewhere: C0 and C1 controls (tab included), DEL, and the
# Unicode line and paragraph separators, which str.splitlines() and so the stdlib's header
# folding treat as line breaks.
_LINE_BREAKERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def unfold(value: str) -> str:
    """A raw header value as one line: folding removed, and any other CR/LF too."""
    return _FOLD.sub("", value).replace("\r", "").replace("\n", "")


def single_line(text: str) -> str:
    """``text`` with every control character and line separator turned into a space: a
    decoded header value that other code may copy into a header it writes."""
    return _LINE_BREAKERS.sub(" ", text)


def decode_8bit(text: str) -> tuple[str, str | None]:
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
    decoded, used = guess(data)
    return decoded, f"raw 8-bit bytes, decoded as {used}"


def _decode_word(encoding: str, payload: str) -> bytes | None:
    """The bytes of one RFC 2047 encoded word, or None when its encoding is broken."""
    try:
        raw = payload.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return None
    if encoding in "bB":
        raw = _WHITESPACE.sub(b"", raw).rstrip(b"=")
        if _B64_JUNK.search(raw):
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
    text = unfold(str(raw))
    # Chunks: (list of bytes, charset) for a run of encoded words, ([str], None) for
    # literal text.  A run is collected in a list and joined once: a 200 KB subject of
    # encoded words must not be copied once per word.
    chunks: list[tuple[list[bytes] | list[str], str | None]] = []
    pos = 0
    last_was_word = False
    for word in _ENCODED_WORD.finditer(text):
        literal = text[pos:word.start()]
        pos = word.end()
        if literal and not (last_was_word and not literal.strip(" \t")):
            chunks.append(([literal], None))
        charset = word.group(1)
        data = _decode_word(word.group(2), word.group(3))
        if data is None:
            problems.append(f"broken encoded word {word.group()[:60]!r} kept as text")
            chunks.append(([word.group()], None))
            last_was_word = False
            continue
        charset_key = normalise_charset(charset) or ""
        if chunks and chunks[-1][1] == charset_key:
            chunks[-1][0].append(data)  # type: ignore[arg-type]
        else:
            chunks.append(([data], charset_key))
        last_was_word = True
    if pos < len(text):
        chunks.append(([text[pos:]], None))

    out: list[str] = []
    for values, charset in chunks:
        if charset is None:
            decoded, problem = decode_8bit("".join(values))  # type: ignore[arg-type]
        else:
            decoded, problem = decode_bytes(b"".join(values), charset)  # type: ignore[arg-type]
        if problem:
            problems.append(problem)
        out.append(decoded)
    return "".join(out), problems


def defuse_encoded_words(text: str, problems: list[str], where: str) -> str:
    """Decoded text that still reads as an encoded word → decoded again, then broken up.

    Text such as ``=?utf-8?Q?a=0D=0ABcc:_x?=`` left in a decoded subject (an encoded word
    inside an encoded word, or a loose one we do not decode: empty or spaced charset) is
    decoded by the stdlib's header policy when copied into a header we write (the 差戻's
    ``Subject: Re: …``), CR/LF and all: a header injection.  Two more rounds of decoding
    (a gateway that encoded twice reads right again), then any opener left is split.
    """
    for _ in range(2):
        if not _ENCODED_WORD.search(text):
            break
        problems.append(f"{where}: encoded word inside a decoded value, decoded again")
        text, _problems = decode_header_text(text)
        text = single_line(text)
    if _LOOSE_OPENER.search(text):
        problems.append(f"{where}: text that reads as an encoded word, '=?' split")
        text = text.replace("=?", "= ?")
    return text
