"""The daily vendor batch (bot/vendor.py): the CSV byte for byte, every row exactly once across
crashes (checked at a real aiosmtpd server, on SQLite and PostgreSQL), two builders at once,
the cancellation rule, forced terminations (強制解約) and the ledger share (管理台帳 日次共有)."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import db, ledger, vendor
from bot.actions import outbox
from bot.commands.vendor_batch import cli_vendor_batch
from bot.config import Config, VendorConfig
from bot.db.models import OutboxMessage, UnisOrder, VendorBatch, VendorRow
from bot.demo.embedded import EmbeddedSmtp, ReceivedMessage
from bot.templating import Templates
from tests.support.app import make_config

JST = ZoneInfo("Asia/Tokyo")
DAY = dt.date(2026, 11, 24)  # a Tuesday
NOW = dt.datetime(2026, 11, 24, 17, 0, tzinfo=JST)  # the cutoff, when the daily job runs
VENDOR_TO = ("hacchu@fibergate.example",)
GOLDEN = Path(__file__).parent / "golden"
TEMPLATES = Templates()


# -- helpers ----------------------------------------------------------------------------------

def config(url: str, smtp: EmbeddedSmtp | None = None, **vendor_cfg: Any) -> Config:
    cfg = make_config(url, smtp=smtp)
    return cfg.replace(vendor=dataclasses.replace(VendorConfig(), to=VENDOR_TO, **vendor_cfg))


@pytest.fixture
def any_factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(any_db_url)
    yield db.session_factory(engine)
    engine.dispose()


def order_payload(shop: str = "カフェ青山", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "shop_name": shop, "shop_address": "〒107-0062 東京都港区南青山1-2-3", "shop_phone": "03-1234-5678",
        "line_kind": "フレッツ光ネクスト", "line_type": "", "mail_address": "cafe-aoyama@uspot.jp",
        "ssid": "cafe_aoyama", "plus": False, "parent_units": 1, "child_units": 0, "branch": "青山支店",
    }
    payload.update(extra)
    return payload


def add_row(
    session: Session, code: str, *, category: str = vendor.NEW, payload: dict[str, Any] | None = None,
    received: dt.datetime = dt.datetime(2026, 11, 24, 10, 0, tzinfo=JST), batch_date: dt.date = DAY,
    ship_date: dt.date | None = None,
) -> VendorRow:
    row = VendorRow(customer_code=code, category=category, payload=payload or order_payload(),
                    received_at=received, batch_date=batch_date, ship_date=ship_date, created_at=received)
    session.add(row)
    session.flush()
    return row


def seed(factory: sessionmaker[Session], codes: list[str]) -> None:
    with db.transaction(factory) as s:
        for i, code in enumerate(codes):
            add_row(s, code, received=dt.datetime(2026, 11, 24, 9, i, tzinfo=JST), ship_date=dt.date(2026, 11, 26))


@dataclass(frozen=True)
class Got:
    """One mail as the vendor received it, with its CSVs parsed."""

    message_id: str
    batch: str
    subject: str
    csv_bytes: bytes
    rows: list[dict[str, str]]
    ledger: list[dict[str, str]]


def parse(received: ReceivedMessage) -> Got:
    msg = message_from_bytes(received.data, policy=policy.default)
    files = {part.get_filename(): part.get_payload(decode=True) for part in msg.iter_attachments()}
    main = next(data for name, data in files.items() if name and not name.startswith("usen_spot_ledger_"))
    ledger_file = next(data for name, data in files.items() if name and name.startswith("usen_spot_ledger_"))

    def rows(data: bytes) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(data.decode("cp932"), newline="")))

    return Got(str(msg["Message-ID"]), str(msg["X-USEN-SPOT-Batch"]), str(msg["Subject"]), main, rows(main),
               rows(ledger_file))


def assert_each_row_once(sink: EmbeddedSmtp, codes: list[str]) -> list[Got]:
    """Every row reached the vendor in exactly one batch (one Message-ID); a resend of a batch
    is the same mail (same Message-ID, same bytes)."""
    got = [parse(m) for m in sink.messages]
    by_id: dict[str, bytes] = {}
    for g in got:
        assert by_id.setdefault(g.message_id, g.csv_bytes) == g.csv_bytes, "one Message-ID, two contents"
    where: dict[str, set[str]] = {}
    for g in got:
        for r in g.rows:
            where.setdefault(r["顧客CD"], set()).add(g.message_id)
    assert sorted(where) == sorted(codes)
    assert all(len(ids) == 1 for ids in where.values()), where
    batches = {g.message_id: g.batch for g in got}
    assert len(set(batches.values())) == len(batches), "a batch number must name one Message-ID"
    return got


def send(factory: sessionmaker[Session], cfg: Config, now: dt.datetime = NOW, day: dt.date = DAY
         ) -> vendor.BatchResult | None:
    return vendor.run_vendor_batch(factory, cfg=cfg, day=day, now=now, templates=TEMPLATES, send=True)


def all_rows(factory: sessionmaker[Session]) -> list[VendorRow]:
    with factory() as s:
        return list(s.scalars(select(VendorRow).order_by(VendorRow.id)))


# -- the CSV, byte for byte -------------------------------------------------------------------

def golden_rows(s: Session) -> None:
    """One row per 区分, with the awkward cases: a comma and quotes, a line break, CP932's own
    characters (①, 髙), one it lacks (𠮷), an EM DASH with a CP932 twin, missing keys."""
    add_row(s, "988776654", payload=order_payload("髙橋商店①", shop_address='東京都渋谷区神南1-1, "パルコ"前\n2F',
                                                   plus=True, parent_units=2, child_units=3),
            received=dt.datetime(2026, 11, 20, 16, 59, tzinfo=JST), batch_date=dt.date(2026, 11, 20),
            ship_date=dt.date(2026, 11, 25))
    add_row(s, "988776655", category=vendor.CHILD,
            payload={**order_payload("𠮷野家 青山店"), "parent_units": 0, "child_units": 1, "note": "子機追加"},
            received=dt.datetime(2026, 11, 24, 9, 5, tzinfo=JST), ship_date=dt.date(2026, 11, 26))
    add_row(s, "988776656", category=vendor.CANCEL, payload=order_payload("Bar—Night", line_kind="Bフレッツ",
                                                                          line_type="マンション"),
            received=dt.datetime(2026, 11, 24, 9, 10, tzinfo=JST))
    add_row(s, "988776657", category=vendor.TERMINATE,
            payload={"shop_name": "美容室ミラ", "termination_date": "2026-11-30",
                     "note": "プロバイダ契約解除 解約日 2026/11/30"},
            received=dt.datetime(2026, 11, 24, 9, 15, tzinfo=JST))
    add_row(s, "988776658", category=vendor.RELOCATE, payload=order_payload("ラーメン太郎", shop_address="大阪府大阪市北区梅田2-2"),
            received=dt.datetime(2026, 11, 24, 9, 20, tzinfo=JST), ship_date=dt.date(2026, 11, 26))
    add_row(s, "988776659", category=vendor.CHANGE, payload={"shop_name": "旧店名", "note": "店舗名 新店名へ変更"},
            received=dt.datetime(2026, 11, 24, 9, 25, tzinfo=JST))
    add_row(s, "988776660", category=vendor.FORCED_TERMINATION, payload={"shop_name": "居酒屋はな", "plus": False},
            received=dt.datetime(2026, 11, 24, 9, 30, tzinfo=JST))
    add_row(s, "988776670", category=vendor.EXCHANGE,
            payload={**order_payload("カフェ 緑"), "note": "ルーター交換 CR-1→FGN600（親機）：通信が不安定"},
            received=dt.datetime(2026, 11, 24, 9, 35, tzinfo=JST), ship_date=dt.date(2026, 11, 26))
    add_row(s, "988776671", category=vendor.NOTICE_RESEND, payload={"shop_name": "バー 青", "note": "登録通知書再発送"},
            received=dt.datetime(2026, 11, 24, 9, 40, tzinfo=JST))
    # Not in this batch: after the cutoff (tomorrow's), and one cancelled before it left.
    add_row(s, "988776661", received=dt.datetime(2026, 11, 24, 17, 1, tzinfo=JST), batch_date=dt.date(2026, 11, 25))
    gone = add_row(s, "988776662")
    gone.cancelled_at = NOW
    ledger.apply(s, "988776654", "order", now=dt.datetime(2026, 11, 20, 16, 59, tzinfo=JST),
                 updates={"shop_name": "髙橋商店①", "plus": True, "ssid": "takahashi", "parent_units": 2,
                          "child_units": 3})
    ledger.apply(s, "988776657", "order", now=dt.datetime(2026, 11, 1, 10, 0, tzinfo=JST),
                 updates={"shop_name": "美容室ミラ"})
    ledger.apply(s, "988776657", "install", now=dt.datetime(2026, 11, 5, 10, 0, tzinfo=JST))
    ledger.apply(s, "988776657", "schedule_termination", now=dt.datetime(2026, 11, 24, 9, 15, tzinfo=JST),
                 updates={"termination_date": dt.date(2026, 11, 30)})


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):  # UPDATE_GOLDEN=1 pytest tests/test_vendor.py, then review the diff
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs from the golden file (UPDATE_GOLDEN=1 to rewrite)"


def test_vendor_csv_matches_the_golden_file_byte_for_byte(
    factory: sessionmaker[Session], sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Given one row of each 区分, when the batch is built, then the CSV is CP932 with CRLF, the
    exact header, and one unencodable character replaced and reported (log + mail body)."""
    with db.transaction(factory) as s:
        golden_rows(s)
    with caplog.at_level(logging.WARNING, logger="bot.vendor"), db.transaction(factory) as s:
        result = vendor.build_batch(s, cfg=config(sqlite_url), day=DAY, now=NOW, templates=TEMPLATES)
    assert result is not None
    check_golden("vendor_batch_20261124.csv", result.csv_bytes)
    check_golden("vendor_batch_ledger_20261124.csv", result.ledger_bytes)
    assert result.csv_bytes.split(b"\r\n")[0].decode("cp932") == ",".join(vendor.COLUMNS)
    assert result.csv_bytes.count(b"\r\n") == 10 and b"\n" not in result.csv_bytes.replace(b"\r\n", b"")
    assert result.csv_name == "usen_spot_20261124.csv" and result.ledger_name == "usen_spot_ledger_20261124.csv"
    assert result.subject == "【USEN SPOT】発注データ 2026/11/24 (9件)"
    assert dict(result.counts) == {c: 1 for c in vendor.CATEGORIES}
    [r] = result.replacements
    assert (r.line, r.customer_code, r.column, r.original) == (3, "988776655", "店舗名", "𠮷")
    assert "U+20BB7" in caplog.text and "988776655" in caplog.text
    assert "「𠮷」（U+20BB7）" in result.body and "ファイバーゲート株式会社" in result.body
    assert "子機追加" in result.body and "店舗名 新店名へ変更" in result.body  # notes ride in the body
    mail = message_from_bytes(result.raw, policy=policy.default)
    assert mail["To"] == VENDOR_TO[0] and mail["X-USEN-SPOT-Batch"] == str(result.batch_id)
    assert [p.get_filename() for p in mail.iter_attachments()] == [result.csv_name, result.ledger_name]


def test_utf8_encoding_from_config_needs_no_replacement(factory: sessionmaker[Session], sqlite_url: str) -> None:
    with db.transaction(factory) as s:
        add_row(s, "988776655", payload=order_payload("𠮷野家"))
    with db.transaction(factory) as s:
        result = vendor.build_batch(s, cfg=config(sqlite_url, encoding="utf-8"), day=DAY, now=NOW,
                                    templates=TEMPLATES)
    assert result is not None and result.replacements == ()
    assert "𠮷野家" in result.csv_bytes.decode("utf-8")


# -- exactly once, across crashes -------------------------------------------------------------

CODES = ["900000001", "900000002", "900000003"]
LATE = "900000099"


class Killed(Exception):
    """The process 'dies' here."""


def crash_before_commit_in_enqueue(factory: sessionmaker[Session], cfg: Config, mp: pytest.MonkeyPatch) -> None:
    """(a) rows stamped, the outbox write fails, nothing committed."""
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise Killed("died while writing the outbox")

    with mp.context() as m:
        m.setattr(outbox, "enqueue", boom)
        with pytest.raises(Killed):
            send(factory, cfg)
    assert_nothing_committed(factory)


def crash_before_commit_after_build(factory: sessionmaker[Session], cfg: Config, mp: pytest.MonkeyPatch) -> None:
    """(a') everything written in the transaction (batch, stamps, outbox row), then death before COMMIT."""
    with pytest.raises(Killed), db.transaction(factory) as s:
        assert vendor.build_batch(s, cfg=cfg, day=DAY, now=NOW, templates=TEMPLATES) is not None
        raise Killed("died before commit")
    assert_nothing_committed(factory)


def crash_after_commit_before_send(factory: sessionmaker[Session], cfg: Config, mp: pytest.MonkeyPatch) -> None:
    """(b) batch + outbox committed, the process dies before the outbox is flushed."""
    with db.transaction(factory) as s:
        assert vendor.build_batch(s, cfg=cfg, day=DAY, now=NOW, templates=TEMPLATES) is not None
    with factory() as s:
        assert s.scalar(select(OutboxMessage.status)) == outbox.PENDING


def crash_after_accept_before_mark(factory: sessionmaker[Session], cfg: Config, mp: pytest.MonkeyPatch) -> None:
    """(c) the server accepted the mail, the process died before marking it sent: after the
    claim lease the outbox sends the same mail again, with the same Message-ID."""
    def died(*args: Any, **kwargs: Any) -> None:
        raise Killed("died after the server accepted")

    with mp.context() as m:
        m.setattr(outbox, "_mark_sent", died)
        result = send(factory, cfg)
    assert result is not None and result.delivered is False
    with factory() as s:
        assert s.scalar(select(OutboxMessage.status)) == outbox.SENDING
    # Within the lease nobody resends; after it, the same bytes go again.
    assert send(factory, cfg, now=NOW + dt.timedelta(minutes=1)) is None


def crash_after_mark(factory: sessionmaker[Session], cfg: Config, mp: pytest.MonkeyPatch) -> None:
    """(d) all done; the process dies afterwards."""
    result = send(factory, cfg)
    assert result is not None and result.delivered is True


def assert_nothing_committed(factory: sessionmaker[Session]) -> None:
    with factory() as s:
        assert s.scalars(select(VendorBatch)).all() == []
        assert s.scalars(select(OutboxMessage)).all() == []
        assert all(r.batch_id is None for r in s.scalars(select(VendorRow)))


@pytest.mark.parametrize("crash", [crash_before_commit_in_enqueue, crash_before_commit_after_build,
                                   crash_after_commit_before_send, crash_after_accept_before_mark, crash_after_mark])
def test_every_row_reaches_the_vendor_once_whatever_the_crash(
    crash: Any, any_db_url: str, any_factory: sessionmaker[Session], smtp_sink: EmbeddedSmtp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given three rows, when the batch 'dies' at a step and then runs again (the same day, after
    the outbox lease), then the vendor holds each row in exactly one batch, and a later row goes
    in a new batch of its own."""
    cfg = config(any_db_url, smtp=smtp_sink)
    seed(any_factory, CODES)
    crash(any_factory, cfg, monkeypatch)
    again = NOW + outbox.CLAIM_LEASE + dt.timedelta(minutes=1)
    send(any_factory, cfg, now=again)  # the restart: rebuilds, or just delivers what the outbox holds
    smtp_sink.wait_for(1, timeout=5)
    assert_each_row_once(smtp_sink, CODES)
    assert send(any_factory, cfg, now=again + dt.timedelta(minutes=1)) is None  # nothing new: no mail
    with db.transaction(any_factory) as s:
        add_row(s, LATE, received=again)
    late = send(any_factory, cfg, now=again + dt.timedelta(minutes=2))
    assert late is not None and late.row_count == 1 and late.delivered
    got = assert_each_row_once(smtp_sink, [*CODES, LATE])
    assert len({g.message_id for g in got}) == 2
    if crash is crash_after_accept_before_mark:
        assert len(got) == 3  # the first batch twice (same Message-ID), the late one once
    with any_factory() as s:
        assert s.scalars(select(OutboxMessage.status)).all() == [outbox.SENT, outbox.SENT]
        assert len({r.batch_id for r in s.scalars(select(VendorRow))}) == 2


def test_two_builders_at_once_stamp_each_row_once(any_db_url: str, any_factory: sessionmaker[Session]) -> None:
    """Given a builder holding its transaction open, a second one waits for it (PostgreSQL
    advisory lock / SQLite write lock) and then finds nothing left to send."""
    cfg = config(any_db_url)
    seed(any_factory, CODES)
    second: list[object] = []

    def other() -> None:
        with db.transaction(any_factory) as s:
            second.append(vendor.build_batch(s, cfg=cfg, day=DAY, now=NOW + dt.timedelta(seconds=1),
                                             templates=TEMPLATES))

    with db.transaction(any_factory) as s:
        first = vendor.build_batch(s, cfg=cfg, day=DAY, now=NOW, templates=TEMPLATES)
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive(), "the second builder must wait for the first"
    thread.join(10)
    assert first is not None and first.row_count == 3
    assert second == [None]
    with any_factory() as s:
        assert len(s.scalars(select(VendorBatch)).all()) == 1
        assert {r.batch_id for r in s.scalars(select(VendorRow))} == {first.batch_id}


def test_postgres_skips_a_row_another_transaction_holds(postgres_url: str) -> None:
    """FOR UPDATE SKIP LOCKED: a row locked by another transaction (a cancellation deciding on
    it) is left for the next batch rather than blocking or being sent twice."""
    db.upgrade(postgres_url)
    engine = db.make_engine(postgres_url)
    factory = db.session_factory(engine)
    try:
        cfg = config(postgres_url)
        seed(factory, CODES)
        with factory() as holder, holder.begin():
            held = holder.scalars(select(VendorRow).where(VendorRow.customer_code == CODES[1])
                                  .with_for_update()).one()
            with db.transaction(factory) as s:
                first = vendor.build_batch(s, cfg=cfg, day=DAY, now=NOW, templates=TEMPLATES)
            assert first is not None and held.id not in first.row_ids and first.row_count == 2
        with db.transaction(factory) as s:
            second = vendor.build_batch(s, cfg=cfg, day=DAY, now=NOW + dt.timedelta(minutes=5), templates=TEMPLATES)
        assert second is not None and second.row_ids == (held.id,)
    finally:
        engine.dispose()


def test_preview_renders_without_writing(factory: sessionmaker[Session], sqlite_url: str) -> None:
    """send=False: the mail text and CSV bytes, and the database untouched (forced terminations too)."""
    cfg = config(sqlite_url).replace(vendor=VendorConfig())  # a preview works before the vendor is configured
    seed(factory, CODES)
    with db.transaction(factory) as s:
        unis_line(s, "900000050", termination=dt.date(2026, 11, 30))
    day = dt.date(2026, 12, 7)
    result = vendor.run_vendor_batch(factory, cfg=cfg, day=day, now=NOW, templates=TEMPLATES, send=False)
    assert result is not None and not result.sent and result.recipients == ()
    assert result.row_count == 4 and result.forced_terminations == 1
    assert "（プレビュー・未送信）" in result.body
    rows = list(csv.DictReader(io.StringIO(result.csv_bytes.decode("cp932"))))
    assert [r["顧客CD"] for r in rows] == [*CODES, "900000050"]
    with factory() as s:
        assert s.scalars(select(VendorBatch)).all() == [] and s.scalars(select(OutboxMessage)).all() == []
        assert len(s.scalars(select(VendorRow)).all()) == 3
        assert all(r.batch_id is None for r in s.scalars(select(VendorRow)))


def test_no_rows_and_no_ledger_changes_send_no_mail(
    factory: sessionmaker[Session], sqlite_url: str, smtp_sink: EmbeddedSmtp
) -> None:
    cfg = config(sqlite_url, smtp=smtp_sink)
    assert send(factory, cfg) is None
    assert smtp_sink.messages == []
    with factory() as s:
        assert s.scalars(select(VendorBatch)).all() == []


def test_nothing_to_send_is_no_failure_without_vendor_recipients(factory: sessionmaker[Session],
                                                                   sqlite_url: str) -> None:
    """A day with nothing for the vendor needs no recipient: the daily job is done, not failed (a
    bot started after the batch time on an install without [vendor] to reported JOB_FAILED)."""
    assert send(factory, config(sqlite_url).replace(vendor=VendorConfig())) is None


def test_send_without_vendor_recipients_is_a_config_error(factory: sessionmaker[Session], sqlite_url: str) -> None:
    seed(factory, CODES)
    cfg = config(sqlite_url).replace(vendor=VendorConfig())
    with pytest.raises(vendor.VendorBatchError, match=r"\[vendor\] to"):
        send(factory, cfg)
    assert_nothing_committed(factory)


# -- cancellation rule ------------------------------------------------------------------------

def test_cancel_before_the_order_left_removes_it_for_free(factory: sessionmaker[Session], sqlite_url: str) -> None:
    seed(factory, CODES)
    with db.transaction(factory) as s:
        out = vendor.cancel_order(s, customer_code=CODES[0], now=NOW - dt.timedelta(hours=1), mail_id=None)
    assert out.outcome == vendor.REMOVED and str(out) == "removed" and out.cancel_row_id is None
    with db.transaction(factory) as s:
        result = vendor.build_batch(s, cfg=config(sqlite_url), day=DAY, now=NOW, templates=TEMPLATES)
    assert result is not None and result.row_count == 2
    assert vendor.CANCEL not in {r.category for r in all_rows(factory)}
    assert CODES[0] not in result.csv_bytes.decode("cp932")


def test_cancel_after_the_order_left_sends_a_cancel_row_and_costs(
    factory: sessionmaker[Session], sqlite_url: str
) -> None:
    cfg = config(sqlite_url)
    seed(factory, CODES)
    with db.transaction(factory) as s:
        first = vendor.build_batch(s, cfg=cfg, day=DAY, now=NOW, templates=TEMPLATES)
    assert first is not None
    # Received after the 17:00 cutoff: the キャンセル row is N+1's (Wednesday's) work.
    late = NOW + dt.timedelta(hours=1)
    with db.transaction(factory) as s:
        out = vendor.cancel_order(s, customer_code=CODES[0], now=late, mail_id=None)
    assert out.outcome == vendor.COST and out.sent_batch_ids == (first.batch_id,)
    [cancel] = [r for r in all_rows(factory) if r.category == vendor.CANCEL]
    original = next(r for r in all_rows(factory) if r.category == vendor.NEW and r.customer_code == CODES[0])
    assert cancel.batch_date == dt.date(2026, 11, 25) and cancel.batch_id is None
    assert {k: v for k, v in cancel.payload.items() if k != "cancels_row"} == original.payload
    # Cancelling again finds no open order: no second キャンセル row, no second cost.
    with db.transaction(factory) as s:
        assert vendor.cancel_order(s, customer_code=CODES[0], now=late, mail_id=None).outcome == vendor.NONE
    with db.transaction(factory) as s:
        assert vendor.build_batch(s, cfg=cfg, day=DAY, now=late, templates=TEMPLATES) is None  # not today's
    with db.transaction(factory) as s:
        nxt = vendor.build_batch(s, cfg=cfg, day=dt.date(2026, 11, 25), now=late + dt.timedelta(days=1),
                                 templates=TEMPLATES)
    assert nxt is not None and nxt.row_ids == (cancel.id,)
    [row] = csv.DictReader(io.StringIO(nxt.csv_bytes.decode("cp932")))
    assert (row["区分"], row["顧客CD"], row["店舗名"]) == ("キャンセル", CODES[0], "カフェ青山")


def test_cancel_with_no_order_is_none(factory: sessionmaker[Session]) -> None:
    with db.transaction(factory) as s:
        assert vendor.cancel_order(s, customer_code="900000077", now=NOW, mail_id=None).outcome == vendor.NONE


# -- forced terminations (強制解約) -------------------------------------------------------------

def unis_line(s: Session, code: str, *, status: str = "解約", termination: dt.date | None = None,
              line_no: str = "1") -> None:
    s.add(UnisOrder(customer_code=code, contract_no=f"C{code}", line_no=line_no, item_code="9603030",
                    status=status, shop_name=f"店舗{code[-2:]}", branch="青山支店", acquisition="地区",
                    termination_date=termination, imported_at=NOW))
    s.flush()


def test_forced_terminations_go_out_on_the_fifth_business_day_only_once(
    factory: sessionmaker[Session], sqlite_url: str
) -> None:
    """December 2026: Tue 1, Wed 2, Thu 3, Fri 4, Mon 7 → the 5th business day is 2026-12-07."""
    cfg = config(sqlite_url)
    end = dt.date(2026, 11, 30)
    with db.transaction(factory) as s:
        unis_line(s, "900000010", termination=end)  # new: goes out
        unis_line(s, "900000011", termination=end)  # the branch's 解約申請 already told the vendor
        add_row(s, "900000011", category=vendor.TERMINATE, payload={"termination_date": end.isoformat()})
        unis_line(s, "900000012", termination=end)  # two contract lines, one termination
        unis_line(s, "900000012", termination=end, line_no="2")
        unis_line(s, "900000013", status="確定")  # not terminated
        unis_line(s, "900000014", termination=end)  # a withdrawn 解約 row does not count: UNIS says 解約
        add_row(s, "900000014", category=vendor.TERMINATE, payload={"termination_date": end.isoformat()}).cancelled_at = NOW
    assert vendor.forced_termination_day(vendor.vendor_calendar(cfg.office), 2026, 12) == dt.date(2026, 12, 7)
    with db.transaction(factory) as s:
        assert vendor.queue_forced_terminations(s, cfg=cfg, day=dt.date(2026, 12, 4), now=NOW) == 0
    with db.transaction(factory) as s:
        assert vendor.queue_forced_terminations(s, cfg=cfg, day=dt.date(2026, 12, 7), now=NOW) == 3
    with db.transaction(factory) as s:
        assert vendor.queue_forced_terminations(s, cfg=cfg, day=dt.date(2026, 12, 7), now=NOW) == 0
    forced = [r for r in all_rows(factory) if r.category == vendor.FORCED_TERMINATION]
    assert sorted(r.customer_code for r in forced) == ["900000010", "900000012", "900000014"]
    assert all(r.batch_date == dt.date(2026, 12, 7) and r.payload["termination_date"] == "2026-11-30" for r in forced)


def test_a_missed_fifth_business_day_is_caught_up_by_the_next_batch_only(
    factory: sessionmaker[Session], sqlite_url: str
) -> None:
    """Given the daemon was down on 2026-12-07 (no batch that day), the batch of 12-08 carries
    the month's forced terminations; once a batch ran on or after the 5th business day, later
    days of the month queue none (a 解約 appearing mid-month waits for next month's extract)."""
    cfg = config(sqlite_url)
    with db.transaction(factory) as s:
        unis_line(s, "900000010", termination=dt.date(2026, 11, 30))
    with db.transaction(factory) as s:
        assert vendor.queue_forced_terminations(s, cfg=cfg, day=dt.date(2026, 12, 8), now=NOW) == 1
        s.add(VendorBatch(batch_date=dt.date(2026, 12, 8), created_at=NOW, row_count=1))
    with db.transaction(factory) as s:
        unis_line(s, "900000015", termination=dt.date(2026, 12, 31))
    with db.transaction(factory) as s:
        assert vendor.queue_forced_terminations(s, cfg=cfg, day=dt.date(2026, 12, 9), now=NOW) == 0


def test_the_batch_carries_forced_terminations_in_its_own_transaction(
    factory: sessionmaker[Session], sqlite_url: str
) -> None:
    cfg = config(sqlite_url)
    day = dt.date(2026, 12, 7)
    now = dt.datetime(2026, 12, 7, 17, 0, tzinfo=JST)
    with db.transaction(factory) as s:
        unis_line(s, "900000010", termination=dt.date(2026, 11, 30))
    with pytest.raises(Killed), db.transaction(factory) as s:
        vendor.build_batch(s, cfg=cfg, day=day, now=now, templates=TEMPLATES)
        raise Killed
    assert all_rows(factory) == []  # rolled back with the batch
    with db.transaction(factory) as s:
        result = vendor.build_batch(s, cfg=cfg, day=day, now=now, templates=TEMPLATES)
    assert result is not None and result.forced_terminations == 1 and dict(result.counts)["強制解約"] == 1
    assert "UNIS強制解約 解約日 2026/11/30" in result.body
    with db.transaction(factory) as s:
        assert vendor.build_batch(s, cfg=cfg, day=day, now=now + dt.timedelta(minutes=1), templates=TEMPLATES) is None


# -- ledger share (管理台帳 日次共有) -------------------------------------------------------------

def test_ledger_share_holds_all_rows_first_then_only_the_changed_ones(
    factory: sessionmaker[Session], sqlite_url: str, smtp_sink: EmbeddedSmtp
) -> None:
    cfg = config(sqlite_url, smtp=smtp_sink)
    with db.transaction(factory) as s:
        for code in ("900000020", "900000021"):
            ledger.apply(s, code, "order", now=NOW - dt.timedelta(days=3), updates={"shop_name": f"店{code}"})
        add_row(s, "900000020")
    first = send(factory, cfg)
    assert first is not None and first.ledger_count == 2
    # Next day: one ledger change and no vendor rows → a mail with an empty order CSV.
    with db.transaction(factory) as s:
        ledger.apply(s, "900000021", "install", now=NOW + dt.timedelta(hours=20))
    tomorrow = NOW + dt.timedelta(days=1)
    second = send(factory, cfg, now=tomorrow, day=dt.date(2026, 11, 25))
    assert second is not None and second.row_count == 0 and second.ledger_count == 1
    assert "初回" not in second.body and "2026/11/24 17:00" in second.body
    got = [parse(m) for m in smtp_sink.wait_for(2, timeout=5)]
    assert [r["顧客CD"] for r in got[0].ledger] == ["900000020", "900000021"]
    assert got[1].rows == [] and got[1].subject == "【USEN SPOT】発注データ 2026/11/25 (0件)"
    [changed] = got[1].ledger
    assert (changed["顧客CD"], changed["状態"], changed["最終イベント"]) == ("900000021", "設置済", "設置")
    assert send(factory, cfg, now=tomorrow + dt.timedelta(minutes=5), day=dt.date(2026, 11, 25)) is None


# -- the daily job and the command line -------------------------------------------------------

def test_job_runs_on_business_days_only_and_never_raises(
    factory: sessionmaker[Session], sqlite_url: str, smtp_sink: EmbeddedSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(sqlite_url, smtp=smtp_sink)
    seed(factory, CODES)
    saturday = dt.datetime(2026, 11, 28, 17, 0, tzinfo=JST)
    vendor.vendor_batch_job(factory, cfg, TEMPLATES, lambda: saturday)
    assert smtp_sink.messages == []
    vendor.vendor_batch_job(factory, cfg.replace(vendor=VendorConfig()), TEMPLATES, lambda: NOW)  # no recipient
    assert "[vendor] to" in caplog.text

    def broken() -> dt.datetime:
        raise RuntimeError("clock broke")

    vendor.vendor_batch_job(factory, cfg, TEMPLATES, broken)
    assert "vendor batch job failed" in caplog.text
    vendor.vendor_batch_job(factory, cfg, TEMPLATES, lambda: NOW)
    assert_each_row_once(smtp_sink, CODES)


def test_cli_previews_and_sends(
    factory: sessionmaker[Session], sqlite_url: str, smtp_sink: EmbeddedSmtp, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(sqlite_url, smtp=smtp_sink)
    seed(factory, CODES)
    assert cli_vendor_batch(argparse.Namespace(send=False, date="2026-11-24"), cfg) == 0
    out = capsys.readouterr().out
    assert "preview (not sent)" in out and "区分,顧客CD,店舗名" in out and CODES[2] in out
    assert smtp_sink.messages == []
    assert cli_vendor_batch(argparse.Namespace(send=False, date="24/11/2026"), cfg) == 2
    assert cli_vendor_batch(argparse.Namespace(send=True, date="2026-11-24"),
                                   cfg.replace(vendor=VendorConfig())) == 2
    assert cli_vendor_batch(argparse.Namespace(send=True, date="2026-11-24"), cfg) == 0
    out = capsys.readouterr().out
    assert "sent" in out and "送信済" in out
    assert_each_row_once(smtp_sink, CODES)
    assert cli_vendor_batch(argparse.Namespace(send=True, date="2026-11-24"), cfg) == 0
    assert "nothing to send" in capsys.readouterr().out


def test_template_sample_is_registered_and_renders() -> None:
    """`bot templates check` renders every template with its sample: the vendor mail has one."""
    from bot.templating import samples as template_samples

    sample = template_samples.sample_for(vendor.TEMPLATE)
    assert sample is not None
    rendered = TEMPLATES.render_builtin_mail(vendor.TEMPLATE, sample)
    assert rendered.exports["subject"] == "【USEN SPOT】発注データ 2026/11/24 (3件)"
    assert "バッチ番号：12" in rendered.text


def test_a_branch_termination_with_a_slightly_different_date_is_not_forced_again(
    factory: sessionmaker[Session], sqlite_url: str
) -> None:
    """The branch's 解約申請 said 11-30, UNIS ends the contract 12-15: the same termination,
    already told to the vendor, so no 強制解約 row; a termination a year later is new."""
    cfg = config(sqlite_url)
    with db.transaction(factory) as s:
        unis_line(s, "900000030", termination=dt.date(2026, 12, 15))
        add_row(s, "900000030", category=vendor.TERMINATE, payload={"termination_date": "2026-11-30"})
        unis_line(s, "900000031", termination=dt.date(2026, 11, 30))
        add_row(s, "900000031", category=vendor.TERMINATE, payload={"termination_date": "2025-11-30"})
    with db.transaction(factory) as s:
        assert vendor.queue_forced_terminations(s, cfg=cfg, day=dt.date(2026, 12, 7), now=NOW) == 1
    forced = [r.customer_code for r in all_rows(factory) if r.category == vendor.FORCED_TERMINATION]
    assert forced == ["900000031"]
