"""Typed forms: the text layer read by LABEL and BLOCK (ご契約者 / 設置先 / メール …), never by
absolute coordinates."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.forms.normalise import (
    CHECK_METHOD_OPTIONS,
    LINE_KIND_OPTIONS,
    LINE_TYPE_OPTIONS,
    choose,
    customer_code_of,
    fold_with_map,
    mail_local_of,
    plus_from_text,
    split_zip,
    units_from_text,
    zip_or_phone,
)
from bot.forms.text import Line

# Block headers: 【ご契約者】, [設置先], ■回線 … (a bracketed or bare block name alone on a line).
_BLOCKS: tuple[tuple[str, str], ...] = (
    ("contractor", r"(?:ご)?契約者(?:様)?(?:情報)?"),
    ("shop", r"設置(?:先|場所)(?:情報)?"),
    ("line", r"(?:ご利用)?回線(?:情報)?"),
    ("mail", r"メール(?:アドレス)?(?:情報)?"),
    ("contact", r"(?:ご)?担当(?:者)?(?:情報)?"),
    ("service", r"サービス(?:内容)?"),
    ("units", r"台数"),
)
_BRACKETED = re.compile(r"^[【\[(<〈《≪■◆◇●▼▶]\s*(.+?)\s*[】\])>〉》≫]?$")

# Labels at the start of a line, matched on the folded text (NFKC, casefold, no spaces).
# Order matters: the longer or more specific label first.  `single` labels must be
# followed by a space, a colon or the line end in the raw text (名 vs 名取).
_LABELS: tuple[tuple[str, str, bool], ...] = (
    ("customer_code", r"(?:unis)?顧客(?:コード|cd|番号|no\.?)", False),
    ("mail_local", r"(?:ご希望の)?(?:メールアドレス|e?mailアドレス)", False),
    ("mail_local", r"e-?mail", True),
    ("kana", r"フリガナ|ふりがな", False),
    ("shop_name", r"店舗[/・／]?施設名(?:称)?|店舗名(?:称)?|施設名(?:称)?", False),
    ("name", r"名称|(?:ご契約者)?(?:氏名|お名前)|契約者名", False),
    ("zip", r"郵便番号", False),
    ("address", r"(?:ご)?住所|所在地", False),
    ("phone", r"電話番号|電話", False),
    ("phone", r"tel\.?", True),
    ("line_kind", r"(?:ご利用)?回線種別", False),
    ("line_type", r"(?:ご利用)?回線タイプ", False),
    ("check_method", r"(?:回線の)?確認方法", False),
    ("contact", r"(?:ご)?担当者(?:名|氏名)?", False),
    ("contact_last", r"姓", True),
    ("contact_first", r"名", True),
    ("contact_kana", r"セイ|メイ", True),  # reading of the contact's name: recognised, not kept
    ("plus", r"(?:usen)?spotplus", False),
    ("ssid", r"(?:original|オリジナル)?ssid(?:\((?:original|オリジナル)ssid\))?", False),
    ("units", r"台数", False),
    ("units_inline", r"(?=親機|子機)", False),
    ("remarks", r"備考", False),
)
_LABEL_RES = tuple((key, re.compile(pattern), single) for key, pattern, single in _LABELS)

# Printed text of the form itself that is neither label nor value (title, intro, footer).
_BOILERPLATE = re.compile(
    r"^(?:usenspot)?(?:ご加入|加入)?申込書$|^usenspotご加入申込書|^お申し?込みいただき"
    r"|^株式会社usen.*申込書|申込書ver\.?\d"
)


@dataclass(frozen=True)
class _Labelled:
    key: str
    value: str  # raw text after the label on its own line (stripped of : and spaces)
    continuation: tuple[str, ...]  # raw value lines below it, up to the next label


def _classify(line: Line) -> tuple[str, object]:
    """('header', block) | ('label', (key, raw value)) | ('boilerplate', None) | ('text', None)."""
    folded, origin = fold_with_map(line.text)
    if not folded:
        return "text", None
    if _BOILERPLATE.search(folded):
        return "boilerplate", None
    bracket = _BRACKETED.match(folded)
    inner = bracket.group(1) if bracket else folded
    for block, pattern in _BLOCKS:
        if re.fullmatch(pattern, inner) and (bracket or block not in {"units"}):
            return "header", block
    for key, regex, single in _LABEL_RES:
        m = regex.match(folded)
        if not m:
            continue
        end = origin[m.end() - 1] + 1 if m.end() > 0 else 0
        rest = line.text[end:]
        if single and rest and not (rest[0].isspace() or rest[0] in ":："):
            continue  # 名取 is a value, not the label 名
        if key in {"units_inline", "contact_last", "contact_first"}:
            return "label", (key, line.text.strip())  # the label is part of the value
        return "label", (key, rest.lstrip(" \t\u3000:：").rstrip())
    return "text", None


def _labelled_items(lines: Sequence[Line]) -> Iterator[tuple[str, str | None, _Labelled]]:
    """Walk the lines top to bottom: (kind, block, item) for headers and labels.

    Value lines below a label belong to it while they are plain text (no label, header or
    boilerplate), on the same page, not left of the label (a value never sits left of its
    label), and close below the line before (a gap of more than twice the line height means
    the form's footer or another area, not this value).
    """
    kinds = [_classify(line) for line in lines]
    for i, (kind, payload) in enumerate(kinds):
        if kind == "header":
            yield "header", str(payload), _Labelled("", "", ())
        elif kind == "label":
            key, value = payload  # type: ignore[misc]
            continuation: list[str] = []
            prev = label_line = lines[i]
            for j in range(i + 1, len(lines)):
                nxt = lines[j]
                if kinds[j][0] != "text" or nxt.page != prev.page or nxt.left < label_line.left - 2.0:
                    break
                if prev.bottom - nxt.top > 2.0 * max(prev.height, nxt.height, 6.0):
                    break
                continuation.append(nxt.text.strip())
                prev = nxt
            yield "label", None, _Labelled(key, value, tuple(continuation))


def _first_value(item: _Labelled) -> str:
    """Single-line fields: the text beside the label, else the first line under it."""
    if item.value:
        return item.value
    return item.continuation[0] if item.continuation else ""


def _all_value(item: _Labelled, sep: str) -> str:
    parts = ([item.value] if item.value else []) + list(item.continuation)
    return sep.join(parts).strip()


@dataclass
class _TypedResult:
    values: dict[str, object]
    notes: list[str]
    labels_found: int


def parse_typed(lines: Sequence[Line]) -> _TypedResult:
    """Values of a typed form by label and block (see module docstring)."""
    values: dict[str, object] = {}
    notes: list[str] = []
    seen: set[str] = set()
    block: str | None = None
    labels_found = 0

    def block_field(kind: str) -> str | None:
        """contractor_/shop_ field for a label that appears in both blocks."""
        nonlocal block
        if block not in {"contractor", "shop"}:
            block = "contractor"
        name = f"{block}_{kind}"
        if name in seen and block == "contractor":
            # Forms without block headers: the second 住所/電話番号/… is the 設置先's.
            block = "shop"
            name = f"shop_{kind}"
        return None if name in seen else name

    for kind, header, item in _labelled_items(lines):
        if kind == "header":
            block = header
            continue
        labels_found += 1
        key = item.key
        if key == "kana":
            if block == "mail":  # set by 【メール】 or by the ご希望のメールアドレス row
                target = "mail_reading"
            elif block == "contact":
                continue  # セイ/メイ reading of the contact person: not needed
            else:
                target = block_field("kana") or ""
            if target and target not in seen:
                seen.add(target)
                values[target] = _first_value(item)
        elif key == "name":
            target = "shop_name" if block == "shop" else block_field("name")
            if target and target not in seen:
                seen.add(target)
                values[target] = _first_value(item)
        elif key == "shop_name":
            block = "shop"
            if "shop_name" not in seen:
                seen.add("shop_name")
                values["shop_name"] = _first_value(item)
        elif key == "zip":
            target = block_field("zip")
            if target:
                seen.add(target)
                values[target] = zip_or_phone(_first_value(item))
        elif key == "address":
            target = block_field("address")
            if target:
                seen.add(target)
                zip_field = target.removesuffix("_address") + "_zip"
                zip_code, address = split_zip(_all_value(item, " "))
                values[target] = address
                # 〒 in the address wins; else a separate 郵便番号 row; else present but empty.
                if zip_code is not None or not values.get(zip_field):
                    values[zip_field] = zip_code or ""
                seen.add(zip_field)
        elif key == "phone":
            target = block_field("phone")
            if target:
                seen.add(target)
                values[target] = zip_or_phone(_first_value(item))
        elif key == "customer_code":
            if "customer_code" not in seen:
                seen.add("customer_code")
                values["customer_code"] = customer_code_of(_first_value(item))
        elif key in {"line_kind", "line_type", "check_method"}:
            block = "line"
            options = {"line_kind": LINE_KIND_OPTIONS, "line_type": LINE_TYPE_OPTIONS,
                       "check_method": CHECK_METHOD_OPTIONS}[key]
            choice, note = choose(_all_value(item, " "), options)
            if note:
                notes.append(f"{key}: {note}")
            seen.add(key)
            values[key] = choice
        elif key == "mail_local":
            block = "mail"
            seen.add("mail_local")
            values["mail_local"] = mail_local_of(_first_value(item))
        elif key == "contact":
            block = "contact"
            last, first = _split_contact(_all_value(item, " "))
            values.setdefault("contact_last", last)
            values.setdefault("contact_first", first)
        elif key == "contact_last" and block == "contact":
            # 姓: 香川 名: 花子 on one line, or 姓 / 名 on lines of their own.
            last, first = _split_contact(item.value)
            values["contact_last"] = last if last is not None else _first_value(
                _Labelled(key, "", item.continuation))
            if first is not None:
                values["contact_first"] = first
        elif key == "contact_first" and block == "contact":
            first = re.sub(r"^名\s*[:：]?", "", item.value).strip()
            values["contact_first"] = first or _first_value(_Labelled(key, "", item.continuation))
        elif key == "plus":
            block = "service"
            values["plus"] = plus_from_text(_all_value(item, " "))
        elif key == "ssid":
            block = "service"
            values["ssid"] = _first_value(item)  # RAW: full-width kept for SSID_NOT_HALFWIDTH
        elif key in {"units", "units_inline"}:
            block = "units"
            # Only the 台数 row's boxes are kept when unreadable; a free line that merely starts
            # with 子機 (子機はCR-1です) gives a count or nothing, and never replaces a read count.
            parent, child = units_from_text(_all_value(item, " "), keep_unreadable=key == "units")
            for field, count in (("parent_units", parent), ("child_units", child)):
                if count is not None and not (str(values.get(field) or "").isdigit() and not count.isdigit()):
                    values[field] = count
        elif key == "remarks":
            values["remarks"] = _all_value(item, "\n")
    return _TypedResult(values=values, notes=notes, labels_found=labels_found)


_CONTACT_RE = re.compile(r"^姓\s*[:：]?\s*(.*?)\s+名\s*[:：]?\s*(.*)$")


def _split_contact(text: str) -> tuple[str | None, str | None]:
    """'姓: 香川 名: 花子' or '香川 花子' -> ('香川', '花子'); one word -> (word, None)."""
    text = text.strip()
    if not text:
        return None, None
    m = _CONTACT_RE.match(text)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    if text.startswith("姓"):
        return re.sub(r"^姓\s*[:：]?", "", text).strip() or None, None
    parts = re.split(r"[\s\u3000]+", text, maxsplit=1)
    return parts[0], (parts[1] if len(parts) > 1 else None)
