"""The manual's second part (issue 23), first kinds: 顧客情報変更 (§II 移設), 登録通知書発送依頼 (IV,
from the support center only) and ルーター交換依頼 (V, from テクニカルサポート課 only); sender roles
([senders] support / techsupport / engineers) with SENDER_NOT_PERMITTED in the manual's words; a
kind whose role nobody configured held for a person; the UNKNOWN_KIND 差戻 listing every subject
from the one table of kinds. The real pipeline on SQLite (rules with their near misses), then the
daemon on Dovecot with the 差戻 read at aiosmtpd."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email import message_from_bytes

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.actions import outbox
from bot.config import Config
from bot.daemon.main import mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.db.models import LedgerEntry, LedgerEvent, OutboxMessage, VendorRow
from bot.demo.embedded import EmbeddedSmtp
from bot.domain import classify
from bot.intake import Mailbox
from bot.pipeline.outcome import Outcome
from bot.unis import import_extract
from tests.support.app import DEFAULT_NOW, Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_mail

INSTALLED = "555000111"  # 確定 in UNIS: installed
ORDERED = "555000222"  # 受注 in UNIS: ordered, not installed
BRANCH = "内田 <uchida@aoyama.usen.co.jp>"
CS = "サポートセンター <cs-desk@cs.usen.co.jp>"
TECH = "テクサポ <techsupport@usen.co.jp>"
UNIS = ("顧客番号,契約番号,明細番号,契約品目,品目名,契約状態,店舗名,管轄支店,契約種類,獲得区分,完成予定日,確定日,"
        "シリアルNo,明細備考,キャンセル日,解約日\r\n"
        f"{INSTALLED},1,1,9603023,USEN SPOT FGN600,確定,カフェ 緑,青山支店,01-99 新設 その他,地区,2026/10/01,2026/10/05,"
        "FG6014112617,親機,,\r\n"
        f"{ORDERED},1,1,Z100403,受注専用USEN SPOT 通常ルータ,受注,バー 青,青山支店,01-99 新設 その他,地区,2026/12/04,,,,,\r\n")
EXCHANGE_BODY = "現行機種 : CR-1\n交換機種 : FGN600\n親機/子機 : 親機\n理由 : 通信が不安定なため（マニュアルV）\n"


def roles_config(url: str, **kw: object) -> Config:
    cfg = make_config(url, **kw)  # type: ignore[arg-type]
    return cfg.replace(senders=dataclasses.replace(cfg.senders, support=("cs.usen.co.jp",),
                                                   techsupport=("techsupport@usen.co.jp",)))


def _unis(factory: sessionmaker[Session]) -> None:
    with db.transaction(factory) as s:
        import_extract(s, UNIS.encode("cp932"), name="unis.csv", now=DEFAULT_NOW)


def decide(cfg: Config, subject: str, body: str, *, from_: str = BRANCH) -> tuple[Outcome, sessionmaker[Session]]:
    processor, factory = make_processor(cfg, Clock(DEFAULT_NOW))
    _unis(factory)
    raw = build_mail(subject, body, from_=from_, charset="iso-2022-jp")
    outcome = processor.process(processor.store(raw, folder="INBOX", uidvalidity=1, uid=1).mail_id)
    assert outcome is not None
    return outcome, factory


def reply_text(factory: sessionmaker[Session]) -> str:
    with factory() as s:
        [row] = s.scalars(select(OutboxMessage))
        msg = message_from_bytes(row.raw)
    return msg.get_payload(decode=True).decode(msg.get_content_charset())


@pytest.mark.parametrize(("subject", "kind"), [
    ("USEN SPOT 顧客情報変更_555000111", classify.CUSTOMER_INFO_CHANGE),
    ("Re: 【USEN SPOT】ＯｒｉｇｉｎａｌＳＳＩＤ追加申請＿５５５０００１１１", classify.ORIGINAL_SSID),
    ("USEN SPOT オリジナルSSID追加申請_555000111", classify.ORIGINAL_SSID),
    ("USEN SPOT 登録通知書発送依頼_555000111", classify.NOTICE_RESEND),
    ("USEN SPOT ルーター交換依頼_555000111", classify.ROUTER_EXCHANGE),
    ("USEN SPOT リンク品使用連絡_555000111", classify.LINK_ITEM_USED),
    ("USEN SPOT ルーター未撤去_555000111", classify.ROUTER_NOT_REMOVED),  # near: not an exchange
    ("USEN SPOT 顧客情報の変更_555000111", None),  # near miss: not the manual's subject
])
def test_the_new_subjects_are_read(subject: str, kind: str | None) -> None:
    c = classify.classify_subject(subject)
    assert (c.kind, c.customer_code) == (kind, "555000111")


def test_a_customer_info_change_is_accepted_and_told_to_the_vendor(sqlite_url: str) -> None:
    """Given an installed customer, when the branch sends 顧客情報変更 with 変更内容 and 新住所,
    then it is accepted: a 変更 row for the next batch with the new address, the ledger keeps
    the change (state unchanged) and no router exchange is queued."""
    outcome, factory = decide(make_config(sqlite_url), f"USEN SPOT 顧客情報変更_{INSTALLED}",
                              "変更内容 : 店舗を移転しました（ルーターはお客様が移設済み）\n新住所 : 東京都港区南青山1-2-3\n")
    assert (outcome.kind, outcome.decision) == (classify.CUSTOMER_INFO_CHANGE, "accepted"), outcome
    with factory() as s:
        [row] = s.scalars(select(VendorRow))
        assert row.category == "変更" and row.ship_date is None
        assert row.payload["shop_address"] == "東京都港区南青山1-2-3" and row.payload["note"].startswith("顧客情報変更：店舗を移転")
        entry = s.get(LedgerEntry, INSTALLED)
        assert entry is not None and entry.state == "installed" and entry.data["shop_address"] == "東京都港区南青山1-2-3"
        assert [e.event for e in s.scalars(select(LedgerEvent).where(LedgerEvent.event == "info_change"))] == ["info_change"]


def test_a_customer_info_change_without_what_changed_is_sent_back(sqlite_url: str) -> None:
    outcome, factory = decide(make_config(sqlite_url), f"USEN SPOT 顧客情報変更_{INSTALLED}", "よろしくお願いします。\n")
    assert (outcome.decision, outcome.defects) == ("rejected", ("CHANGE_CONTENT_MISSING",))
    assert "「変更内容 : 」に何が変わったか" in reply_text(factory)


def test_a_notice_resend_from_the_support_center_is_accepted(sqlite_url: str) -> None:
    outcome, factory = decide(roles_config(sqlite_url), f"USEN SPOT 登録通知書発送依頼_{INSTALLED}",
                              "CS画面を修正しました。登録通知書の再発送をお願いします。\n", from_=CS)
    assert outcome.decision == "accepted", outcome
    with factory() as s:
        [row] = s.scalars(select(VendorRow))
        assert (row.category, row.payload["note"]) == ("登録通知書再発送", "登録通知書再発送")


def test_a_notice_resend_from_a_branch_is_sent_back_naming_the_support_center(sqlite_url: str) -> None:
    outcome, factory = decide(roles_config(sqlite_url), f"USEN SPOT 登録通知書発送依頼_{INSTALLED}",
                              "再発送をお願いします。\n")
    assert (outcome.decision, outcome.defects) == ("rejected", ("SENDER_NOT_PERMITTED",))
    assert "サポートセンター（CS）からのみ受け付けています" in reply_text(factory)
    with factory() as s:
        assert s.scalars(select(VendorRow)).all() == []


def test_a_router_exchange_from_techsupport_is_queued_for_fg(sqlite_url: str) -> None:
    outcome, factory = decide(roles_config(sqlite_url), f"USEN SPOT ルーター交換依頼_{INSTALLED}", EXCHANGE_BODY,
                              from_=TECH)
    assert outcome.decision == "accepted", outcome
    with factory() as s:
        [row] = s.scalars(select(VendorRow))
        assert row.category == "交換" and row.ship_date is not None
        assert row.payload["note"] == "ルーター交換 CR-1→FGN600（親機）：通信が不安定なため（マニュアルV）"


def test_a_router_exchange_from_a_branch_gets_the_manuals_words_and_every_defect(sqlite_url: str) -> None:
    """Given a branch that writes the exchange itself without 交換機種, then one 差戻 lists both
    defects, the first saying in the manual's words who must send it."""
    body = EXCHANGE_BODY.replace("交換機種 : FGN600\n", "")
    outcome, factory = decide(roles_config(sqlite_url), f"USEN SPOT ルーター交換依頼_{INSTALLED}", body)
    assert (outcome.decision, set(outcome.defects)) == ("rejected", {"SENDER_NOT_PERMITTED", "BODY_FIELD_MISSING"})
    text = reply_text(factory)
    assert "必ずエンジニアからテクニカルサポート課へ依頼してください" in text and "交換機種" in text


def test_a_router_exchange_for_a_customer_not_installed_is_a_state_conflict(sqlite_url: str) -> None:
    outcome, _ = decide(roles_config(sqlite_url), f"USEN SPOT ルーター交換依頼_{ORDERED}", EXCHANGE_BODY, from_=TECH)
    assert (outcome.decision, outcome.defects) == ("rejected", ("STATE_CONFLICT",))


def test_a_role_kind_with_its_role_unconfigured_is_held_for_a_person(sqlite_url: str) -> None:
    """Given no [senders] techsupport, then nobody can be told who must send an exchange: held."""
    outcome, factory = decide(make_config(sqlite_url), f"USEN SPOT ルーター交換依頼_{INSTALLED}", EXCHANGE_BODY,
                              from_=TECH)
    assert outcome.decision == "manual" and "[senders] techsupport が未設定" in outcome.reason
    with factory() as s:
        assert s.scalars(select(OutboxMessage)).all() == []


def test_unknown_kind_lists_every_subject_of_the_table(sqlite_url: str) -> None:
    outcome, factory = decide(make_config(sqlite_url), f"USEN SPOT 顧客情報の変更_{INSTALLED}", "変更内容 : 電話番号\n")
    assert outcome.defects == ("UNKNOWN_KIND",)
    text = reply_text(factory)
    listed = [line.strip() for line in text.splitlines() if line.strip().endswith("_UNIS顧客コード")]
    assert listed == [f"USEN SPOT {prefix}_UNIS顧客コード" for prefix, _ in classify.PREFIXES]
    assert "USEN SPOT 顧客情報変更_UNIS顧客コード" in listed and len(listed) == 12


def test_the_daemon_accepts_a_change_and_sends_a_branchs_exchange_back(
        sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    """Through Dovecot and aiosmtpd: a 顧客情報変更 is filed to Processed, a branch's ルーター交換依頼
    to Rejected with one 差戻 at SMTP saying who must send it; nothing more on a second pass."""
    cfg = roles_config(sqlite_url, smtp=smtp_sink, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                       password=dovecot.password)
    processor, factory = make_processor(cfg, Clock())
    _unis(factory)
    dovecot.append(build_mail(f"USEN SPOT 顧客情報変更_{INSTALLED}", "変更内容 : 電話番号 03-1234-5678\n", from_=BRANCH,
                              message_id="<change@aoyama.usen.co.jp>"))
    dovecot.append(build_mail(f"USEN SPOT ルーター交換依頼_{INSTALLED}", EXCHANGE_BODY, from_=BRANCH,
                              message_id="<exchange@aoyama.usen.co.jp>"))
    with Mailbox(mailbox_settings(cfg)) as mbox:
        report = MailboxRunner(processor).handle(mbox)
    assert sorted((o.kind, o.decision) for o in report.outcomes) == [
        (classify.CUSTOMER_INFO_CHANGE, "accepted"), (classify.ROUTER_EXCHANGE, "rejected")]
    assert outbox.flush(factory, cfg.smtp, now=Clock()()).sent == 1
    [reply] = smtp_sink.wait_for(1, timeout=10)
    msg = message_from_bytes(reply.data)
    assert msg["In-Reply-To"] == "<exchange@aoyama.usen.co.jp>" and list(reply.rcpt_tos) == ["uchida@aoyama.usen.co.jp"]
    assert "必ずエンジニアからテクニカルサポート課へ依頼してください" in msg.get_payload(decode=True).decode(
        msg.get_content_charset())
    assert (len(dovecot.folder_uids("Processed")), len(dovecot.folder_uids("Rejected"))) == (1, 1)
    with Mailbox(mailbox_settings(cfg)) as mbox:
        assert MailboxRunner(processor).handle(mbox).outcomes == []
    assert outbox.flush(factory, cfg.smtp, now=Clock()() + dt.timedelta(hours=1)).sent == 0


def test_an_original_ssid_request_without_its_form_is_sent_back(sqlite_url: str) -> None:
    outcome, _ = decide(make_config(sqlite_url), f"USEN SPOT OriginalSSID追加申請_{INSTALLED}", "SSID追加の申込書です。\n")
    assert (outcome.kind, outcome.decision, outcome.defects) == (classify.ORIGINAL_SSID, "rejected", ("ATTACHMENT_MISSING",))


# -- OriginalSSID追加申請 (manual IV) and the office's tasks ---------------------------------------

def ssid_mail_decide(cfg: Config, code: str, ssid: str) -> tuple[Outcome, sessionmaker[Session]]:
    from tests.fixtures import pdfs

    processor, factory = make_processor(cfg, Clock(DEFAULT_NOW))
    _unis(factory)
    form = pdfs.typed_form(dict(pdfs.DEFAULT_FIELDS, customer_code=code, ssid=ssid))
    raw = build_mail(f"USEN SPOT OriginalSSID追加申請_{code}", f"顧客CD : {code}\nOriginal SSIDの追加をお願いします。\n",
                     from_=BRANCH, attachments=[("申込書.pdf", form, "application/pdf")])
    outcome = processor.process(processor.store(raw, folder="INBOX", uidvalidity=1, uid=1).mail_id)
    assert outcome is not None
    return outcome, factory


def test_an_original_ssid_request_sets_the_router_and_leaves_the_unis_confirmation_to_the_office(
        sqlite_url: str) -> None:
    from bot.actions import tasks

    outcome, factory = ssid_mail_decide(make_config(sqlite_url), INSTALLED, "cafe_midori")
    assert (outcome.kind, outcome.decision) == (classify.ORIGINAL_SSID, "accepted"), outcome
    with factory() as s:
        [row] = s.scalars(select(VendorRow))
        assert (row.category, row.payload["ssid"]) == ("SSID設定", "cafe_midori")
        entry = s.get(LedgerEntry, INSTALLED)
        assert entry is not None and entry.ssid == "cafe_midori"
        [task] = tasks.open_tasks(s)
    assert (task.kind, task.customer_code, task.detail) == (tasks.UNIS_SSID, INSTALLED, {"ssid": "cafe_midori"})
    assert task.label == "Original SSID（Z200549）のUNIS確定"


@pytest.mark.parametrize(("code", "ssid", "defects"), [
    (INSTALLED, "ｃａｆｅ", ("SSID_NOT_HALFWIDTH",)),  # 「※SSIDは半角オンリーです」
    (ORDERED, "cafe_blue", ("STATE_CONFLICT",)),  # not an existing (installed) customer yet
])
def test_an_original_ssid_request_is_sent_back_for_what_the_manual_forbids(
        sqlite_url: str, code: str, ssid: str, defects: tuple[str, ...]) -> None:
    outcome, factory = ssid_mail_decide(make_config(sqlite_url), code, ssid)
    assert (outcome.decision, outcome.defects) == ("rejected", defects)
    from bot.actions import tasks

    with factory() as s:
        assert tasks.open_tasks(s) == [] and s.scalars(select(VendorRow)).all() == []


def test_a_notice_resend_is_an_office_task_until_a_person_marks_it_done(sqlite_url: str) -> None:
    from bot.actions import tasks

    outcome, factory = decide(roles_config(sqlite_url), f"USEN SPOT 登録通知書発送依頼_{INSTALLED}",
                              "CS画面を修正しました。\n", from_=CS)
    assert outcome.decision == "accepted"
    with db.transaction(factory) as s:
        [task] = tasks.open_tasks(s)
        assert task.label == "登録通知書の再発送"
        tasks.mark_done(s, task.id, by="kagawa", now=DEFAULT_NOW)
    with db.transaction(factory) as s, pytest.raises(tasks.TaskError, match="kagawa さんが完了済み"):
        tasks.mark_done(s, task.id, by="other", now=DEFAULT_NOW)
    with factory() as s:
        assert tasks.open_tasks(s) == []


def test_a_handwritten_ssid_form_scanned_is_held_naming_the_ssid(sqlite_url: str) -> None:
    """Given an OriginalSSID追加申請 whose form is a scan filled in by hand (the reader does not
    read handwriting), then it is held for a person, naming the SSID as not read: never a
    router set to a guess."""
    from tests.fixtures.scans import FormSpec, make

    pdf, truth = make(FormSpec(index=1, seed=41, fill="hand", mark_style="printed_check", dpi=200))
    code = truth["fields"]["customer_code"]
    processor, factory = make_processor(make_config(sqlite_url), Clock(DEFAULT_NOW))
    with db.transaction(factory) as s:
        import_extract(s, UNIS.replace(INSTALLED, code).encode("cp932"), name="unis.csv", now=DEFAULT_NOW)
    raw = build_mail(f"USEN SPOT OriginalSSID追加申請_{code}", f"顧客CD : {code}\n", from_=BRANCH,
                     attachments=[("scan.pdf", pdf, "application/pdf")])
    outcome = processor.process(processor.store(raw, folder="INBOX", uidvalidity=1, uid=1).mail_id)
    assert outcome is not None and outcome.decision == "manual", outcome
    assert "確実に読み取れませんでした" in outcome.reason and "SSID（ssid）" in outcome.reason, outcome.reason
    assert "ご利用回線種別" not in outcome.reason  # an order's fields are not asked of this form


def test_the_daemon_takes_the_other_new_kinds_into_the_vendor_batch_and_the_ledger(
        sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    """Through Dovecot: a 登録通知書発送依頼 from CS, an OriginalSSID追加申請 from a branch and a
    リンク品使用連絡 from an engineer are accepted and filed to Processed; the day's vendor batch
    carries the 登録通知書再発送 and SSID設定 rows, the ledger the new SSID and serial, and the office
    has its two tasks; nothing is sent back."""
    from bot import vendor
    from bot.actions import tasks
    from tests.fixtures import pdfs

    cfg = roles_config(sqlite_url, smtp=smtp_sink, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                       password=dovecot.password)
    cfg = cfg.replace(senders=dataclasses.replace(cfg.senders, engineers=("tech.usen.co.jp",)),
                      vendor=dataclasses.replace(cfg.vendor, to=("orders@fibergate.example",)))
    processor, factory = make_processor(cfg, Clock())
    _unis(factory)
    form = pdfs.typed_form(dict(pdfs.DEFAULT_FIELDS, customer_code=INSTALLED, ssid="cafe_midori"))
    dovecot.append(build_mail(f"USEN SPOT 登録通知書発送依頼_{INSTALLED}", "CS画面を修正しました。\n", from_=CS,
                              message_id="<n@cs.usen.co.jp>"))
    dovecot.append(build_mail(f"USEN SPOT OriginalSSID追加申請_{INSTALLED}", f"顧客CD : {INSTALLED}\n", from_=BRANCH,
                              attachments=[("申込書.pdf", form, "application/pdf")], message_id="<s@aoyama.usen.co.jp>"))
    dovecot.append(build_mail(f"USEN SPOT リンク品使用連絡_{INSTALLED}",
                              "旧シリアル : FG6014112617\n新シリアル : FG6014119930\n親機/子機 : 親機\n",
                              from_="技術 <engineer@tech.usen.co.jp>", message_id="<l@tech.usen.co.jp>"))
    with Mailbox(mailbox_settings(cfg)) as mbox:
        report = MailboxRunner(processor).handle(mbox)
    assert sorted((o.kind, o.decision) for o in report.outcomes) == [
        (classify.LINK_ITEM_USED, "accepted"), (classify.NOTICE_RESEND, "accepted"), (classify.ORIGINAL_SSID, "accepted")]
    assert len(dovecot.folder_uids("Processed")) == 3
    with factory() as s:  # the rows' batch day: the mails' arrival (Dovecot's time) and the cutoff decide it
        [day] = set(s.scalars(select(VendorRow.batch_date)))
    with db.transaction(factory) as s:
        batch = vendor.build_batch(s, cfg=cfg, day=day, now=Clock()(), templates=processor.templates)
    assert batch is not None and dict(batch.counts).get("登録通知書再発送") == 1 and dict(batch.counts).get("SSID設定") == 1
    with factory() as s:
        entry = s.get(LedgerEntry, INSTALLED)
        assert entry is not None and entry.ssid == "cafe_midori" and entry.data["serial"] == "FG6014119930"
        assert sorted(t.kind for t in tasks.open_tasks(s)) == [tasks.NOTICE_RESEND, tasks.UNIS_SSID]
    assert outbox.flush(factory, cfg.smtp, now=Clock()()).sent == 1  # the vendor batch; no 差戻
    [sent] = smtp_sink.wait_for(1, timeout=10)
    assert list(sent.rcpt_tos) == ["orders@fibergate.example"]
