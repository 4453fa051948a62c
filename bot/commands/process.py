"""``bot process FILE.eml... --dry-run --json [--now ISO8601]``: decide without side effects,
one JSON object per line (DESIGN.md CLI)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.commands.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CommandError
from bot.config import Config

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    pr = sub.add_parser("process", help="decide .eml files")
    pr.add_argument("files", nargs="+", type=Path)
    pr.add_argument("--dry-run", action="store_true", help="decide without side effects (required)")
    pr.add_argument("--json", action="store_true", help="one JSON object per line")
    pr.add_argument("--now", help="ISO 8601 time the mails are taken to arrive (default: now)")


def cli_process(args: argparse.Namespace, cfg: Config) -> int:
    from sqlalchemy import inspect

    from bot import db

    if not args.dry_run:
        raise _usage("process decides files only with --dry-run (the daemon `bot run` acts on the mailbox)")
    now = _parse_now(args.now, cfg)
    raws: list[tuple[str, bytes]] = []
    status = EXIT_OK
    for path in args.files:
        try:
            raws.append((str(path), path.read_bytes()))
        except OSError as err:
            print(f"bot process: {path}: 読み込めません / cannot read: {err.strerror}", file=sys.stderr)
            status = EXIT_ERROR
    engine = db.make_engine(cfg.database.url)
    try:
        try:
            has_schema = inspect(engine).has_table("mails")
        except Exception:  # noqa: BLE001 - e.g. a SQLite path whose folder does not exist: no data
            has_schema = False
        factory = db.session_factory(engine)
        with factory() as session:
            results = dry_run(raws, cfg=cfg, session=session if has_schema else None, now=now)
    finally:
        engine.dispose()
    for r in results:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
        else:
            defects = ",".join(r["defects"]) or "-"  # type: ignore[arg-type]
            warnings = ",".join(r["warnings"]) or "-"  # type: ignore[arg-type]
            print(f"{r['file']}\t{r['kind'] or '-'}\t{r['customer_code'] or '-'}\t{r['decision']}\t{defects}\t{warnings}")
    return status


def _usage(message: str) -> CommandError:
    return CommandError(f"bot: エラー / error: {message}", EXIT_USAGE)


def _parse_now(value: str | None, cfg: Config) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as err:
        raise _usage(f"--now: not an ISO 8601 time: {value!r}") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=cfg.office.tz)  # a bare time is office (Japan) time
    return moment


def dry_run(
    raws: Iterable[tuple[str, bytes]], *, cfg: Config, session: Session | None, now: dt.datetime
) -> list[dict[str, object]]:
    """`bot process --dry-run`: decide each file without side effects."""
    # Imported here: every command's parser is built at start, and `bot --version` should not
    # load the PDF readers.
    from bot import decide as deciding
    from bot.forms.reader import PdfReader
    from bot.forms.workers import ReaderFailed, shared_pool
    from bot.mail import parse_mail
    from bot.pipeline.claim import reader_reason
    from bot.pipeline.gather import gather, look, settings_from

    settings = settings_from(cfg)
    reader = PdfReader(cfg.pdf.password, cfg.limits, pool=shared_pool(cfg.limits))
    results: list[dict[str, object]] = []
    for name, raw in raws:
        mail = parse_mail(raw, cfg.limits)
        first = look(mail, cfg=cfg, settings=settings)
        try:
            facts = gather(mail, cfg=cfg, session=session, received_at=now, settings=settings, reader=reader,
                           first=first)
        except ReaderFailed as err:
            c = first.classification
            results.append({"file": name, "message_id": mail.message_id, "kind": c.kind,
                            "customer_code": c.customer_code, "decision": deciding.MANUAL, "defects": [],
                            "warnings": [], "reason": reader_reason(err, 1)})
            continue
        decision = deciding.decide(facts)
        results.append(
            {
                "file": name, "message_id": mail.message_id, "kind": decision.kind,
                "customer_code": decision.customer_code, "decision": decision.decision,
                "defects": decision.defect_codes, "warnings": decision.warning_codes,
                "shape": facts.form.shape if facts.form is not None else None,
                "form": facts.form.form if facts.form is not None else None,  # dedicated | integrated
                "fields": facts.form.fields_json() if facts.form is not None else {},
            }
        )
        if decision.reason:
            results[-1]["reason"] = decision.reason
    return results
