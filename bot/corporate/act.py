"""An accepted 法人一括発注依頼 (manual §IX ⑤⑥): in the mail's transaction,

- each site recorded (``corporate_sites``; a site with a customer code also moves the 管理台帳
  to 発注済 like any order),
- a management number issued per router (bot/corporate/numbers.py),
- one vendor row per router, 区分 :data:`~bot.corporate.VENDOR_CATEGORY`, flagged ``corporate`` so
  the batch keeps them apart from the district orders (分別, bot/vendor/batch.py),
- the list with its numbers mailed to 登録G through the outbox, for the UNIS 受注登録 (⑦).

The list goes to 登録G as a CSV (UTF-8 with BOM), not an .xlsx: Excel opens it as it is, it
holds every character of a shop name (CP932 would turn some into 〓), it is plain text a mail
client can preview, its cells are neutralised against formulas like the vendor CSV
(bot/domain/csvsafe.py), and the bot needs no spreadsheet *writer*.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from sqlalchemy.orm import Session

from bot import ledger
from bot.actions import outbox
from bot.checks.base import Facts
from bot.corporate import VENDOR_CATEGORY, CorporateSettings
from bot.corporate.numbers import allocate
from bot.corporate.rows import code_of, count_of, normal, site_key, yes_no
from bot.db.models import CorporateNumber, CorporateSite, VendorRow
from bot.domain.calendar import BusinessCalendar
from bot.domain.csvsafe import neutralise

log = logging.getLogger("bot.corporate")

PURPOSE = "corporate_registration"  # OutboxMessage.purpose of the mail to 登録G
SENDER_NAME = "USEN SPOT 事務センター"
PARENT = "親機"
CHILD = "子機"
LIST_COLUMNS = ("リスト行", "管理番号", "親機/子機", "顧客コード", "店舗名", "住所", "電話番号", "Enterprise", "SSID")


def accept(session: Session, f: Facts, *, mail_id: int, calendar: BusinessCalendar, now: dt.datetime) -> str:
    """Do all of it; returns the note for the log and the digest."""
    reading = f.corporate
    settings: CorporateSettings = f.settings.corporate or CorporateSettings()
    assert reading is not None and reading.sites is not None
    n_day = calendar.intake_day(f.received_at)
    ship = calendar.add_business_days(n_day, 2)
    plan = [(site, count_of(site.get("parent_units")) or 1, count_of(site.get("child_units")) or 0)
            for site in reading.sites.sites]
    numbers = iter(allocate(session, sum(p + c for _s, p, c in plan)))
    lines: list[tuple[str, ...]] = []
    for site, parents, children in plan:
        code = code_of(site.get("customer_code")) or None
        enterprise = bool(yes_no(site.get("enterprise")))
        record = CorporateSite(
            mail_id=mail_id, list_row=site.row, customer_code=code,
            site_key=site_key(site.get("shop_name"), site.get("address")), shop_name=site.get("shop_name"),
            address=site.get("address"), phone=site.get("phone"), parent_units=parents, child_units=children,
            enterprise=enterprise, ssid=site.get("ssid") or None, created_at=now,
        )
        session.add(record)
        session.flush()
        for role in [PARENT] * parents + [CHILD] * children:
            number = next(numbers)
            row = VendorRow(mail_id=mail_id, customer_code=code or "", category=VENDOR_CATEGORY,
                            payload=_payload(record, role=role, number=number, f=f),
                            received_at=f.received_at, batch_date=n_day, ship_date=ship, created_at=now)
            session.add(row)
            session.flush()
            session.add(CorporateNumber(number=number, site_id=record.id, role=role, vendor_row_id=row.id,
                                        created_at=now))
            lines.append((str(site.row), number, role, code or "", site.get("shop_name"), site.get("address"),
                          site.get("phone"), "有" if enterprise else "無", site.get("ssid")))
        if code:
            ledger.apply(session, code, "order", now=now, mail_id=mail_id,
                         detail={"法人一括発注": True, "管理番号": [ln[1] for ln in lines if ln[0] == str(site.row)],
                                 "batch_date": n_day.isoformat()},
                         updates={"shop_name": site.get("shop_name"), "ssid": site.get("ssid") or None,
                                  "parent_units": parents, "child_units": children,
                                  "data": {"shop_address": site.get("address"), "shop_phone": site.get("phone"),
                                           "corporate": True, "enterprise": enterprise}})
    session.flush()
    _mail_registration(session, f, settings, lines, mail_id=mail_id, now=now, tz=calendar.tz)
    first, last = lines[0][1], lines[-1][1]
    log.info("mail %s: corporate order, %d site(s), %d router(s), numbers %s–%s", mail_id, len(plan), len(lines),
             first, last)
    return (f"法人一括発注 {len(plan)}設置先 {len(lines)}台 管理番号 {first}–{last} {n_day:%m/%d}便 "
            f"出荷予定 {ship:%m/%d} 登録Gへ送付")


def _payload(record: CorporateSite, *, role: str, number: str, f: Facts) -> dict[str, Any]:
    return {
        "shop_name": record.shop_name,
        "shop_address": record.address,
        "shop_phone": record.phone,
        "line_kind": "",
        "line_type": "",
        "mail_address": "",
        "ssid": record.ssid or "",
        "plus": False,
        "parent_units": 1 if role == PARENT else 0,
        "child_units": 1 if role == CHILD else 0,
        "branch": "法人営業",
        "staff": normal(f.mail.from_name or f.mail.from_addr or ""),
        "corporate": True,
        "management_no": number,
        "role": role,
        "enterprise": record.enterprise,
        "list_row": record.list_row,
    }


def list_csv(lines: list[tuple[str, ...]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(LIST_COLUMNS)
    for line in lines:
        writer.writerow([neutralise(" ".join(cell.splitlines())) for cell in line])
    return buf.getvalue().encode("utf-8-sig")


def _mail_registration(session: Session, f: Facts, settings: CorporateSettings, lines: list[tuple[str, ...]], *,
                       mail_id: int, now: dt.datetime, tz: dt.tzinfo) -> None:
    received = f.received_at.astimezone(tz)
    sites = len({ln[0] for ln in lines})
    msg = EmailMessage()
    msg["From"] = formataddr((SENDER_NAME, settings.from_addr))
    msg["To"] = ", ".join(settings.registration_to)
    if f.mail.from_addr:
        msg["Cc"] = f.mail.from_addr  # 法人営業 sees the numbers its order got
    msg["Subject"] = f"【USEN SPOT】法人一括発注 UNIS受注登録のお願い（{sites}設置先・{len(lines)}台）"
    msg["Date"] = format_datetime(now.astimezone(tz))
    msg["Message-ID"] = outbox.new_message_id(settings.from_addr)
    if f.mail.message_id:
        msg["References"] = f.mail.message_id
    msg["Auto-Submitted"] = "auto-generated"
    body = [
        "登録G ご担当者様",
        "",
        "USEN SPOT 事務センター（開業支援G）です。",
        f"法人営業より法人一括発注依頼を受け付けました（{received:%Y/%m/%d %H:%M} 受付、送信者 {f.mail.from_addr or ''}）。",
        "管理番号を発番しましたので、添付の顧客リストのとおりUSEN SPOTの一括導入顧客の受注登録をお願いします（マニュアル IX ⑦）。",
        "",
        f"■ 設置先 {sites}件 / ルーター {len(lines)}台 / 管理番号 {lines[0][1]}〜{lines[-1][1]}",
        "",
        "・受注登録は受注専用品目を使用し、シリアルナンバー欄には管理番号（6桁）を入力してください。",
        "・確定時に管轄支店の総務が機器のシリアルナンバー（12桁）で上書きします。",
        "・同一設置先に複数台ある場合は、親機の契約明細備考に「親機」と記載してください。",
        "",
        "※このメールはシステムから自動送信しています。",
    ]
    msg.set_content("\n".join(body) + "\n", charset="utf-8")
    name = f"houjin_kanri_{received:%Y%m%d}_{lines[0][1]}.csv"
    msg.add_attachment(list_csv(lines), maintype="text", subtype="csv", filename=name, params={"charset": "UTF-8"})
    outbox.enqueue(session, msg, purpose=PURPOSE, mail_id=mail_id, now=now)
