"""Japanese charsets: the bytes of a body, a header word or a file name → text.

Branch mails arrive in every Japanese encoding a mailer ever used: ISO-2022-JP 7-bit with
Microsoft's extra characters (①, ㈱, ～: what Outlook calls ISO-2022-JP is really CP50220),
Shift_JIS / CP932, EUC-JP, UTF-8, and labels that lie or mean nothing.  Every function here
is pure, never raises, and runs in time linear in its input.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["CARRIER_EMOJI", "decode_bytes", "decode_jis", "guess", "normalise_charset"]

#: What a carrier emoji in ISO-2022-JP becomes: 〓 (下駄, the mark Japanese mail software has
#: always shown for "a character that could not be shown").  CP932 would give a Private Use
#: Area character (lead byte + 0x08, F3xx-F7xx), but staff and the vendor read our text on
#: Windows, where that area holds each company's own 外字 (EUDC): a PUA emoji would show as
#: nothing, a box, or worse a wrong kanji in a shop or person's name; it would also go on as
#: user-defined bytes into the vendor's CP932 CSV.  〓 survives CP932, ISO-2022-JP and NFKC.
CARRIER_EMOJI = "\u3013"

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
# Codecs Python knows that are no mail charset.  Bytes-to-bytes transforms (zlib, base64,
# hex, bz2, uu, quopri) are refused by the codec lookup below; these are text codecs but
# must not be trusted with mail: punycode and idna decode in quadratic time (a 1 MB body
# labelled ``punycode`` takes minutes), the escape codecs interpret backslashes.
_NOT_MAIL_CODECS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined"})

_JIS_ESCAPE = re.compile(rb"\x1b(?:\$[@B]|\$\([@BDOPQ]|\([BJIH]|&@)|[\x0e\x0f]")
_JIS_DESIGNATION = re.compile(rb"\x1b[$(]")
_JIS_PAIR_RUN = re.compile(rb"(?:[\x21-\x7e]{2})+")
_HALFWIDTH_KANA = re.compile("[\uff61-\uff9f]")
# Detection looks at the head of the data only: enough to tell the encodings apart, and
# it keeps three trial decodes of a 30 MB body out of the picture.
_SAMPLE_BYTES = 64 * 1024


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


# JIS rows (ku 85-88, 93-94) that CP932 leaves empty and carriers fill with emoji: au
# (KDDI) sends its emoji in ISO-2022-JP as rows 0x75-0x7B, SoftBank also uses 0x7D.  Rows
# 0x79-0x7C are deliberately not here: there CP50220 (Outlook) puts the NEC-selected IBM
# kanji (髙, 﨑 …) that branch names are written with, and a pair there cannot tell which
# one it is; the kanji win, since a mis-shown emoji harms nothing and a lost 髙 does.
_CARRIER_ROWS = frozenset((0x75, 0x76, 0x77, 0x78, 0x7D, 0x7E))


def _jis_pair_text(j1: int, j2: int) -> str:
    """One JIS pair → exactly one character: its CP932 reading, 〓 for a carrier emoji,
    U+FFFD for anything else CP932 lacks.  (Decoding the Shift_JIS bytes with "replace"
    instead gives U+FFFD plus the trail byte as a stray half-width character.)"""
    try:
        return _jis_to_sjis_pair(j1, j2).decode("cp932")
    except UnicodeDecodeError:
        return CARRIER_EMOJI if j1 in _CARRIER_ROWS else "\ufffd"


# All 94×94 pairs, precomputed: a body converts with one dict lookup per character.
_JIS_TO_TEXT: dict[bytes, str] = {
    bytes((j1, j2)): _jis_pair_text(j1, j2)
    for j1 in range(0x21, 0x7F)
    for j2 in range(0x21, 0x7F)
}


def _decode_kanji(
    segment: bytes, pair_text: Callable[[bytes], str] = _JIS_TO_TEXT.__getitem__
) -> tuple[str, int]:
    """Bytes in JIS X 0208 mode → text; returns (text, count of undecodable characters).

    Microsoft's NEC row 13 (①, ㈱, Ⅰ) and NEC-selected IBM kanji (髙, 﨑) are valid JIS
    positions that no Python ISO-2022-JP codec knows; via Shift_JIS, CP932 knows them all.
    Control bytes (CR, LF) and spaces inside the kanji run are kept as they are.
    ``pair_text`` reads one pair (another JIS plane); it gives one character per pair.
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
        text = "".join([pair_text(raw[i:i + 2]) for i in range(0, len(raw), 2)])
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
    """JIS X 0212 / 0213 runs, which CP932 lacks: let the Python codec that has them try;
    when it refuses the run, pair by pair, so that a bad pair costs one U+FFFD."""
    try:
        return (escape + segment + b"\x1b(B").decode(codec), 0
    except UnicodeDecodeError:
        pass

    def pair_text(pair: bytes) -> str:
        try:
            text = (escape + pair + b"\x1b(B").decode(codec)
        except UnicodeDecodeError:
            return "\ufffd"
        return text if len(text) <= 2 else "\ufffd"  # one character (or a base + combining mark)

    return _decode_kanji(segment, pair_text)


def decode_jis(data: bytes) -> tuple[str, int]:
    """ISO-2022-JP (CP50220/50221/50222 flavours included) → (text, undecodable characters).

    Python's ``iso2022_jp*`` codecs reject Microsoft's extra characters, so each JIS X 0208
    run is converted to Shift_JIS and decoded as CP932 (LAB-NOTES, Mail).  Every pair gives
    exactly one character (a carrier emoji :data:`CARRIER_EMOJI`, an unknown pair U+FFFD).
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


def normalise_charset(charset: str | None) -> str | None:
    """A charset label as mailers write it → lower-case name, or None when there is none."""
    if charset is None:
        return None
    name = str(charset).strip().strip("\"'").strip().lower()
    # RFC 2231 language suffix (utf-8*ja) and stray parameters.
    name = name.split("*", 1)[0].split(";", 1)[0].strip()
    return name or None


def _sample(data: bytes) -> bytes:
    """The head of ``data`` for detection, cut after an ASCII byte so that no multi-byte
    character is split (a split one would count as an error against the right codec)."""
    if len(data) <= _SAMPLE_BYTES:
        return data
    head = data[:_SAMPLE_BYTES]
    for stop in (b"\n", b" "):
        cut = head.rfind(stop)
        if cut > _SAMPLE_BYTES // 2:
            return head[:cut + 1]
    return head


def _score(data: bytes, codec: str) -> int:
    """How unlikely it is that ``data`` is ``codec``: lower is better.

    Each undecodable sequence counts heavily; each half-width katakana counts once, because
    that is what EUC-JP and UTF-8 Japanese look like when read as CP932 (almost every EUC-JP
    lead byte is a half-width katakana there, and CP932 reads most EUC-JP text without a
    single error), while real branch mail hardly ever uses half-width katakana.
    """
    text = data.decode(codec, "replace")
    return 4 * text.count("\ufffd") + len(_HALFWIDTH_KANA.findall(text))


# Candidates in the order a tie is broken: UTF-8 (a sample that fits it is hardly ever
# anything else), then CP932, what this mailbox gets most.
_LEGACY_CODECS = (("utf-8", "utf-8"), ("cp932", "cp932"), ("euc_jp", "euc-jp"))


def guess(data: bytes) -> tuple[str, str]:
    """Decode bytes whose charset is absent, meaningless or wrong → (text, what was used).

    ISO-2022-JP when the bytes carry its escape sequences, ASCII, UTF-8 when it decodes
    strictly, otherwise CP932 or EUC-JP (or UTF-8 with errors), whichever scores best in
    :func:`_score`; "… with replacement" says that the chosen one did not fit every byte.
    """
    seven_bit = data.isascii()
    if _JIS_DESIGNATION.search(data):  # 7-bit ISO-2022-JP is ASCII-clean: test it first
        text, bad = decode_jis(data)
        if not bad:
            return text, "iso-2022-jp"
        if seven_bit:  # escapes and nothing 8-bit: ISO-2022-JP with a few broken pairs
            return text, "iso-2022-jp with replacement"
    if seven_bit:
        return data.decode("ascii"), "us-ascii"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    sample = _sample(data)
    fits = []
    for codec, label in _LEGACY_CODECS:  # UTF-8 again: the damage may lie past the sample
        try:
            sample.decode(codec)
            fits.append((codec, label))
        except UnicodeDecodeError:
            pass
    candidates = fits or list(_LEGACY_CODECS)
    codec, label = min(candidates, key=lambda c: _score(sample, c[0]))  # min keeps the first of a tie
    try:
        return data.decode(codec), label
    except UnicodeDecodeError:
        return data.decode(codec, "replace"), f"{label} with replacement"


def _mail_codec(name: str) -> str | None:
    """The Python codec for a charset label, or None when it is unknown or no mail charset."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_MAIL_CODECS:
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode ``data`` labelled ``charset``; returns (text, problem or None).

    The problem text names the charset and what was done instead, without a location
    (the caller knows which part or header it was).  Never raises.
    """
    if not data:
        return "", None
    name = normalise_charset(charset)
    try:
        if name is None or name in _UNLABELLED:
            text, used = guess(data)
            if used == "us-ascii":
                return text, None
            label = f"charset {charset!r}" if charset else "no charset declared"
            return text, f"{label} but 8-bit or escaped text, decoded as {used}"
        if name in _JIS_CHARSETS:
            if b"\x1b" not in data and not data.isascii():
                text, used = guess(data)
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
        codec = _mail_codec(name)
        if codec is None:  # x-unknown, zlib, punycode …: detect, never trust the label
            text, used = guess(data)
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
    text, used = guess(data)
    if not used.endswith("replacement"):
        return text, f"charset {charset!r} does not fit the bytes, decoded as {used}"
    text = data.decode(codec, "replace")
    return text, f"charset {charset!r}: {text.count(chr(0xFFFD))} undecodable sequence(s) replaced"
