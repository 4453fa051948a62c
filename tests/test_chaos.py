"""Chaos (issue 18): `bot run` SIGKILLed again and again at random moments while a backlog of
branch mail is worked through, then one clean run to the end (tests/support/chaos.py).

Then, as the office sees it: no mail lost, none in two folders, nothing quarantined but the two
poisons (a reader poison, caught by `reader_attempts`; a mail that kills the bot whenever it is
in hand, caught by `solo_deaths`), every defective order answered with one 差戻 (one outbox
row), and a reply sent twice only where a kill fell between the server's 250 and the mark:
at most one repeat per kill, never a third copy (a reply whose sender died twice while sending
it is failed for a person, not sent again: bot/actions/outbox.py).

One scenario per database, run once (a module fixture); the tests assert on its parts. Each
takes about a minute and a half here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import update

from bot import db
from bot.actions import outbox
from bot.config import SmtpConfig
from bot.db.models import OutboxMessage
from bot.demo.embedded import EmbeddedSmtp
from bot.unis import import_extract
from tests.support.chaos import (
    Chaos,
    ChaosMail,
    Killer,
    Tally,
    bot_poison,
    config_for,
    inbox_empty_and_all_sent,
    mail_set,
    reader_poison,
    reply_parents,
    tally,
    unis_csv,
)
from tests.support.dovecot import Dovecot
from tests.support.faults import BotProcess, DbProbe, SmtpCapture
from tests.support.postgres import PostgresServer

SEED = 18
MAILS = 112  # one in eight is a good order (accepted, no reply); the rest one 差戻 each
FIRST_WAVE = 40  # in INBOX before the first start; the rest arrive between kills
KILLS = 24
# The kill moments, in turn: mostly random (0.2–2.0 s after the start), some in start-up, some
# at the moment the start-up outbox flush has a reply accepted by the server.
PLAN = ["random", "flush", "random", "start-up", "random", "flush", "random", "random"]


@dataclasses.dataclass
class Run:
    tally: Tally
    mails: list[ChaosMail]
    poisons: dict[str, ChaosMail]  # "reader" | "bot" → the mail
    exit_codes: list[int]
    log: str
    error: BaseException | None = None


def prepare(url: str, mails: list[ChaosMail]) -> None:
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        with db.transaction(db.session_factory(engine)) as s:
            import_extract(s, unis_csv(m.code for m in mails if m.folder == "Processed"), name="unis.csv",
                           now=dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()


def feeder(imap: Dovecot, mails: list[ChaosMail], poisons: dict[str, ChaosMail], waves: int) -> Iterator[None]:
    """Mail arriving: the first wave, then the rest spread over ``waves`` kills; the poisons
    among the early ones."""
    queue = [m.raw for m in mails]
    queue.insert(FIRST_WAVE // 2, poisons["bot"].raw)
    queue.insert(FIRST_WAVE + 3, poisons["reader"].raw)
    imap.append_many(queue[:FIRST_WAVE])
    rest = queue[FIRST_WAVE:]
    per = -(-len(rest) // waves)
    for start in range(0, len(rest), per):
        imap.append_many(rest[start:start + per])
        yield
    while True:
        yield


def run_scenario(tmp: Path, url: str, bots: int, stack: ExitStack) -> Run:
    imap = stack.enter_context(Dovecot())
    smtp = stack.enter_context(SmtpCapture())
    mails = mail_set(MAILS, good_every=8, tag=f"chaos{bots}")
    poisons = {"reader": reader_poison(f"chaos{bots}"), "bot": bot_poison(f"chaos{bots}")}
    prepare(url, mails)
    probe = DbProbe(url)
    stack.callback(probe.close)
    procs = [BotProcess(config_for(tmp, f"bot{i}", db_url=url, imap=imap, smtp=smtp), tmp / f"bot{i}.log")
             for i in range(bots)]
    for proc in procs:
        stack.callback(proc.kill)
    chaos = Chaos(procs, smtp, imap, probe, seed=SEED + bots, killer=Killer(probe, poisons["bot"].message_id))
    feed = feeder(imap, mails, poisons, waves=KILLS // 2)
    everything = [*mails, *poisons.values()]
    done = inbox_empty_and_all_sent(imap, probe, len(everything))
    run = Run(Tally([], {}, [], Counter(), {}, []), mails, poisons, [], "")
    try:
        if bots == 1:
            for k, kind in zip(range(KILLS), itertools.cycle(PLAN)):
                if k % 2 == 0:
                    next(feed)
                chaos.one_kill(0, kind)
            for _ in range(KILLS):
                next(feed)  # whatever has not arrived yet
            chaos.finish(0, done, timeout=120)
        else:
            chaos.many(KILLS, feed=lambda k: next(feed) if k % 2 == 0 else None)
            for _ in range(KILLS):
                next(feed)
            chaos.settle_many(done, timeout=120)
    except BaseException as err:  # noqa: BLE001 - reported by the tests below
        run.error = err
    finally:
        run.exit_codes = chaos.stop_all()
        run.log = "\n".join(p.output(None) for p in procs)
    run.tally = tally(chaos, everything)
    print(f"\n{bots} bot(s): {run.tally.summary()}")
    return run


@pytest.fixture(scope="module")
def sqlite_chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Given one `bot run` on SQLite, 112 orders (each its own customer) and the two poisons
    arriving in waves, when the bot is SIGKILLed 24 times (plus each time the bot poison is in
    its hands) and then runs clean until INBOX is empty."""
    tmp = tmp_path_factory.mktemp("chaos-sqlite")
    with ExitStack() as stack:
        yield run_scenario(tmp, f"sqlite:///{tmp / 'bot.sqlite3'}", 1, stack)


@pytest.fixture(scope="module")
def postgres_chaos(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[Run]:
    """Given three `bot run` processes on one PostgreSQL database and one mailbox, the same
    mails, when one of them (at random) is SIGKILLed and started again 24 times."""
    tmp = tmp_path_factory.mktemp("chaos-postgres")
    with ExitStack() as stack:
        yield run_scenario(tmp, postgres_server.create_database(), 3, stack)


SCENARIOS = ["sqlite_chaos", "postgres_chaos"]


def scenario(request: pytest.FixtureRequest, name: str) -> Run:
    run: Run = request.getfixturevalue(name)
    if run.error is not None:
        raise run.error
    return run


@pytest.mark.parametrize("name", SCENARIOS)
def test_chaos_loses_nothing_and_files_each_mail_once(request: pytest.FixtureRequest, name: str) -> None:
    """Then every mail is in exactly one folder, the one its decision names, and the bots
    stopped cleanly at the end."""
    run = scenario(request, name)
    t = run.tally
    assert t.lost == [], t.summary()
    assert t.in_two_folders == {}, t.summary()
    wrong = {m.message_id: t.where[m.message_id] for m in [*run.mails, *run.poisons.values()]
             if t.where[m.message_id] != [m.folder]}
    assert wrong == {}, t.summary()
    assert t.statuses == {"filed": len(run.mails), "quarantined": len(run.poisons)}, t.summary()
    assert run.exit_codes == [0] * len(run.exit_codes)


@pytest.mark.parametrize("name", SCENARIOS)
def test_chaos_quarantines_only_the_poisons(request: pytest.FixtureRequest, name: str) -> None:
    """Then no mail the kills found in hand is quarantined; the reader poison is (its reader
    overran twice: pdf_seconds) and so is the mail that killed the bot whenever it was in hand,
    for solo deaths."""
    run = scenario(request, name)
    t = run.tally
    assert sorted(t.quarantined) == sorted(m.message_id for m in run.poisons.values()), t.quarantined
    assert "solo_deaths=3" in t.quarantined[run.poisons["bot"].message_id]
    reader = t.quarantined[run.poisons["reader"].message_id]
    assert "pdf_seconds" in reader or "solo_deaths" in reader, reader
    assert sum(1 for k in t.kills if k.kind == "poison") >= 3


@pytest.mark.parametrize("name", SCENARIOS)
def test_chaos_answers_every_defective_order_once(request: pytest.FixtureRequest, name: str) -> None:
    """Then each defective order has one reply (one outbox row, one Message-ID) and nothing
    else was answered."""
    run = scenario(request, name)
    t = run.tally
    answered = {m.message_id for m in run.mails if m.answered}
    parents = reply_parents(t.deliveries)
    assert sorted(answered - set(parents)) == [], "no 差戻 for these"
    assert sorted(set(parents) - answered) == [], "answered but should not be"
    assert {p: ids for p, ids in parents.items() if len(ids) != 1} == {}, "two different replies to one mail"
    rows = [r for r in t.outbox if r[0] in answered]
    assert len(rows) == len(answered)
    # Sent; or failed (for a person) after two senders died after handing it to the server,
    # which kept it once or twice: a third copy is never sent.
    copies = t.copies()
    assert [r for r in rows if not (r[2] == "sent" or (r[2] == "failed" and copies[r[1]] in (1, 2)))] == []


@pytest.mark.parametrize("name", SCENARIOS)
def test_chaos_repeats_at_most_the_reply_in_flight_per_kill(request: pytest.FixtureRequest, name: str) -> None:
    """Then a reply went out twice only where a kill fell between its copies, one kill for each
    repeat, and no reply went out three times."""
    run = scenario(request, name)
    t = run.tally
    assert sum(1 for k in t.kills if k.kind != "poison") >= 20
    if name == "sqlite_chaos":
        kinds = {k.kind for k in t.kills}
        assert {"random", "start-up", "queued", "flush"} <= kinds, kinds
    assert t.unexplained_repeats() == [], t.summary()
    assert max(t.copies().values()) <= 2, t.repeated


# --------------------------------------------------------------------------- the outbox, unit by unit


def test_a_reply_whose_sender_died_twice_while_sending_it_is_not_sent_a_third_time(
    sqlite_url: str, smtp_sink: EmbeddedSmtp
) -> None:
    """Given a reply whose sender died after claiming it but before handing it to the server,
    then that death is no copy; given one whose sender died after handing it over (the server
    may have it), when a restarted bot flushes, then it is sent again, once; given that this
    sender died after handing it over too, then it is not sent a third time but failed, with a
    reason a person reads, and a requeue by that person sends it once more."""
    db.upgrade(sqlite_url)
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "spot@usen.co.jp", "branch@aoyama.usen.co.jp", "Re: USEN SPOT"
    msg["Message-ID"] = outbox.new_message_id("spot@usen.co.jp")
    msg.set_content("差戻")
    with db.transaction(factory) as s:
        row_id = outbox.enqueue(s, msg, purpose="reply", now=now).id
    smtp = dataclasses.replace(SmtpConfig(), host=smtp_sink.host, port=smtp_sink.port, timeout=10.0)

    def sender_dies(death: int, *, handed: bool) -> None:  # the row as a SIGKILL leaves it
        with db.transaction(factory) as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
                status=outbox.SENDING, claimed_at=now, handed_at=now if handed else None,
                claimed_by=f"{socket.gethostname()}:{999_000_000 + death}:1"))

    def state() -> tuple[str, int]:
        with factory() as s:
            row = s.get(OutboxMessage, row_id)
            assert row is not None
            return row.status, row.takeovers

    sender_dies(1, handed=False)  # killed between its claim and MAIL FROM: nothing left the bot
    assert outbox._claim(factory, row_id, now, f"{socket.gethostname()}:999000001:1")
    assert state() == (outbox.SENDING, 0)
    sender_dies(2, handed=True)  # killed after handing it over (after the server's 250, say)
    assert outbox.flush(factory, smtp, now=now).sent == 1  # taken over at once, sent again
    assert state() == (outbox.SENT, 1)
    sender_dies(3, handed=True)  # ... and that resend, too, was cut off after the 250
    result = outbox.flush(factory, smtp, now=now)
    assert (result.sent, result.failed) == (0, 1)
    assert len(smtp_sink.wait_for(1, timeout=5)) == 1  # the one resend above; no third copy
    assert state() == (outbox.FAILED, 2)
    with factory() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None and "stopped 2 times while this mail was being handed" in (row.last_error or "")
        outbox.requeue(s, row_id, now=now)  # a person checked: send it once more
        s.commit()
    assert outbox.flush(factory, smtp, now=now).sent == 1
    engine.dispose()
