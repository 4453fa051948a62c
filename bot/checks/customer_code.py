"""顧客CD rules: present in the subject (CUSTOMER_CODE_MISSING) and the same everywhere it is
written: subject, body 顧客CD line and the form (CUSTOMER_CODE_MISMATCH)."""

from __future__ import annotations

import re
import unicodedata

from bot.checks.base import Defect, Facts

CUSTOMER_CODE_MISSING = "CUSTOMER_CODE_MISSING"
CUSTOMER_CODE_MISMATCH = "CUSTOMER_CODE_MISMATCH"


_DASHES_AND_SPACES = r"[\s\-‐‑‒–—―−－ー]+"
_NINE_DIGITS = re.compile(r"(?<![0-9])[0-9]{9}(?![0-9])")


def normalise_code(value: str | None) -> str | None:
    """The first 9-digit code in a value: '９８８ ７７６ ６５４' → '988776654',
    '988-776-654' → '988776654', '988776654（カフェAOYAMA）' → '988776654'; None when there is none.

    A run of exactly nine digits as written wins; else hyphens and spaces between digits are
    dropped and the first run of nine is taken (8 or 10 digits are no code).
    """
    if not value:
        return None
    text = unicodedata.normalize("NFKC", value)
    found = _NINE_DIGITS.search(text)
    if found is None:
        joined = re.sub(r"(?<=[0-9])" + _DASHES_AND_SPACES + r"(?=[0-9])", "", text)
        found = _NINE_DIGITS.search(joined)
    return found.group(0) if found else None


def present(f: Facts) -> list[Defect]:
    if f.classification.customer_code:
        return []
    return [Defect(CUSTOMER_CODE_MISSING)]


def agreement(f: Facts) -> list[Defect]:
    subject_code = f.classification.customer_code
    written = {"件名": subject_code}
    body_raw = f.body.get("顧客CD")
    if body_raw:
        written["本文"] = normalise_code(body_raw) or body_raw.strip()
    for reading in f.forms:
        if reading.fields is not None and reading.fields.customer_code:
            written["申込書"] = normalise_code(reading.fields.customer_code) or reading.fields.customer_code
    for reading in f.termination_forms:
        if reading.customer_code:
            written["解約申請書"] = normalise_code(reading.customer_code) or reading.customer_code
    values = {v for v in written.values() if v}
    if len(values) <= 1:
        return []
    shown = "、".join(f"{where} {code or '(なし)'}" for where, code in written.items())
    return [Defect(CUSTOMER_CODE_MISMATCH, {"codes": shown})]
