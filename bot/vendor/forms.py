"""Accepted scanned forms reach the vendor whole (issue 10 item 6; DESIGN.md "Vendor batch").

A scan is accepted only when every field a check needs was read surely, but handwriting is
never read: it is only known to be there. So the vendor row of a scanned form carries the
values the reader is sure of, and a value it could not read is :data:`REFER` (申込書参照) in its
CSV cell; the form's pages travel with the day's batch, one PDF per form re-encrypted with
``[vendor] pdf_password`` (AES-256) and named by customer code (``申込書_988776654.pdf``), so the
vendor, who can read the paper form, has everything. Until the row is sent, staff may type a
value in (``bot scan-values set``), checked as the checks would check it.

Payload keys this module adds to a VendorRow of a scanned form:
``scan_form``: ``{"attachment": i, "filename": name}`` (the mail's i-th PDF attachment);
``form_refer``: the payload keys still 申込書参照; ``typed``: key → who typed it in, and when.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from bot import db
from bot.checks.base import Facts
from bot.checks.mail_address import DOMAIN, is_valid_local, normalise_local
from bot.checks.ssid import full_width_chars
from bot.config import Config
from bot.db.models import LedgerEntry, Mail, VendorRow
from bot.domain import vocab
from bot.mail.body import parse_units

log = logging.getLogger("bot.vendor.forms")

REFER = "申込書参照"
SHAPE_SCANNED = "scanned"

# payload key → the FORM-SPEC fields it is made of (bot/actions/vendor_queue.py).
FORM_SOURCES: dict[str, tuple[str, ...]] = {
    "shop_name": ("shop_name",),
    "shop_address": ("shop_zip", "shop_address"),
    "shop_phone": ("shop_phone",),
    "line_kind": ("line_kind",),
    "line_type": ("line_type",),
    "mail_address": ("mail_local",),
    "ssid": ("ssid",),
    "plus": ("plus",),
    "parent_units": ("parent_units",),
    "child_units": ("child_units",),
}
# The CSV header of each payload key (bot/vendor.py PAYLOAD_COLUMNS), for staff and the digest.
HEADERS: dict[str, str] = {
    "shop_name": "店舗名", "shop_address": "設置先住所", "shop_phone": "電話番号", "line_kind": "回線種別",
    "line_type": "回線タイプ", "mail_address": "メールアドレス", "ssid": "SSID", "plus": "Plus",
    "parent_units": "親機台数", "child_units": "子機台数",
}
_SURE_STATES = frozenset({"read", "empty"})
# Vendor cells a form does not print (manual §I): the 統合申込書 has no SSID and no 親機/子機
# 台数 cells, so a scan of it never leaves them 申込書参照 (the vendor would look in vain).
ABSENT_CELLS: dict[str, tuple[str, ...]] = {"integrated": ("ssid", "parent_units", "child_units")}


class ScanValueError(Exception):
    """A value staff typed in cannot go to the vendor; the message says why (Japanese / English)."""


class FormPdfError(Exception):
    """A form's pages cannot be attached (the stored mail or its PDF is gone or unreadable)."""


class VendorBatchError(Exception):
    """The batch cannot be built as configured; the message names the config key.  Defined here,
    below the vendor package that re-exports it (bot.vendor.model): :func:`form_pdfs` raises it
    too, and importing bot.vendor from here would close a circle through bot.vendor.batch."""


# -- the row ----------------------------------------------------------------------------------

def _sure(form: Any, name: str) -> bool:
    reading = form.reading(name)
    return (reading is not None and reading.sure and reading.state in _SURE_STATES
            and name not in form.unsure)


def scanned_payload(f: Facts, payload: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`payload` for the vendor with every value the scan reader is not sure of as 申込書参照;
    (payload, keys marked). A form that is no scan comes back as it is."""
    form = f.form
    if form is None or form.shape != SHAPE_SCANNED:
        return payload, ()
    refer = refer_keys_of(form, f.body.lines)
    out = dict(payload)
    for key in refer:
        out[key] = REFER
    attachment = 0  # Facts.form is the first PDF attachment's reading
    pdfs = f.mail.pdf_attachments()
    out["scan_form"] = {"attachment": attachment,
                        "filename": (pdfs[attachment].filename or "") if len(pdfs) > attachment else ""}
    out["form_refer"] = refer
    return out, tuple(refer)


def refer_keys_of(form: Any, body_lines: Sequence[str]) -> list[str]:
    """The payload keys a scanned form's reading leaves 申込書参照 (the console shows them before
    the form is accepted, from the reading stored with the mail)."""
    refer: list[str] = []
    absent = ABSENT_CELLS.get(str(getattr(form, "form", "") or ""), ())
    for key, sources in FORM_SOURCES.items():
        if key in absent:
            continue  # the form has no such cell: the vendor must not be sent to look for it
        if key == "line_type" and _sure(form, "line_kind") and form.reading("line_kind").value == "hikari_next":
            continue  # 光ネクスト has no line type
        if key in ("parent_units", "child_units"):
            if all(_sure(form, n) for n in ("parent_units", "child_units")):
                continue
            if any(v is not None for v in parse_units("\n".join(body_lines))):
                continue  # the counts came from the mail body (親N台 子N台)
        elif all(_sure(form, n) for n in sources):
            continue
        refer.append(key)
    return refer


# -- the form's pages -------------------------------------------------------------------------

@dataclass(frozen=True)
class FormPdf:
    row_id: int | None
    customer_code: str
    name: str  # 申込書_988776654.pdf
    data: bytes  # encrypted with [vendor] pdf_password


def is_scan_row(row: VendorRow) -> bool:
    return bool((row.payload or {}).get("scan_form")) and row.mail_id is not None


def form_pdf_name(code: str, taken: set[str]) -> str:
    name, n = f"申込書_{code}.pdf", 2
    while name in taken:
        name, n = f"申込書_{code}_{n}.pdf", n + 1
    return name


def reencrypt(data: bytes, *, password: str, vendor_password: str) -> bytes:
    """The PDF opened with the branches' password, saved with the vendor's (AES-256, R=6)."""
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data), password=password) as pdf:
            out = io.BytesIO()
            pdf.save(out, encryption=pikepdf.Encryption(owner=vendor_password, user=vendor_password, R=6,
                                                        aes=True, metadata=True))
            return out.getvalue()
    except pikepdf.PasswordError as err:
        raise FormPdfError("the [pdf] password no longer opens the form") from err
    except pikepdf.PdfError as err:
        raise FormPdfError(f"unreadable PDF: {err}") from err


def _form_bytes(session: Session, cfg: Config, row: VendorRow) -> bytes:
    from bot.mail import parse_mail

    mail = session.get(Mail, row.mail_id)
    if mail is None or not mail.raw:
        raise FormPdfError(f"stored mail {row.mail_id} is gone")
    pdfs = parse_mail(mail.raw, cfg.limits).pdf_attachments()
    index = int((row.payload or {}).get("scan_form", {}).get("attachment", 0))
    if index >= len(pdfs):
        raise FormPdfError(f"mail {row.mail_id} has no PDF attachment #{index}")
    return reencrypt(pdfs[index].data, password=cfg.pdf.password, vendor_password=cfg.vendor.pdf_password)


def form_pdfs(session: Session, cfg: Config, rows: Sequence[VendorRow]
              ) -> tuple[list[FormPdf], list[tuple[VendorRow, str]]]:
    """The encrypted form PDF of every scanned-form row of a batch, and the rows whose PDF could
    not be made (with why): those stay out of the batch, for the next one once fixed.
    Raises VendorBatchError when such a row is there and ``[vendor] pdf_password`` is empty."""
    scans = [r for r in rows if is_scan_row(r)]
    if not scans:
        return [], []
    if not cfg.vendor.pdf_password:
        codes = ", ".join(r.customer_code for r in scans)
        raise VendorBatchError(
            f"{cfg.source}: [vendor] pdf_password: empty, but the batch carries scanned forms ({codes}) "
            "whose pages must go encrypted; set $BOT_VENDOR_PDF_PASSWORD (申込書PDFのパスワード未設定)")
    out: list[FormPdf] = []
    failed: list[tuple[VendorRow, str]] = []
    taken: set[str] = set()
    for row in scans:
        try:
            data = _form_bytes(session, cfg, row)
        except FormPdfError as err:
            log.error("vendor row %s (顧客CD %s): form pages not attached, the row waits: %s", row.id,
                      row.customer_code, err)
            failed.append((row, str(err)))
            continue
        name = form_pdf_name(row.customer_code, taken)
        taken.add(name)
        out.append(FormPdf(row.id, row.customer_code, name, data))
    return out, failed


def forms_context(forms: Sequence[FormPdf], rows: Sequence[VendorRow]) -> list[dict[str, Any]]:
    """The batch mail's list of attached forms: name, 顧客CD, CSV line, cells still 申込書参照."""
    lines = {r.id: (n, r) for n, r in enumerate(rows, start=2) if r.id is not None}
    out = []
    for p in forms:
        line, row = lines.get(p.row_id, (None, None))
        out.append({"name": p.name, "customer_code": p.customer_code, "line": line,
                    "cells": [HEADERS[k] for k in refer_keys(row)] if row is not None else []})
    return out


# -- typed in by staff (`bot scan-values`) ----------------------------------------------------

def open_rows(session: Session) -> list[VendorRow]:
    """Unsent, not cancelled rows of scanned forms, oldest first."""
    rows = session.scalars(
        select(VendorRow).where(VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None))
        .order_by(VendorRow.batch_date, VendorRow.received_at, VendorRow.id)
    )
    return [r for r in rows if is_scan_row(r)]


def refer_keys(row: VendorRow) -> list[str]:
    payload = row.payload or {}
    return [k for k in payload.get("form_refer", []) if payload.get(k) == REFER]


_ALIASES: dict[str, str] = {**{k: k for k in HEADERS}, **{v.lower(): k for k, v in HEADERS.items()},
                            "mail": "mail_address", "address": "shop_address", "phone": "shop_phone",
                            "設置先電話番号": "shop_phone", "住所": "shop_address", "親機": "parent_units",
                            "子機": "child_units", "spot plus": "plus"}


def field_key(name: str) -> str:
    key = _ALIASES.get(unicodedata.normalize("NFKC", name).strip().lower())
    if key is None:
        raise ScanValueError(f"項目名が不明です / unknown field {name!r} (one of: "
                             + ", ".join(f"{k} ({h})" for k, h in HEADERS.items()) + ")")
    return key


def validate(key: str, value: str) -> Any:
    """The value as the vendor gets it, checked as the checks would; ScanValueError if not."""
    text = " ".join((value or "").split())
    norm = unicodedata.normalize("NFKC", text)
    if not text:
        raise ScanValueError("値が空です / empty value")
    if key == "mail_address":
        if "@" in norm and norm.split("@", 1)[1].strip().lower() != DOMAIN:
            raise ScanValueError(f"@{DOMAIN} のアドレスではありません / not an @{DOMAIN} address: {text}")
        local = normalise_local(text)
        if not is_valid_local(local):
            raise ScanValueError(f"メールアドレスとして使えません（MAIL_ADDRESS_INVALID） / not a valid address: {text}")
        return f"{local}@{DOMAIN}"
    if key == "ssid":
        wide = full_width_chars(text)
        if wide:
            raise ScanValueError(f"SSIDに全角文字があります（SSID_NOT_HALFWIDTH）: {''.join(dict.fromkeys(wide))} "
                                 f"/ the SSID has full-width characters")
        if len(text) > 32:
            raise ScanValueError("SSIDは32文字までです / an SSID has at most 32 characters")
        return text
    if key == "shop_phone":
        phone = re.sub(r"[\u2010-\u2015\u2212\u30fc\uff70]", "-", norm).replace(" ", "")
        if not re.fullmatch(r"0[0-9-]+", phone) or not 10 <= sum(c.isdigit() for c in phone) <= 11:
            raise ScanValueError(f"電話番号ではありません / not a phone number: {text}")
        return phone
    if key == "line_kind":
        # The office's words (bot/domain/vocab.py), typed as the word, its code, or 光ネクスト.
        kinds = {**vocab.LINE_KINDS, **{v.lower(): v for v in vocab.LINE_KINDS.values()},
                 "光ネクスト": vocab.LINE_KINDS["hikari_next"]}
        if norm.lower() not in kinds:
            raise ScanValueError("回線種別は フレッツ光ネクスト か Bフレッツ です / line kind: フレッツ光ネクスト or Bフレッツ")
        return kinds[norm.lower()]
    if key == "line_type":
        types = {**vocab.LINE_TYPES, **{v: v for v in vocab.LINE_TYPES.values()}}
        if norm.lower() not in types:
            raise ScanValueError("回線タイプは ファミリー か マンション です / line type: ファミリー or マンション")
        return types[norm.lower()]
    if key == "plus":
        if norm not in ("有", "無"):
            raise ScanValueError("Plusは 有 か 無 です / Plus: 有 or 無")
        return norm == "有"
    if key in ("parent_units", "child_units"):
        count = norm.removesuffix("台")
        if not count.isdigit() or int(count) > 99 or (key == "parent_units" and int(count) < 1):
            raise ScanValueError(f"台数ではありません / not a unit count: {text}")
        return int(count)
    return text  # shop name, address: as written, on one line


@dataclass(frozen=True)
class SetResult:
    row_id: int
    customer_code: str
    key: str
    before: Any
    after: Any
    batch_date: dt.date


def set_value(session: Session, code: str, name: str, value: str, *, now: dt.datetime, by: str = "") -> SetResult:
    """Type a value into the unsent vendor row of customer `code`'s scanned form, in the caller's
    transaction. Refused once the row went out (a batch stamped it) or was cancelled."""
    key = field_key(name)
    validate(key, value)  # a wrong value is refused before any lock is taken
    db.serialise(session, "vendor-batch")  # a batch being built now finishes first; its rows stay sent
    rows = [r for r in session.scalars(
        select(VendorRow).where(VendorRow.customer_code == code).order_by(VendorRow.id.desc())
        .execution_options(populate_existing=True)
    ) if is_scan_row(r)]
    if not rows:
        raise LookupError(f"顧客CD {code}: スキャン申込書の業者行がありません / no vendor row of a scanned form")
    row = next((r for r in rows if r.batch_id is None and r.cancelled_at is None), None)
    if row is None:
        last = rows[0]
        why = (f"便 #{last.batch_id} で送信済み / already sent in batch #{last.batch_id}" if last.batch_id is not None
               else "取消済み / cancelled")
        raise PermissionError(f"顧客CD {code}: {why}; 変更はベンダーへ直接連絡してください / tell the vendor directly")
    return set_row_value(session, row, key, value, now=now, by=by)


def set_row_value(session: Session, row: VendorRow, name: str, value: str, *, now: dt.datetime,
                  by: str = "") -> SetResult:
    """Type a value into this unsent row (the caller found it unsent, under the "vendor-batch"
    lock, in its transaction); the ledger follows. ScanValueError for a value the checks refuse."""
    key = field_key(name)
    checked = validate(key, value)
    code = row.customer_code
    payload = dict(row.payload or {})
    before = payload.get(key)
    payload[key] = checked
    payload["form_refer"] = [k for k in payload.get("form_refer", []) if k != key]
    payload["typed"] = {**payload.get("typed", {}), key: {"by": by, "at": now.isoformat()}}
    row.payload = payload
    flag_modified(row, "payload")
    _update_ledger(session, code, key, checked, now=now)
    session.flush()
    log.info("vendor row %s (顧客CD %s): %s %r → %r typed in by %s", row.id, code, key, before, checked, by or "?")
    return SetResult(row.id, code, key, before, checked, row.batch_date)


def _update_ledger(session: Session, code: str, key: str, value: Any, *, now: dt.datetime) -> None:
    """Later rows for the customer (子機, 移設, 解約 …) carry the typed value too."""
    entry = session.get(LedgerEntry, code)
    if entry is None:
        return
    if key in ("shop_name", "ssid", "plus", "parent_units", "child_units"):
        setattr(entry, key, value)
    else:
        entry.data = {**(entry.data or {}), key: value}
        flag_modified(entry, "data")
    entry.updated_at = now
