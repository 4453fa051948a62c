"""SERIAL_INVALID: a serial written in a リンク品使用連絡 that breaks the manual's rule (§VIII:
2 letters, then 10 letters or digits; bot/domain/serials.py), one defect per serial, naming it.
A serial not written at all is BODY_FIELD_MISSING's (bot/checks/body_fields.py)."""

from __future__ import annotations

from bot.checks.base import Defect, Facts
from bot.domain.serials import as_written, serial_ok
from bot.mail.body import LABEL_NEW_SERIAL, LABEL_OLD_SERIAL

SERIAL_INVALID = "SERIAL_INVALID"


def link_item(f: Facts) -> list[Defect]:
    found = []
    for label in (LABEL_OLD_SERIAL, LABEL_NEW_SERIAL):
        value = as_written(f.body.get(label))
        if value and not serial_ok(value):
            found.append(Defect(SERIAL_INVALID, {"serial": value, "label": label}))
    return found
