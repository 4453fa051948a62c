"""USEN SPOT Plus: the body's SPOT Plus該当 must agree with the form's Plus box (PLUS_FLAG_MISMATCH)."""

from __future__ import annotations

from bot.checks.base import Defect, Facts
from bot.mail.body import parse_yes_no

PLUS_FLAG_MISMATCH = "PLUS_FLAG_MISMATCH"


def _yn(flag: bool) -> str:
    return "有" if flag else "無"


def agreement(f: Facts) -> list[Defect]:
    form = f.form
    if form is None or form.fields is None:
        return []
    body_flag = parse_yes_no(f.body.get("SPOT Plus該当"))
    if body_flag is None:
        return []  # absent or neither 有 nor 無: BODY_FIELD_MISSING says so
    if body_flag == form.fields.plus:
        return []
    return [Defect(PLUS_FLAG_MISMATCH, {"body": _yn(body_flag), "form": _yn(form.fields.plus)})]
