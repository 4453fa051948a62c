"""What counts against a mail (issue 18, bot/pipeline/claim.py), on the real databases: a reader that
crashes or overruns is retried once, then the mail is quarantined with the limit named; a bot
process that dies with one mail alone in hand counts a solo death against it, and at
`solo_deaths` the mail is quarantined without being read again; a death with several mails in
hand counts against none of them, and a live process's claim is no death at all. Outsiders and
forged senders have no attachment opened at all. Real Dovecot, real reader processes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select, update

from bot import db
from bot.config import Config, SendersConfig
from bot.config.limits import Limits
from bot.daemon.main import mailbox_settings
from bot.daemon.runner import MailboxRunner
from bot.db import claims
from bot.db.models import QUARANTINED, Mail
from bot.demo.embedded import EmbeddedSmtp
from bot.intake import Mailbox
from tests.fixtures import hostile
from tests.support.app import Clock, make_config, make_processor
from tests.support.dovecot import Dovecot
from tests.support.mailbuilder import build_mail


def setup(url: str, dovecot: Dovecot, smtp: EmbeddedSmtp, **limits: object) -> tuple[Config, object, object]:
    cfg = make_config(url, smtp=smtp, host=dovecot.host, port=dovecot.port, user=dovecot.user,
                      password=dovecot.password)
    cfg = cfg.replace(limits=dataclasses.replace(Limits(), workers=1, **limits))
    processor, factory = make_processor(cfg, Clock())
    return cfg, processor, factory


class Forbidden:
    """A PDF reader that must not be called."""

    pool = None  # nothing to read ahead with

    def __init__(self, why: str) -> None:
        self.why = why

    def read(self, pdfs: object, form: str) -> tuple[object, ...]:
        raise AssertionError(self.why)


def one_pass(cfg: Config, processor: object):  # noqa: ANN201
    with Mailbox(mailbox_settings(cfg)) as mbox:
        return MailboxRunner(processor).handle(mbox)  # type: ignore[arg-type]


def bomb_mail() -> bytes:
    # The object-stream bomb costs qpdf ~2 s to inflate before anything can measure it.
    return hostile._mail(attachments=[("申込書.pdf", hostile.object_stream_bomb(), "application/pdf")],
                         message_id="<slow-bomb@aoyama.usen.co.jp>")


def test_a_reader_that_overruns_twice_is_quarantined_and_the_others_go_on(
    sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a PDF whose reading takes longer than pdf_seconds, and an ordinary mail after it,
    when a pass runs, then the reader is killed twice and the mail quarantined with the limit
    named, and the ordinary mail is decided in the same pass."""
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink, pdf_seconds=0.3)
    dovecot.append(bomb_mail())
    dovecot.append(build_mail(message_id="<plain@aoyama.usen.co.jp>"))  # no PDF: a 差戻
    report = one_pass(cfg, processor)
    assert sorted(o.decision for o in report.outcomes) == ["quarantined", "rejected"]
    assert len(dovecot.folder_uids("Quarantine")) == 1
    with factory() as s:
        row = s.scalar(select(Mail).where(Mail.status == QUARANTINED))
        assert row is not None and row.attempts == 2
        assert "pdf_seconds" in row.facts["reason"] and "2回" in row.facts["reason"]


def die_holding(factory: object, mail_ids: list[int], death: int) -> None:
    """The bot process holding these mails dies: their claims now name a process that is gone
    (this host, a pid that does not exist), as a SIGKILL leaves them."""
    with db.transaction(factory) as s:  # type: ignore[arg-type]
        s.execute(update(Mail).where(Mail.id.in_(mail_ids)).values(reading_by=dead_token(death), reading_at=utcnow()))


def dead_token(n: int) -> str:
    return f"{socket.gethostname()}:{999_000_000 + n}:1"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def store_plain(processor: object, n: int) -> int:
    raw = build_mail(message_id=f"<solo-{n}@aoyama.usen.co.jp>")  # no PDF: a 差戻 when decided
    return processor.store(raw, folder="INBOX", uidvalidity=1, uid=n + 1).mail_id  # type: ignore[attr-defined]


def test_a_mail_alone_in_hand_at_each_death_is_quarantined_at_solo_deaths(any_db_url: str) -> None:
    """Given a mail taken into hand alone (as the runner takes a suspect) by a bot process that
    then dies, three times in a row, when the bot comes back, then each death was counted against
    it, and at the third it is quarantined without being read, the reason naming solo_deaths;
    the counts are kept in the record and start from zero if a person puts it back."""
    db.upgrade(any_db_url)
    cfg = make_config(any_db_url)
    processor, factory = make_processor(cfg, Clock())
    mail_id, other = store_plain(processor, 0), store_plain(processor, 1)
    for death in range(1, cfg.limits.solo_deaths + 1):
        assert processor.hands.claim([mail_id], alone=True) == {mail_id: death - 1}
        die_holding(factory, [mail_id], death)
        assert processor.suspects([mail_id, other]) == {mail_id}  # the death is recorded
        with factory() as s:
            row = s.get(Mail, mail_id)
            assert row is not None and (row.solo_deaths, row.block_deaths, row.attempts) == (death, 0, 0)
            assert row.reading_by is None
    processor.reader = Forbidden("the mail that kills the bot was read again")  # type: ignore[attr-defined]
    outcome = processor.process(mail_id)
    assert outcome is not None and outcome.decision == "quarantined"
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.status == QUARANTINED
        assert "died 3 times while this mail alone was in its hands (limit solo_deaths=3)" in (row.error or "")
        assert "solo_deaths=3" in row.facts["reason"] and "3回" in row.facts["reason"]
        assert row.facts["deaths"] == {"solo": 3, "block": 0} and row.solo_deaths == 0
        assert s.get(Mail, other).solo_deaths == 0  # type: ignore[union-attr]


def test_a_mail_in_a_block_at_every_death_is_never_blamed(any_db_url: str) -> None:
    """Given two mails in a bot process's hands together at each of ten deaths (a kill from
    outside during a backlog), then nothing is counted against either: both are suspects,
    decided alone, and answered normally."""
    db.upgrade(any_db_url)
    cfg = make_config(any_db_url)
    processor, factory = make_processor(cfg, Clock())
    ids = [store_plain(processor, n) for n in range(3)]
    assert processor.hands.claim(ids[:2], alone=False) == dict.fromkeys(ids[:2], 0)
    for death in range(1, 11):
        die_holding(factory, ids[:2], death)
        assert processor.suspects(ids) == set(ids[:2])
    assert processor.hands.claim(ids[:2], alone=False) == {}  # suspects are never taken in a block
    with factory() as s:
        assert [(r.solo_deaths, r.block_deaths, r.attempts) for r in (s.get(Mail, i) for i in ids)] == [  # type: ignore[union-attr]
            (0, 10, 0), (0, 10, 0), (0, 0, 0)]
    assert [processor.process(i).decision for i in ids] == ["rejected"] * 3  # type: ignore[union-attr]


def test_a_live_process_claim_is_no_death(any_db_url: str) -> None:
    """Given a mail held by another bot process that is alive (this host: its pid runs; another
    host: its claim younger than the lease), then it is neither buried nor taken nor counted;
    another host's claim past its lease is that process's death, counted once however many
    processes find it at the same time."""
    db.upgrade(any_db_url)
    cfg = make_config(any_db_url)
    processor, factory = make_processor(cfg, Clock())
    second, _ = make_processor(cfg, Clock())
    ids = [store_plain(processor, n) for n in range(3)]
    with subprocess.Popen(["sleep", "60"]) as sleeper:
        try:
            alive = f"{socket.gethostname()}:{sleeper.pid}:{claims._start_time(sleeper.pid)}"
            old = utcnow() - claims.READING_LEASE - dt.timedelta(minutes=1)
            with db.transaction(factory) as s:
                s.execute(update(Mail).where(Mail.id == ids[0]).values(reading_by=alive, reading_at=old))
                s.execute(update(Mail).where(Mail.id == ids[1]).values(reading_by="elsewhere:42:7", reading_at=utcnow()))
                s.execute(update(Mail).where(Mail.id == ids[2]).values(reading_by="elsewhere:43:7", reading_at=old))
            barrier = threading.Barrier(2)

            def look(p: object) -> set[int]:
                barrier.wait()
                return p.suspects(ids)  # type: ignore[attr-defined, no-any-return]

            with ThreadPoolExecutor(2) as pool:
                found = list(pool.map(look, [processor, second]))
            assert found == [{ids[2]}, {ids[2]}]
            assert processor.process(ids[0]) is None and processor.process(ids[1]) is None  # not ours
        finally:
            sleeper.kill()
    with factory() as s:
        rows = [s.get(Mail, i) for i in ids]
        assert [(r.reading_by, r.solo_deaths, r.block_deaths) for r in rows] == [  # type: ignore[union-attr]
            (alive, 0, 0), ("elsewhere:42:7", 0, 0), (None, 1, 0)]
    assert processor.process(ids[2]).decision == "rejected"  # type: ignore[union-attr]


def test_outsiders_and_forged_senders_cost_nothing(sqlite_url: str, dovecot: Dovecot, smtp_sink: EmbeddedSmtp) -> None:
    """Given a PDF bomb from an outside domain and one under a dmarc=fail verdict of our MTA,
    when a pass runs with authentication on, then neither PDF is opened: ignored and held."""
    cfg, processor, factory = setup(sqlite_url, dovecot, smtp_sink)
    cfg = cfg.replace(senders=dataclasses.replace(SendersConfig(), authentication="hold",
                                                  authserv_id="mx.usen.co.jp"))
    processor, factory = make_processor(cfg, Clock())

    processor.reader = Forbidden("an attachment was opened before the sender was checked")  # type: ignore[attr-defined]
    pdf = [("申込書.pdf", hostile.flate_content_bomb(), "application/pdf")]
    dovecot.append(hostile._mail(from_="evil@usen.co.jp.evil.example", attachments=pdf))
    dovecot.append(hostile.mail_dmarc_fail("mx.usen.co.jp").replace(
        b"\r\n\r\n", b"\r\n\r\n", 1))  # no PDF, but held by authentication
    dovecot.append(b"Authentication-Results: mx.usen.co.jp; dmarc=fail header.from=usen.co.jp\r\n"
                   + hostile._mail(attachments=pdf))
    report = one_pass(cfg, processor)
    assert sorted(o.decision for o in report.outcomes) == ["ignored", "manual", "manual"]
    assert all("送信者認証" in o.reason or "許可ドメイン外" in o.reason for o in report.outcomes)
    assert smtp_sink.messages == []
