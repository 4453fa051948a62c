"""ルーター未撤去: the body must say why the router was not removed (REASON_MISSING).

The reason is the 理由 line, else the free text of the body.  Lines that carry no reason do
not count: label lines (顧客CD, 店舗名 …, also an empty 理由：), greetings, self-introductions
(青山支店の内田です), announcements of the mail (ルーター未撤去の報告です, 下記の通りご報告いたします)
and sign-offs (bot.mail.body.is_greeting_line).
"""

from __future__ import annotations

import re
import unicodedata

from bot.checks.base import Defect, Facts
from bot.mail.body import LABEL_REASON, is_greeting_line, is_label_line

REASON_MISSING = "REASON_MISSING"

# Punctuation-only lines, a bare 理由 heading, and lines about the labelled data (顧客CDは…)
# say nothing either.
_EMPTY = re.compile(
    r"^[\s\W_]*$|^[【\[(<]?\s*(?:未撤去の)?理由\s*[】\])>]?\s*[:：]?\s*$|"
    r"^(?:顧客(?:CD|コード|番号)|店舗名|送付支店|担当者)",
    re.IGNORECASE,
)


def _says_nothing(line: str) -> bool:
    text = unicodedata.normalize("NFKC", line).strip()
    return not text or bool(_EMPTY.match(text)) or is_label_line(text) or is_greeting_line(text)


def reason_text(f: Facts) -> str | None:
    labelled = (f.body.get(LABEL_REASON) or "").strip()
    if labelled:
        return labelled
    free = [line.strip() for line in f.body.lines if not _says_nothing(line)]
    text = " ".join(line for line in free if line)
    return text or None


def reason_given(f: Facts) -> list[Defect]:
    return [] if reason_text(f) else [Defect(REASON_MISSING)]
