"""The 統合申込書 (issue 9 point 3) through the real daemon: order mails APPENDed to a real Dovecot
INBOX, one pass of the bot, the decision, the vendor row and the 差戻 at a real aiosmtpd server.

Given/when/then in each docstring.  Typed forms from tests/fixtures/integrated.py, scans from
tests/fixtures/scans/integrated_layout.py (real OCR)."""

from __future__ import annotations

import dataclasses
from email import message_from_bytes

import pytest
from sqlalchemy import select

from bot import db
from bot.actions import outbox
from bot.config import VendorConfig
from bot.db.models import Mail, VendorRow
from bot.demo.embedded import EmbeddedSmtp
from bot.unis import import_extract
from tests.fixtures import pdfs
from tests.fixtures.demo_mails import UNIS_CSV, order_body
from tests.fixtures.integrated import integrated_form
from tests.fixtures.scans import FormSpec, make
from tests.fixtures.scans.integrated_layout import IntegratedSpec, make_integrated
from tests.fixtures.scans.mails import order_mail
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_mail
from tests.test_end_to_end import CC, PDF, one_pass

UNIS_HEADER = UNIS_CSV.split("\r\n", 1)[0]


def setup(url: str, dovecot: Dovecot, smtp: EmbeddedSmtp, *scans: dict):
    """The bot against the test Dovecot and SMTP sink, UNIS orders for the demo codes and for
    each scan's code, and a vendor PDF password (so a scan with no defect can be accepted)."""
    cfg = make_config(url, smtp=smtp, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password)
    cfg = cfg.replace(vendor=dataclasses.replace(VendorConfig(), pdf_password="vendor-secret"))
    processor, factory = make_processor(cfg, Clock())
    extra = "".join(f"{t['fields']['customer_code']},1,1,Z100403,受注専用USEN SPOT 通常ルータ,受注,{t['fields']['shop_name']},"
                    "青山支店,01-99 新設 その他,地区,2026/12/04,,,,,\r\n" for t in scans)
    with db.transaction(factory) as s:
        import_extract(s, (UNIS_CSV + extra).encode("cp932"), name="unis.csv", now=Clock()())
    return cfg, processor, factory


def typed_mail(code: str, pdf: bytes, *, plus: str = "無", shop: str = "カフェ AOYAMA", msgid: str) -> bytes:
    return build_mail(f"USEN SPOT 器材発注依頼_{code}", order_body(code, plus=plus, shop=shop), charset="iso-2022-jp",
                      cc=CC, attachments=[("統合申込書.pdf", pdf, PDF)], message_id=msgid)


def test_a_typed_integrated_form_with_plus_is_accepted_and_queued_with_plus(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a typed 統合申込書 with the USEN SPOT row ticked and Plus written in its コース cell,
    its body saying SPOT Plus該当 有 and its UNIS order registered,
    when the bot runs a pass,
    then it is accepted, filed in Processed, and its vendor row says Plus; nothing is sent back."""
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink)
    fields = dict(pdfs.DEFAULT_FIELDS, customer_code="410106060", plus=True, ssid="kitsune_Wi-Fi",
                  shop_name="スパゲティーUSEN", mail_local="uspot", mail_reading="ユーエスピーオーティー")
    dovecot.append(typed_mail("410106060", integrated_form(fields, chosen=("spot", "hikari")), plus="有",
                              shop="スパゲティーUSEN", msgid="<integrated-plus@aoyama.usen.co.jp>"))

    report = one_pass(cfg, processor)
    [outcome] = report.outcomes
    assert (outcome.decision, outcome.defects) == ("accepted", ()), outcome
    assert len(dovecot.folder_uids("Processed")) == 1
    with factory() as s:
        [row] = s.scalars(select(VendorRow)).all()
        assert row.customer_code == "410106060" and row.payload["plus"] is True
        mail = s.scalars(select(Mail)).one()
        assert mail.facts["form_shape"] == "typed" and mail.facts["form"]["plus"] is True
    assert outbox.flush(factory, cfg.smtp, now=Clock()()).sent == 0


def test_a_typed_integrated_form_without_spot_ticked_is_sent_back_naming_the_spot_row(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a typed 統合申込書 whose USEN SPOT row is not ticked (only USEN SPOT Tourist is),
    when the bot runs a pass and flushes its outbox,
    then it is rejected with SPOT_NOT_SELECTED alone, and the 差戻 tells the branch in Japanese
    that the USEN SPOT row has no tick (Tourist being another service)."""
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink)
    dovecot.append(typed_mail("988776654", integrated_form(chosen=("tourist",)),
                              msgid="<integrated-nospot@aoyama.usen.co.jp>"))

    [outcome] = one_pass(cfg, processor).outcomes
    assert (outcome.decision, outcome.defects) == ("rejected", ("SPOT_NOT_SELECTED",)), outcome
    assert len(dovecot.folder_uids("Rejected")) == 1
    assert outbox.flush(factory, cfg.smtp, now=Clock()()).sent == 1
    [reply] = smtp_sink.wait_for(1, timeout=10)
    msg = message_from_bytes(reply.data)
    body = msg.get_payload(decode=True).decode(msg.get_content_charset())
    assert "統合申込書の「USEN SPOT」欄にチェックがありません" in body
    assert "「USEN SPOT Tourist」は別のサービスです" in body


@pytest.mark.parametrize("mode", ["hold", "decide"])
def test_a_printed_integrated_scan_is_held_by_default_or_decided_as_the_dedicated_scan(
    mode: str, sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given the same order twice, once on the ご加入申込書 and once on the 統合申込書 (both printed
    and scanned, USEN SPOT ticked, no Plus), each with its UNIS order,
    when the bot runs a pass,
    then with [scans] integrated = "hold" (the default) the integrated one is held for a person
    saying so, and with "decide" both get the same decision and defects, the integrated one
    accepted like the dedicated one, each with a vendor row whose Plus is false."""
    dedicated_pdf, dedicated = make(FormSpec(index=0, seed=47, fill="typed", mark_style="printed_check"))
    integrated_pdf, integrated = make_integrated(IntegratedSpec(seed=53, fill="typed", mark_style="printed_check"))
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink, dedicated, integrated)
    if mode == "decide":
        cfg = cfg.replace(scans=dataclasses.replace(cfg.scans, integrated="decide"))
        processor, factory = make_processor(cfg, Clock())
    dedicated["body"]["SPOT Plus該当"] = "有" if dedicated["fields"]["plus"] else "無"
    dovecot.append(order_mail(dedicated_pdf, dedicated, message_id="<scan-dedicated@aoyama.usen.co.jp>"))
    dovecot.append(order_mail(integrated_pdf, integrated, message_id="<scan-integrated@aoyama.usen.co.jp>"))

    outcomes = {o.customer_code: o for o in one_pass(cfg, processor).outcomes}
    one = outcomes[dedicated["fields"]["customer_code"]]
    two = outcomes[integrated["fields"]["customer_code"]]
    assert one.decision == "accepted", one
    if mode == "hold":
        assert two.decision == "manual" and "統合申込書（スキャン）は目視で確認してください" in two.reason, two
        assert "不備は見つかりませんでした" in two.reason
        return
    assert (two.decision, two.defects) == (one.decision, one.defects), (one, two)
    assert two.decision == "accepted", two
    with factory() as s:
        rows = {r.customer_code: r for r in s.scalars(select(VendorRow))}
        assert rows[integrated["fields"]["customer_code"]].payload["plus"] is False
        facts = s.scalars(select(Mail).where(Mail.customer_code == integrated["fields"]["customer_code"])).one().facts
        assert facts["form_readings"]["spot_selected"]["value"] == "true"


def test_a_scan_whose_spot_mark_is_in_doubt_is_held_for_a_person_naming_it(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a scanned 統合申込書 whose USEN SPOT box holds only a faint pencil loop,
    when the bot runs a pass,
    then it is held (Manual), never sent back: the reason names Plus (the reading that rests on
    the SPOT row), the stored facts name spot_selected unsure, and no reply is sent."""
    pdf, truth = make_integrated(IntegratedSpec(seed=8, spot_style="faint", plus="printed"))
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink, truth)
    truth["body"]["SPOT Plus該当"] = "有"
    dovecot.append(order_mail(pdf, truth, message_id="<scan-doubt@aoyama.usen.co.jp>"))

    [outcome] = one_pass(cfg, processor).outcomes
    assert outcome.decision == "manual" and "SPOT_NOT_SELECTED" not in outcome.defects, outcome
    assert "plus" in outcome.reason
    assert len(dovecot.folder_uids("Manual")) == 1
    with factory() as s:
        facts = s.scalars(select(Mail)).one().facts
        assert "spot_selected" in facts["form_unsure"]
    assert outbox.flush(factory, cfg.smtp, now=Clock()()).sent == 0
