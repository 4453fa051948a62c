"""The daily digest job is sent once per day even when two bot processes run it at the same
moment (PostgreSQL deployments run several), and on SQLite alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

from sqlalchemy import func, select

from bot import db
from bot.config import OfficeConfig
from bot.db.models import OutboxMessage
from bot.demo.embedded import EmbeddedSmtp
from bot.digest import PURPOSE, send_digest
from bot.templating import Templates
from tests.support.app import make_config

NOW = dt.datetime(2026, 11, 24, 8, 45, tzinfo=dt.UTC)  # 17:45 JST


def test_two_processes_queue_one_digest(any_db_url: str, smtp_sink: EmbeddedSmtp) -> None:
    cfg = make_config(any_db_url, smtp=smtp_sink)
    cfg = cfg.replace(office=dataclasses.replace(OfficeConfig(), digest_to=("kaigyo@usen.co.jp",)))
    engines = [db.make_engine(any_db_url) for _ in range(2)]
    results: list[int | None] = []
    barrier = threading.Barrier(2)

    def job(engine) -> None:  # noqa: ANN001
        barrier.wait()
        results.append(send_digest(db.session_factory(engine), cfg=cfg, day=dt.date(2026, 11, 24), now=NOW,
                                   templates=Templates(), once=True))

    threads = [threading.Thread(target=job, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r is None for r in results) == [False, True]
    with db.session_factory(engines[0])() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.purpose == PURPOSE)) == 1
    assert len(smtp_sink.wait_for(1, timeout=10)) == 1
    for e in engines:
        e.dispose()


def test_morning_job_reports_every_day_since_the_last_digest(sqlite_url: str, smtp_sink: EmbeddedSmtp) -> None:
    """Given the last digest covered Friday 11-20 and a rejection arrived Saturday evening,
    when the job runs Tuesday morning (Monday 11-23 was a holiday), then it sends the digests
    of Sat, Sun and Mon, once each, and Saturday's lists that rejection."""
    from email import message_from_bytes

    from bot.db.models import FILED, Mail
    from bot.digest import days_to_report, digest_job, digest_ref

    cfg = make_config(sqlite_url, smtp=smtp_sink)
    cfg = cfg.replace(office=dataclasses.replace(OfficeConfig(), digest_to=("kaigyo@usen.co.jp",)))
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    jst = dt.timezone(dt.timedelta(hours=9))
    with db.transaction(factory) as s:
        s.add(OutboxMessage(purpose=PURPOSE, ref=digest_ref(dt.date(2026, 11, 20)), message_id="<old@x>",
                            mail_from="a@x", rcpt_to=["b@x"], subject="old", raw=b"x", status="sent", attempts=1,
                            created_at=NOW, next_attempt_at=NOW))
        s.add(Mail(folder="INBOX", uidvalidity=1, uid=1, msgid_hash="h1", raw=b"x",
                   subject="USEN SPOT 器材発注依頼_988776655", from_addr="uchida@aoyama.usen.co.jp", status=FILED,
                   kind="equipment_order", customer_code="988776655", decision="rejected",
                   defects=[{"code": "LINE_TYPE_MISSING", "detail": {}}], warnings=[], facts={},
                   received_at=dt.datetime(2026, 11, 21, 20, 0, tzinfo=jst),
                   decided_at=dt.datetime(2026, 11, 21, 20, 0, tzinfo=jst)))
    tuesday = dt.datetime(2026, 11, 24, 8, 30, tzinfo=jst)
    with factory() as s:
        assert days_to_report(s, today=tuesday.date()) == [dt.date(2026, 11, d) for d in (21, 22, 23)]
    digest_job(factory, cfg, Templates(), lambda: tuesday, lambda: None)
    digest_job(factory, cfg, Templates(), lambda: tuesday, lambda: None)  # a second run sends nothing
    with factory() as s:
        refs = sorted(r for r in s.scalars(select(OutboxMessage.ref)) if r)
    assert refs == [digest_ref(dt.date(2026, 11, d)) for d in (20, 21, 22, 23)]
    mails = smtp_sink.wait_for(3, timeout=10)
    saturday = [m for m in mails if "988776655" in message_from_bytes(m.data).get_payload(0).get_payload(decode=True)
                .decode("utf-8")]
    assert len(saturday) == 1
    engine.dispose()
