"""The rules through the real pipeline: mails APPENDed to a real Dovecot INBOX, one pass of the
MailboxRunner, replies flushed to a real aiosmtpd server (as tests/test_end_to_end.py does).

Three kinds each accepted once and rejected once, a mail for a person, and machine mail: every
mail ends in its folder, a 差戻 reaches the sender (with the original CC) for each rejection
and for nothing else, and the accepted ones leave their vendor rows.
"""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message
from pathlib import Path

from sqlalchemy import select

from bot import db
from bot.actions import outbox
from bot.config import BranchesConfig
from bot.daemon.main import mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.db.models import LedgerEntry, Mail, VendorRow
from bot.demo.embedded import EmbeddedSmtp
from bot.domain import vocab
from bot.intake import Mailbox
from bot.unis import import_extract
from tests.support import scenarios as sc
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_auto_reply, build_bounce
from tests.support.scenarios import (
    CANCELLED,
    INSTALLED,
    MANAGER,
    NOW,
    ORDER,
    PDF,
    PLUS,
    form,
    order,
    order_body,
    request,
    request_body,
    termination_pdf,
)

SENDER = "uchida@aoyama.usen.co.jp"
MOVE_TO, MOVE_NO_LINE = "300000021", "300000022"  # installed customers asking for a relocation


def mid(name: str) -> str:
    return f"<{name}@aoyama.usen.co.jp>"


# (message id, expected folder, expected defects in the reply (None: no reply), raw mail)
def mails() -> list[tuple[str, str, set[str] | None, bytes]]:
    relocation_ok = request_body(MOVE_TO, "移設先住所 : 東京都渋谷区神南1-2-3", "移設先回線種別 : フレッツ光ネクスト")
    relocation_bad = request_body(MOVE_NO_LINE, "移設先住所 : 東京都渋谷区神南1-2-3")
    html_bad = "<html><body>" + "".join(f"<div>{line}</div>" for line in relocation_bad.splitlines()) + "</body></html>"
    return [
        (mid("order-ok"), "Processed", None, order(charset="iso-2022-jp", message_id=mid("order-ok"))),
        (mid("order-bad"), "Rejected", {"PDF_NOT_ENCRYPTED", "PLUS_FLAG_MISMATCH"},
         order(PLUS, pdf=form(PLUS, encrypt=None, shop_name="スパゲティーUSEN"), charset="cp50220",
               body=order_body(PLUS, plus="有", shop="スパゲティーUSEN", extra=["㈱USEN ①至急でお願いします"]),
               message_id=mid("order-bad"))),
        (mid("termination-ok"), "Processed", None,
         request("解約申請", INSTALLED, request_body(INSTALLED, "解約申請書を送付します。"), charset="utf-8",
                 attachments=[("解約申請書.pdf", termination_pdf(INSTALLED, "2026/11/30"), PDF)],
                 message_id=mid("termination-ok"))),
        (mid("termination-bad"), "Rejected", {"STATE_CONFLICT"},
         request("解約申請", CANCELLED, request_body(CANCELLED), charset="shift_jis",
                 attachments=[("解約申請書.pdf", termination_pdf(CANCELLED, "2026/11/30"), PDF)],
                 message_id=mid("termination-bad"))),
        (mid("relocation-ok"), "Processed", None,
         request("移設依頼", MOVE_TO, relocation_ok, charset="iso-2022-jp", message_id=mid("relocation-ok"))),
        (mid("relocation-bad"), "Rejected", {"DESTINATION_LINE_MISSING"},
         request("移設依頼", MOVE_NO_LINE, html_bad, charset="utf-8", html_only=True,
                 message_id=mid("relocation-bad"))),
        (mid("for-a-person"), "Manual", None,
         request("", None, "来週の会議の件です。\n", subject="来週の会議について", message_id=mid("for-a-person"))),
        ("<bounce@mx.usen.co.jp>", "Ignored", None,
         build_bounce(order(cc=None, message_id=mid("bounced")), message_id="<bounce@mx.usen.co.jp>")),
        (mid("out-of-office"), "Ignored", None, _with_id(build_auto_reply(style="exchange"), mid("out-of-office"))),
        ("<spoof@evil.example>", "Ignored", None,
         order(cc=None, from_="内田 <uchida@usen.co.jp.evil.example>", message_id="<spoof@evil.example>")),
    ]


def _with_id(raw: bytes, message_id: str) -> bytes:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"message-id:")]
    return b"\r\n".join([*lines, f"Message-ID: {message_id}".encode()]) + sep + rest


def body_of(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(msg.get_content_charset() or "utf-8")


def test_kinds_end_in_their_folders_and_only_rejections_are_answered(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp, tmp_path: Path
) -> None:
    """Given 器材発注依頼, 解約申請 and 移設依頼 mails (one good, one defective each, in ISO-2022-JP,
    CP50220, Shift_JIS, UTF-8 and HTML-only), a mail naming neither USEN SPOT nor a code, a
    bounce, an out-of-office reply and a lookalike-domain sender in INBOX,
    when the bot runs one pass and flushes its outbox,
    then each mail is in its folder, one 差戻 per rejected mail arrives at the SMTP server —
    threaded, to the sender with the manager in CC, listing exactly its defects — and nothing
    answers the others; the accepted ones left their vendor rows and ledger states."""
    branches = tmp_path / "branches.csv"
    branches.write_text(sc.BRANCHES_CSV, encoding="utf-8")
    cfg = make_config(sqlite_url, smtp=smtp_sink, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password).replace(branches=BranchesConfig(file=str(branches)))
    processor, factory = make_processor(cfg, Clock(NOW))
    extra = [sc.unis_line(MOVE_TO, "確定"), sc.unis_line(MOVE_NO_LINE, "確定")]
    with db.transaction(factory) as s:
        import_extract(s, sc.unis_csv(extra).encode("cp932"), name="unis.csv", now=NOW)
    table = mails()
    dovecot.append_many(raw for _mid, _folder, _defects, raw in table)

    with Mailbox(mailbox_settings(cfg)) as mbox:
        report = MailboxRunner(processor).handle(mbox)
    assert len(report.outcomes) == len(table)
    assert "quarantined" not in {o.decision for o in report.outcomes}
    assert outbox.flush(factory, cfg.smtp, now=NOW).sent == 3

    with factory() as s:
        folder_of = {m.message_id: m.filed_folder for m in s.scalars(select(Mail))}
    assert folder_of == {message_id: folder for message_id, folder, _d, _r in table}
    for folder in ("Processed", "Rejected", "Manual", "Ignored"):
        assert len(dovecot.folder_uids(folder)) == sum(1 for _m, f, _d, _r in table if f == folder), folder
    assert dovecot.folder_uids("INBOX") == []

    replies = {message_from_bytes(m.data)["In-Reply-To"]: m for m in smtp_sink.wait_for(3, timeout=10)}
    expected = {message_id: defects for message_id, _f, defects, _r in table if defects is not None}
    assert set(replies) == set(expected)
    for message_id, defects in expected.items():
        envelope = replies[message_id]
        msg = message_from_bytes(envelope.data)
        assert set(envelope.rcpt_tos) == {SENDER, MANAGER}
        assert msg["Auto-Submitted"] == "auto-replied"
        text = body_of(msg)
        shown = {code for code in sc.DEFECT_CODES if f"【{vocab.code_name(code)}】" in text}  # by name, not code
        assert shown == defects, (message_id, text)

    with factory() as s:
        rows = {(r.customer_code, r.category) for r in s.scalars(select(VendorRow))}
        assert rows == {(ORDER, "新規"), (INSTALLED, "解約"), (MOVE_TO, "移設")}
        states = {e.customer_code: e.state for e in s.scalars(select(LedgerEntry))}
        assert states == {ORDER: "ordered", INSTALLED: "termination_scheduled", MOVE_TO: "installed"}

    # A second pass finds nothing and sends nothing.
    with Mailbox(mailbox_settings(cfg)) as mbox:
        again = MailboxRunner(processor).handle(mbox)
    assert again.outcomes == [] and again.stored == 0
    assert outbox.flush(factory, cfg.smtp, now=NOW).sent == 0
    assert len(smtp_sink.messages) == 3
