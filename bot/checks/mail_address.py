"""ご希望のメールアドレス (@uspot.jp): MAIL_ADDRESS_MISSING, MAIL_ADDRESS_INVALID and
MAIL_ADDRESS_READING_MISMATCH (the address and its katakana reading spell different addresses;
a reading bot.domain.kana cannot spell at all is no mismatch)."""

from __future__ import annotations

import re
import unicodedata

from bot.checks.base import Defect, Facts
from bot.domain.kana import reading_to_ascii

MAIL_ADDRESS_MISSING = "MAIL_ADDRESS_MISSING"
MAIL_ADDRESS_INVALID = "MAIL_ADDRESS_INVALID"
MAIL_ADDRESS_READING_MISMATCH = "MAIL_ADDRESS_READING_MISMATCH"

DOMAIN = "uspot.jp"
# A conservative local part: letters, digits, '.', '_', '-'; starts and ends with a letter or
# digit; no '..'; at most 64 characters (RFC 5321).
_LOCAL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


def normalise_local(value: str) -> str:
    """'Ｃ－ａｏｙａ ＠uspot.jp' → 'c-aoya'."""
    text = unicodedata.normalize("NFKC", value).strip().lower()
    text = re.sub(r"[\u2010-\u2015\u2212\u30fc\uff70]", "-", text)  # dash-like characters typed for '-'
    text = re.sub(r"\s+", "", text)
    if "@" in text:
        local, _, _domain = text.partition("@")
        text = local
    return text


def is_valid_local(local: str) -> bool:
    return bool(_LOCAL_RE.match(local)) and ".." not in local


def address(f: Facts) -> list[Defect]:
    form = f.form
    if form is None or form.fields is None:
        return []
    raw_local = (form.fields.mail_local or "").strip()
    reading = (form.fields.mail_reading or "").strip()
    if not raw_local and not reading:
        return [Defect(MAIL_ADDRESS_MISSING)]
    local = normalise_local(raw_local) if raw_local else None
    from_reading = reading_to_ascii(reading) if reading else None
    if local is None:
        # Only the reading was written: it must spell a valid address on its own.
        if from_reading is None or not is_valid_local(from_reading):
            return [Defect(MAIL_ADDRESS_INVALID, {"address": reading})]
        return []
    if not is_valid_local(local):
        return [Defect(MAIL_ADDRESS_INVALID, {"address": f"{raw_local}@{DOMAIN}"})]
    # Only a reading that spells a *different* address is a mismatch (FORM-SPEC). A reading the
    # bot cannot spell at all (an unusual letter name) proves nothing either way: the address
    # itself was checked above, so the mail passes on this point.
    if reading and from_reading is not None and from_reading != local:
        return [
            Defect(
                MAIL_ADDRESS_READING_MISMATCH,
                {"address": f"{local}@{DOMAIN}", "reading": reading, "spelled": from_reading},
            )
        ]
    return []
