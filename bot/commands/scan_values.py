"""``bot scan-values list | set CUSTOMER_CODE FIELD VALUE``: values of accepted scanned forms that
the reader could not read (申込書参照 in the vendor CSV), typed in by staff before the batch.

``set`` changes the vendor row not sent yet (refused once a batch carried it), with the value
checked as the checks would check it (a mail local part valid, an SSID half-width …). FIELD is
a payload key (``mail_address``) or the CSV header (``メールアドレス``). The console does the same
on a mail's page (/manual/ID: at 受付 and after it, :mod:`bot.actions.scan_values`), with the same
check (:func:`bot.vendor.forms.validate`) and storage (:func:`bot.vendor.forms.set_row_value`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from bot.config import Config

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    sv = sub.add_parser("scan-values", help="申込書参照: type in values of scanned forms before the vendor batch")
    sv_sub = sv.add_subparsers(dest="scan_values_command", required=True, parser_class=parser_class)
    sv_sub.add_parser("list", help="unsent vendor rows of scanned forms and their 申込書参照 cells")
    st = sv_sub.add_parser("set", help="type a value into the unsent vendor row (checked like the checks)")
    st.add_argument("customer_code")
    st.add_argument("field", help="e.g. メールアドレス / mail_address, SSID, 店舗名, 設置先住所, 電話番号, 親機台数")
    st.add_argument("value")
    st.add_argument("--by", help="who typed it (default: the login name)")


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "有" if value else "無"
    return "" if value is None else str(value)


def cli_scan_values(args: argparse.Namespace, cfg: Config) -> int:
    from sqlalchemy import inspect

    from bot import db
    from bot.actions.scan_shadow import note_typed
    from bot.vendor.forms import (
        HEADERS,
        ScanValueError,
        open_rows,
        refer_keys,
        set_value,
    )

    engine = db.make_engine(cfg.database.url)
    try:
        if not inspect(engine).has_table("vendor_rows"):
            print("bot scan-values: データベースが未作成です（bot db upgrade） / the database has no schema",
                  file=sys.stderr)
            return EXIT_ERROR
        factory = db.session_factory(engine)
        if args.scan_values_command == "list":
            with factory() as session:
                rows = open_rows(session)
                if not rows:
                    print("未送信のスキャン申込書の行はありません / no unsent vendor rows of scanned forms")
                for row in rows:
                    payload = row.payload or {}
                    refer = refer_keys(row)
                    print(f"顧客CD {row.customer_code}\t{row.category}\t{row.batch_date:%Y/%m/%d}便\t行 {row.id}\t"
                          f"申込書参照 {len(refer)}: {'・'.join(HEADERS[k] for k in refer) or '-'}")
                    for key, header in HEADERS.items():
                        mark = "  *" if key in refer else "   "
                        print(f"{mark} {header} ({key}): {_text(payload.get(key))}")
            return EXIT_OK
        now = dt.datetime.now(dt.UTC)
        try:
            with db.transaction(factory) as session:
                result = set_value(session, args.customer_code, args.field, args.value, now=now,
                                   by=args.by or f"cli:{getpass.getuser()}")
                note_typed(session, [result])  # the person's final value (bot scans report)
        except ScanValueError as err:
            print(f"bot scan-values: {err}", file=sys.stderr)
            return EXIT_USAGE
        except (LookupError, PermissionError) as err:
            print(f"bot scan-values: {err}", file=sys.stderr)
            return EXIT_ERROR
        print(f"顧客CD {result.customer_code} {HEADERS[result.key]}: {_text(result.before)} → {_text(result.after)}"
              f"（{result.batch_date:%Y/%m/%d}便で送ります / goes in that batch）")
        return EXIT_OK
    finally:
        engine.dispose()
