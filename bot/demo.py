"""`bot demo`: the whole bot on an embedded default, so anyone can see it work.

Starts a real IMAP server (pymap, in-process) and a real SMTP server (aiosmtpd) on loopback,
a SQLite database in a temp dir, loads a small UNIS extract (CP932), puts realistic branch
mails into the mailbox (good and defective forms, a scan, a bounce, an outsider), runs one
pass of the daemon's pipeline, sends the replies, and prints what happened.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sys
import tempfile
import time
import unicodedata
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

from bot import db, outbox
from bot.config import Config, DatabaseConfig, MailboxConfig, SmtpConfig, VendorConfig, load_config
from bot.embedded import EmbeddedImap, EmbeddedSmtp
from bot.daemon import mailbox_settings
from bot.intake import Mailbox
from bot.pipeline import Processor
from bot.runner import MailboxRunner
from bot.templating import Templates
from bot.unis import import_extract
from bot.vendor import run_vendor_batch

DEMO_DIR = Path(__file__).resolve().parent / "demo_mails"

DECISION_LABELS = {
    "accepted": "受付 accepted",
    "rejected": "差戻 rejected",
    "manual": "保留 manual",
    "ignored": "無視 ignored",
    "quarantined": "隔離 quarantined",
}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("F", "W") else 1 for c in text)


def _cell(text: str, width: int) -> str:
    out = ""
    for ch in text:
        if _width(out + ch) > width:
            out = out[:-1] + "…" if out else out
            break
        out += ch
    return out + " " * (width - _width(out))


def _demo_config(tmp: Path, imap: EmbeddedImap, smtp: EmbeddedSmtp) -> Config:
    cfg = load_config(env={})
    return cfg.replace(
        mailbox=dataclasses.replace(MailboxConfig(), host=imap.host, port=imap.port, user=imap.user,
                                    password=imap.password, poll_seconds=1.0),
        smtp=dataclasses.replace(SmtpConfig(), host=smtp.host, port=smtp.port, timeout=10.0),
        database=DatabaseConfig(url=f"sqlite:///{tmp / 'demo.sqlite3'}"),
        vendor=dataclasses.replace(VendorConfig(), to=("orders@fibergate.example",)),
    )


def run_demo(*, keep: bool = False, out=sys.stdout) -> int:  # noqa: ANN001 - a text stream
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="usen-spot-demo-"))
    mails = sorted(DEMO_DIR.glob("*.eml"))
    try:
        with EmbeddedImap() as imap, EmbeddedSmtp() as smtp:
            cfg = _demo_config(tmp, imap, smtp)
            db.upgrade(cfg.database.url)
            engine = db.make_engine(cfg.database.url)
            factory = db.session_factory(engine)
            with db.transaction(factory) as session:
                unis = import_extract(session, (DEMO_DIR / "unis.csv").read_bytes(), name="unis.csv",
                                      now=dt.datetime.now(dt.UTC))
            for path in mails:
                imap.append(path.read_bytes())
            print("USEN SPOT office bot — demo", file=out)
            print(f"  IMAP  {imap.host}:{imap.port} (pymap, in-process)   SMTP {smtp.host}:{smtp.port} (aiosmtpd)",
                  file=out)
            print(f"  DB    {cfg.database.url}", file=out)
            print(f"  UNIS  {unis.loaded} 行取込 / rows loaded ({unis.encoding})", file=out)
            print(f"  受信箱 INBOX: {len(mails)} 通 / mails\n", file=out)

            processor = Processor(cfg, factory, Templates())
            runner = MailboxRunner(processor, folder=cfg.mailbox.folder)
            pass_started = time.perf_counter()
            with Mailbox(mailbox_settings(cfg)) as mbox:
                report = runner.handle(mbox)
            pass_seconds = time.perf_counter() - pass_started
            flushed = outbox.flush(factory, cfg.smtp, now=dt.datetime.now(dt.UTC))
            received = smtp.wait_for(flushed.sent, timeout=10) if flushed.sent else []
            # The day's vendor batch, as the 17:00 job would send it (the batch day of mails
            # arriving now: today, or the next business day after the cutoff).
            now = dt.datetime.now(dt.UTC)
            batch_day = processor.calendar.intake_day(now)
            batch = run_vendor_batch(factory, cfg=cfg, day=batch_day, now=now, templates=processor.templates,
                                     send=True)
            vendor_mails = smtp.wait_for(len(received) + 1, timeout=10)[len(received):] if batch else []
            engine.dispose()

            names = {o.mail_id: o for o in report.outcomes}
            header = f"{_cell('件名 subject', 44)} {_cell('判定 decision', 16)} {_cell('移動先', 11)} 不備/警告 defects/warnings"
            print(header, file=out)
            print("-" * _width(header), file=out)
            for o in sorted(names.values(), key=lambda o: o.mail_id):
                notes = ", ".join((*o.defects, *o.warnings)) or o.reason or "-"
                if o.decision == "accepted" and o.reason:
                    notes = o.reason
                print(f"{_cell(o.subject, 44)} {_cell(DECISION_LABELS.get(o.decision, o.decision), 16)} "
                      f"{_cell(o.folder, 11)} {notes}", file=out)
            print("", file=out)
            counts = imap.folder_counts()
            print("フォルダ folders: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), file=out)
            print(f"返信 replies: {len(received)} 通 sent to SMTP {smtp.host}:{smtp.port}", file=out)
            for msg in received:
                parsed = message_from_bytes(msg.data)
                subject = str(make_header(decode_header(parsed["Subject"] or "")))
                print(f"  → {', '.join(msg.rcpt_tos)}: {subject}", file=out)
            if batch is not None:
                print(f"\nベンダー発注 vendor batch {batch.batch_date:%Y/%m/%d}: {batch.row_count} 行 rows → "
                      f"{', '.join(batch.recipients)} ({len(vendor_mails)} 通 mail, {batch.csv_name}, "
                      f"{cfg.vendor.encoding.upper()})", file=out)
                for line in batch.csv_bytes.decode(cfg.vendor.encoding).splitlines():
                    print("  | " + line, file=out)
            if received:
                first = message_from_bytes(received[0].data)
                body = first.get_payload(decode=True)
                text = body.decode(first.get_content_charset() or "utf-8") if isinstance(body, bytes) else ""
                print("\n最初の差戻メール first rejection mail:\n" + "\n".join("  | " + line for line in text.splitlines()),
                      file=out)
            total = time.perf_counter() - started
            print(f"\n{len(report.outcomes)} 通を判定 decided in {pass_seconds:.2f} s "
                  f"({pass_seconds / max(len(report.outcomes), 1) * 1000:.0f} ms/mail); demo total {total:.1f} s",
                  file=out)
            if keep:
                print(f"kept: {tmp}", file=out)
            _console_hint(out, cfg.database.url if keep else None)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _console_hint(out, url: str | None) -> None:  # noqa: ANN001 - a text stream
    """How to open the office console on this demo's data (issue 7)."""
    print("\n事務センター コンソールでこの結果を見る / open the office console on this demo's data:", file=out)
    if url is None:
        print("  python3 -m bot demo --keep      # keeps the demo's SQLite file, then follow the lines it prints", file=out)
        return
    print(f"  export BOT_DATABASE_URL={url}", file=out)
    print("  export BOT_WEB_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')", file=out)
    print("  python3 -m bot users add kanri --role admin --name 管理      # asks for a password", file=out)
    print("  python3 -m bot web                                          # → http://127.0.0.1:8080/", file=out)
