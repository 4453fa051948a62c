"""Big mailbox restart (issue 8): 50,000 already-processed mails in the watched folder and
50,000 matching rows in the database; `bot run` is started and a new mail delivered.

Prints: time from process start until the new mail is decided (restart → ready), time from a
second delivery (daemon idle in IDLE) until it is decided, the daemon's peak RSS (VmHWM; its
reader processes apart), and how many mail bodies the daemon FETCHed (Dovecot's own logout
counter `body_count`: only the new mails may be fetched). With --compare, also one in-process
pass of the runner as it was before (git HEAD's bot/daemon/runner.py, when it differs) and of today's,
over the same folder.

Run: nice python -m bench.bench_restart [N] [--compare] [--history]   (needs dovecot-imapd)
--history: the N mails are of 2023, not in the database, and `[mailbox] since` leaves them alone
(issue 12: a first start on a mailbox with years of history).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from bot import db
from bot.db.models import FILED, STORED, Mail
from bot.mail import message_id_hash
from tests.support.dovecot import Dovecot
from tests.support.faults import write_config

ROOT = Path(__file__).resolve().parents[1]
APPEND_CHUNK = 5_000


def old_mail(i: int) -> bytes:
    return (f"From: shop{i}@aoyama.usen.co.jp\r\nTo: spot@usen.co.jp\r\nSubject: USEN SPOT order {i}\r\n"
            f"Message-ID: <old-{i}@aoyama.usen.co.jp>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0900\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            f"An order mail handled long ago, number {i}.\r\n").encode()


def new_mail(tag: str) -> bytes:
    return (f"From: outsider@example.com\r\nTo: spot@usen.co.jp\r\nSubject: hello {tag}\r\n"
            f"Message-ID: <new-{tag}@example.com>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0900\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nA new mail.\r\n").encode()


HISTORY_DATE = dt.datetime(2023, 4, 3, 10, 0, tzinfo=dt.UTC)


def fill_history(dove: Dovecot, url: str, n: int) -> None:
    """--history: a first start on a mailbox with years of mail: N mails delivered in 2023
    (INTERNALDATE), no rows in the database, and `[mailbox] since` set after them."""
    t0 = time.perf_counter()
    with dove.client() as c:
        for start in range(0, n, APPEND_CHUNK):
            c.multiappend("INBOX", [{"msg": old_mail(i), "date": HISTORY_DATE}
                                    for i in range(start, min(n, start + APPEND_CHUNK))])
    db.upgrade(url)
    print(f"filled: {n} mails of 2023 APPENDed in {time.perf_counter() - t0:.1f} s; no database rows")


def fill(dove: Dovecot, url: str, n: int) -> int:
    t0 = time.perf_counter()
    for start in range(0, n, APPEND_CHUNK):
        dove.append_many(old_mail(i) for i in range(start, min(n, start + APPEND_CHUNK)))
    t_append = time.perf_counter() - t0
    with dove.client() as c:
        uidvalidity = int(c.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
        uids = sorted(c.search("ALL"))
    assert len(uids) == n, (len(uids), n)
    db.upgrade(url)
    engine = db.make_engine(url)
    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, n, 5_000):
            conn.execute(insert(Mail), [
                dict(folder="INBOX", uidvalidity=uidvalidity, uid=uid, msgid_hash=message_id_hash(b"", f"<old-{i}@aoyama.usen.co.jp>"),
                     message_id=f"<old-{i}@aoyama.usen.co.jp>", raw=old_mail(i), subject=f"USEN SPOT order {i}",
                     from_addr=f"shop{i}@aoyama.usen.co.jp", status=FILED, decision="ignored", defects=[], warnings=[],
                     facts={}, received_at=now, decided_at=now, filed_at=now, filed_folder="Ignored", attempts=1)
                for i, uid in zip(range(start, min(n, start + 5_000)), uids[start:start + 5_000], strict=True)])
    engine.dispose()
    print(f"filled: {n} mails APPENDed (MULTIAPPEND) in {t_append:.1f} s, {n} FILED rows inserted in "
          f"{time.perf_counter() - t0:.1f} s")
    return uidvalidity


def decided(db_path: Path, message_id: str) -> bool:
    with sqlite3.connect(db_path, timeout=5) as conn:
        row = conn.execute("select status from mails where message_id = ?", (message_id,)).fetchone()
    return row is not None and row[0] != STORED


def wait(predicate, timeout: float) -> float:  # noqa: ANN001
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.01)
    raise TimeoutError("not within %.0f s" % timeout)


def vm(pid: int, key: str) -> int:
    """VmHWM/VmRSS of a process in KiB (0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(k) for t in os.listdir(f"/proc/{p}/task")
                    for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            kids = []
        out.extend(kids)
        todo.extend(kids)
    return out


def run_daemon(dove: Dovecot, smtp_port: int, tmp: Path, url: str, db_path: Path, *,
               since: str = "") -> dict[str, float]:
    config = write_config(tmp / "config.toml", db_url=url, imap_host=dove.host, imap_port=dove.port,
                          imap_user=dove.user, imap_password=dove.password, smtp_port=smtp_port, poll_seconds=60.0)
    if since:
        text = config.read_text(encoding="utf-8").replace("[smtp]\n", f'since = "{since}"\n[smtp]\n', 1)
        config.write_text(text, encoding="utf-8")
    log_before = dove.log_path.read_text(errors="replace") if dove.log_path.exists() else ""
    dove.append(new_mail("first"))  # delivered while the bot was down
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    with open(tmp / "bot.log", "ab") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        first = wait(lambda: decided(db_path, "<new-first@example.com>"), 120)
        time.sleep(2.0)  # idle in IDLE
        t1 = time.monotonic()
        dove.append(new_mail("second"))
        second = wait(lambda: decided(db_path, "<new-second@example.com>"), 60)
        del t1
        time.sleep(1.0)
        hwm = vm(proc.pid, "VmHWM")
        kids = {k: vm(k, "VmHWM") for k in descendants(proc.pid)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        del t0
    # Dovecot logs each session's counters at LOGOUT: body_count = bodies FETCHed.
    time.sleep(0.3)
    log_after = dove.log_path.read_text(errors="replace")[len(log_before):]
    bodies = sum(int(m) for m in re.findall(r"body_count=(\d+)", log_after))
    return {"first": first, "second": second, "rss_mb": hwm / 1024, "kids_mb": sum(kids.values()) / 1024,
            "kids": len(kids), "bodies": bodies}


def one_pass(runner_module, dove: Dovecot, url: str) -> tuple[float, int]:  # noqa: ANN001
    """One in-process pass of a runner over the folder, and how many UIDs it FETCHed."""
    from imapclient import IMAPClient

    from bot.daemon.main import mailbox_settings
    from bot.intake import Mailbox
    from tests.support.app import Clock, make_config, make_processor

    cfg = make_config(url, host=dove.host, port=dove.port, user=dove.user, password=dove.password)
    processor, _ = make_processor(cfg, Clock())
    fetched: list[int] = []
    real_fetch = IMAPClient.fetch

    def spy(self, messages, data, modifiers=None):  # noqa: ANN001, ANN202
        if any(b"BODY" in (d.encode() if isinstance(d, str) else d).upper() for d in data):
            fetched.extend(messages)
        return real_fetch(self, messages, data, modifiers)

    IMAPClient.fetch = spy
    try:
        with Mailbox(mailbox_settings(cfg)) as mbox:
            t0 = time.perf_counter()
            runner_module.MailboxRunner(processor).handle(mbox)
            return time.perf_counter() - t0, len(fetched)
    finally:
        IMAPClient.fetch = real_fetch


def old_runner():  # noqa: ANN201
    """git HEAD's bot/daemon/runner.py as a module, or None when the tree has not changed it."""
    try:
        text = subprocess.run(["git", "show", "HEAD:bot/daemon/runner.py"], cwd=ROOT, capture_output=True, check=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    if text == (ROOT / "bot" / "daemon" / "runner.py").read_text():
        return None
    path = Path(tempfile.mkdtemp()) / "runner_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("runner_before", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["runner_before"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main(n: int, compare: bool, history: bool = False) -> None:
    from bot.daemon import runner
    from bot.demo.embedded import EmbeddedSmtp

    with tempfile.TemporaryDirectory() as tmp_name, Dovecot() as dove, EmbeddedSmtp() as smtp:
        tmp = Path(tmp_name)
        db_path = tmp / "bot.sqlite3"
        url = f"sqlite:///{db_path}"
        if history:
            fill_history(dove, url, n)
        else:
            fill(dove, url, n)
        print(f"database: {db_path.stat().st_size / 1e6:.0f} MB")
        r = run_daemon(dove, smtp.port, tmp, url, db_path, since="2026-01-01" if history else "")
        what = f"{n} mails of 2023 left alone ([mailbox] since)" if history else f"{n} processed mails"
        print(f"bot run, {what} in INBOX: start → first new mail decided {r['first']:.2f} s "
              f"(process start, imports, DB upgrade check, connect, full comparison, fetch+decide)")
        print(f"  then idle in IDLE: delivery → decided {r['second']:.2f} s (Dovecot's IDLE notice is ~0.5 s)")
        print(f"  daemon peak RSS (VmHWM) {r['rss_mb']:.0f} MB; {r['kids']} child process(es), "
              f"{r['kids_mb']:.0f} MB together")
        print(f"  mail bodies FETCHed by the daemon (Dovecot body_count): {r['bodies']} (2 new mails)")
        if compare:
            for label, module in (("before (git HEAD)", old_runner()), ("now", runner)):
                if module is None:
                    continue
                dove.append(new_mail(f"cmp-{label[:3]}"))
                seconds, uids = one_pass(module, dove, url)
                print(f"in-process pass, {label}: {seconds:.2f} s, {uids} UID(s) FETCHed")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 50_000, "--compare" in sys.argv, "--history" in sys.argv)
