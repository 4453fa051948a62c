"""Body text → labelled fields (本文の項目), dates (解約日) and unit counts (親〇台 子〇台).

Branch staff write bodies as in manual §II::

    顧客CD : 988776654
    店舗名 : スパゲティーUSEN
    リンク品使用 無
    SPOT Plus該当 有

with a half- or full-width colon or none at all, any spaces, sometimes a bullet (・■)
or brackets (【顧客CD】) around the label.  Quoted reply lines (``>``), everything after
the signature separator ``-- `` and an Outlook ``-----Original Message-----`` block are
not read.  Pure: no I/O, never raises on any text.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

log = logging.getLogger(__name__)

__all__ = [
    "BodyFields",
    "CANONICAL_LABELS",
    "LABEL_BRANCH",
    "LABEL_CHANGE",
    "LABEL_CUSTOMER_CODE",
    "LABEL_DEST_ADDRESS",
    "LABEL_DEST_LINE",
    "LABEL_LINK_ITEM",
    "LABEL_PLUS",
    "LABEL_REASON",
    "LABEL_SHOP",
    "LABEL_STAFF",
    "LABEL_TERMINATION_DATE",
    "canonical_label",
    "find_date_labelled",
    "parse_body",
    "parse_date",
    "parse_units",
    "parse_yes_no",
]

LABEL_CUSTOMER_CODE = "顧客CD"
LABEL_SHOP = "店舗名"
LABEL_LINK_ITEM = "リンク品使用"
LABEL_PLUS = "SPOT Plus該当"
LABEL_BRANCH = "送付支店名"
LABEL_STAFF = "担当者名"
LABEL_TERMINATION_DATE = "解約日"
LABEL_DEST_ADDRESS = "移設先住所"
LABEL_DEST_LINE = "移設先回線種別"
LABEL_REASON = "理由"
LABEL_CHANGE = "変更内容"

#: Canonical label → every spelling accepted for it (the canonical one first).  Spelling
#: is compared after NFKC, ignoring case and spaces (``SPOTPlus該当`` = ``SPOT Plus該当``).
CANONICAL_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        LABEL_CUSTOMER_CODE: ("顧客CD", "顧客コード", "UNIS顧客コード", "UNIS顧客CD", "顧客番号"),
        LABEL_SHOP: ("店舗名", "店舗名称", "店名"),
        LABEL_LINK_ITEM: ("リンク品使用",),
        LABEL_PLUS: ("SPOT Plus該当", "Plus該当", "USEN SPOT Plus該当"),
        LABEL_BRANCH: ("送付支店名", "送付支店"),
        LABEL_STAFF: ("担当者名", "担当者", "担当"),
        LABEL_TERMINATION_DATE: ("解約日", "解約予定日"),
        LABEL_DEST_ADDRESS: ("移設先住所",),
        LABEL_DEST_LINE: ("移設先回線種別", "移設先回線"),
        LABEL_REASON: ("理由", "未撤去理由", "未撤去の理由"),
        LABEL_CHANGE: ("変更内容",),
    }
)

# Free-text labels: their value may continue on the following lines until a blank line.
_MULTILINE = frozenset({LABEL_REASON, LABEL_CHANGE})


def _key(label: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", label)).casefold()


_ALIAS_TO_CANONICAL: dict[str, str] = {
    _key(alias): canonical for canonical, aliases in CANONICAL_LABELS.items() for alias in aliases
}
# Longest spelling first, so 担当者名 wins over 担当 and USEN SPOT Plus該当 over Plus該当.
_ALIASES_BY_LENGTH = sorted(_ALIAS_TO_CANONICAL, key=len, reverse=True)


def _alias_pattern(key: str) -> str:
    return r"\s*".join(re.escape(ch) for ch in key)


_LABEL_LINE = re.compile(
    r"^[\s・■□●○◆◇▼▽▶►*•※\-+]*"  # bullet
    r"[【\[(<《「〔]?\s*"
    r"(?P<label>" + "|".join(f"(?P<a{i}>{_alias_pattern(k)})" for i, k in enumerate(_ALIASES_BY_LENGTH)) + r")"
    r"(?:\s*(?P<close>[】\])>》」〕]))?"  # the spaces after a bare label belong to the value separator
    r"(?P<rest>.*)$",
    re.I | re.S,
)
# What may follow a label: a colon or '=' (then anything), whitespace (then anything),
# or, glued to the label, only a digit or a yes/no word (顧客CD988776654, リンク品使用無).
_SEPARATED = re.compile(r"^\s*[:=]\s*(?P<value>.*)$|^\s+(?P<value2>.*)$|^$", re.S)
_GLUED = re.compile(r"^(?:[0-9]|有|無|あり|なし|○|◯|×|yes\b|no\b)", re.I)

_SIGNATURE = re.compile(r"^--\s*$")
_ORIGINAL = re.compile(
    r"^\s*-{3,}\s*(?:original message|元のメッセージ|元メッセージ)\s*-{3,}\s*$", re.I
)


@dataclass(frozen=True)
class BodyFields:
    """Labelled values of a body.

    ``values``: canonical label → NFKC-normalised value (first non-empty occurrence wins).
    ``lines``: the normalised non-empty lines read (quotes and signature excluded).
    ``raw_values``: the same values as written (before NFKC), for display.
    """

    values: Mapping[str, str]
    lines: tuple[str, ...]
    raw_values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, label: str) -> str | None:
        """Value of a label given by its canonical name or any accepted spelling."""
        canonical = canonical_label(label)
        return self.values.get(canonical) if canonical else None


def canonical_label(label: str) -> str | None:
    """The canonical label for any accepted spelling (顧客コード → 顧客CD), else None."""
    try:
        return _ALIAS_TO_CANONICAL.get(_key(label))
    except Exception:
        return None


def _match_label(line: str) -> tuple[str, str, str] | None:
    """(canonical label, value, raw rest) of a normalised line, or None if it is no label line."""
    match = _LABEL_LINE.match(line)
    if match is None:
        return None
    alias = next(
        (_ALIASES_BY_LENGTH[i] for i in range(len(_ALIASES_BY_LENGTH)) if match.group(f"a{i}") is not None),
        None,
    )
    if alias is None:  # pragma: no cover - one group always matched
        return None
    rest = match.group("rest")
    if match.group("close"):  # 【担当者名】内田: the bracket separates label and value
        rest = " " + rest
    separated = _SEPARATED.match(rest)
    if separated is not None:
        value = separated.group("value") if separated.group("value") is not None else separated.group("value2")
    elif _GLUED.match(rest):
        value = rest
    else:
        return None  # 担当させていただきます: a word that merely begins like a label
    return _ALIAS_TO_CANONICAL[alias], (value or "").strip(), rest


def _readable_lines(text: str) -> list[tuple[str, str]]:
    """(normalised, original) lines up to the signature, without quoted lines."""
    out: list[tuple[str, str]] = []
    for original in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _SIGNATURE.match(original) or _ORIGINAL.match(original):
            break
        normalised = unicodedata.normalize("NFKC", original).strip()
        if normalised.startswith(">"):
            continue  # quoted reply (＞ becomes > under NFKC)
        out.append((normalised, original.strip()))
    return out


def parse_body(text: str) -> BodyFields:
    """Labelled fields of a body text.  Never raises (any input → a BodyFields)."""
    try:
        return _parse_body(text if isinstance(text, str) else str(text or ""))
    except Exception:
        log.exception("parse_body failed on a %d-character body", len(text or ""))
        return BodyFields(values=MappingProxyType({}), lines=())


def _parse_body(text: str) -> BodyFields:
    rows = _readable_lines(text)
    values: dict[str, str] = {}
    raw_values: dict[str, str] = {}
    lines: list[str] = []
    for index, (line, original) in enumerate(rows):
        if not line:
            continue
        lines.append(line)
        found = _match_label(line)
        if found is None:
            continue
        label, value, _rest = found
        if label in values:
            continue
        raw_value = _raw_value(original, value)
        if not value or label in _MULTILINE:
            extra, extra_raw = _following(rows, index, multiline=label in _MULTILINE, have_value=bool(value))
            if extra:
                value = "\n".join(v for v in (value, extra) if v)
                raw_value = "\n".join(v for v in (raw_value, extra_raw) if v)
        if value:
            values[label] = value
            raw_values[label] = raw_value
    return BodyFields(
        values=MappingProxyType(values), lines=tuple(lines), raw_values=MappingProxyType(raw_values)
    )


def _raw_value(original: str, value: str) -> str:
    """The value as written: the tail of the original line with the same NFKC form."""
    if not value:
        return ""
    for start in range(len(original)):
        tail = original[start:].strip()
        if unicodedata.normalize("NFKC", tail).strip() == value:
            return tail
    return value


def _following(
    rows: list[tuple[str, str]], index: int, *, multiline: bool, have_value: bool
) -> tuple[str, str]:
    """Value lines after a label line: the next line for an empty value (``店舗名：`` ⏎
    ``スパゲティーUSEN``), and for free text (理由, 変更内容) every line up to a blank line.
    A line that is itself a label line ends the value.
    """
    taken: list[tuple[str, str]] = []
    for line, original in rows[index + 1:]:
        if not line:
            if taken or have_value:
                break
            continue
        if _match_label(line) is not None:
            break
        taken.append((line, original))
        if not multiline:
            break
    return "\n".join(t[0] for t in taken), "\n".join(t[1] for t in taken)


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------

# Words that open an answer, checked on the first token of the value (NO first: 該当なし).
_NO_OPENERS = ("非該当", "該当なし", "該当無し", "無し", "無", "なし", "ナシ", "×", "✕", "✖", "いいえ")
_YES_OPENERS = ("有り", "有", "あり", "アリ", "○", "◯", "〇", "はい", "該当")
_NO_EXACT = frozenset({"no", "n", "false", "x"})
_YES_EXACT = frozenset({"yes", "y", "true"})
_YES_MARKS = ("有", "あり", "○", "◯")
_NO_MARKS = ("無", "なし", "×", "✕")


def parse_yes_no(value: str | None) -> bool | None:
    """有/あり/○/yes → True, 無/なし/×/no → False; anything else → None.  Never raises.

    The answer opens the value ("有（FGN1000）" is True).  A value naming both answers, as an
    unfilled template does ("有/無", "有・無"), is None.
    """
    if value is None:
        return None
    try:
        text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))).casefold()
    except Exception:
        return None
    head = re.split(r"[/・,、|()\[\]:.。]", text, maxsplit=1)[0]
    if head in _NO_EXACT:
        return False
    if head in _YES_EXACT:
        return True
    rest = text[len(head):]
    if head.startswith(_NO_OPENERS):
        return None if any(m in rest for m in _YES_MARKS) else False
    if head.startswith(_YES_OPENERS):
        body = head[1:] + rest  # 有無: the opener itself does not count as the other mark
        return None if any(m in body for m in _NO_MARKS) else True
    return None


_ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925, "R": 2018, "H": 1988, "S": 1925}
_DATE_PATTERNS = (
    # 2026/11/30, 2026-11-30, 2026.11.30 (spaces allowed around the separators)
    re.compile(r"(?<![0-9])(?P<y>[0-9]{4})\s*(?P<s>[/\-.])\s*(?P<m>[0-9]{1,2})\s*(?P=s)\s*(?P<d>[0-9]{1,2})(?![0-9])"),
    # 2026年11月30日
    re.compile(r"(?<![0-9])(?P<y>[0-9]{4})\s*年\s*(?P<m>[0-9]{1,2})\s*月\s*(?P<d>[0-9]{1,2})\s*日?"),
    # 令和8年11月30日, 令和元年…, R8.11.30
    re.compile(
        r"(?P<era>令和|平成|昭和)\s*(?P<n>[0-9]{1,2}|元)\s*年\s*(?P<m>[0-9]{1,2})\s*月\s*(?P<d>[0-9]{1,2})\s*日?"
    ),
    re.compile(
        r"(?<![A-Za-z])(?P<era>[RHS])\s*(?P<n>[0-9]{1,2}|元)\s*(?P<s>[/\-.])\s*(?P<m>[0-9]{1,2})\s*(?P=s)\s*(?P<d>[0-9]{1,2})(?![0-9])"
    ),
)


def parse_date(text: str | None) -> date | None:
    """The first date written in ``text``, or None.  Never raises.

    Accepts 2026/11/30, 2026-11-30, 2026.11.30, 2026年11月30日, 令和8年11月30日 (令和元年,
    平成 and R8.11.30 too), full-width digits and spaces.  The earliest date-looking text
    decides: if it is no valid calendar date (2026/02/30), the answer is None, not a later
    date, so an unreadable 解約日 is asked for rather than guessed.
    """
    if not text:
        return None
    try:
        normalised = unicodedata.normalize("NFKC", str(text))
    except Exception:
        return None
    best: tuple[int, re.Match[str]] | None = None
    for pattern in _DATE_PATTERNS:
        match = pattern.search(normalised)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), match)
    if best is None:
        return None
    match = best[1]
    groups = match.groupdict()
    try:
        if groups.get("era"):
            n = 1 if groups["n"] == "元" else int(groups["n"])
            if n < 1:
                return None  # 令和0年 does not exist
            year = _ERAS[groups["era"]] + n
        else:
            year = int(groups["y"])
        return date(year, int(groups["m"]), int(groups["d"]))
    except (ValueError, OverflowError, KeyError):
        return None


_KANJI_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUMBER = r"(?P<n>[0-9]{1,4}|[一二三四五六七八九十]{1,3})"
_PARENT = re.compile(r"親\s*機?\s*[:=×xX]?\s*" + _NUMBER + r"\s*台?", re.I)
_CHILD = re.compile(r"子\s*機?\s*[:=×xX]?\s*" + _NUMBER + r"\s*台?", re.I)


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十"):  # 十二
        return 10 + _KANJI_DIGITS.get(text[1:], 0) if len(text) == 2 else None
    if len(text) == 1:
        return _KANJI_DIGITS.get(text)
    if len(text) >= 2 and text[1] == "十":  # 二十, 二十三
        tens = _KANJI_DIGITS.get(text[0], 0) * 10
        return tens + (_KANJI_DIGITS.get(text[2], 0) if len(text) == 3 else 0)
    return None


def parse_units(text: str | None) -> tuple[int | None, int | None]:
    """(parent, child) router counts: 親1台、子2台 / 親機1台 子機2台 / 親機：1台 / 親一台.

    A count not written (or the template's 〇 left unfilled) is None.  Never raises.
    """
    if not text:
        return None, None
    try:
        normalised = unicodedata.normalize("NFKC", str(text))
    except Exception:
        return None, None
    counts: list[int | None] = []
    for pattern in (_PARENT, _CHILD):
        match = pattern.search(normalised)
        counts.append(_number(match.group("n")) if match else None)
    return counts[0], counts[1]


def find_date_labelled(body: BodyFields, label: str) -> date | None:
    """The date in the value of ``label`` (e.g. 解約日), or None when absent or unreadable."""
    try:
        return parse_date(body.get(label))
    except Exception:
        return None
