"""Reply latency, idle CPU and memory of the real daemon (issue 8): `bot run` as a process
against Dovecot (IDLE) and an SMTP capture, mails delivered one at a time.

- text: N defective order mails (AES-256 typed forms), each delivered after the previous
  reply arrived: delivery (APPEND returned) → its 差戻 accepted by the SMTP server;
- scans: M generated scanned forms (tests/fixtures/scans) whose defect the reader is sure of,
  the same way (a held scan gets no reply: such forms are left out by construction);
- idle: the daemon's CPU time over `--idle` seconds with no mail (main process + its readers);
- memory: peak RSS (VmHWM) of the daemon process and, apart, of its reader processes.

Run: nice python -m bench.bench_latency [--text 50] [--scans 20] [--idle 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_restart import descendants, vm
from tests.fixtures import pdfs
from tests.fixtures.demo_mails import order_body
from tests.support.dovecot import Dovecot
from tests.support.faults import BotProcess, SmtpCapture, wait_until, write_config
from tests.support.mailbuilder import build_mail

TICK = os.sysconf("SC_CLK_TCK")


def text_mail(i: int) -> tuple[str, bytes]:
    code = f"{930000000 + i:09d}"
    fields = dict(pdfs.DEFAULT_FIELDS, customer_code=code, line_kind="b_flets", line_type=None)
    mid = f"<lat-{i}@aoyama.usen.co.jp>"
    return mid, build_mail(f"USEN SPOT 器材発注依頼_{code}", order_body(code), charset="cp50220",
                           from_=f"shop{i}@aoyama.usen.co.jp", message_id=mid,
                           attachments=[("申込書.pdf", pdfs.typed_form(fields), "application/pdf")])


def scan_mails(m: int) -> list[tuple[str, bytes]]:
    """Scans at >= 200 dpi whose defect (no line kind / line type ticked) the reader is meant to
    be sure of; one it is not sure of is held (no reply) and counted apart."""
    from tests.fixtures.scans.corpus import make, plan
    from tests.fixtures.scans.mails import order_mail

    out: list[tuple[str, bytes]] = []
    for spec in plan(300):
        if spec.defect in ("LINE_TYPE_MISSING", "LINE_KIND_MISSING") and spec.dpi >= 200:
            pdf, truth = make(spec)
            mid = f"<lat-scan-{spec.index}@aoyama.usen.co.jp>"
            out.append((mid, order_mail(pdf, truth, message_id=mid)))
        if len(out) == m:
            break
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its children alive now (the reader processes)."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def measure(imap: Dovecot, smtp: SmtpCapture, mails: list[tuple[str, bytes]]) -> tuple[list[float], int]:
    """Seconds from APPEND to the reply at SMTP, per mail; and how many were held (no reply)."""
    seconds, held = [], 0
    for mid, raw in mails:
        manual_before = len(imap.folder_uids("Manual"))
        t0 = time.monotonic()
        imap.append(raw)
        if not wait_until(lambda mid=mid: mid in smtp.replies() or len(imap.folder_uids("Manual")) > manual_before,
                          90, 0.02):
            raise SystemExit(f"no outcome for {mid} within 90 s")
        if mid in smtp.replies():
            seconds.append(time.monotonic() - t0)
        else:
            held += 1
    return seconds, held


def summary(name: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{name}: no mails"
    ordered = sorted(seconds)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return (f"{name}: n={len(seconds)} p50 {statistics.median(seconds):.2f} s  p95 {p95:.2f} s  "
            f"max {max(seconds):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--text", type=int, default=50)
    ap.add_argument("--scans", type=int, default=20)
    ap.add_argument("--idle", type=float, default=60.0)
    args = ap.parse_args()
    texts = [text_mail(i) for i in range(args.text)]
    scans = scan_mails(args.scans) if args.scans else []
    with tempfile.TemporaryDirectory() as tmp_name, Dovecot() as imap, SmtpCapture() as smtp:
        tmp = Path(tmp_name)
        config = write_config(tmp / "config.toml", db_url=f"sqlite:///{tmp / 'bot.sqlite3'}", imap_host=imap.host,
                              imap_port=imap.port, imap_user=imap.user, imap_password=imap.password,
                              smtp_port=smtp.port, poll_seconds=30.0)
        bot = BotProcess(config, tmp / "bot.log")
        bot.start()
        try:
            bot.wait_ready()
            time.sleep(2.0)
            seconds, held = measure(imap, smtp, texts)
            print(summary("text forms, delivery → 差戻 at SMTP", seconds) + f"  (held: {held})")
            if scans:
                seconds, held = measure(imap, smtp, scans)
                print(summary("scanned forms, delivery → 差戻 at SMTP", seconds) + f"  (held, no reply: {held})")
            time.sleep(5.0)  # the flush and filing after the last mail
            c0, t0 = cpu_seconds(bot.pid), time.monotonic()
            time.sleep(args.idle)
            used = cpu_seconds(bot.pid) - c0
            print(f"idle: {used:.2f} s CPU over {time.monotonic() - t0:.0f} s = "
                  f"{100 * used / (time.monotonic() - t0):.2f}% of one core (daemon + readers)")
            readers = descendants(bot.pid)
            print(f"peak RSS: daemon {vm(bot.pid, 'VmHWM') / 1024:.0f} MB; readers "
                  + (", ".join(f"{vm(p, 'VmHWM') / 1024:.0f} MB" for p in readers) or "none"))
        finally:
            bot.stop()


if __name__ == "__main__":
    main()
