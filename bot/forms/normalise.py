"""Values as written → comparable values: NFKC, hyphens, zip/phone, customer code, mail local
part, unit counts, and choices marked in text (■ before the chosen option)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from bot.mail.body import parse_count, parse_units

_HYPHENS = "-−－‐‑‒–—―ーｰ"
_HYPHEN_TABLE = str.maketrans({c: "-" for c in _HYPHENS})
_SPACE_RE = re.compile(r"\s+")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def fold(text: str) -> str:
    """Comparison form: NFKC, case-folded, without any whitespace (U+3000 included)."""
    return _SPACE_RE.sub("", nfkc(text)).casefold()


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """fold(), plus for each folded character the index of the raw character it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            continue
        for out in nfkc(ch).casefold():
            if not out.isspace():
                folded.append(out)
                origin.append(i)
    return "".join(folded), origin


def zip_or_phone(value: str | None) -> str | None:
    if value is None:
        return None
    return _SPACE_RE.sub(" ", nfkc(value).translate(_HYPHEN_TABLE)).strip()


def customer_code_of(value: str | None) -> str | None:
    if value is None:
        return None
    compact = _SPACE_RE.sub("", nfkc(value))
    dehyphenated = compact.translate(_HYPHEN_TABLE).replace("-", "")
    return dehyphenated if re.fullmatch(r"\d{9}", dehyphenated) else compact


_ZIP_RE = re.compile(r"^〒?\s*([0-9０-９]{3})\s*[" + _HYPHENS + r"]?\s*([0-9０-９]{4})(?![0-9０-９])")


def split_zip(value: str) -> tuple[str | None, str]:
    """'〒143-0016 東京都…' -> ('143-0016', '東京都…'); no postcode -> (None, value)."""
    value = value.strip()
    m = _ZIP_RE.match(value)
    if not m:
        return None, value.removeprefix("〒").strip() if value.startswith("〒") else value
    zip_code = f"{nfkc(m.group(1))}-{nfkc(m.group(2))}"
    return zip_code, value[m.end():].strip()


def mail_local_of(value: str | None) -> str | None:
    if value is None:
        return None
    local = re.split(r"[@＠]", value, maxsplit=1)[0]
    return _SPACE_RE.sub("", local)


# Units: 親機 1 台 / 子機 2 台 in the 台数 row, or 親1台、子2台 in 備考.  Read as bot.mail.body reads
# them in a mail body (spaced colon 親機 : 1 台, 台, kanji digits 一/二, 子機(CR-1)2台).
_UNIT_SEGMENTS = (
    re.compile(r"親\s*機?\s*(?:台数)?\s*[:=]?\s*(?P<v>.*?)\s*(?=子\s*機|$)", re.DOTALL),
    re.compile(r"子\s*機?\s*(?:台数)?\s*[:=]?\s*(?P<v>.*?)\s*(?=親\s*機|$)", re.DOTALL),
)
_EMPTY_COUNT = re.compile(r"^[\s台〇○_＿]*$")


def units_from_text(text: str | None, *, keep_unreadable: bool = False) -> tuple[str | None, str | None]:
    """(parent, child) as ASCII digits.  With ``keep_unreadable`` (the 台数 row itself, not 備考),
    a box that holds something other than a count (親機 数 台) gives that text as written (NFKC),
    so the units check can send it back instead of the order defaulting to one router."""
    if not text:
        return None, None
    norm = nfkc(text)
    counts = parse_units(norm)
    out: list[str | None] = []
    for count, segment in zip(counts, _UNIT_SEGMENTS, strict=True):
        if count is not None:
            out.append(str(count))
            continue
        found = segment.search(norm) if keep_unreadable else None
        value = found.group("v").strip() if found else ""
        out.append(None if _EMPTY_COUNT.match(value) else value)
    return out[0], out[1]


def unit_value(text: str) -> str:
    """A fillable 親機/子機 box: '1', '１台', '二' → '1'/'2'; empty or the template's 〇 → '';
    anything else as written (NFKC), for the units check to send back."""
    norm = nfkc(text).strip()
    count = parse_count(norm)
    if count is not None:
        return str(count)
    return "" if _EMPTY_COUNT.match(norm) else norm


# =========================================================================== choices

LINE_KIND_OPTIONS: tuple[tuple[str, str], ...] = (
    ("hikari_next", r"(?:フレッツ)?光ネクスト|hikari_?next"),
    ("b_flets", r"bフレッツ|b_?flets"),
)
LINE_TYPE_OPTIONS: tuple[tuple[str, str], ...] = (
    ("family", r"ファミリー|family"),
    ("mansion", r"マンション|mansion"),
)
CHECK_METHOD_OPTIONS: tuple[tuple[str, str], ...] = (
    ("notice", r"開通(?:の)?通知書?|notice"),
    ("bill", r"(?:ntt)?請求書|bill"),
    ("ntt116", r"116|ntt116"),
)
_PLUS_OPTION = re.compile(r"plus|有り?|あり|加入|yes")

# Marks before an option (FORM-SPEC "How a choice is marked"), after NFKC + casefold.
_CHOSEN_MARK = re.compile(r"(?:[■☑☒✓✔●◉レ✅◼⬛]|[\[(]\s*[x✓✔レ■●]\s*[\])])\s*$")
_OPEN_MARK = re.compile(r"(?:[□☐○◯◻⬜]|[\[(]\s*[\])])\s*$")


def choose(text: str | None, options: Sequence[tuple[str, str]]) -> tuple[str | None, str]:
    """The one option marked as chosen in ``text``: (id or None, note when ambiguous).

    A chosen option carries ■ ☑ ☒ ✓ ✔ ● ◉ レ [x] (x) right before its label, an open one
    □ ☐ ○ [ ].  None or several chosen -> None.  When no option carries any mark and
    exactly one option is written, that option is the value (the choice typed as text).
    """
    if not text:
        return None, ""
    norm = nfkc(text).casefold()
    chosen: list[str] = []
    present: list[str] = []
    marked = False
    for key, pattern in options:
        for m in re.finditer(pattern, norm):
            present.append(key)
            before = norm[: m.start()]
            if _CHOSEN_MARK.search(before):
                chosen.append(key)
                marked = True
            elif _OPEN_MARK.search(before):
                marked = True
    distinct = sorted(set(chosen), key=chosen.index)
    if len(distinct) == 1:
        return distinct[0], ""
    if len(distinct) > 1:
        return None, f"several options marked ({', '.join(distinct)})"
    if not marked and len(set(present)) == 1:
        return present[0], ""
    return None, ""


def choice_value(value: object, options: Sequence[tuple[str, str]]) -> tuple[str | None, str]:
    """An AcroForm choice value: an id (``hikari_next``), a radio state, or label text."""
    if value is None:
        return None, ""
    text = str(value).strip()
    if not text or text.casefold() == "off":
        return None, ""
    ids = {key for key, _ in options}
    if text in ids:
        return text, ""
    return choose(text, options)


_PLUS_WRITTEN_YES = frozenset({"有", "有り", "あり", "加入", "yes"})


def plus_from_text(text: str | None) -> bool:
    """USEN SPOT Plus: true when 'Plus' (or 有) carries a chosen mark, or 有/あり is written.

    A bare 'Plus' is not a choice: it is the printed option whose box may simply be missing.
    """
    if not text:
        return False
    norm = nfkc(text).casefold()
    for m in _PLUS_OPTION.finditer(norm):
        if _CHOSEN_MARK.search(norm[: m.start()]):
            return True
    return fold(text) in _PLUS_WRITTEN_YES


def truthy_button(value: object) -> bool:
    if value is None:
        return False
    text = fold(str(value))
    if text in {"", "off", "no", "false", "0", "無", "なし", "無し"}:
        return False
    return True


_ERAS: Mapping[str, int] = MappingProxyType({"令和": 2018, "r": 2018, "平成": 1988, "h": 1988})
_DATE_RES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[int, int, int]]], ...] = (
    (re.compile(r"(令和|平成|r|h)\s*\.?\s*(\d{1,2}|元)\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})"),
     lambda m: (_ERAS[m.group(1)] + (1 if m.group(2) == "元" else int(m.group(2))),
                int(m.group(3)), int(m.group(4)))),
    (re.compile(r"(?<!\d)(\d{4})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})"),
     lambda m: (int(m.group(1)), int(m.group(2)), int(m.group(3)))),
)


def parse_date(text: str | None) -> dt.date | None:
    """A date as written on the 解約申請書: 2026/11/30, 2026-11-30, 2026.11.30, 2026年11月30日,
    令和8年11月30日 (令和元年, R8.11.30), full-width digits too.  None if there is no valid date."""
    if not text:
        return None
    norm = nfkc(text).casefold().translate(str.maketrans({c: "-" for c in "−‐‑‒–—―"}))
    for regex, parts in _DATE_RES:
        m = regex.search(norm)
        if m:
            try:
                return dt.date(*parts(m))
            except ValueError:
                return None
    return None


# Katakana and kanji that print alike (工 and エ, 口 and ロ, 力 and カ …): OCR picks one by its
# model, not by the glyph (パン工房 read パンエ房 in 8 of 8 scans of it, seeds 11414/20005).
_TWINS = {"エ": "工", "ロ": "口", "カ": "力", "ニ": "二", "ハ": "八", "タ": "夕", "ト": "卜"}
_KANJI = re.compile(r"[\u4e00-\u9fff]")
_TWIN_KANA = re.compile(r"[\u30a0-\u30ff]")


def twin_script(text: str) -> bool:
    """Whether the text holds a katakana beside a kanji, or a kanji beside a katakana, that has
    a twin of the other script: which of the two was printed is not known."""
    kanji_twins = set(_TWINS.values())
    for i, ch in enumerate(text):
        near = text[max(0, i - 1): i] + text[i + 1: i + 2]
        if ch in _TWINS and _KANJI.search(near) or ch in kanji_twins and _TWIN_KANA.search(near):
            return True
    return False
