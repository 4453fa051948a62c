"""`bot run` as an operator meets it: started before its database, stopped with a backlog,
asked whether it is healthy. Real processes, Dovecot, PostgreSQL, an SMTP capture."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.dovecot import Dovecot
from tests.support.faults import (
    ROOT,
    BotProcess,
    DbProbe,
    RestartablePostgres,
    SmtpCapture,
    defective_mail,
    free_port,
    message_id,
    wait_until,
    write_config,
)

SETTLE = 60.0


def status(config: Path) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    done = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "status", "--json"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, json.loads(done.stdout)


def test_run_started_while_postgres_is_down_waits_then_works_and_status_says_so(
        tmp_path: Path) -> None:
    """Given PostgreSQL down when `bot run` starts, then the bot waits (one log line, no
    traceback, not an exit), and once PostgreSQL is up it answers the mail that waited;
    `bot status` is unhealthy while nothing runs and healthy once the bot works."""
    server = RestartablePostgres()
    try:
        server.start()
    except Exception as err:  # noqa: BLE001 - the rule of tests/support/postgres.py: fail, never skip
        pytest.fail(f"cannot start PostgreSQL for the tests: {err}")
    try:
        url = server.create_database()
        with Dovecot() as imap, SmtpCapture() as smtp:
            config = write_config(tmp_path / "config.toml", db_url=url, imap_host=imap.host, imap_port=imap.port,
                                  imap_user=imap.user, imap_password=imap.password, smtp_port=smtp.port,
                                  poll_seconds=2.0)
            health_port, web_port = free_port(), free_port()
            with config.open("a", encoding="utf-8") as f:
                f.write(f"[health]\nport = {health_port}\n[log]\nformat = \"json\"\n"
                        f"[web]\nin_run = true\nport = {web_port}\nsecret_key = \"{'k' * 40}\"\n")
            server.pause()
            imap.append(defective_mail(1, tag="waited"))
            bot = BotProcess(config, tmp_path / "bot.log")
            bot.start()
            try:
                assert bot.wait_for_output(r"database unavailable at start", 30), bot.output()[-3000:]
                time.sleep(4.0)  # several retries while it is down
                assert bot.running, bot.output()[-3000:]
                server.resume()
                assert smtp.wait_replies([message_id(1, "waited")], SETTLE), bot.output()[-3000:]
                assert wait_until(lambda: status(config)[0] == 0, 20), json.dumps(status(config)[1], ensure_ascii=False)
                code, report = status(config)
                assert report["healthy"] is True and report["processes"][0]["state"] == "running"
                assert report["last_fetch_age_seconds"] is not None and report["last_fetch_age_seconds"] < 60
                assert sum(n for kinds in report["decisions_today"].values() for n in kinds.values()) == 1
                with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/metrics", timeout=10) as r:
                    scraped = {(s.name, tuple(sorted(s.labels.items()))): s.value
                               for fam in text_string_to_metric_families(r.read().decode()) for s in fam.samples}
                assert sum(v for (name, _), v in scraped.items() if name == "usen_spot_bot_mails_total") == 1
                assert scraped[("usen_spot_bot_healthy", ())] == 1
                with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=10) as r:
                    assert r.status == 200
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/login", timeout=10) as r:
                    assert r.status == 200 and "ログイン" in r.read().decode()  # [web] in_run: the console too
            finally:
                assert bot.stop(timeout=15) == 0
            log = bot.output()
            records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
            assert records and len(records) == len(log.strip().splitlines()), log[-3000:]  # [log] format = "json"
            assert len([r for r in records if "database unavailable at start" in r["message"]]) == 1
            assert [r for r in records if "database available after" in r["message"]]
            assert not [r for r in records if "traceback" in r], log[-5000:]
            decided = [r for r in records if r.get("decision")]
            assert len(decided) == 1 and decided[0]["logger"] == "bot.pipeline" and decided[0]["mail_id"] == 1
            code, report = status(config)  # stopped: nothing runs any more
            assert code == 1 and report["healthy"] is False
            assert any("稼働中のボットがありません" in p for p in report["problems"])
    finally:
        server.stop()


def test_sigterm_with_a_backlog_of_2000_mails_exits_within_10_s_and_loses_nothing(tmp_path: Path) -> None:
    """Given 2,000 mails waiting and the bot working through them, when it gets SIGTERM, then it
    exits 0 within 10 s (not after the backlog); every mail it decided has its reply queued or
    sent, and after a restart every mail has exactly one reply."""
    count = 2000
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    with Dovecot() as imap, SmtpCapture() as smtp:
        imap.append_many([defective_mail(i, tag="stop") for i in range(count)])
        config = write_config(tmp_path / "config.toml", db_url=url, imap_host=imap.host, imap_port=imap.port,
                              imap_user=imap.user, imap_password=imap.password, smtp_port=smtp.port,
                              poll_seconds=2.0, batch_size=200)
        bot = BotProcess(config, tmp_path / "bot.log")
        bot.start()
        probe = DbProbe(url)
        try:
            assert wait_until(lambda: probe.safe(lambda: probe.mail_statuses().get("decided", 0)
                                                 + probe.mail_statuses().get("filed", 0), 0) >= 100, SETTLE)
            started = time.monotonic()
            code = bot.stop(timeout=30)
            took = time.monotonic() - started
            assert code == 0, bot.output()[-3000:]
            assert took < 10.0, f"stopped after {took:.1f} s"
            statuses = probe.mail_statuses()
            assert statuses.get("decided", 0) + statuses.get("filed", 0) < count, statuses  # it did not drain first
            assert statuses.get("quarantined", 0) == 0
            decided_ids = {m.id for m in probe.mails() if m.status in ("decided", "filed")}
            replied_ids = {r.mail_id for r in probe.replies()}
            assert decided_ids == replied_ids  # every decision has its reply, none without
            bot.start()  # the rest is done after the restart, each mail once
            assert smtp.wait_replies([message_id(i, "stop") for i in range(count)], 240), bot.output()[-3000:]
        finally:
            bot.stop(timeout=30)
            probe.close()
        replies = smtp.replies()
        doubled = {p: len(d) for p, d in replies.items() if len(d) != 1}
        assert not doubled
        assert len(replies) == count


def test_three_bot_processes_on_one_mailbox_and_postgres_decide_move_and_answer_each_mail_once(
        tmp_path: Path, postgres_url: str) -> None:
    """Given three `bot run` processes on one mailbox and one PostgreSQL database, when 300
    mails arrive, then each is decided once, answered once and moved once: the Rejected
    folder holds exactly 300 mails, each Message-ID once, and the INBOX is empty."""
    count, tag = 300, "multi"
    with Dovecot() as imap, SmtpCapture() as smtp:
        config = write_config(tmp_path / "config.toml", db_url=postgres_url, imap_host=imap.host,
                              imap_port=imap.port, imap_user=imap.user, imap_password=imap.password,
                              smtp_port=smtp.port, poll_seconds=2.0, batch_size=20)
        bots = [BotProcess(config, tmp_path / f"bot{i}.log") for i in range(3)]
        for bot in bots:
            bot.start()
        probe = DbProbe(postgres_url)
        try:
            for bot in bots:
                bot.wait_ready()
            for start in range(0, count, 50):  # arriving while all three work
                imap.append_many([defective_mail(i, tag=tag) for i in range(start, start + 50)])
            parents = [message_id(i, tag) for i in range(count)]
            assert smtp.wait_replies(parents, 180), bots[0].output()[-3000:]
            assert wait_until(lambda: probe.safe(probe.mail_statuses, {}) == {"filed": count}, 60)
            assert wait_until(lambda: imap.folder_uids("INBOX") == [], 30)
        finally:
            codes = [bot.stop(timeout=30) for bot in bots]
            probe.close()
        assert codes == [0, 0, 0]
        replies = smtp.replies()
        assert len(replies) == count and all(len(d) == 1 for d in replies.values())
        filed = imap.folder_messages("Rejected")
        ids = [re.search(rb"^Message-ID: *(<[^>]+>)", m, re.M | re.I).group(1).decode() for m in filed]
        assert len(ids) == count and len(set(ids)) == count, Counter(ids).most_common(3)
        logs = "".join(bot.output() for bot in bots)
        decided = Counter(re.findall(r"INFO bot\.pipeline: mail (\d+) uid", logs))
        assert len(decided) == count and set(decided.values()) == {1}
        assert sum(1 for bot in bots if "bot.pipeline: mail" in bot.output()) >= 2  # the work was shared
