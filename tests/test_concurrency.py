"""Two bot processes deciding the same stored mails at once (PostgreSQL deployments run
several; SQLite serialises writers): each mail is decided once, no reply is queued twice,
and no plain rejection is quarantined by a race on shared rows (reply counter, ledger)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bot import db
from bot.db.models import QUARANTINED, Mail, OutboxMessage
from bot.unis import import_extract
from tests.fixtures import pdfs
from tests.fixtures.demo_mails import UNIS_CSV, order_body
from tests.support.app import Clock, make_config, make_processor
from tests.support.mailbuilder import build_mail


def test_two_processors_decide_each_mail_once(any_db_url: str) -> None:
    cfg = make_config(any_db_url)
    first, factory = make_processor(cfg, Clock())
    second, _ = make_processor(cfg, Clock())
    with db.transaction(factory) as s:
        import_extract(s, UNIS_CSV.encode("cp932"), name="unis.csv", now=Clock()())
    form = pdfs.typed_form(dict(pdfs.DEFAULT_FIELDS, customer_code="988776655", line_kind="b_flets",
                                line_type=None))
    ids = []
    for i in range(8):
        # All from one sender, all about one customer: the reply counter and the ledger row
        # are what the two processes would fight over.
        raw = build_mail("USEN SPOT 器材発注依頼_988776655", order_body("988776655"), charset="utf-8",
                         attachments=[("申込書.pdf", form, "application/pdf")], message_id=f"<c{i}@aoyama.usen.co.jp>")
        mail_id = first.store(raw, folder="INBOX", uidvalidity=1, uid=i + 1).mail_id
        ids.append(mail_id)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def run(processor) -> None:  # noqa: ANN001
        barrier.wait()
        for mail_id in ids:
            outcome = processor.process(mail_id)
            if outcome is not None:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(p,)) for p in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == len(ids)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Mail).where(Mail.status == QUARANTINED)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == len(ids)
        assert {m.decision for m in s.scalars(select(Mail))} == {"rejected"}


def test_an_over_long_header_is_stored_cut_not_refused(any_db_url: str) -> None:
    """PostgreSQL refuses a value longer than its column: a spam mail with a 400-character From
    must still be stored (and so decided), not stop the mailbox."""
    cfg = make_config(any_db_url)
    processor, factory = make_processor(cfg, Clock())
    long_from = "x" * 400 + "@spam.example"
    raw = build_mail("USEN SPOT 器材発注依頼_988776654", "本文", charset="utf-8", from_=long_from,
                     message_id="<" + "m" * 500 + "@spam.example>")
    stored = processor.store(raw, folder="INBOX", uidvalidity=1, uid=1)
    mail_id, new = stored.mail_id, stored.is_new
    assert new
    outcome = processor.process(mail_id)
    assert outcome is not None and outcome.decision == "ignored"
    with factory() as s:
        row = s.get(Mail, mail_id)
        assert row is not None and row.from_addr is not None and len(row.from_addr) == 320


def test_the_hourly_reply_cap_counts_in_one_statement_on_both_databases(any_db_url: str) -> None:
    """Given [senders] max_replies_per_hour = 2, when three replies to one sender are counted in
    one hour (each in its own transaction, as each decision is), then two are allowed and the
    third is not; the next hour counts afresh; another sender has a count of its own."""
    import dataclasses
    import datetime as dt

    from bot.db.models import ReplyCount
    from bot.mail import parse_mail

    cfg = make_config(any_db_url)
    cfg = cfg.replace(senders=dataclasses.replace(cfg.senders, max_replies_per_hour=2))
    processor, factory = make_processor(cfg, Clock())
    uchida = parse_mail(build_mail("USEN SPOT 器材発注依頼_988776654", "本文\n", charset="utf-8"))
    sato = parse_mail(build_mail("USEN SPOT 器材発注依頼_988776655", "本文\n", charset="utf-8",
                                 from_="佐藤 <sato@aoyama.usen.co.jp>"))
    ten = dt.datetime(2026, 11, 24, 1, 5, tzinfo=dt.UTC)

    def allowed(mail, at: dt.datetime) -> bool:  # noqa: ANN001
        with db.transaction(factory) as session:
            return processor.acting.reply_allowed(session, mail, at)

    assert [allowed(uchida, ten + dt.timedelta(minutes=m)) for m in (0, 10, 20)] == [True, True, False]
    assert allowed(sato, ten) is True
    assert allowed(uchida, ten + dt.timedelta(hours=1)) is True
    with factory() as session:
        counts = sorted(session.execute(select(ReplyCount.address, ReplyCount.count)).all())
    assert counts == [("sato@aoyama.usen.co.jp", 1), ("uchida@aoyama.usen.co.jp", 1),
                      ("uchida@aoyama.usen.co.jp", 2)]
