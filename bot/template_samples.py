"""Sample data for every template, so `bot templates check` can render each one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot import classify
from bot.checks.base import Defect
from bot.config import Config
from bot.templating import BUILTIN_DIR, _describe, _environment

ALL_DEFECT_CODES = (
    "UNKNOWN_KIND", "CUSTOMER_CODE_MISSING", "CUSTOMER_CODE_MISMATCH", "ATTACHMENT_MISSING", "PDF_NOT_ENCRYPTED",
    "PDF_WRONG_PASSWORD", "PDF_UNREADABLE", "UNIS_ORDER_MISSING", "LINE_KIND_MISSING", "LINE_TYPE_MISSING",
    "MAIL_ADDRESS_MISSING", "MAIL_ADDRESS_INVALID", "MAIL_ADDRESS_READING_MISMATCH", "SSID_NOT_HALFWIDTH",
    "UNIT_COUNT_MISSING", "BODY_FIELD_MISSING", "PLUS_FLAG_MISMATCH", "CC_MANAGER_MISSING", "REASON_MISSING",
    "TERMINATION_DATE_MISSING", "WITHDRAWAL_TOO_LATE", "CUSTOMER_NOT_FOUND", "DESTINATION_LINE_MISSING",
)

_DETAIL = {
    "codes": "件名 988776654、本文 988776655", "code": "988776654", "address": "c-aoya@uspot.jp",
    "reading": "シーハイフンエー", "spelled": "c-a", "ssid": "ｋｉｔｓｕｎｅ", "chars": "ｋｉ", "labels": "店舗名、担当者名",
    "body": "有", "form": "無", "manager": "shitencho@usen.co.jp", "termination_date": "2026/11/25",
    "deadline": "2026/11/19",
}

SAMPLES: dict[str, dict[str, Any]] = {
    "reject.txt.j2": {
        "sender_name": "内田 太郎",
        "kind_label": "器材発注依頼",
        "original_subject": "USEN SPOT 器材発注依頼_988776654",
        "customer_code": "988776654",
        "received_at": "2026/11/24 10:15",
        "defects_list": [Defect(code, _DETAIL) for code in ALL_DEFECT_CODES],
        "show_subjects": True,
        "prefixes": [prefix for prefix, _ in classify.PREFIXES],
    },
}


def template_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.j2") if not p.name.startswith("_"))


def check_all(cfg: Config) -> list[str]:
    """Render every template (built-in, and the admin's where present); return the errors."""
    errors: list[str] = []
    dirs = [BUILTIN_DIR]
    if cfg.templates.dir:
        dirs.append(Path(cfg.templates.dir))
    for directory in dirs:
        if not directory.is_dir():
            errors.append(f"{directory}: template folder not found")
            continue
        env = _environment(directory)
        for name in template_names(directory):
            sample = SAMPLES.get(name)
            if sample is None:
                errors.append(f"{directory / name}: no sample data for this template name")
                continue
            try:
                env.get_template(name).render(**sample)
            except Exception as err:  # noqa: BLE001 - report every template's breakage
                errors.append(_describe(err, name, directory))
    return errors
