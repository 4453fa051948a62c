"""The list's cells → sites: columns found by their Japanese header names (with the variants
法人営業 actually writes), values normalised for checking (NFKC: full-width digits, ＿, spaces)
and kept as written for the vendor and 登録G. Pure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.corporate.sheet import Table

# Column id → (label used in a 差戻, header variants). Variants are compared after
# :func:`header_key` (NFKC, no spaces/brackets, lower case).
COLUMNS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "customer_code": ("顧客コード", ("顧客コード", "顧客cd", "顧客番号", "unis顧客コード", "顧客code", "お客様番号")),
    "shop_name": ("店舗名", ("店舗名", "設置先名", "店名", "施設名", "設置先店舗名", "店舗名称")),
    "address": ("住所", ("住所", "設置先住所", "設置住所", "店舗住所", "所在地")),
    "phone": ("電話番号", ("電話番号", "電話", "tel", "設置先電話番号", "店舗電話番号", "連絡先電話番号")),
    "parent_units": ("親機台数", ("親機台数", "親機", "親", "親機数", "親台数")),
    "child_units": ("子機台数", ("子機台数", "子機", "子", "子機数", "子台数")),
    "enterprise": ("Enterprise", ("enterprise", "enterprise版", "エンタープライズ", "ep", "ep版", "企業専用ssid有無",
                                  "enterprise有無", "専用ssid有無")),
    "ssid": ("SSID", ("ssid", "専用ssid", "企業専用ssid", "originalssid", "オリジナルssid")),
}
REQUIRED = ("shop_name", "address", "phone", "parent_units", "enterprise")
HEADER_SCAN_ROWS = 10  # a title line or two above the header is common


def header_key(text: str) -> str:
    key = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\s()（）【】\[\]「」:：*※/・]", "", key)


_VARIANTS = {header_key(v): column for column, (_label, variants) in COLUMNS.items() for v in variants}


def label(column: str) -> str:
    return COLUMNS[column][0] if column in COLUMNS else column


@dataclass(frozen=True)
class SiteRow:
    """One row of the list: its number as a spreadsheet shows it and the cells by column id,
    as written (stripped)."""

    row: int
    cells: Mapping[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass(frozen=True)
class SiteList:
    """The list as sites: the header row found (0: none), columns it lacks, the rows under it."""

    header_row: int
    missing: tuple[str, ...]  # required column ids the header does not have
    sites: tuple[SiteRow, ...]


def to_sites(table: Table) -> SiteList:
    """Find the header row (the first of the top rows naming 3+ known columns), map its cells to
    column ids, and read every row below it."""
    for index, (number, cells) in enumerate(table.rows[:HEADER_SCAN_ROWS]):
        mapping = _map_header(cells)
        if len(set(mapping.values())) >= 3:
            missing = tuple(c for c in REQUIRED if c not in mapping.values())
            sites = tuple(
                SiteRow(row, {column: cells_[i] for i, column in mapping.items() if i < len(cells_)})
                for row, cells_ in table.rows[index + 1:]
            )
            return SiteList(number, missing, sites)
    return SiteList(0, REQUIRED, ())


def _map_header(cells: Sequence[str]) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for i, cell in enumerate(cells):
        column = _VARIANTS.get(header_key(cell))
        if column is not None and column not in mapping.values():
            mapping[i] = column
    return mapping


# -- values -----------------------------------------------------------------------------------

def normal(text: str) -> str:
    """For comparing and parsing: NFKC, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def code_of(text: str) -> str:
    """A customer code as 9 digits, or the normalised text when it is not one."""
    value = re.sub(r"[\s\-]", "", normal(text))
    return value


def count_of(text: str) -> int | None:
    """親機 2 / 2台 / ２ → 2; blank or not a number → None."""
    value = normal(text).replace("台", "").strip()
    return int(value) if re.fullmatch(r"\d{1,4}", value) else None


_YES = {"有", "あり", "はい", "yes", "y", "○", "〇", "◯", "1", "true", "対象", "enterprise", "ep", "要"}
_NO = {"無", "なし", "いいえ", "no", "n", "×", "✕", "-", "0", "false", "対象外", "通常", "不要", ""}


def yes_no(text: str) -> bool | None:
    value = normal(text).lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    return None


def site_key(shop_name: str, address: str) -> str:
    """Two rows are the same site when shop name and address match after normalisation."""
    return re.sub(r"[\s\-ー−‐,、.。]", "", normal(shop_name).lower()) + "|" + re.sub(
        r"[\s\-ー−‐,、.。]", "", normal(address).lower())
