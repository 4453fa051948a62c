"""The daily digest job is sent once per day even when two bot processes run it at the same
moment (PostgreSQL deployments run several), and on SQLite alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

from sqlalchemy import func, select

from bot import db
from bot.config import OfficeConfig
from bot.digest import PURPOSE, send_digest
from bot.embedded import EmbeddedSmtp
from bot.models import OutboxMessage
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
