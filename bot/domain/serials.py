"""A router's serial number as the manual writes it (§VIII ※UNISシリアルナンバー欄について, FAQ 6–8):
「最初の2文字が英文字で、後は数字と英文字のランダム12桁」 (FB05HFH01703, NV7113086111,
FG6014112617). Letters of either case (the manual says 英文字, not 大文字); full-width input is
NFKC'd first; nothing else may stand inside the twelve."""

from __future__ import annotations

import re
import unicodedata

SERIAL_RE = re.compile(r"[A-Za-z]{2}[A-Za-z0-9]{10}")


def serial_ok(serial: str) -> bool:
    return SERIAL_RE.fullmatch(serial) is not None


def as_written(text: str | None) -> str:
    """The serial as a person wrote it, NFKC'd and trimmed (ＦＧ６０１… → FG601…)."""
    return unicodedata.normalize("NFKC", text or "").strip()
