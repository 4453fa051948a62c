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

from bot.mail.values import (  # noqa: F401 - re-exported: the body's values, read where its labels are
    parse_count,
    parse_date,
    parse_units,
    parse_yes_no,
)

log = logging.getLogger(__name__)

__all__ = [
    "BodyFields",
    "CANONICAL_LABELS",
    "LABEL_BRANCH",
    "LABEL_CHANGE",
    "LABEL_CURRENT_MODEL",
    "LABEL_CUSTOMER_CODE",
    "LABEL_DEST_ADDRESS",
    "LABEL_DEST_LINE",
    "LABEL_LINK_ITEM",
    "LABEL_NEW_ADDRESS",
    "LABEL_NEW_MODEL",
    "LABEL_NEW_SERIAL",
    "LABEL_OLD_SERIAL",
    "LABEL_PLUS",
    "LABEL_REASON",
    "LABEL_SHOP",
    "LABEL_STAFF",
    "LABEL_TERMINATION_DATE",
    "LABEL_UNIT_ROLE",
    "canonical_label",
    "find_date_labelled",
    "is_greeting_line",
    "is_label_line",
    "parse_count",
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
LABEL_NEW_ADDRESS = "新住所"  # 顧客情報変更: where the customer (and the router) is now
LABEL_CURRENT_MODEL = "現行機種"  # ルーター交換依頼 (manual V: CR-1 → FGN600/1000)
LABEL_NEW_MODEL = "交換機種"
LABEL_UNIT_ROLE = "親機/子機"
LABEL_OLD_SERIAL = "旧シリアル"  # リンク品使用連絡: the router taken away
LABEL_NEW_SERIAL = "新シリアル"  # the link item put in

#: Canonical label → every spelling accepted for it (the canonical one first).  Spelling
#: is compared after NFKC, ignoring case and spaces (``SPOTPlus該当`` = ``SPOT Plus該当``).
CANONICAL_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        LABEL_CUSTOMER_CODE: ("顧客CD", "顧客コード", "UNIS顧客コード", "UNIS顧客CD", "顧客番号"),
        LABEL_SHOP: ("店舗名", "店舗名称", "店名"),
        LABEL_LINK_ITEM: ("リンク品使用", "リンク品"),
        LABEL_PLUS: ("SPOT Plus該当", "Plus該当", "USEN SPOT Plus該当", "USEN SPOT Plus", "SPOT Plus"),
        LABEL_BRANCH: ("送付支店名", "送付支店"),
        LABEL_STAFF: ("担当者名", "担当者", "担当"),
        LABEL_TERMINATION_DATE: ("解約日", "解約予定日"),
        LABEL_DEST_ADDRESS: ("移設先住所",),
        # A relocation body may say plain 回線種別 (the only line type a relocation asks for).
        LABEL_DEST_LINE: ("移設先回線種別", "移設先の回線種別", "移設先回線", "回線種別"),
        LABEL_REASON: ("理由", "未撤去理由", "未撤去の理由"),
        LABEL_CHANGE: ("変更内容",),
        LABEL_NEW_ADDRESS: ("新住所", "変更後住所", "変更後の住所"),
        LABEL_CURRENT_MODEL: ("現行機種", "現在の機種", "現機種"),
        LABEL_NEW_MODEL: ("交換機種", "交換後機種", "交換後の機種"),
        LABEL_UNIT_ROLE: ("親機/子機", "親機子機", "親機・子機"),
        LABEL_OLD_SERIAL: ("旧シリアル", "旧シリアルNo", "旧シリアル番号", "交換前シリアル"),
        LABEL_NEW_SERIAL: ("新シリアル", "新シリアルNo", "新シリアル番号", "交換後シリアル", "リンク品シリアル"),
    }
)

# Free-text labels: their value may continue on the following lines until a blank line.
_MULTILINE = frozenset({LABEL_REASON, LABEL_CHANGE})

# Short spellings that also occur in ordinary sentences (USEN SPOT Plus のお申込み, リンク品 交換):
# a line is read as such a label only with a colon after it or a 有/無 answer as its value.
_WEAK_ALIASES = frozenset({"USEN SPOT Plus", "SPOT Plus", "リンク品"})
# Spellings that stand in for the label only when its own spelling is absent: a later
# 移設先回線種別 line wins over an earlier plain 回線種別 one (the weak spellings likewise).
_FALLBACK_ALIASES = _WEAK_ALIASES | {"回線種別"}


def _key(label: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", label)).casefold()


_ALIAS_TO_CANONICAL: dict[str, str] = {
    _key(alias): canonical for canonical, aliases in CANONICAL_LABELS.items() for alias in aliases
}
_WEAK_KEYS = frozenset(_key(alias) for alias in _WEAK_ALIASES)
_FALLBACK_KEYS = frozenset(_key(alias) for alias in _FALLBACK_ALIASES)
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

    def written(self, label: str) -> str | None:
        """The value as the branch wrote it (①, ㈱ and full-width letters kept), for text that
        goes on to people: the vendor CSV, the ledger. Compare with :meth:`get`."""
        canonical = canonical_label(label)
        if not canonical:
            return None
        return self.raw_values.get(canonical) or self.values.get(canonical)


def canonical_label(label: str) -> str | None:
    """The canonical label for any accepted spelling (顧客コード → 顧客CD), else None."""
    try:
        return _ALIAS_TO_CANONICAL.get(_key(label))
    except Exception:
        return None


def _match_label(line: str) -> tuple[str, str, str, bool] | None:
    """(canonical label, value, raw rest, written in a fallback spelling) of a normalised line,
    or None if it is no label line."""
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
    value = (value or "").strip()
    colon = separated is not None and separated.group("value") is not None
    if alias in _WEAK_KEYS and not colon and parse_yes_no(value) is None:
        return None  # USEN SPOT Plus のお申込みです: a sentence, not the label
    return _ALIAS_TO_CANONICAL[alias], value, rest, alias in _FALLBACK_KEYS


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
    from_fallback: set[str] = set()  # labels whose value came from a fallback spelling
    for index, (line, original) in enumerate(rows):
        if not line:
            continue
        lines.append(line)
        found = _match_label(line)
        if found is None:
            continue
        label, value, _rest, fallback = found
        if label in values and (fallback or label not in from_fallback):
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
            if fallback:
                from_fallback.add(label)
            else:
                from_fallback.discard(label)
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
    crossed_blank = False
    for line, original in rows[index + 1:]:
        if not line:
            if taken or have_value:
                break
            crossed_blank = True
            continue
        if _match_label(line) is not None:
            break
        # A greeting or sign-off is never the value: not the 理由 of 「理由：⏎⏎よろしくお願いします」
        # (after a blank line), and it ends free text (理由, 変更内容) wherever it comes.
        if (crossed_blank or multiline) and is_greeting_line(line):
            break
        taken.append((line, original))
        if not multiline:
            break
    return "\n".join(t[0] for t in taken), "\n".join(t[1] for t in taken)


def is_label_line(line: str) -> bool:
    """Whether a body line is a ``label : value`` line (of any known label).  Never raises."""
    try:
        return _match_label(unicodedata.normalize("NFKC", line).strip()) is not None
    except (TypeError, ValueError):
        return False


# Lines that say nothing by themselves: greetings, self-introductions, sign-offs, and the
# sentences that merely announce the mail ("ルーター未撤去の報告です", "下記の通りご報告いたします").
_ORG = r"(?:支店|営業所|事務所|センター|本部|本社|課|部|グループ|G)"
_GREETING = re.compile(
    r"^(?:"
    r"お疲れ様|お疲れさま|おつかれさま|お世話になって|お世話になります|いつもお世話|事務センター|開業支援|御中|"
    r"宜しく|よろしく|何卒|以上(?:です|となります)?(?:[。.]|[、,]\s*(?:よろしく|宜しく|お願い).*)?$|"
    r"(?:大変)?(?:恐れ入りますが|お手数ですが|お手数をおかけしますが)?(?:ご確認|ご対応|ご査収|ご処理)"
    r"(?:の程|のほど)?(?:を)?(?:よろしく|宜しく)?(?:お願い|ください|下さい)|"
    r"(?:(?:よろしく|宜しく))?お願い(?:いた|致)?(?:します|申し上げます)|"
    r"(?:総務|営業)(?:\s+\S{1,12})?$|様$|[-=_*]+$|"
    r"\S{0,12}支店(?:\s+\S{1,12}){0,3}$|"  # a sign-off: 青山支店 総務 内田 (but not 青山支店で保管中)
    # a self-introduction: 青山支店の内田です / 青山支店総務の内田でございます
    r"[^\s、。のはがをにでと]{0,12}" + _ORG + r"(?:\s*(?:総務|営業|技術)(?:課|部|担当)?)?\s*の?\s*"
    r"[^\s、。のはがをにでとた]{1,8}\s*(?:です|でございます|と申します)[。.!！]?$|"
    # an announcement of the mail itself: ルーター未撤去の報告です / 未撤去についてご報告いたします
    r"(?:USEN\s*SPOT\s*)?(?:Wi-?Fi)?(?:ルーター|ルータ)?\s*(?:の)?(?:未撤去|未引上げ|未引き上げ)?(?:の件)?\s*"
    r"(?:の|について|に関して)?\s*(?:ご)?(?:報告|連絡)(?:です|となります|いたします|致します|します|申し上げます|"
    r"させて(?:いただき|頂き)ます)[。.!！]?$|"
    r"(?:下記|以下|件名|標記|表題)の?(?:通り|とおり|件)"
    r")",
    re.IGNORECASE,
)


def is_greeting_line(line: str) -> bool:
    """Whether a line carries no content of its own: greeting, self-introduction, sign-off or
    an announcement of the mail (ルーター未撤去の報告です).  Compared after NFKC.  Never raises."""
    try:
        return _GREETING.search(unicodedata.normalize("NFKC", line).strip()) is not None
    except (TypeError, ValueError):
        return False


def find_date_labelled(body: BodyFields, label: str) -> date | None:
    """The date in the value of ``label`` (e.g. 解約日), or None when absent or unreadable."""
    try:
        return parse_date(body.get(label))
    except Exception:
        return None
