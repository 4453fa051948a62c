"""``bot vendor-batch [--send] [--date D]``: render (or with --send, send) the vendor batch of
--date (default: today, Japan time): the CSV in the vendor's encoding and the ledger share
(bot/vendor/). A preview prints the mail's body and both files; nothing is written."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING

from bot import db
from bot.commands.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from bot.config import Config
from bot.domain.calendar import BusinessCalendar

if TYPE_CHECKING:
    from bot.vendor import BatchResult


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    vb = sub.add_parser("vendor-batch", help="render (or send) the vendor batch")
    vb.add_argument("--send", action="store_true", help="stamp the rows, queue the mail and send it to [vendor] to")
    vb.add_argument("--date", help="the batch day (YYYY-MM-DD, Japan time; default today)")


def cli_vendor_batch(args: argparse.Namespace, cfg: Config) -> int:
    """Render (or with --send, send) the vendor batch of --date (default: today, Japan time)."""
    from sqlalchemy import inspect

    from bot.templating import Templates
    from bot.vendor import VendorBatchError, run_vendor_batch

    now = dt.datetime.now(dt.UTC)
    office = cfg.office
    calendar = BusinessCalendar(tz=office.tz, cutoff=office.cutoff_time, company_holidays=office.company_holiday_dates)
    if getattr(args, "date", None):
        try:
            day = dt.date.fromisoformat(args.date)
        except ValueError:
            print(f"bot vendor-batch: --date は YYYY-MM-DD で指定してください / --date: expected YYYY-MM-DD, "
                  f"got {args.date!r}", file=sys.stderr)
            return EXIT_USAGE
    else:
        day = calendar.local(now).date()
    send = bool(getattr(args, "send", False))
    if send and not cfg.vendor.to:
        print(f"bot vendor-batch: 設定エラー / config error: {cfg.source}: [vendor] to: 宛先がありません / "
              "no recipient configured", file=sys.stderr)
        return EXIT_USAGE
    if not calendar.is_business_day(day):
        print(f"注意: {day:%Y/%m/%d} は営業日ではありません / note: {day} is not a business day", file=sys.stderr)
    templates = Templates.from_config(cfg)
    engine = db.make_engine(cfg.database.url)
    try:
        if send:
            db.upgrade(cfg.database.url)
        elif not inspect(engine).has_table("vendor_rows"):
            print("bot vendor-batch: データベースが未作成です（bot db upgrade） / the database has no schema: "
                  "run `bot db upgrade`", file=sys.stderr)
            return EXIT_ERROR
        factory = db.session_factory(engine)
        result = run_vendor_batch(factory, cfg=cfg, day=day, now=now, templates=templates, send=send)
    except VendorBatchError as err:
        print(f"bot vendor-batch: 設定エラー / config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    print(_describe(result, day=day, send=send, encoding=cfg.vendor.encoding))
    return EXIT_OK


def _describe(result: BatchResult | None, *, day: dt.date, send: bool, encoding: str) -> str:
    if result is None:
        return (f"{day:%Y/%m/%d}: 送る行も台帳の更新もありません（メールは送りません） / "
                "nothing to send: no new rows and no ledger changes (no mail)")
    counts = "、".join(f"{c} {n}件" for c, n in result.counts if n)
    lines: list[str] = []
    if send:
        state = ("送信済 / sent" if result.delivered
                 else "送信待ち（自動で再送します） / queued, the outbox will retry")
        lines.append(f"送信しました / sent: バッチ #{result.batch_id} {day:%Y/%m/%d}, "
                     f"{result.row_count} 件 / rows, 台帳 {result.ledger_count} 件 / ledger rows")
        lines.append(f"配送 / delivery: {state}")
        lines.append(f"Message-ID: {result.message_id}")
    else:
        lines.append(f"プレビュー（送信していません） / preview (not sent): {day:%Y/%m/%d}, "
                     f"{result.row_count} 件 / rows, 台帳 {result.ledger_count} 件 / ledger rows")
    lines.append(f"内訳 / by 区分: {counts or '-'}")
    lines.append(f"宛先 / To: {', '.join(result.recipients) or '（未設定 / not configured: [vendor] to）'}")
    lines.append(f"件名 / Subject: {result.subject}")
    for name in result.form_names:
        lines.append(f"添付 申込書 / scanned form attached: {name}（暗号化 / encrypted: [vendor] pdf_password）")
    for row_id, code, why in result.held_back:
        lines.append(f"送らずに保留 / held back: 行 {row_id} 顧客CD {code}: 申込書PDFを添付できません / "
                     f"form pages not attachable: {why}")
    if result.replacements:
        lines.append(f"置換した文字 / replaced characters: {len(result.replacements)}")
        for r in result.replacements:
            lines.append(f"  {r.file}:{r.line} 顧客CD {r.customer_code} {r.column}: {r.original} ({r.codepoints})")
    if not send:
        lines.append("--- 本文 / body ---")
        lines.append(result.body.rstrip("\n"))
        for name, data in ((result.csv_name, result.csv_bytes), (result.ledger_name, result.ledger_bytes)):
            lines.append(f"--- {name} ({encoding}) ---")
            lines.append(data.decode(encoding).replace("\r\n", "\n").rstrip("\n"))
    return "\n".join(lines)
