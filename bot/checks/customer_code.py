"""顧客CD rules: present in the subject (CUSTOMER_CODE_MISSING) and the same everywhere it is
written: subject, body 顧客CD line and the form (CUSTOMER_CODE_MISMATCH)."""

from __future__ import annotations

import re
import unicodedata

from bot.checks.base import Defect, Facts

CUSTOMER_CODE_MISSING = "CUSTOMER_CODE_MISSING"
CUSTOMER_CODE_MISMATCH = "CUSTOMER_CODE_MISMATCH"


def normalise_code(value: str | None) -> str | None:
    """'９８８ ７７６ ６５４' → '988776654'; None when it is not 9 digits after normalising."""
    if not value:
        return None
    digits = re.sub(r"[\s\-‐－ー]", "", unicodedata.normalize("NFKC", value))
    return digits if re.fullmatch(r"\d{9}", digits) else None


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
