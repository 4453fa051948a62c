"""Original SSID is half-width only (manual §IV: 半角オンリー): SSID_NOT_HALFWIDTH.

Half-width here means printable ASCII (0x20–0x7E: 半角英数字・記号・スペース).  Anything else is
sent back: full-width letters (ｋｉｔｓｕｎｅ), but also characters that are not "wide" and
still not ASCII: circled digits (①), curly quotes (’), accented letters (é), half-width
katakana (ｶﾌｪ).  Checked on the value as written, before any normalisation would hide them.
"""

from __future__ import annotations

from bot.checks.base import Defect, Facts

SSID_NOT_HALFWIDTH = "SSID_NOT_HALFWIDTH"


def full_width_chars(text: str) -> list[str]:
    """The characters of ``text`` outside printable ASCII (0x20–0x7E), in order."""
    return [c for c in text if not (0x20 <= ord(c) <= 0x7E)]


def half_width(f: Facts) -> list[Defect]:
    form = f.form
    if form is None or form.fields is None or not form.fields.ssid:
        return []
    wide = full_width_chars(form.fields.ssid)
    if not wide:
        return []
    return [Defect(SSID_NOT_HALFWIDTH, {"ssid": form.fields.ssid, "chars": "".join(dict.fromkeys(wide))})]
