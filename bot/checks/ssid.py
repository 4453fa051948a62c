"""Original SSID is half-width only (manual §IV: 半角オンリー): SSID_NOT_HALFWIDTH.

Checked on the value as written, before any normalisation would hide the full-width letters.
"""

from __future__ import annotations

import unicodedata

from bot.checks.base import Defect, Facts

SSID_NOT_HALFWIDTH = "SSID_NOT_HALFWIDTH"


def full_width_chars(text: str) -> list[str]:
    return [c for c in text if unicodedata.east_asian_width(c) in ("F", "W")]


def half_width(f: Facts) -> list[Defect]:
    form = f.form
    if form is None or form.fields is None or not form.fields.ssid:
        return []
    wide = full_width_chars(form.fields.ssid)
    if not wide:
        return []
    return [Defect(SSID_NOT_HALFWIDTH, {"ssid": form.fields.ssid, "chars": "".join(dict.fromkeys(wide))})]
