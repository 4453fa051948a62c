"""UNIS registration audit (UNIS登録の点検): what branches registered wrongly in UNIS, by the
rules of the operations manual §VIII (UNIS登録について, ※UNISシリアルナンバー欄について) and
FAQ 4–8.

The rules (pure: :class:`UnisRow` values in, :class:`Finding` values out, no I/O), listed in
:data:`LINE_RULES` and :data:`SITE_RULES` and run by :func:`audit`. Storing and querying the
findings is bot/unis/audit.py.

How the manual is read (a false finding costs a branch time, so where it is not clear we
report less):

* **SPOT routers.** Only lines whose 契約品目 is a USEN SPOT Wi-Fi router of the manual's item
  tables are audited (:data:`ROUTER_ITEMS`: the order-only items, the model items of §VIII
  契約品目 and of the Enterprise table, and 9601310/9601312). Room Wi-Fi sale routers
  (9170xxx, sold, not rented), Original SSID, fees and works carry no serial and are never
  audited; an item code the manual does not list is not audited either.
* **Live lines.** キャンセル and 解約 lines are never audited: nothing is left to correct there.
  The serial rules apply to 確定 lines only: "確定時のシリアルNo欄には機器のシリアルNoを入力
  してください", and at 受注 the field is empty or holds the 6-digit 管理番号 (§VIII ※UNIS
  シリアルナンバー欄について), which is fine until confirmation.
* **UNIS_ORDER_ONLY_ITEM_CONFIRMED**: Z100403, Z100404 (§VIII 契約品目) and Z100369 (Enterprise
  table) are "受注専用品目 … 確定不可": a 確定 line with one of them.
* **UNIS_SERIAL_FORMAT** (FAQ 6–8, and 9601310's ダミーコード): "最初の2文字が英文字で、後は数字と
  英文字のランダム12桁". The import stores NFKC text, so full-width ＦＧ… has become FG… already;
  letters may be upper or lower case (the manual says 英文字, not 大文字; its examples happen to
  be upper case), as bot/unis/__init__.py's import note also reads it. Spaces, hyphens or any other
  character inside the 12 are a finding.
* **UNIS_SERIAL_IS_MANAGEMENT_NO**: exactly six digits in the serial of a 確定 line ("※6桁の管理
  番号が入っている場合は、支店総務が機器のシリアルナンバー(12桁)で上書きしてください", FAQ 8). Reported
  instead of UNIS_SERIAL_FORMAT for that line, never as well.
* **UNIS_PARENT_IN_SERIAL**: the serial field holds 親 (親機) or "oya" ("シリアルナンバー欄には
  oyaとは入れません", "※シリアルNo欄ではなく、明細備考に入れてください"), on a 受注 or 確定 line,
  because the manual says it without condition. "oya" counts only when the serial is not a
  valid 12-character serial anyway (a real serial may contain the letters OYA). Reported
  instead of the other serial rules for that line.
* **UNIS_NO_PARENT_LINE**: "同一設置先で複数台設置の際に親機の明細備考に「親機」と入力して
  ください". 同一設置先 = one UNIS customer code (顧客番号: one shop). "複数台設置" = two or
  more 確定 router lines (installed; 受注 lines are not installed yet). Satisfied when any
  受注/確定 router line of the customer has 親 (親機) or "oya" in 明細備考 (the manual asks for
  「親機」; anything close is accepted rather than sending the branch to retype it). Not reported when
  a router line of the customer has the parent marker in its serial field: UNIS_PARENT_IN_SERIAL
  already tells the branch to move it. Keyed on the customer's first 確定 router line.
* **UNIS_FORBIDDEN_ITEM**: 9601310 "使用不可 USEN SPOT wifiルーター … ※新規登録では使用しません"
  (but "契約付け替え時に型番が不明な場合に使用"), its Enterprise twin 9601312 ("新規登録では使用
  しません"), and 9603010 FGN-400 ("基本的に新規設置/新規UNIS登録はありません"), on a 受注 or 確定
  line whose 契約種類 is 新設 (code 01-…, "01-99 新設 その他" in §VIII UNIS登録【契約種類】).
  Any other 契約種類 (増設, a 付け替え, empty) is not a new registration as far as the extract
  shows, so it is not reported. 9603023 FGN600 ("基本的に新設はありません。不具合発生時に、お客様
  からの要望があった場合に使用します") is left out: the manual names a use for it on a new line.
* **UNIS_CONFIRMED_WITHOUT_SERIAL**: a 確定 router line with an empty serial (FAQ 4;
  "※USEN SPOTシリーズはすべて機器のシリアルナンバーを入力してください"; Enterprise "シリアル必須").
  A confirmed order-only line without a serial gets this and UNIS_ORDER_ONLY_ITEM_CONFIRMED:
  two separate corrections (the item, and the serial).
* 9601312 is printed "USEN SPOT Enterprise Wi-フィルター" in the manual: read as Wi-Fiルーター
  (it stands where 9601310 stands in the other table, with the same "新規登録では使用しません").
* 法人 and 地区 lines are audited alike: a 法人 line is registered by 事務センター but confirmed
  by the 管轄支店 ("管轄支店にて確定処理"), which is where these mistakes are made.

What "a later extract no longer has it" means here: the audit reads every line in
``unis_orders`` as the imports leave it (an import updates lines, it never deletes one). A
finding resolves when a later extract shows its line corrected, cancelled or terminated; a line
that a later extract simply leaves out keeps its last values, and so its finding.
UNIS_NO_PARENT_LINE is keyed on the site's first 確定 router line: if that line goes (cancelled),
the finding resolves and, when still true, comes back as new on the next line.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.domain.serials import SERIAL_RE, serial_ok  # noqa: F401 - the manual's rule, shared with the mails

log = logging.getLogger("bot.unis.rules")

# -- the manual's item tables (§VIII 契約品目, 法人獲得分, Enterprise版の契約品目) --------------

# Order-only items (受注専用品目): "確定不可".
ORDER_ONLY_ITEMS: Mapping[str, str] = {
    "Z100403": "受注専用USEN SPOT 通常ルータ",
    "Z100404": "受注専用USEN SPOT Plusルーター",
    "Z100369": "受注専用USEN SPOT EPルーター",
}
# Items not used on a new registration, with the manual's words for each.
NOT_FOR_NEW_ITEMS: Mapping[str, str] = {
    "9601310": "「9601310 使用不可 USEN SPOT wifiルーター」は新規登録では使用しません"
               "（契約付け替え時に型番が不明な場合に使用）。",
    "9601312": "「9601312 USEN SPOT Enterprise Wi-Fiルーター」は新規登録では使用しません。",
    "9603010": "「9603010 USEN SPOT FGN-400」は基本的に新規設置/新規UNIS登録はありません。",
}
# USEN SPOT Wi-Fi routers rented to the customer: the lines that carry a device serial.
ROUTER_ITEMS: frozenset[str] = frozenset({
    *ORDER_ONLY_ITEMS,
    "9601310",  # USEN SPOT wifiルーター (付け替え only)
    "9603010", "9603023", "9603030", "9603040", "9603050",  # FGN-400, FGN-600, Plus FGN-1000, FGN-CR1, Plus FGN-1000PoE
    "9601312",  # Enterprise Wi-Fiルーター (not for new registrations)
    "9603012", "9603022", "9603032", "9603042", "9603052",  # Enterprise FGN-400/600/1000/CR1/1000PoE
})

CONFIRMED, ORDERED = "確定", "受注"
LIVE = frozenset({ORDERED, CONFIRMED})

# FAQ 6–8: "最初の2文字が英文字で、後は数字と英文字のランダム12桁". ASCII only (the import NFKCs).
MANAGEMENT_NO_RE = re.compile(r"\d{6}")
NEW_CONTRACT_RE = re.compile(r"^01(?!\d)|新設")  # 契約種類 "01-99 新設 その他" (not 11-99 増設)

# -- rule ids (stable: the CLI's JSON and the digest use them) -------------------------------

ORDER_ONLY_ITEM_CONFIRMED = "UNIS_ORDER_ONLY_ITEM_CONFIRMED"
SERIAL_FORMAT = "UNIS_SERIAL_FORMAT"
SERIAL_IS_MANAGEMENT_NO = "UNIS_SERIAL_IS_MANAGEMENT_NO"
PARENT_IN_SERIAL = "UNIS_PARENT_IN_SERIAL"
NO_PARENT_LINE = "UNIS_NO_PARENT_LINE"
FORBIDDEN_ITEM = "UNIS_FORBIDDEN_ITEM"
CONFIRMED_WITHOUT_SERIAL = "UNIS_CONFIRMED_WITHOUT_SERIAL"

# What is wrong (short) and what to fix, in the manual's words, per rule.
PROBLEMS: Mapping[str, str] = {
    ORDER_ONLY_ITEM_CONFIRMED: "受注専用品目のまま確定されています（確定不可）",
    SERIAL_FORMAT: "シリアルNoが機器のシリアルナンバーの形式ではありません",
    SERIAL_IS_MANAGEMENT_NO: "確定後もシリアルNo欄に6桁の管理番号が入っています",
    PARENT_IN_SERIAL: "シリアルNo欄に「親機」（oya）が入っています",
    NO_PARENT_LINE: "同一設置先に複数台設置されていますが、明細備考に「親機」の明細がありません",
    FORBIDDEN_ITEM: "新規登録では使用しない品目です",
    CONFIRMED_WITHOUT_SERIAL: "確定されていますが、シリアルNoが空欄です",
}
_SERIAL_WORDS = "最初の2文字が英文字で、後は数字と英文字のランダム12桁です。例：FB05HFH01703 NV7113086111 FG6014112617"
_MODEL_ITEM_WORDS = "型番はエンジニアの作業日報で判別して、必ず型番別の品目でUNIS確定してください"
FIXES: Mapping[str, str] = {
    ORDER_ONLY_ITEM_CONFIRMED: "ルーター型番が不明な際の受注専用品目として利用。確定不可。"
                               f"{_MODEL_ITEM_WORDS}（マニュアル VIII 契約品目）。",
    SERIAL_FORMAT: "確定時のシリアルNo欄には機器のシリアルNoを入力してください。"
                   f"{_SERIAL_WORDS}（FAQ 6〜8）。",
    SERIAL_IS_MANAGEMENT_NO: "※6桁の管理番号が入っている場合は、支店総務が機器のシリアルナンバー(12桁)で"
                             "上書きしてください（マニュアル VIII ※UNISシリアルナンバー欄について、FAQ 8）。",
    PARENT_IN_SERIAL: "同一設置先で複数台設置の際に親機の明細備考に「親機」と入力してください。"
                      "※シリアルNo欄ではなく、明細備考に入れてください。シリアルナンバー欄にはoyaとは入れません"
                      "（マニュアル VIII）。シリアルNo欄には機器のシリアルNoを入力してください。",
    NO_PARENT_LINE: "同一設置先で複数台設置の際に親機の明細備考に「親機」と入力してください。"
                    "※シリアルNo欄ではなく、明細備考に入れてください（マニュアル VIII）。",
    FORBIDDEN_ITEM: f"{_MODEL_ITEM_WORDS}（マニュアル VIII 契約品目）。",
    CONFIRMED_WITHOUT_SERIAL: "設置後に技術から報告される作業日報に記載のある機器のシリアルNoを入力してください"
                              "（FAQ 4）。※USEN SPOTシリーズはすべて機器のシリアルナンバーを入力してください。",
}


# -- values ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnisRow:
    """One UNIS contract line as the rules see it (the import's normalised text)."""

    customer_code: str
    contract_no: str
    line_no: str
    status: str
    item_code: str | None = None
    item_name: str | None = None
    shop_name: str | None = None
    branch: str | None = None
    contract_type: str | None = None
    acquisition: str | None = None
    serial: str | None = None
    remarks: str | None = None
    planned_date: dt.date | None = None  # 完成予定日
    confirmed_date: dt.date | None = None  # 確定日

    @property
    def line_date(self) -> dt.date | None:
        """When the line was registered as done (確定日), else when it is due (完成予定日): what
        says whether the branch is working on it now (bot/unis/audit.py's window)."""
        for value in (self.confirmed_date, self.planned_date):
            if isinstance(value, dt.date):
                return value
        return None

    @property
    def label(self) -> str:
        """The UNIS line as a person finds it on the 契約明細 screen."""
        return f"顧客番号 {self.customer_code} 契約番号 {self.contract_no} 明細番号 {self.line_no}"


ROW_FIELDS = tuple(UnisRow.__dataclass_fields__)


@dataclass(frozen=True)
class Finding:
    """One thing a branch registered wrongly: which rule, which UNIS line, the value, the fix."""

    rule: str
    customer_code: str
    contract_no: str
    line_no: str
    branch: str | None
    shop_name: str | None
    item_code: str | None
    item_name: str | None
    status: str
    value: str  # the offending value (the serial, the item code, the site's router lines)
    problem: str  # what is wrong, short Japanese
    fix: str  # what to fix, in the manual's words

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.rule, self.customer_code, self.contract_no, self.line_no)


def _finding(rule: str, row: UnisRow, value: str, *, problem: str | None = None, fix: str | None = None) -> Finding:
    return Finding(rule=rule, customer_code=row.customer_code, contract_no=row.contract_no, line_no=row.line_no,
                   branch=row.branch, shop_name=row.shop_name, item_code=row.item_code, item_name=row.item_name,
                   status=row.status, value=value, problem=problem or PROBLEMS[rule], fix=fix or FIXES[rule])


# -- predicates ---------------------------------------------------------------------------------

def is_router(row: UnisRow) -> bool:
    return (row.item_code or "") in ROUTER_ITEMS



def has_parent_marker(text: str | None) -> bool:
    """親 / 親機, or "oya" (any case) where it cannot be part of a valid serial."""
    if not text:
        return False
    return "親" in text or ("oya" in text.lower() and not serial_ok(text))


def remarks_name_parent(remarks: str | None) -> bool:
    """明細備考 says this is the 親機 (「親機」, 親, or oya: read leniently)."""
    return remarks is not None and ("親" in remarks or "oya" in remarks.lower())


def is_new_registration(row: UnisRow) -> bool:
    return bool(row.contract_type) and NEW_CONTRACT_RE.search(row.contract_type or "") is not None


def natural_order(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def _line_order(row: UnisRow) -> tuple[tuple[int, str], tuple[int, str]]:
    return (natural_order(row.contract_no), natural_order(row.line_no))


# -- line rules: one UNIS line in, at most one finding out ----------------------------------

def order_only_item_confirmed(row: UnisRow) -> Finding | None:
    if row.status == CONFIRMED and row.item_code in ORDER_ONLY_ITEMS:
        name = row.item_name or ORDER_ONLY_ITEMS[row.item_code]
        return _finding(ORDER_ONLY_ITEM_CONFIRMED, row, f"{row.item_code} {name}")
    return None


def parent_in_serial(row: UnisRow) -> Finding | None:
    if row.status in LIVE and is_router(row) and has_parent_marker(row.serial):
        return _finding(PARENT_IN_SERIAL, row, row.serial or "")
    return None


def serial_is_management_no(row: UnisRow) -> Finding | None:
    serial = row.serial or ""
    if (row.status == CONFIRMED and is_router(row) and MANAGEMENT_NO_RE.fullmatch(serial)
            and not has_parent_marker(serial)):
        return _finding(SERIAL_IS_MANAGEMENT_NO, row, serial)
    return None


def serial_format(row: UnisRow) -> Finding | None:
    serial = row.serial or ""
    if (row.status == CONFIRMED and is_router(row) and serial and not serial_ok(serial)
            and not MANAGEMENT_NO_RE.fullmatch(serial) and not has_parent_marker(serial)):
        return _finding(SERIAL_FORMAT, row, serial)
    return None


def confirmed_without_serial(row: UnisRow) -> Finding | None:
    if row.status == CONFIRMED and is_router(row) and not row.serial:
        return _finding(CONFIRMED_WITHOUT_SERIAL, row, "（空欄）")
    return None


def forbidden_item(row: UnisRow) -> Finding | None:
    code = row.item_code or ""
    if row.status in LIVE and code in NOT_FOR_NEW_ITEMS and is_new_registration(row):
        return _finding(FORBIDDEN_ITEM, row, f"{code} {row.item_name or ''}".strip(),
                        fix=NOT_FOR_NEW_ITEMS[code] + FIXES[FORBIDDEN_ITEM])
    return None


# -- site rules: every line of one customer code in, findings out ---------------------------

def no_parent_line(rows: Sequence[UnisRow]) -> list[Finding]:
    routers = sorted((r for r in rows if is_router(r) and r.status in LIVE), key=_line_order)
    installed = [r for r in routers if r.status == CONFIRMED]
    if len(installed) < 2:
        return []
    if any(remarks_name_parent(r.remarks) for r in routers):
        return []
    if any(has_parent_marker(r.serial) for r in routers):
        return []  # UNIS_PARENT_IN_SERIAL says where the word must go
    value = f"確定済みルーター {len(installed)}台（" + "、".join(
        f"{r.contract_no}-{r.line_no} {r.item_code}" for r in installed) + "）、明細備考に「親機」なし"
    return [_finding(NO_PARENT_LINE, installed[0], value)]


LineRule = Callable[[UnisRow], Finding | None]
SiteRule = Callable[[Sequence[UnisRow]], list[Finding]]

# Every line goes through these, top to bottom. The serial rules exclude one another: a line's
# serial gets at most one of PARENT_IN_SERIAL, SERIAL_IS_MANAGEMENT_NO, SERIAL_FORMAT,
# CONFIRMED_WITHOUT_SERIAL.
LINE_RULES: tuple[LineRule, ...] = (
    order_only_item_confirmed,  # Z100403/Z100404/Z100369 確定不可 (VIII 契約品目)
    forbidden_item,  # 9601310/9601312/9603010 on a 新設 line (VIII 契約品目)
    parent_in_serial,  # 親機/oya in シリアルNo (VIII 法人獲得分, 契約明細画面)
    serial_is_management_no,  # 6桁の管理番号 left after 確定 (VIII ※シリアルナンバー欄, FAQ 8)
    serial_format,  # 2 letters + 10 letters/digits (FAQ 6-8)
    confirmed_without_serial,  # 確定 with an empty serial (FAQ 4)
)
# Every customer code (one 設置先) goes through these.
SITE_RULES: tuple[SiteRule, ...] = (
    no_parent_line,  # 複数台設置 without a 親機 line (VIII 契約明細画面)
)


def audit(rows: Iterable[UnisRow]) -> list[Finding]:
    """Every finding of every rule over the given UNIS lines, in customer/contract/line order."""
    by_site: dict[str, list[UnisRow]] = defaultdict(list)
    for row in rows:
        by_site[row.customer_code].append(row)
    findings: list[Finding] = []
    for code in sorted(by_site):
        site = sorted(by_site[code], key=_line_order)
        for row in site:
            for line_rule in LINE_RULES:
                found = line_rule(row)
                if found is not None:
                    findings.append(found)
        for site_rule in SITE_RULES:
            findings.extend(site_rule(site))
    return findings
