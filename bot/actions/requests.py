"""What an accepted request does (DESIGN.md "request kinds"): ledger moves and vendor rows.

One function per kind, all run inside the mail's transaction, after the decision. The checks
already made sure the ledger state allows the move; a LedgerError here is a bug and
quarantines the mail.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import ledger
from bot.actions import tasks
from bot.actions.vendor_queue import (
    LINE_KIND_LABELS,
    LINE_TYPE_LABELS,
    as_written,
    queue_new_install,
)
from bot.checks.base import Facts
from bot.checks.customer import current_state
from bot.checks.relocation import destination_line
from bot.checks.router import reason_text
from bot.checks.termination import requested_date, scheduled_date
from bot.checks.units import unit_counts
from bot.db.models import LedgerEntry, VendorRow
from bot.decide import CHILD_UNIT, NEW_INSTALL, Decision
from bot.domain import classify
from bot.domain.calendar import BusinessCalendar
from bot.domain.serials import as_written as serial_as_written
from bot.mail.body import (
    LABEL_BRANCH,
    LABEL_CHANGE,
    LABEL_CURRENT_MODEL,
    LABEL_DEST_ADDRESS,
    LABEL_NEW_ADDRESS,
    LABEL_NEW_MODEL,
    LABEL_NEW_SERIAL,
    LABEL_OLD_SERIAL,
    LABEL_REASON,
    LABEL_STAFF,
    LABEL_UNIT_ROLE,
)
from bot.vendor.model import (  # noqa: E402, F401 - 区分
    CANCEL,
    CHANGE,
    CHILD,
    EXCHANGE,
    NOTICE_RESEND,
    RELOCATE,
    SSID_SETTING,
    TERMINATE,
)


def _entry(session: Session, f: Facts, *, now: dt.datetime, mail_id: int) -> LedgerEntry:
    """The customer's ledger row, seeded from UNIS when the bot has none yet."""
    assert f.code is not None
    entry = session.get(LedgerEntry, f.code)
    if entry is None:
        state = current_state(f)
        if state is None:
            raise ledger.LedgerError(f"{f.code}: no ledger row and no UNIS line to start one from")
        shop = next((line.shop_name for line in f.unis if line.shop_name), None)
        entry = ledger.seed(session, f.code, state, now=now, mail_id=mail_id, shop_name=shop,
                            detail={"unis_status": sorted({line.status for line in f.unis})})
    return entry


def _payload(entry: LedgerEntry, f: Facts, **extra: Any) -> dict[str, Any]:
    data = entry.data or {}
    payload: dict[str, Any] = {
        "shop_name": entry.shop_name or "",
        "shop_address": data.get("shop_address", ""),
        "shop_phone": data.get("shop_phone", ""),
        "line_kind": data.get("line_kind", ""),
        "line_type": data.get("line_type", ""),
        "mail_address": data.get("mail_address", ""),
        "ssid": entry.ssid or "",
        "plus": entry.plus,
        "parent_units": entry.parent_units if entry.parent_units is not None else "",
        "child_units": entry.child_units if entry.child_units is not None else "",
        "branch": as_written(f.body.written(LABEL_BRANCH)),
        "staff": as_written(f.body.written(LABEL_STAFF)),
    }
    payload.update(extra)
    return payload


def _row(session: Session, f: Facts, category: str, payload: dict[str, Any], *, mail_id: int,
         calendar: BusinessCalendar, now: dt.datetime, ship: bool = False) -> VendorRow:
    n_day = calendar.intake_day(f.received_at)
    row = VendorRow(mail_id=mail_id, customer_code=f.code, category=category, payload=payload,
                    received_at=f.received_at, batch_date=n_day,
                    ship_date=calendar.add_business_days(n_day, 2) if ship else None, created_at=now)
    session.add(row)
    session.flush()
    return row


def new_install(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    row = queue_new_install(session, f, mail_id=mail_id, calendar=calendar, now=now)
    arrival = "–".join(row.payload[k][5:].replace("-", "/") for k in ("arrival_from", "arrival_to"))
    return f"{row.batch_date:%m/%d}便 出荷予定 {row.ship_date:%m/%d} 到着予定 {arrival}"


def child_unit(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """子機 追加/交換 (manual §V): a 子機 row; an addition raises the ledger's child count."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    _parent, count = unit_counts(f)
    text = unicodedata.normalize("NFKC", "\n".join(f.body.lines))
    action = "交換" if "交換" in text and "追加" not in text else "追加"
    row = _row(session, f, CHILD, _payload(entry, f, parent_units=0, child_units=count, note=f"子機{action}"),
               mail_id=mail_id, calendar=calendar, now=now, ship=True)
    updates = {"child_units": (entry.child_units or 0) + (count or 0)} if action == "追加" else {}
    ledger.apply(session, entry.customer_code, "child_unit", now=now, mail_id=mail_id,
                 detail={"action": action, "count": count}, updates=updates)
    return f"子機{action} {count}台 {row.batch_date:%m/%d}便 出荷予定 {row.ship_date:%m/%d}"


def contract_change(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar,
                    now: dt.datetime) -> str:
    entry = _entry(session, f, now=now, mail_id=mail_id)
    change = as_written(f.body.written(LABEL_CHANGE))
    row = _row(session, f, CHANGE, _payload(entry, f, note=change), mail_id=mail_id, calendar=calendar, now=now)
    ledger.apply(session, entry.customer_code, "change", now=now, mail_id=mail_id, detail={"変更内容": change})
    return f"変更 {row.batch_date:%m/%d}便"


def cancellation(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """Before the order left: the queued row is removed (free). After: a キャンセル row goes to
    the vendor (CANCEL_COSTS, manual §VII)."""
    from bot.vendor import cancel_order

    entry = _entry(session, f, now=now, mail_id=mail_id)
    outcome = cancel_order(session, customer_code=entry.customer_code, now=now, mail_id=mail_id, calendar=calendar)
    ledger.apply(session, entry.customer_code, "cancel", now=now, mail_id=mail_id,
                 detail={"vendor": str(getattr(outcome, "outcome", outcome))})
    return {"removed": "未送信の発注を取消（費用なし）", "cost": "発注済みのためキャンセル行を送付（費用発生）",
            "none": "キャンセル（システムから送った発注なし：ベンダーへの連絡要否を確認）"}.get(
        str(getattr(outcome, "outcome", outcome)), "キャンセル")


def termination(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """解約申請: ledger → termination scheduled; the provider release goes to the vendor; the
    router removal becomes due (digest).

    Also from termination scheduled (UNIS 予定登録 or an earlier 解約申請): the new 解約日 replaces
    the old one, and an earlier 解約 row still waiting for its batch is withdrawn so the vendor
    gets one row, with the new date. And from terminated (強制解約後, manual §II): the provider
    release still goes to the vendor, the customer stays terminated, the event is recorded.
    """
    entry = _entry(session, f, now=now, mail_id=mail_id)
    day = requested_date(f)
    assert day is not None
    before = entry.state
    previous = entry.termination_date
    detail: dict[str, Any] = {"解約日": day.isoformat()}
    replaced: list[int] = []
    if before == ledger.TERMINATED:
        note = f"プロバイダ契約解除（強制解約後） 解約日 {day:%Y/%m/%d}"
        # The customer is terminated already: its recorded 解約日 stays; a missing one is filled
        # from UNIS (the forced termination's date), else from this request.
        unis_day = max((line.termination_date for line in f.unis if line.status == "解約" and line.termination_date),
                       default=None)
        updates: dict[str, Any] = {} if previous is not None else {"termination_date": unis_day or day}
        detail["強制解約後"] = True
    else:
        note = f"プロバイダ契約解除 解約日 {day:%Y/%m/%d}"
        updates = {"termination_date": day}
        if before == ledger.TERMINATION_SCHEDULED:
            # Conditional, row by row: a row a batch is stamping at this moment stays sent.
            for row_id in session.scalars(
                select(VendorRow.id).where(VendorRow.customer_code == entry.customer_code,
                                           VendorRow.category == TERMINATE, VendorRow.batch_id.is_(None),
                                           VendorRow.cancelled_at.is_(None))
            ).all():
                done = session.execute(
                    update(VendorRow)
                    .where(VendorRow.id == row_id, VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None))
                    .values(cancelled_at=now)
                ).rowcount  # type: ignore[attr-defined]
                if done == 1:
                    replaced.append(row_id)
            if previous is not None and previous != day:
                note = f"プロバイダ契約解除 解約日変更 {previous:%Y/%m/%d} → {day:%Y/%m/%d}"
                detail["前の解約日"] = previous.isoformat()
            if replaced:
                detail["差し替えた解約行"] = replaced
    row = _row(session, f, TERMINATE, _payload(entry, f, termination_date=day.isoformat(), note=note),
               mail_id=mail_id, calendar=calendar, now=now)
    ledger.apply(session, entry.customer_code, "schedule_termination", now=now, mail_id=mail_id,
                 detail=detail, updates=updates)
    if before == ledger.TERMINATED:
        return f"解約済（強制解約後）のプロバイダ契約解除 解約日 {day:%Y/%m/%d} {row.batch_date:%m/%d}便 ルーター撤去要"
    changed = "（解約日変更）" if "前の解約日" in detail else ""
    return f"解約日 {day:%Y/%m/%d}{changed} {row.batch_date:%m/%d}便 ルーター撤去要"


def router_not_removed(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar,
                       now: dt.datetime) -> str:
    """Record the reason; a router lost by the customer costs the 紛失手数料 (manual §VI)."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    reason = reason_text(f) or ""
    lost = any(word in reason for word in ("紛失", "なくし", "無くし", "盗難", "破損"))
    data = dict(entry.data or {})
    data["router_not_removed_reason"] = reason
    data["lost_router_fee"] = lost
    ledger.apply(session, entry.customer_code, "router_not_removed", now=now, mail_id=mail_id,
                 detail={"理由": reason, "紛失手数料": lost}, updates={"router_not_removed": True, "data": data})
    return "紛失手数料 30,000円(税抜)の対象" if lost else "未撤去理由を記録"


def relocation(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """移設: router exchange in principle (manual §II); the new address and line go to the vendor."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    kind, line_type = destination_line(f)
    address = as_written(f.body.written(LABEL_DEST_ADDRESS))
    payload = _payload(entry, f, shop_address=address, line_kind=LINE_KIND_LABELS.get(kind or "", ""),
                       line_type=LINE_TYPE_LABELS.get(line_type or "", ""), note="移設（ルーター交換）")
    row = _row(session, f, RELOCATE, payload, mail_id=mail_id, calendar=calendar, now=now, ship=True)
    data = dict(entry.data or {}, shop_address=address, line_kind=payload["line_kind"], line_type=payload["line_type"])
    ledger.apply(session, entry.customer_code, "relocate", now=now, mail_id=mail_id,
                 detail={"移設先住所": address, "回線": f"{payload['line_kind']} {payload['line_type']}".strip()},
                 updates={"data": data})
    return f"移設 {row.batch_date:%m/%d}便"


def termination_withdrawal(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar,
                           now: dt.datetime) -> str:
    """Withdraw a scheduled termination: an unsent 解約 row is removed; a sent one is followed by
    a 変更 row telling the vendor the termination is withdrawn."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    day = scheduled_date(f)
    # Conditional UPDATE: a row a batch is stamping at this very moment stays sent (and is then
    # followed by the 変更 row below), never both sent and cancelled.
    session.execute(
        update(VendorRow)
        .where(VendorRow.customer_code == entry.customer_code, VendorRow.category == TERMINATE,
               VendorRow.batch_id.is_(None), VendorRow.cancelled_at.is_(None))
        .values(cancelled_at=now)
    )
    sent = session.scalar(
        select(VendorRow.id).where(VendorRow.customer_code == entry.customer_code, VendorRow.category == TERMINATE,
                                   VendorRow.batch_id.is_not(None)).limit(1)
    )
    if sent is not None:
        _row(session, f, CHANGE, _payload(entry, f, note=f"解約キャンセル（解約日 {day:%Y/%m/%d} の解約を撤回）"
                                          if day else "解約キャンセル"),
             mail_id=mail_id, calendar=calendar, now=now)
    ledger.apply(session, entry.customer_code, "withdraw_termination", now=now, mail_id=mail_id,
                 detail={"解約日": day.isoformat() if day else None}, updates={"termination_date": None})
    return "解約撤回" + ("（ベンダーへ連絡）" if sent is not None else "（未送信の解約を取消）")


def corporate_order(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar,
                    now: dt.datetime) -> str:
    """法人一括発注依頼 (manual §IX): numbers, sites, vendor rows kept apart, the list to 登録G."""
    from bot.corporate.act import accept

    return accept(session, f, mail_id=mail_id, calendar=calendar, now=now)


Action = Callable[..., str]
def customer_info_change(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar,
                         now: dt.datetime) -> str:
    """顧客情報変更 (§II 移設: the customer moved the router, or a name/address/phone changed): the
    ledger keeps it and a 変更 row tells the vendor, so the 登録通知書 and later mail reach the
    new address; no router exchange."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    change = as_written(f.body.written(LABEL_CHANGE))
    address = as_written(f.body.written(LABEL_NEW_ADDRESS))
    extra = {"shop_address": address} if address else {}
    row = _row(session, f, CHANGE, _payload(entry, f, note=f"顧客情報変更：{change}", **extra), mail_id=mail_id,
               calendar=calendar, now=now)
    ledger.apply(session, entry.customer_code, "info_change", now=now, mail_id=mail_id,
                 detail={"変更内容": change, **({"新住所": address} if address else {})},
                 updates={"data": dict(entry.data or {}, shop_address=address)} if address else None)
    return f"顧客情報変更 {row.batch_date:%m/%d}便"


def notice_resend(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """登録通知書発送依頼 (IV, from the support center): the vendor sends the 登録通知書 again."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    row = _row(session, f, NOTICE_RESEND, _payload(entry, f, note="登録通知書再発送"), mail_id=mail_id,
               calendar=calendar, now=now)
    ledger.apply(session, entry.customer_code, "notice_resend", now=now, mail_id=mail_id, detail={})
    tasks.add(session, tasks.NOTICE_RESEND, customer_code=entry.customer_code, mail_id=mail_id, now=now)
    return f"登録通知書再発送 {row.batch_date:%m/%d}便（事務センターの作業に追加）"


def original_ssid(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """OriginalSSID追加申請 (IV): the router rewritten by the vendor (an SSID設定 row), and the
    office's task to confirm Z200549 in UNIS (「事務センターでUNIS確定します」)."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    assert f.form is not None and f.form.fields is not None
    ssid = f.form.fields.ssid or ""
    row = _row(session, f, SSID_SETTING, _payload(entry, f, ssid=ssid, note=f"Original SSID設定：{ssid}"),
               mail_id=mail_id, calendar=calendar, now=now)
    ledger.apply(session, entry.customer_code, "original_ssid", now=now, mail_id=mail_id, detail={"SSID": ssid},
                 updates={"ssid": ssid})
    tasks.add(session, tasks.UNIS_SSID, customer_code=entry.customer_code, mail_id=mail_id, now=now,
              detail={"ssid": ssid})
    return f"SSID設定 {row.batch_date:%m/%d}便・UNIS確定（Z200549）を事務センターの作業に追加"


def router_exchange(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """ルーター交換依頼 (V, from テクニカルサポート課): an 交換 row to FG社, shipped like an order."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    current, new, unit, reason = (as_written(f.body.written(label)) for label in
                                  (LABEL_CURRENT_MODEL, LABEL_NEW_MODEL, LABEL_UNIT_ROLE, LABEL_REASON))
    note = f"ルーター交換 {current}→{new}（{unit}）：{reason}"
    row = _row(session, f, EXCHANGE, _payload(entry, f, note=note), mail_id=mail_id, calendar=calendar, now=now,
               ship=True)
    ledger.apply(session, entry.customer_code, "router_exchange", now=now, mail_id=mail_id,
                 detail={"現行機種": current, "交換機種": new, "親機/子機": unit, "理由": reason})
    return f"ルーター交換 {row.batch_date:%m/%d}便 出荷予定 {row.ship_date:%m/%d}"


def link_item_used(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """リンク品使用連絡 (故障交換): the ledger's serial becomes the link item's; the report of the
    business day goes to FG社 and UTS the next business morning (bot/jobs/link_items.py)."""
    entry = _entry(session, f, now=now, mail_id=mail_id)
    old, new = (serial_as_written(f.body.get(label)) for label in (LABEL_OLD_SERIAL, LABEL_NEW_SERIAL))
    unit = as_written(f.body.written(LABEL_UNIT_ROLE))
    day = calendar.intake_day(f.received_at)
    ledger.apply(session, entry.customer_code, "link_item", now=now, mail_id=mail_id,
                 detail={"旧シリアル": old, "新シリアル": new, "親機/子機": unit, "day": day.isoformat()},
                 updates={"data": dict(entry.data or {}, serial=new)})
    return f"リンク品 {old}→{new}（{unit}） {day:%m/%d}分として翌営業日に連絡"


ACTIONS: dict[str, Action] = {
    NEW_INSTALL: new_install,
    CHILD_UNIT: child_unit,
    classify.CONTRACT_CHANGE: contract_change,
    classify.CANCELLATION: cancellation,
    classify.TERMINATION: termination,
    classify.ROUTER_NOT_REMOVED: router_not_removed,
    classify.RELOCATION: relocation,
    classify.TERMINATION_WITHDRAWAL: termination_withdrawal,
    classify.CORPORATE_ORDER: corporate_order,
    classify.CUSTOMER_INFO_CHANGE: customer_info_change,
    classify.NOTICE_RESEND: notice_resend,
    classify.ROUTER_EXCHANGE: router_exchange,
    classify.LINK_ITEM_USED: link_item_used,
    classify.ORIGINAL_SSID: original_ssid,
}


def act(session: Session, f: Facts, decision: Decision, *, mail_id: int, calendar: BusinessCalendar,
        now: dt.datetime) -> str:
    """Do what an accepted decision means; returns a short note for the log and the digest."""
    action = ACTIONS[decision.variant or decision.kind or ""]
    return action(session, f, mail_id=mail_id, calendar=calendar, now=now)
