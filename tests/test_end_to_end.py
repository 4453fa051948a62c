"""The spine, end to end: a real mail APPENDed to a real Dovecot INBOX ends in the right
folder, its reply arrives at a real aiosmtpd server, and nothing is answered twice.

Given/when/then in each docstring. Only two faults are injected (a crash between steps, an
unexpected error inside the pipeline): everything else is the real protocol.
"""

from __future__ import annotations

import datetime as dt
import threading
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message

import pytest
from sqlalchemy import func, select

from bot import db
from bot.actions import outbox
from bot.daemon.main import Daemon, mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.db.models import (
    FILED,
    QUARANTINED,
    LedgerEntry,
    Mail,
    OutboxMessage,
    VendorRow,
)
from bot.demo.embedded import EmbeddedSmtp
from bot.intake import Mailbox
from bot.unis import import_extract
from tests.fixtures import pdfs
from tests.fixtures.demo_mails import UNIS_CSV, order_body
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_bounce, build_mail

PDF = "application/pdf"
CC = "aoyama-shitencho@aoyama.usen.co.jp"


def good_mail(code: str = "988776654", msgid: str = "<good-1@aoyama.usen.co.jp>") -> bytes:
    fields = dict(pdfs.DEFAULT_FIELDS, customer_code=code)
    return build_mail(f"USEN SPOT 器材発注依頼_{code}", order_body(code), charset="iso-2022-jp", cc=CC,
                      attachments=[("申込書.pdf", pdfs.typed_form(fields), PDF)], message_id=msgid)


def bad_mail(msgid: str = "<bad-1@aoyama.usen.co.jp>") -> bytes:
    """Bフレッツ without line type, and no 担当者名 line: two defects in one reply."""
    fields = dict(pdfs.DEFAULT_FIELDS, customer_code="988776655", line_kind="b_flets", line_type=None)
    return build_mail("Re: USEN SPOT 器材発注依頼_988776655", order_body("988776655", staff=None), charset="cp50220",
                      cc=CC, attachments=[("申込書.pdf", pdfs.typed_form(fields), PDF)], message_id=msgid)


def subject_of(msg: Message) -> str:
    return str(make_header(decode_header(msg["Subject"] or "")))


def setup_bot(url: str, dovecot: Dovecot, smtp: EmbeddedSmtp):  # noqa: ANN201
    cfg = make_config(url, smtp=smtp, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password)
    processor, factory = make_processor(cfg, Clock())
    with db.transaction(factory) as s:
        import_extract(s, UNIS_CSV.encode("cp932"), name="unis.csv", now=Clock()())
    return cfg, processor, factory


def one_pass(cfg, processor):  # noqa: ANN001, ANN201
    with Mailbox(mailbox_settings(cfg)) as mbox:
        return MailboxRunner(processor).handle(mbox)


def test_good_and_bad_mail_end_in_their_folders_and_the_reply_arrives_once(
    any_db_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a good order and a defective one in INBOX,
    when the bot runs a pass and flushes its outbox,
    then the good one is in Processed with a vendor row, the bad one in Rejected, and exactly one
    差戻 arrives listing both defects, threaded, to the sender with the original CC;
    and when the bot runs again nothing more is sent."""
    cfg, processor, factory = setup_bot(any_db_url, dovecot, smtp_sink)
    dovecot.append(good_mail())
    dovecot.append(bad_mail())

    report = one_pass(cfg, processor)
    assert sorted(o.decision for o in report.outcomes) == ["accepted", "rejected"]
    assert outbox.flush(factory, cfg.smtp, now=Clock()()).sent == 1

    assert dovecot.folder_uids("INBOX") == []
    assert len(dovecot.folder_uids("Processed")) == 1
    assert len(dovecot.folder_uids("Rejected")) == 1
    [reply] = smtp_sink.wait_for(1, timeout=10)
    msg = message_from_bytes(reply.data)
    assert set(reply.rcpt_tos) == {"uchida@aoyama.usen.co.jp", CC}
    assert msg["In-Reply-To"] == "<bad-1@aoyama.usen.co.jp>"
    assert "<bad-1@aoyama.usen.co.jp>" in msg["References"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert subject_of(msg) == "Re: USEN SPOT 器材発注依頼_988776655"
    body = msg.get_payload(decode=True).decode(msg.get_content_charset())
    assert "【回線タイプの選択なし】" in body and "【本文の項目不足】" in body and "担当者名" in body  # names, not codes
    assert "LINE_TYPE_MISSING" not in body and {"LINE_TYPE_MISSING", "BODY_FIELD_MISSING"} <= set(msg["X-USEN-SPOT-Defects"].split())
    assert "ファミリー／マンション" in body

    with factory() as s:
        assert s.scalar(select(func.count()).select_from(VendorRow)) == 1
        entry = s.get(LedgerEntry, "988776654")
        assert entry is not None and entry.state == "ordered"
        assert {m.status for m in s.scalars(select(Mail))} == {FILED}

    # Run again: nothing new to fetch, nothing to send.
    again = one_pass(cfg, processor)
    assert again.outcomes == [] and again.stored == 0
    assert outbox.flush(factory, cfg.smtp, now=Clock()() + dt.timedelta(hours=1)).sent == 0
    assert len(smtp_sink.messages) == 1


def test_crash_after_decision_before_move_files_without_answering_again(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the process dies after the decision commits but before the IMAP MOVE,
    when the bot starts again,
    then the mail is moved to Rejected and the reply is sent once, not twice."""
    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    dovecot.append(bad_mail())

    def crash(self: Mailbox, uid: int, folder: str) -> None:
        raise SystemExit("power cut")

    monkeypatch.setattr(Mailbox, "file_away", crash)
    with pytest.raises(SystemExit):
        one_pass(cfg, processor)
    monkeypatch.undo()
    assert len(dovecot.folder_uids("INBOX")) == 1

    report = one_pass(cfg, processor)
    assert report.outcomes == []  # already decided: only filed now
    assert report.filed == 1
    assert len(dovecot.folder_uids("Rejected")) == 1
    outbox.flush(factory, cfg.smtp, now=Clock()())
    smtp_sink.wait_for(1, timeout=10)
    assert len(smtp_sink.messages) == 1
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_crash_after_store_before_decision_decides_once(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the process dies right after the raw mail is committed,
    when the bot starts again, then that stored mail is decided exactly once."""
    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    dovecot.append(bad_mail())
    original = type(processor).process
    monkeypatch.setattr(type(processor), "process", lambda self, mail_id, ahead=None: (_ for _ in ()).throw(SystemExit("crash")))
    with pytest.raises(SystemExit):
        one_pass(cfg, processor)
    monkeypatch.setattr(type(processor), "process", original)
    with factory() as s:
        assert [m.status for m in s.scalars(select(Mail))] == ["stored"]
    report = one_pass(cfg, processor)
    assert [o.decision for o in report.outcomes] == ["rejected"]
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_uidvalidity_change_never_re_answers(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a watched folder with a mail decided (reply queued) whose move failed, and the
    folder then deleted and recreated (new UIDVALIDITY) holding the same mail plus a second copy
    of an already filed mail,
    when the bot runs, then it files the first without deciding again and sends the duplicate
    copy to Ignored: still one reply per mail."""
    cfg = make_config(sqlite_url, smtp=smtp_sink, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password, folder="Spot")
    processor, factory = make_processor(cfg, Clock())
    with db.transaction(factory) as s:
        import_extract(s, UNIS_CSV.encode("cp932"), name="unis.csv", now=Clock()())
    with dovecot.client() as c:
        c.create_folder("Spot")
    good = good_mail()
    dovecot.append(good, folder="Spot")

    def run() -> object:
        with Mailbox(mailbox_settings(cfg)) as mbox:
            return MailboxRunner(processor, folder="Spot").handle(mbox)

    run()  # good mail decided and filed
    dovecot.append(bad_mail(), folder="Spot")
    monkeypatch.setattr(Mailbox, "file_away", lambda self, uid, folder: (_ for _ in ()).throw(SystemExit("crash")))
    with pytest.raises(SystemExit):
        run()
    monkeypatch.undo()
    raw_bad = dovecot.folder_messages("Spot")[0]
    with dovecot.client() as c:
        old_validity = c.select_folder("Spot")[b"UIDVALIDITY"]
        c.close_folder()
        c.delete_folder("Spot")
        c.create_folder("Spot")
    dovecot.append(raw_bad, folder="Spot")
    dovecot.append(good, folder="Spot")  # a second copy of the already-filed good mail
    with dovecot.client() as c:
        assert c.select_folder("Spot")[b"UIDVALIDITY"] != old_validity

    report = run()
    assert report.outcomes == []  # type: ignore[attr-defined]
    assert report.duplicates == 1  # type: ignore[attr-defined]
    assert len(dovecot.folder_uids("Processed")) == 1
    assert len(dovecot.folder_uids("Rejected")) == 1
    assert len(dovecot.folder_uids("Ignored")) == 1
    assert dovecot.folder_uids("Spot") == []
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert s.scalar(select(func.count()).select_from(Mail)) == 2


def test_one_broken_mail_is_quarantined_and_the_rest_carry_on(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given three mails where deciding the middle one hits an unexpected error,
    when the bot runs, then that mail goes to Quarantine with its traceback stored and the
    other two are decided and filed normally."""
    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    dovecot.append(good_mail())
    dovecot.append(good_mail("988776656", "<boom@aoyama.usen.co.jp>"))
    dovecot.append(bad_mail())
    from bot.pipeline import decision as pipeline  # the decide stage gathers the facts

    real_gather = pipeline.gather

    def flaky_gather(mail, **kw):  # noqa: ANN001, ANN202
        if mail.message_id == "<boom@aoyama.usen.co.jp>":
            raise RuntimeError("simulated bug in a check")
        return real_gather(mail, **kw)

    monkeypatch.setattr(pipeline, "gather", flaky_gather)
    report = one_pass(cfg, processor)
    assert sorted(o.decision for o in report.outcomes) == ["accepted", "quarantined", "rejected"]
    assert len(dovecot.folder_uids("Quarantine")) == 1
    with factory() as s:
        row = s.scalar(select(Mail).where(Mail.status == QUARANTINED))
        assert row is not None and "simulated bug in a check" in (row.error or "")


def test_machine_mail_is_ignored_and_never_answered(sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    """Given a bounce of one of our own replies, when the bot runs, then it is filed to
    Ignored and no mail is queued: no loop."""
    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    dovecot.append(build_bounce(bad_mail()))
    report = one_pass(cfg, processor)
    assert [o.decision for o in report.outcomes] == ["ignored"]
    assert len(dovecot.folder_uids("Ignored")) == 1
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_daemon_hears_a_new_mail_by_idle_and_replies(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given `bot run` waiting in IDLE, when a defective mail arrives, then its reply reaches
    the SMTP server within seconds (bounded wait, no fixed sleep), and SIGTERM-style stop ends it."""
    cfg = make_config(sqlite_url, smtp=smtp_sink, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password)
    daemon = Daemon(cfg)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    thread.start()
    try:
        dovecot.append(bad_mail())
        [reply] = smtp_sink.wait_for(1, timeout=30)
        assert "In-Reply-To: <bad-1@aoyama.usen.co.jp>" in reply.data.decode("ascii", "replace")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(dovecot.folder_uids("Rejected")) == 1


def test_malformed_mail_gets_a_clear_outcome_and_blocks_nothing(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a mail with no headers worth the name and a broken MIME structure between two good
    mails, when the bot runs, then the broken one is held for a person (Manual) with its parse
    problems recorded, and the good ones are decided as usual."""
    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    dovecot.append(good_mail())
    broken = (b"From: uchida@aoyama.usen.co.jp\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n"
              b"--zz\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n\x82\xa0\xff\xfe garbage\r\n")
    dovecot.append(broken)
    dovecot.append(bad_mail())
    report = one_pass(cfg, processor)
    assert sorted(o.decision for o in report.outcomes) == ["accepted", "manual", "rejected"]
    assert len(dovecot.folder_uids("Manual")) == 1
    with factory() as s:
        row = s.scalar(select(Mail).where(Mail.decision == "manual"))
        assert row is not None and row.raw == broken
        assert any("x-unknown" in p for p in row.facts.get("mail_problems", []))


def test_bot_run_answers_then_stops_gracefully_on_sigterm(
    tmp_path, sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp  # noqa: ANN001
) -> None:
    """Given `bot run` started as an admin would (a config file, secrets from the environment),
    when a defective mail arrives, then its reply reaches the SMTP server; and on SIGTERM the
    process finishes its work and exits 0."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    config = tmp_path / "config.toml"
    config.write_text(
        f'[mailbox]\nhost = "{dovecot.host}"\nport = {dovecot.port}\nuser = "{dovecot.user}"\npoll_seconds = 5.0\n'
        f'[smtp]\nhost = "{smtp_sink.host}"\nport = {smtp_sink.port}\n'
        f'[database]\nurl = "{sqlite_url}"\n',
        encoding="utf-8",
    )
    env = dict(os.environ, BOT_MAILBOX_PASSWORD=dovecot.password)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], env=env,
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        dovecot.append(bad_mail())
        [reply] = smtp_sink.wait_for(1, timeout=60)
        assert "In-Reply-To: <bad-1@aoyama.usen.co.jp>" in reply.data.decode("ascii", "replace")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert b"bot stopped" in out
    assert len(dovecot.folder_uids("Rejected")) == 1


def test_two_copies_in_one_pass_and_a_reused_message_id(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given the same mail delivered twice (an alias) and a *different* mail that reuses a
    Message-ID already seen, when the bot runs, then the copy goes to Ignored (not left in
    INBOX for ever), and the different mail is decided on its own (not lost as a duplicate)."""
    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    bad = bad_mail()
    dovecot.append(bad)
    dovecot.append(bad)
    impostor = good_mail("988776656", msgid="<bad-1@aoyama.usen.co.jp>")
    dovecot.append(impostor)
    report = one_pass(cfg, processor)
    assert sorted(o.decision for o in report.outcomes) == ["accepted", "rejected"]
    assert report.duplicates == 1
    assert dovecot.folder_uids("INBOX") == []
    assert len(dovecot.folder_uids("Ignored")) == 1
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Mail)) == 2
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_arrival_time_not_processing_time_drives_the_cutoff(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given an order that reached the server at 16:55 JST but is processed at 17:30 (the bot
    was down), then it rides in that day's vendor batch: time rules use INTERNALDATE."""
    import datetime as dt

    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    jst = dt.timezone(dt.timedelta(hours=9))
    with dovecot.client() as c:
        c.append("INBOX", good_mail(), msg_time=dt.datetime(2026, 11, 24, 16, 55, tzinfo=jst))
    processor.clock = Clock(dt.datetime(2026, 11, 24, 17, 30, tzinfo=jst))
    report = one_pass(cfg, processor)
    assert [o.decision for o in report.outcomes] == ["accepted"]
    with factory() as s:
        row = s.scalar(select(VendorRow))
        assert row is not None and row.batch_date == dt.date(2026, 11, 24)
        mail = s.scalar(select(Mail))
        assert mail is not None and mail.received_at == dt.datetime(2026, 11, 24, 7, 55, tzinfo=dt.UTC)


def test_reply_to_outside_the_allowed_domains_is_not_used(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a branch mail whose Reply-To points outside the company, the 差戻 goes to the
    From address (a forged Reply-To must not receive customer codes)."""
    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    fields = dict(pdfs.DEFAULT_FIELDS, customer_code="988776655", line_kind="b_flets", line_type=None)
    raw = build_mail("USEN SPOT 器材発注依頼_988776655", order_body("988776655"), charset="utf-8",
                     reply_to="collector@evil.example", attachments=[("申込書.pdf", pdfs.typed_form(fields), PDF)])
    dovecot.append(raw)
    one_pass(cfg, processor)
    outbox.flush(factory, cfg.smtp, now=Clock()())
    [reply] = smtp_sink.wait_for(1, timeout=10)
    assert reply.rcpt_tos == ("uchida@aoyama.usen.co.jp",)


def test_a_quarantined_mail_moved_back_is_decided_again(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a mail quarantined by a bug, when the bug is fixed and a person moves the mail
    from Quarantine back to INBOX, then the next pass decides it (not filed as a duplicate)."""
    from bot.pipeline import decision as pipeline  # the decide stage gathers the facts

    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    dovecot.append(bad_mail())
    real_gather = pipeline.gather
    monkeypatch.setattr(pipeline, "gather", lambda mail, **kw: (_ for _ in ()).throw(RuntimeError("bug")))
    assert [o.decision for o in one_pass(cfg, processor).outcomes] == ["quarantined"]
    monkeypatch.setattr(pipeline, "gather", real_gather)
    with dovecot.client() as c:
        c.select_folder("Quarantine")
        c.move(c.search("ALL"), "INBOX")
    report = one_pass(cfg, processor)
    assert [o.decision for o in report.outcomes] == ["rejected"]
    assert len(dovecot.folder_uids("Rejected")) == 1 and dovecot.folder_uids("Ignored") == []


def test_a_stored_mail_that_vanished_before_its_decision_is_held_for_a_person(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the bot stopped right after storing a mail, and a person then moved the mail
    away, when the bot runs again, the stored mail becomes `manual` (it shows in the digest)
    instead of waiting for ever."""
    cfg, processor, factory = setup_bot(sqlite_url, dovecot, smtp_sink)
    dovecot.append(bad_mail())
    monkeypatch.setattr(type(processor), "process", lambda self, mail_id, ahead=None: (_ for _ in ()).throw(SystemExit("crash")))
    with pytest.raises(SystemExit):
        one_pass(cfg, processor)
    monkeypatch.undo()
    with dovecot.client() as c:
        c.create_folder("Elsewhere")
        c.select_folder("INBOX")
        c.move(c.search("ALL"), "Elsewhere")
    one_pass(cfg, processor)
    with factory() as s:
        row = s.scalar(select(Mail))
        assert row is not None and row.decision == "manual" and "移動または削除" in row.facts["reason"]
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
