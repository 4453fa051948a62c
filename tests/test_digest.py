"""Office digest (日次レポート): built from a database with something in every section; the
text part against a golden file; the HTML part rendered by headless Chromium; sent through
the outbox to a real SMTP server as multipart/alternative.

Regenerate the golden file after an intended change: ``UPDATE_GOLDEN=1 pytest tests/test_digest.py``.
Save the phone screenshot for the docs: ``DIGEST_SCREENSHOT=docs/digest.png pytest tests/test_digest.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.commands.digest import cli_digest
from bot.config import Config, OfficeConfig, TemplatesConfig
from bot.db import PROJECT_ROOT
from bot.db.models import (
    FILED,
    QUARANTINED,
    STORED,
    LedgerEntry,
    Mail,
    OutboxMessage,
    VendorBatch,
    VendorRow,
)
from bot.demo.embedded import EmbeddedSmtp
from bot.digest import (
    DigestError,
    branch_of,
    build_digest,
    digest_job,
    digest_message,
    send_digest,
)
from bot.templating import Templates
from tests.support.app import make_config
from tests.support.browser import chromium as find_chromium

JST = dt.timezone(dt.timedelta(hours=9))
DAY = dt.date(2026, 11, 24)  # a Tuesday
# The digest of the 24th, made the next morning (the mail of 00:05 on the 25th is not in it).
NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=JST)
LAST_FETCH = dt.datetime(2026, 11, 25, 7, 58, tzinfo=JST)
GOLDEN = Path(__file__).parent / "golden" / "digest_2026-11-24.txt"
OFFICE = ("kaigyo-shien@usen.co.jp",)
MORNING = dt.datetime(2026, 11, 24, 9, 0, tzinfo=JST)


def jst(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=JST)


class Seeder:
    """Rows written straight into the tables, as the pipeline would have left them."""

    def __init__(self, session: Session) -> None:
        self.s = session
        self.uid = 0

    def mail(self, received: dt.datetime, subject: str, sender: str, *, kind: str | None, decision: str | None,
             code: str | None = None, defects: list[dict[str, object]] | None = None,
             warnings: list[dict[str, object]] | None = None, reason: str = "", status: str = FILED,
             error: str | None = None) -> Mail:
        self.uid += 1
        message_id = f"<m{self.uid:03d}@{sender.partition('@')[2] or 'unknown'}>"
        row = Mail(
            folder="INBOX", uidvalidity=7, uid=self.uid, msgid_hash=hashlib.sha256(message_id.encode()).hexdigest(),
            message_id=message_id, raw=b"", subject=subject, from_addr=sender, status=status, kind=kind,
            customer_code=code, decision=decision, defects=defects or [], warnings=warnings or [],
            facts={"reason": reason} if reason else {}, error=error, received_at=received,
            decided_at=received if decision else None,
        )
        self.s.add(row)
        self.s.flush()
        return row

    def outbox(self, subject: str, *, purpose: str, status: str, attempts: int = 0, error: str | None = None,
               mail_id: int | None = None, created: dt.datetime = MORNING, sent: dt.datetime | None = None,
               rcpt: str = "uchida@aoyama.usen.co.jp") -> OutboxMessage:
        self.uid += 1
        row = OutboxMessage(
            mail_id=mail_id, purpose=purpose, message_id=f"<out{self.uid:03d}@mx.usen.co.jp>",
            mail_from="usen_spot@mx.usen.co.jp", rcpt_to=[rcpt], subject=subject, raw=b"", status=status,
            attempts=attempts, last_error=error, created_at=created, next_attempt_at=created + dt.timedelta(hours=1),
            sent_at=sent,
        )
        self.s.add(row)
        self.s.flush()
        return row

    def ledger(self, code: str, state: str, shop: str, *, termination: dt.date | None = None,
               router: bool = False, data: dict[str, object] | None = None) -> None:
        self.s.add(LedgerEntry(customer_code=code, state=state, shop_name=shop, plus=False,
                               router_not_removed=router, termination_date=termination, data=data or {},
                               updated_at=jst(20, 9)))


def seed(session: Session) -> None:
    """One day at the office center, with something for every section of the digest."""
    sd = Seeder(session)
    aoyama, shibuya, head = "uchida@aoyama.usen.co.jp", "sato@shibuya.usen.co.jp", "honsha@usen.co.jp"
    # The day before and the day after (office time) are not counted.
    sd.mail(jst(23, 23, 59), "USEN SPOT 器材発注依頼_988770001", aoyama, kind="equipment_order",
            decision="accepted", code="988770001")
    sd.mail(jst(25, 0, 5), "USEN SPOT 器材発注依頼_988770002", aoyama, kind="equipment_order",
            decision="accepted", code="988770002")
    # The day: 00:30 JST is still the 23rd in UTC, and counts.
    sd.mail(jst(24, 0, 30), "USEN SPOT 器材発注依頼_988770003", aoyama, kind="equipment_order",
            decision="accepted", code="988770003")
    sd.mail(jst(24, 9, 10), "USEN SPOT 契約変更_988770004", shibuya, kind="contract_change", decision="accepted",
            code="988770004")
    cancel = sd.mail(jst(24, 9, 40), "USEN SPOT キャンセル申請_988770005", shibuya, kind="cancellation",
                     decision="accepted", code="988770005",
                     warnings=[{"code": "CANCEL_COSTS", "detail": {"code": "988770005"}},
                               {"code": "ROUTER_RETURN_DUE", "detail": {"code": "988770005"}}])
    assert cancel.id
    r1 = sd.mail(jst(24, 10, 15), "USEN SPOT 器材発注依頼_988776654", aoyama, kind="equipment_order",
                 decision="rejected", code="988776654",
                 defects=[{"code": "PDF_NOT_ENCRYPTED", "detail": {}},
                          {"code": "BODY_FIELD_MISSING", "detail": {"labels": "店舗名、担当者名"}}])
    sd.outbox("Re: USEN SPOT 器材発注依頼_988776654", purpose="reply", status="sent", mail_id=r1.id,
              sent=jst(24, 10, 16))
    r2 = sd.mail(jst(24, 11, 0), "USEN SPOT 解約申請_988770006", shibuya, kind="termination", decision="rejected",
                 code="988770006", defects=[{"code": "TERMINATION_DATE_MISSING", "detail": {}}])
    sd.outbox("Re: USEN SPOT 解約申請_988770006", purpose="reply", status="pending", attempts=2,
              error="SMTPConnectError: Error connecting to 127.0.0.1 on port 25: [Errno 111] Connection refused",
              mail_id=r2.id, created=jst(24, 11, 1), rcpt="sato@shibuya.usen.co.jp")
    sd.mail(jst(24, 13, 5), "USEN SPOT 申請_988770007", head, kind=None, decision="rejected", code="988770007",
            defects=[{"code": "UNKNOWN_KIND", "detail": {}},
                     # a detail an older row lacks must not break the digest
                     {"code": "CUSTOMER_CODE_MISMATCH", "detail": {}}])
    sd.mail(jst(24, 14, 20), "USEN SPOT 器材発注依頼_988770008", aoyama, kind="equipment_order", decision="manual",
            code="988770008", reason="application form is a scan with no text layer")
    sd.mail(jst(24, 15, 0), "Undelivered Mail Returned to Sender", "MAILER-DAEMON@mx.usen.co.jp", kind=None,
            decision="ignored", reason="bounce")
    sd.mail(jst(24, 16, 42), "USEN SPOT ルーター未撤去_988770009", shibuya, kind="router_not_removed",
            decision="accepted", code="988770009")
    sd.mail(jst(24, 16, 50), "USEN SPOT 解約申請_988770010", aoyama, kind="termination", decision=None,
            code="988770010", status=QUARANTINED,
            error="Traceback (most recent call last):\n  File \"bot/pipeline.py\", line 1, in process\n"
                  "bot.ledger.LedgerError: 988770010: no ledger row and no UNIS line to start one from\n")
    sd.mail(jst(24, 17, 30), "USEN SPOT 移設依頼_988770011", aoyama, kind="relocation", decision=None,
            code="988770011", status=STORED)
    # The manual queue reaches back: 3 days ago is listed, 40 days ago only counted.
    sd.mail(jst(21, 10, 0), "USEN SPOT 器材発注依頼_988770012", shibuya, kind="equipment_order", decision="manual",
            code="988770012", reason="customer 988770012 is already in the ledger as installed: duplicate order?")
    sd.mail(jst(15, 10, 0, month=10), "件名なし相談", aoyama, kind=None, decision="manual",
            reason="subject names neither USEN SPOT nor a customer code")
    # Ledger: a router not removed; terminations near, far, and overdue.
    sd.ledger("988770020", "terminated", "カフェ青山", termination=dt.date(2026, 11, 2), router=True,
              data={"router_not_removed_reason": "店舗閉鎖のため回収できず", "lost_router_fee": True})
    sd.ledger("988770021", "termination_scheduled", "ヘアサロン渋谷", termination=dt.date(2026, 11, 27))
    sd.ledger("988770022", "termination_scheduled", "居酒屋原宿", termination=dt.date(2026, 12, 10))
    sd.ledger("988770023", "termination_scheduled", "書店表参道", termination=dt.date(2026, 11, 20))
    sd.ledger("988770024", "termination_scheduled", "花屋代々木", termination=dt.date(2026, 12, 1))
    # The vendor batch of the day, sent; another day's batch is not shown.
    out = sd.outbox("USEN SPOT 発注データ 2026/11/24", purpose="vendor_batch", status="sent", created=jst(24, 17, 5),
                    sent=jst(24, 17, 6), rcpt="order@fibergate.example")
    batch = VendorBatch(batch_date=DAY, created_at=jst(24, 17, 5), outbox_id=out.id, row_count=3)
    session.add_all([batch, VendorBatch(batch_date=dt.date(2026, 11, 20), created_at=jst(20, 17, 5), row_count=9)])
    session.flush()
    for code, category in (("988770003", "新規"), ("988770004", "変更"), ("988770021", "解約")):
        session.add(VendorRow(customer_code=code, category=category, payload={}, received_at=jst(24, 9),
                              batch_date=DAY, batch_id=batch.id, created_at=jst(24, 9)))
    session.add(VendorRow(customer_code="988770002", category="新規", payload={}, received_at=jst(25, 0, 5),
                          batch_date=dt.date(2026, 11, 25), created_at=jst(25, 0, 5)))
    # An outbox row that gave up.
    sd.outbox("Re: USEN SPOT 器材発注依頼_988770099", purpose="reply", status="failed", attempts=10,
              error="SMTPRecipientsRefused: {'x@aoyama.usen.co.jp': (550, '5.1.1 User unknown')}\nmore")


@pytest.fixture
def seeded(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with db.transaction(factory) as session:
        seed(session)
    return factory


@pytest.fixture
def seeded_any(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    """The same day on SQLite and on PostgreSQL."""
    engine = db.make_engine(any_db_url)
    factory = db.session_factory(engine)
    with db.transaction(factory) as session:
        seed(session)
    yield factory
    engine.dispose()


@pytest.fixture
def cfg(sqlite_url: str) -> Config:
    base = make_config(sqlite_url)
    return base.replace(office=dataclasses.replace(OfficeConfig(), digest_to=OFFICE))


def build(factory: sessionmaker[Session], cfg: Config, templates: Templates | None = None):  # type: ignore[no-untyped-def]
    with factory() as session:
        return build_digest(session, cfg=cfg, day=DAY, now=NOW, templates=templates or Templates(),
                            last_fetch_at=LAST_FETCH)


# -- content --------------------------------------------------------------------------------

def test_text_part_matches_golden(seeded_any: sessionmaker[Session], cfg: Config) -> None:
    """Given a day with mails of every decision, when the digest is built, then its subject and
    text are exactly the golden file (UPDATE_GOLDEN=1 rewrites it), on both back ends."""
    digest = build(seeded_any, cfg)
    got = f"Subject: {digest.subject}\n\n{digest.text}"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(got, encoding="utf-8")
    assert got == GOLDEN.read_text(encoding="utf-8")


def test_counts_follow_the_office_day(seeded: sessionmaker[Session], cfg: Config) -> None:
    digest = build(seeded, cfg)
    by_kind = {c.kind: c for c in digest.counts}
    assert (by_kind["equipment_order"].accepted, by_kind["equipment_order"].rejected,
            by_kind["equipment_order"].manual) == (1, 1, 1)
    assert by_kind["unknown"].rejected == 1 and by_kind["unknown"].ignored == 1
    assert (digest.totals.accepted, digest.totals.rejected, digest.totals.manual, digest.totals.ignored) == (4, 3, 1, 1)
    assert (digest.data.quarantined_today, digest.data.undecided_today) == (1, 1)


def test_sections(seeded_any: sessionmaker[Session], cfg: Config) -> None:
    d = build(seeded_any, cfg).data
    assert [g.branch for g in d.rejections] == ["aoyama", "shibuya", "usen.co.jp"]
    assert [m.id for m in d.manual] == [14, 9]  # oldest first; the 40-day-old one is counted only
    assert d.manual_not_listed == 1
    assert [e.customer_code for e in d.terminations_due] == ["988770023", "988770021", "988770024"]
    assert [e.days_left for e in d.terminations_due] == [-1, 3, 5]  # Mon 11/23 is a holiday
    assert [(b.row_count, b.categories, b.outbox_status) for b in d.batches] == [
        (3, (("変更", 1), ("新規", 1), ("解約", 1)), "送信済")]
    assert d.vendor_rows_waiting == 1
    # The digest goes to the office: an exception is told in words (the console keeps it for admins).
    assert [q.error_line for q in d.quarantined] == ["エラーが発生しました（詳細は管理者向けの記録）"]
    assert [o.last_error for o in d.outbox_problems] == ["サーバーに接続できませんでした",
                                                         "宛先のサーバーが受け取りを拒否しました"]
    assert [(o.status_label, o.attempts) for o in d.outbox_problems] == [("送信待ち", 2), ("送信失敗", 10)]
    assert d.last_fetch_label == "2026/11/25 07:58（2分前）"
    assert d.latest_received_label == "2026/11/25 00:05（7時間前）"


def test_branch_directory_names_the_branch(seeded: sessionmaker[Session], cfg: Config, tmp_path: Path) -> None:
    directory = tmp_path / "branches.csv"
    directory.write_text("支店名,ドメイン,支店長\n青山支店,aoyama.usen.co.jp,shitencho@aoyama.usen.co.jp\n",
                         encoding="utf-8")
    cfg = cfg.replace(branches=dataclasses.replace(cfg.branches, file=str(directory)))
    assert [g.branch for g in build(seeded, cfg).data.rejections] == ["shibuya", "usen.co.jp", "青山支店"]


@pytest.mark.parametrize(
    ("sender", "facts", "expected"),
    [
        ("uchida@aoyama.usen.co.jp", {}, "aoyama"),
        ("a@x.shinjuku.usen.co.jp", {}, "x"),
        ("honsha@usen.co.jp", {}, "usen.co.jp"),
        ("uchida@aoyama.usen.co.jp", {"送付支店名": "青山支店"}, "青山支店"),
        ("evil@usen.co.jp.evil.example", {}, "usen.co.jp.evil.example"),
        (None, {}, "（送信者不明）"),
    ],
)
def test_branch_of(sender: str | None, facts: dict[str, str], expected: str) -> None:
    assert branch_of(sender, facts, directory=[], allowed_domains=("usen.co.jp",)) == expected


def test_template_breakages_show_up(seeded: sessionmaker[Session], cfg: Config, tmp_path: Path) -> None:
    """A broken admin template shows in the digest: the one a mail hit (with its count) and
    one nobody used yet (found by the digest's own check), each with file and line."""
    folder = tmp_path / "admin"
    folder.mkdir()
    (folder / "reject.txt.j2").write_text("ご担当者様\n{{ sender }}\n", encoding="utf-8")
    templates = Templates(admin_dir=folder)
    from bot.templating.samples import SAMPLES

    templates.render("reject.txt.j2", SAMPLES["reject.txt.j2"])  # type: ignore[arg-type]
    (folder / "digest.html.j2").write_text("<p>\n\n{% endfor %}\n", encoding="utf-8")
    digest = build(seeded, cfg, templates)
    assert f"{folder / 'reject.txt.j2'}:2" in digest.text
    assert "1回発生" in digest.text
    assert f"{folder / 'digest.html.j2'}:3" in digest.text
    assert "点検で検出" in digest.text
    # in the office's words, as the template editor says it (Jinja's English is for the log)
    assert "変数 sender はありません。" in digest.text
    assert "undefined" not in digest.text and "Error" not in digest.text
    # The HTML part fell back to the built-in one, whole.
    assert digest.html.startswith("<!DOCTYPE html>") and digest.html.rstrip().endswith("</html>")


def test_broken_admin_digest_template_still_gives_a_digest(seeded: sessionmaker[Session], cfg: Config,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "admin"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text("{% set subject = 'x' %}\n{{ counts.nope }}\n", encoding="utf-8")
    templates = Templates(admin_dir=folder)
    digest = build(seeded, cfg, templates)
    assert digest.subject.startswith("【USEN SPOT】日次レポート 2026/11/24")
    assert [b.where for b in templates.breakages] == [f"{folder / 'digest.txt.j2'}:2"]


def test_admin_digest_template_sets_the_subject(seeded: sessionmaker[Session], cfg: Config, tmp_path: Path) -> None:
    folder = tmp_path / "admin"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text("{% set subject = '日報 ' ~ day_label ~ '\\n改行' %}本文\n",
                                          encoding="utf-8")
    digest = build(seeded, cfg, Templates(admin_dir=folder))
    assert digest.subject == "日報 2026/11/24 (火) 改行"  # one header line, whatever the template did
    assert digest.text == "本文\n"


# -- the HTML part in a browser ------------------------------------------------------------

def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_html_renders_on_a_phone_sized_screen(seeded: sessionmaker[Session], cfg: Config, tmp_path: Path) -> None:
    """Given the digest HTML, when headless Chromium renders it 420 px wide, then we get a real
    screenshot; the HTML carries the counts and nothing external."""
    chromium = find_chromium()
    digest = build(seeded, cfg)
    html = tmp_path / "digest.html"
    html.write_text(digest.html, encoding="utf-8")
    png = tmp_path / "digest.png"
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=420,1600", f"--screenshot={png}",
        html.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert png.is_file(), f"no screenshot; chromium said: {done.stderr.decode(errors='replace')[-2000:]}"
    data = png.read_bytes()
    assert _png_size(data) == (420, 1600)
    assert len(data) > 30_000  # a blank page compresses to a few kB
    target = os.environ.get("DIGEST_SCREENSHOT")
    if target:
        out = Path(target) if Path(target).is_absolute() else PROJECT_ROOT / target
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, out)

    page = digest.html
    totals = digest.totals
    for label, n in (("受付", totals.accepted), ("差戻", totals.rejected), ("保留", totals.manual),
                     ("無視", totals.ignored)):
        assert re.search(rf">{label}</div>\s*<div[^>]*>{n}</div>", page), label
    for c in digest.counts:
        assert c.label in page
    assert f">{totals.total}</td>" in page
    assert 'name="viewport"' in page and "max-width:640px" in page
    assert "<link" not in page and "<img" not in page and "<script" not in page and "http" not in page
    # Message-IDs are escaped, not swallowed as tags.
    assert "&lt;m0" in page and "<m0" not in page


# -- sending --------------------------------------------------------------------------------

def test_digest_message_headers(seeded: sessionmaker[Session], cfg: Config) -> None:
    msg = digest_message(build(seeded, cfg), cfg)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["To"] == OFFICE[0] and "usen_spot@mx.usen.co.jp" in msg["From"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"].endswith("@mx.usen.co.jp>")


def test_sent_through_the_outbox_to_smtp(seeded: sessionmaker[Session], cfg: Config, smtp_sink: EmbeddedSmtp) -> None:
    """Given office recipients, when the digest is sent, then a real SMTP server receives one
    multipart/alternative mail with the text and HTML parts, and the outbox row is sent."""
    cfg = cfg.replace(smtp=dataclasses.replace(cfg.smtp, host=smtp_sink.host, port=smtp_sink.port, timeout=5.0))
    row_id = send_digest(seeded, cfg=cfg, day=DAY, now=NOW, templates=Templates(), last_fetch_at=LAST_FETCH)
    # The flush also sends what else was due (the seeded reply); the digest went to the office.
    [got] = [m for m in smtp_sink.wait_for(1, timeout=10) if m.rcpt_tos == OFFICE]
    msg = message_from_bytes(got.data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg.get_content_type() == "multipart/alternative"
    text, html = (part for part in msg.iter_parts())
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert text.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    assert "■ 差戻（3件・支店別）" in text.get_content()
    assert "USEN SPOT 日次レポート" in html.get_content()
    assert str(msg["Subject"]).startswith("【USEN SPOT】日次レポート 2026/11/24 (火)")
    assert msg["Auto-Submitted"] == "auto-generated"
    with seeded() as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None and (row.status, row.purpose, row.message_id) == ("sent", "digest", msg["Message-ID"])


def test_send_refuses_without_recipients(seeded: sessionmaker[Session], cfg: Config) -> None:
    cfg = cfg.replace(office=OfficeConfig())
    with pytest.raises(DigestError, match=r"\[office\] digest_to"):
        send_digest(seeded, cfg=cfg, day=DAY, now=NOW, templates=Templates())
    with seeded() as session:
        assert session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "digest")) is None


def test_job_sends_once_a_day(seeded: sessionmaker[Session], cfg: Config, smtp_sink: EmbeddedSmtp) -> None:
    cfg = cfg.replace(smtp=dataclasses.replace(cfg.smtp, host=smtp_sink.host, port=smtp_sink.port, timeout=5.0))
    digest_job(seeded, cfg, Templates(), lambda: NOW, lambda: LAST_FETCH)
    digest_job(seeded, cfg, Templates(), lambda: NOW + dt.timedelta(minutes=30), lambda: None)
    smtp_sink.wait_for(1, timeout=10)
    with seeded() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "digest")).all()
        assert len(rows) == 1


def test_job_never_raises(cfg: Config, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Session:
        raise RuntimeError("database is gone")

    caplog.set_level(logging.ERROR, logger="bot.digest")
    digest_job(broken, cfg, Templates(), lambda: NOW, lambda: None)  # type: ignore[arg-type]
    assert "digest job failed" in caplog.text and "database is gone" in caplog.text


def test_job_without_recipients_logs(factory: sessionmaker[Session], cfg: Config,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.digest")
    digest_job(factory, cfg.replace(office=OfficeConfig()), Templates(), lambda: NOW, lambda: None)
    assert "digest_to is empty" in caplog.text


# -- command line ----------------------------------------------------------------------------

def test_cli_prints_text_and_writes_html(seeded: sessionmaker[Session], cfg: Config, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "digest.html"
    assert cli_digest(argparse.Namespace(send=False, date="2026-11-24", out=str(out)), cfg) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Subject: 【USEN SPOT】日次レポート 2026/11/24 (火)")
    assert "■ 保留キュー" in captured.out and "記録なし（このプロセスはメールボックスを読んでいません）" in captured.out
    assert f"HTML: {out}" in captured.err
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_bad_date_and_no_recipients(cfg: Config, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_digest(argparse.Namespace(send=False, date="24/11/2026"), cfg) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert cli_digest(argparse.Namespace(send=True, date=None), cfg.replace(office=OfficeConfig())) == 2
    assert "digest_to" in capsys.readouterr().err


def test_cli_send(seeded: sessionmaker[Session], cfg: Config, smtp_sink: EmbeddedSmtp,
                  capsys: pytest.CaptureFixture[str]) -> None:
    cfg = cfg.replace(smtp=dataclasses.replace(cfg.smtp, host=smtp_sink.host, port=smtp_sink.port, timeout=5.0),
                      templates=TemplatesConfig())
    assert cli_digest(argparse.Namespace(send=True, date="2026-11-24"), cfg) == 0
    assert "送信済" in capsys.readouterr().out
    smtp_sink.wait_for(1, timeout=10)
