"""``bot import-unis FILE.csv``: load a UNIS order extract (CP932 or UTF-8, bot/unis/__init__.py);
prints the rows loaded and the rows refused with their line numbers."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from bot import db
from bot.commands.common import EXIT_ERROR, EXIT_OK
from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    imp = sub.add_parser("import-unis", help="load a UNIS order extract (CSV, CP932 or UTF-8)")
    imp.add_argument("file", type=Path)


def cli_import_unis(args: argparse.Namespace, cfg: Config) -> int:
    from bot import unis

    engine = db.make_engine(cfg.database.url)
    db.upgrade(cfg.database.url)
    factory = db.session_factory(engine)

    def progress(n: int) -> None:
        print(f"  … {n:,} 行 / rows", file=sys.stderr, flush=True)

    try:
        with db.transaction(factory) as session:
            report = unis.import_file(session, args.file, now=dt.datetime.now(dt.UTC), progress=progress,
                                      columns=cfg.unis.columns, audit_window_days=cfg.unis.audit_window_days)
    except unis.UnisImportError as err:
        print(f"bot import-unis: 取り込めません / cannot import: {err}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        engine.dispose()
    print(f"{report.file} ({report.encoding}): 取込 {report.loaded} 行 "
          f"(新規 {report.inserted} / 更新 {report.updated} / 変更なし {report.unchanged}), "
          f"拒否 {len(report.refused)} 行")
    print(f"loaded {report.loaded} rows, refused {len(report.refused)} rows")
    for problem in report.refused:
        print(f"  拒否 refused {problem}")
    for note in report.notes:
        print(f"  注意 note {note}")
    return EXIT_OK
