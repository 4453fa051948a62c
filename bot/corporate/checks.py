"""Every row of the list checked (pure: sites in, defects out). One 差戻 names each bad row and
column: CORPORATE_ROW_INVALID with detail {row, column, problem}; a list the bot cannot use at
all (none attached, unreadable, over the caps, no header) is CORPORATE_LIST_INVALID.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from bot.checks.base import Defect
from bot.checks.ssid import full_width_chars
from bot.corporate import CORPORATE_LIST_INVALID, CORPORATE_ROW_INVALID
from bot.corporate.reading import Known, ListReading
from bot.corporate.rows import (
    SiteList,
    SiteRow,
    code_of,
    count_of,
    label,
    site_key,
    yes_no,
)

MAX_UNITS = 99  # routers at one site; more is a typo
MAX_SSID = 32  # IEEE 802.11: an SSID is at most 32 bytes


def row_defect(row: int, column: str, problem: str) -> Defect:
    return Defect(CORPORATE_ROW_INVALID, {"row": str(row), "column": label(column), "problem": problem})


def list_defects(reading: ListReading | None) -> list[Defect]:
    """The list as a whole: attached, readable, with its required columns."""
    if reading is None or reading.sites is None:
        problem = reading.problem if reading is not None and reading.problem else \
            "顧客リスト（.xlsx または .csv）が添付されていません"
        detail = {"problem": problem}
        if reading is not None and reading.limit:
            detail["limit"] = reading.limit
        return [Defect(CORPORATE_LIST_INVALID, detail)]
    sites = reading.sites
    if sites.header_row == 0:
        return [Defect(CORPORATE_LIST_INVALID, {"problem": "見出し行（店舗名・住所・電話番号・親機台数 など）が見つかりません"})]
    out = [row_defect(sites.header_row, column, "列がありません") for column in sites.missing]
    if not sites.sites:
        out.append(Defect(CORPORATE_LIST_INVALID, {"problem": "設置先の行がありません"}))
    return out


def row_defects(sites: SiteList, known: Known) -> list[Defect]:
    """Each row: required columns, units, Enterprise, SSID half-width, duplicates within the list
    and against the ledger."""
    out: list[Defect] = []
    seen_codes: dict[str, int] = {}
    seen_keys: dict[str, int] = {}
    present = set(sites.missing)
    for site in sites.sites:
        out.extend(_one_row(site, missing_columns=present))
        code = code_of(site.get("customer_code"))
        if re.fullmatch(r"\d{9}", code):
            if code in seen_codes:
                out.append(row_defect(site.row, "customer_code", f"{seen_codes[code]}行目と同じ顧客コードです（重複）"))
            elif code in known.codes:
                out.append(row_defect(site.row, "customer_code", "管理台帳に登録済みの顧客コードです（二重発注）"))
            seen_codes.setdefault(code, site.row)
        if site.get("shop_name") and site.get("address"):
            key = site_key(site.get("shop_name"), site.get("address"))
            if key in seen_keys:
                out.append(row_defect(site.row, "shop_name", f"{seen_keys[key]}行目と同じ設置先（店舗名・住所）です（重複）"))
            elif key in known.site_keys:
                out.append(row_defect(site.row, "shop_name", "以前の法人一括発注依頼で登録済みの設置先です（二重発注）"))
            seen_keys.setdefault(key, site.row)
    return out


def _one_row(site: SiteRow, *, missing_columns: Collection[str]) -> list[Defect]:
    out: list[Defect] = []
    for column in ("shop_name", "address", "phone"):
        if column not in missing_columns and not site.get(column):
            out.append(row_defect(site.row, column, "空欄です"))
    code = code_of(site.get("customer_code"))
    if code and not re.fullmatch(r"\d{9}", code):
        out.append(row_defect(site.row, "customer_code", f"「{site.get('customer_code')}」はUNIS顧客コード（9桁の数字）ではありません"))
    if "parent_units" not in missing_columns:
        parent = count_of(site.get("parent_units"))
        if parent is None or not 1 <= parent <= MAX_UNITS:
            out.append(row_defect(site.row, "parent_units", _count_problem(site.get("parent_units"), "1〜99の数字")))
    child_text = site.get("child_units")
    if child_text:
        child = count_of(child_text)
        if child is None or child > MAX_UNITS:
            out.append(row_defect(site.row, "child_units", _count_problem(child_text, "0〜99の数字")))
    enterprise = yes_no(site.get("enterprise"))
    if "enterprise" not in missing_columns and enterprise is None:
        out.append(row_defect(site.row, "enterprise", f"「{site.get('enterprise')}」は有/無として読めません"))
    ssid = site.get("ssid")
    if ssid:
        wide = full_width_chars(ssid)
        if wide:
            out.append(row_defect(site.row, "ssid", f"「{ssid}」に半角以外の文字（{''.join(dict.fromkeys(wide))}）があります。"
                                                   "SSIDは半角英数字・記号のみです"))
        elif len(ssid) > MAX_SSID:
            out.append(row_defect(site.row, "ssid", f"{MAX_SSID}文字を超えています"))
    elif enterprise:
        out.append(row_defect(site.row, "ssid", "Enterprise版（企業専用SSID）の行にSSIDがありません"))
    return out


def _count_problem(text: str, expected: str) -> str:
    return "空欄です" if not text.strip() else f"「{text}」は台数として読めません（{expected}）"


def all_defects(reading: ListReading | None) -> list[Defect]:
    found = list_defects(reading)
    if reading is not None and reading.sites is not None and reading.sites.header_row:
        found.extend(row_defects(reading.sites, reading.known))
    return found


def detail_rows(defects: list[Defect]) -> Mapping[str, list[str]]:
    """Row → columns, for a log line."""
    out: dict[str, list[str]] = {}
    for d in defects:
        if d.code == CORPORATE_ROW_INVALID:
            out.setdefault(d.detail["row"], []).append(d.detail["column"])
    return out
