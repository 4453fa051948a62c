"""Values written in a mail's body: yes/no (有/無, 該当なし, ○/×), dates (2026/11/25, 令和8年11月25日,
11月25日), unit counts (親機1台 子機2台, 親一 子二) and plain counts."""

from __future__ import annotations

import re
import unicodedata
from datetime import date


# Words that open an answer, checked on the first token of the value (NO first: 該当なし).
_NO_OPENERS = ("非該当", "該当なし", "該当無し", "該当無", "無し", "無", "なし", "ナシ", "×", "✕", "✖", "いいえ")
_YES_OPENERS = ("有り", "有", "あり", "アリ", "○", "◯", "〇", "はい", "該当")
_NO_EXACT = frozenset({"no", "n", "false", "x"})
_YES_EXACT = frozenset({"yes", "y", "true"})
_YES_MARKS = ("有", "あり", "○", "◯")
_NO_MARKS = ("無", "なし", "×", "✕")
# A negative ending turns any opener into 無: 該当しません, ありません, 該当しない, 使用無し.
_NEGATIVE_ENDING = re.compile(r"(?:ません|しない|ない|無し|なし)(?:でした|です)?$")


def parse_yes_no(value: str | None) -> bool | None:
    """有/あり/○/yes → True, 無/なし/×/no → False; anything else → None.  Never raises.

    The answer opens the value ("有（FGN1000）" is True), unless the first word ends in a
    negative (該当しません, ありません, 該当しない are False).  A value naming both answers,
    as an unfilled template does ("有/無", "有・無"), is None, and so is 未定.
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
    if head.startswith(_NO_OPENERS) or _NEGATIVE_ENDING.search(head):
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
# Between 子機/親機 and the count, a few words may stand (子機追加 2台, 子機を1台, 子機(CR-1)2台,
# 親機(FGN-1000)1台): a bracketed model name, or letters that are no digit, no 親/子 (never the
# other unit's count), no 台 and no sentence break.  Then the count must be followed by 台.
_GAP_ITEM = (
    r"(?:[(\[【][^()\[\]【】\n親子]{0,20}[)\]】]"
    r"|[^\s0-9親子台、,。;()\[\]【】一二三四五六七八九十〇○])"
)


def _unit_pattern(head: str) -> re.Pattern[str]:
    return re.compile(
        head + r"\s*機?(?:"
        r"\s*(?:台数)?\s*[:=×xX]?\s*" + _NUMBER + r"\s*台?"  # 親機1台, 親機：1台, 親機台数: 1, 親1
        r"|(?:\s*" + _GAP_ITEM + r"){1,8}?\s*" + _NUMBER.replace("?P<n>", "?P<g>") + r"\s*台"  # 子機追加 2台
        r")",
        re.IGNORECASE,
    )


_PARENT = _unit_pattern("親")
_CHILD = _unit_pattern("子")


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
    """(parent, child) router counts: 親1台、子2台 / 親機1台 子機2台 / 親機 : 1 台 / 親一台 /
    子機追加 2台 / 子機を1台追加 / 子機(CR-1)2台 / 親機（FGN-1000）1台.

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
        if match is None:
            counts.append(None)
            continue
        counts.append(_number(match.group("n") if match.group("n") is not None else match.group("g")))
    return counts[0], counts[1]


def parse_count(value: str | None) -> int | None:
    """One count as written in a 親機/子機 box: '2', '２', '2台', ' 1 台 ', '二' → int, else None
    (also for an empty box or the template's 〇).  Never raises."""
    if value is None:
        return None
    try:
        text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value)))
    except (TypeError, ValueError):
        return None
    text = re.sub(r"台$", "", text)
    if re.fullmatch(r"[0-9]{1,4}", text):
        return int(text)
    if re.fullmatch(r"[一二三四五六七八九十]{1,3}", text):
        return _number(text)
    return None
