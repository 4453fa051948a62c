"""A console database that holds every state a page can show (issue 21 point 1): the demo's
mails decided by the real pipeline (受付, 差戻 with many defects, 保留, 対象外, warnings), a held
scan, two quarantined mails, one mail still undecided, a vendor batch sent, ledger events of
several kinds (発注, キャンセル, 解約申請, ルーター未撤去 …), every outbox purpose and status,
a job that failed, a person's 受付 / 差戻 / 対応済み, a template saved, and the audit actions
they leave. Shared by tests/test_web_words_browser.py. (No tests here.)"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy import select

from bot import db
from bot.actions import outbox
from bot.config import Config
from bot.daemon.health import beat
from bot.db.models import JobRun, Mail, OutboxMessage
from bot.ledger import apply
from tests.support.app import DEFAULT_NOW, Clock, make_processor
from tests.test_web_status_browser import _office_day
from tests.test_web_support import populate

NOW = DEFAULT_NOW + dt.timedelta(hours=7, minutes=30)  # 17:30 JST, after the batch


@dataclasses.dataclass(frozen=True)
class Office:
    url: str
    cfg: Config
    ids: dict[str, int]  # the demo mails by number, "hostile", "scan", "stored"
    quarantined: tuple[int, ...]
    batch_id: int
    customer: str  # a customer with several ledger events


def _ledger_events(factory: object, now: dt.datetime) -> str:
    """Events of several kinds, with the details the actions write (bot/actions/requests.py)."""
    with db.transaction(factory) as s:  # type: ignore[arg-type]
        code = "988776699"
        for event, detail in (("order", {"vendor_row": "new", "batch_date": "2026-11-25"}),
                              ("ship", {}), ("install", {}),
                              ("child_unit", {"action": "追加", "count": 2}),
                              ("change", {"変更内容": "店舗名変更"}),
                              ("relocate", {"移設先住所": "東京都港区南青山1-1-1", "回線": "hikari_next"}),
                              ("schedule_termination", {"解約日": "2026-12-25"}),
                              ("withdraw_termination", {"解約日": "2026-12-25"}),
                              ("schedule_termination", {"解約日": "2026-12-28"}),
                              ("router_not_removed", {"理由": "店舗閉鎖のため未回収", "紛失手数料": False}),
                              ("terminate", {})):
            apply(s, code, event, now=now, detail=detail, updates={"shop_name": "整骨院みどり"} if event == "order" else None)
        other = "988776698"
        apply(s, other, "order", now=now, detail={"vendor_row": "new", "batch_date": "2026-11-25"},
              updates={"shop_name": "カフェ ひかり"})
        apply(s, other, "cancel", now=now, detail={"vendor": "removed"})
    return code


def _outbox_states(factory: object, now: dt.datetime) -> None:
    """A sending row and a retrying one besides the sent / failed ones."""
    with db.transaction(factory) as s:  # type: ignore[arg-type]
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.status == outbox.SENT)
                              .order_by(OutboxMessage.id)))
        if len(rows) >= 3:
            rows[1].status, rows[1].sent_at, rows[1].claimed_at = outbox.SENDING, None, now
            rows[2].status, rows[2].sent_at, rows[2].attempts = outbox.PENDING, None, 2
            rows[2].last_error = "SMTPServerDisconnected: Connection unexpectedly closed"
            rows[2].next_attempt_at = now + dt.timedelta(minutes=4)
        s.add(JobRun(job="digest", period="2026-11-23", status="failed", owner="usen-bot:2714:88211",
                     started_at=now - dt.timedelta(days=1), finished_at=now - dt.timedelta(days=1),
                     detail="DigestError: [digest] to is empty"))


def _stored(processor: object) -> int:
    """A mail stored and not decided yet (未判定)."""
    from tests.test_web_support import hostile_mail

    raw = hostile_mail().replace(b"hostile-1@", b"stored-1@").replace(b"<img src=x onerror=alert(1)>", b"")
    return processor.store(raw, folder="INBOX", uidvalidity=1, uid=990,  # type: ignore[attr-defined]
                           arrived_at=DEFAULT_NOW + dt.timedelta(hours=7, minutes=20)).mail_id


def _held_by_authentication(cfg: Config) -> tuple[int, int]:
    """Two defective orders held for a person (their senders' authentication missing)."""
    from tests.test_end_to_end import bad_mail

    held = cfg.replace(senders=dataclasses.replace(cfg.senders, authentication="hold", authserv_id="mx.usen.co.jp"))
    processor, factory = make_processor(held, Clock(NOW - dt.timedelta(minutes=10)))
    ids = []
    for n in (1, 2):
        stored = processor.store(bad_mail(f"<held-{n}@aoyama.usen.co.jp>"), folder="INBOX", uidvalidity=1,
                                 uid=960 + n, arrived_at=NOW - dt.timedelta(minutes=10 * n))
        assert processor.process(stored.mail_id).decision == "manual"  # type: ignore[union-attr]
        ids.append(stored.mail_id)
    factory.kw["bind"].dispose()  # type: ignore[attr-defined]
    return ids[0], ids[1]


def _console_actions(office: Office) -> None:
    """What people do in the console (each leaves its audit row): a failed and a good sign-in,
    a 差戻 and a 対応済み by staff, downloads, an admin's 再送; the rarer actions recorded as the
    console records them."""
    from bot.web import audit
    from tests.support.reject import send_reject
    from tests.test_web_support import (
        ADMIN,
        STAFF,
        client,
        csrf_token,
        login,
        signed_in,
    )

    c = client(office.cfg, Clock(NOW))
    assert login(c, STAFF, password="wrong-password-0").status_code == 401  # type: ignore[attr-defined]
    staff = signed_in(office.cfg, STAFF, Clock(NOW))
    token = csrf_token(staff.get("/mails").text)
    held = office.ids["held"]
    assert send_reject(staff, held, {"csrf_token": token, "defect_LINE_TYPE_MISSING": "1",
                                     "defect_BODY_FIELD_MISSING": "1", "remark": "原本をご確認ください。"}).status_code == 303
    assert staff.post(f"/manual/{office.ids['06']}/dismiss",
                      data={"csrf_token": token, "note": "支店に原本の再送を依頼済み"}).status_code == 303
    assert staff.get(f"/mails/{office.ids['01']}/attachments/0").status_code == 200
    assert staff.get(f"/vendor/batches/{office.batch_id}/csv").status_code == 200
    assert staff.get("/mails.csv?decision=rejected&branch=青山支店").status_code == 200  # a list exported
    assert staff.get("/manual.csv?reason=auth").status_code == 200
    assert staff.post("/logout", data={"csrf_token": token}).status_code == 303
    admin = signed_in(office.cfg, ADMIN, Clock(NOW))
    engine = db.make_engine(office.url)
    factory = db.session_factory(engine)
    with factory() as s:
        failed = s.scalar(select(OutboxMessage.id).where(OutboxMessage.status == outbox.FAILED))
    assert admin.post(f"/outbox/{failed}/requeue", data={"csrf_token": csrf_token(admin.get("/outbox").text)}
                      ).status_code == 303
    with db.transaction(factory) as s:
        for action, mail_id, detail in (
            (audit.MAIL_REPROCESS, office.quarantined[1], {"done": False, "message": "申込書.pdf: reading took over 40 s"}),
            (audit.MAIL_REPROCESS, office.quarantined[1], {"done": True, "decision": "rejected",
                                                          "defects": ["ATTACHMENT_MISSING"], "kind": "equipment_order",
                                                          "customer_code": "988776658"}),
            (audit.MANUAL_ACCEPT, office.ids["scan"], {"note": "受付", "typed": {"ssid": "midori_Wi-Fi"}}),
            (audit.MANUAL_REFILE, office.ids["held"], {"done": False, "message": "IMAPサーバーに接続できません"}),
            ("scan_values_set", office.ids["scan"], {"vendor_row": 3, "values": {"shop_phone": "03-1234-5678"}}),
            ("template_save", None, {"template": "reject.txt.j2", "version": 1, "note": "署名を変更"}),
            ("template_revert", None, {"template": "reject.txt.j2", "version": 2, "reverted_from": 1}),
            ("template_builtin", None, {"template": "reject.txt.j2", "version": 3}),
            (audit.USER_PASSWD, None, {"user": "kagawa"}), (audit.USER_DISABLE, None, {"user": "yamada"}),
            (audit.USER_NAME, None, {"user": "kagawa", "display_name": "香川"}),
            (audit.LOGIN_LIMITED, None, {}),
        ):
            audit.record(s, action=action, at=NOW, username="kanri", mail_id=mail_id, ip="192.0.2.10", detail=detail)
    engine.dispose()


def build_office(tmp: Path) -> Office:
    """Everything above in one SQLite database under `tmp`."""
    from tests.test_web_ledger_vendor import vendor_config
    from tests.test_web_scan_review import held_scan

    url = f"sqlite:///{tmp / 'bot.sqlite3'}"
    ids = populate(url)
    _failed, quarantined, batch_id = _office_day(url)
    cfg = vendor_config(url)
    _cfg, scan_factory, scan_id, _truth = held_scan(url, cfg=cfg, uid=950)
    scan_factory.kw["bind"].dispose()  # type: ignore[attr-defined]
    ids["scan"] = scan_id
    processor, factory = make_processor(cfg, Clock(NOW))
    ids["stored"] = _stored(processor)
    customer = _ledger_events(factory, NOW)
    _outbox_states(factory, NOW)
    beat(factory, "usen-bot:2714:88211", now=NOW - dt.timedelta(seconds=40), state="running",
         started_at=DEFAULT_NOW - dt.timedelta(hours=2), last_fetch_at=NOW - dt.timedelta(seconds=40), idle=True,
         next_jobs={"digest": "2026-11-25T08:30:00+09:00", "vendor-batch": "2026-11-25T17:00:00+09:00"})
    with factory() as s:
        assert s.get(Mail, ids["stored"]) is not None
    factory.kw["bind"].dispose()  # type: ignore[attr-defined]
    ids["held"], ids["held2"] = _held_by_authentication(cfg)
    office = Office(url, cfg, ids, quarantined, batch_id, customer)
    _console_actions(office)
    return office
