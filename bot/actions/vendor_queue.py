"""Queue vendor work (ファイバーゲート社): a row per order, carried by the next daily batch."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bot import ledger
from bot.checks.base import Facts
from bot.checks.mail_address import DOMAIN, normalise_local
from bot.checks.units import unit_counts
from bot.db.models import VendorRow
from bot.domain import vocab
from bot.domain.calendar import BusinessCalendar
from bot.vendor.forms import scanned_payload

NEW = "新規"
CHILD = "子機"

LINE_KIND_LABELS = vocab.LINE_KINDS  # the office's words (bot/domain/vocab.py)
LINE_TYPE_LABELS = vocab.LINE_TYPES


def as_written(value: str | None) -> str:
    """Text for the vendor as written (①, ㈱, full-width kept: CP932 holds them); only the
    surrounding blanks go. NFKC is for comparing, not for what people read."""
    return (value or "").strip()


def queue_new_install(
    session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime
) -> VendorRow:
    """器材発注依頼 (new install): one 新規 row + ledger → ordered."""
    assert f.code is not None and f.form is not None and f.form.fields is not None
    fields = f.form.fields
    parent, child = unit_counts(f)
    n_day = calendar.intake_day(f.received_at)
    ship, arrive_from, arrive_to = calendar.delivery_window(f.received_at)
    local = normalise_local(fields.mail_local) if fields.mail_local else ""
    payload = {
        "shop_name": as_written(fields.shop_name),
        "shop_address": " ".join(p for p in (as_written(fields.shop_zip), as_written(fields.shop_address)) if p),
        "shop_phone": as_written(fields.shop_phone),
        "line_kind": LINE_KIND_LABELS.get(fields.line_kind or "", ""),
        "line_type": LINE_TYPE_LABELS.get(fields.line_type or "", ""),
        "mail_address": f"{local}@{DOMAIN}" if local else "",
        "ssid": fields.ssid or "",
        "plus": fields.plus,
        "parent_units": parent if parent is not None else 1,
        "child_units": child if child is not None else 0,
        "branch": as_written(f.body.written("送付支店名")),
        "staff": as_written(f.body.written("担当者名")),
        "arrival_from": arrive_from.isoformat(),
        "arrival_to": arrive_to.isoformat(),
    }
    # A scanned form: what the reader is not sure of (handwriting) is 申込書参照 for the vendor,
    # who gets the form's pages with the batch (bot/vendor/forms.py).
    payload, refer = scanned_payload(f, payload)
    known = {k: ("" if k in refer else v) for k, v in payload.items()}
    if known["parent_units"] == "" or known["child_units"] == "":
        known["parent_units"] = known["child_units"] = None
    row = VendorRow(
        mail_id=mail_id, customer_code=f.code, category=NEW, payload=payload, received_at=f.received_at,
        batch_date=n_day, ship_date=ship, created_at=now,
    )
    session.add(row)
    ledger.apply(
        session, f.code, "order", now=now, mail_id=mail_id,
        detail={"vendor_row": "new", "batch_date": n_day.isoformat()},
        updates={"shop_name": (as_written(f.body.written("店舗名")) or None) if "shop_name" in refer
                 else payload["shop_name"],
                 "plus": fields.plus, "ssid": known["ssid"] or None,
                 "parent_units": known["parent_units"], "child_units": known["child_units"],
                 # Kept so later rows for this customer (子機, 移設, 解約 …) carry the same details.
                 "data": {k: known[k] for k in ("shop_address", "shop_phone", "line_kind", "line_type",
                                                "mail_address")}},
    )
    session.flush()
    return row
