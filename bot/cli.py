"""Command line (a contract: admins script against it). See DESIGN.md "Command line".

Exit codes: 0 done; 2 bad usage or bad config (the message names the key); 1 anything else.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import inspect

from bot import __version__
from bot.config import Config, ConfigError, load_config

log = logging.getLogger("bot.cli")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep our wording
        self.print_usage(sys.stderr)
        print(f"bot: エラー / error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bot", description="USEN SPOT 事務センター メールボット")
    p.add_argument("--config", help="config TOML (else $BOT_CONFIG, else ./config.toml, else defaults)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"bot (USEN SPOT office bot) {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("run", help="the daemon: intake + scheduled jobs until SIGTERM")
    demo = sub.add_parser("demo", help="embedded IMAP + SMTP + SQLite with sample mails; one pass")
    demo.add_argument("--keep", action="store_true", help="keep the temporary directory")
    pr = sub.add_parser("process", help="decide .eml files")
    pr.add_argument("files", nargs="+", type=Path)
    pr.add_argument("--dry-run", action="store_true", help="decide without side effects (required)")
    pr.add_argument("--json", action="store_true", help="one JSON object per line")
    pr.add_argument("--now", help="ISO 8601 time the mails are taken to arrive (default: now)")
    imp = sub.add_parser("import-unis", help="load a UNIS order extract (CSV, CP932 or UTF-8)")
    imp.add_argument("file", type=Path)
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_sub.add_parser("upgrade", help="Alembic upgrade to head")
    dg = sub.add_parser("digest", help="render (or send) the office digest")
    dg.add_argument("--send", action="store_true", help="queue it in the outbox and send it to [office] digest_to")
    dg.add_argument("--date", help="the day (YYYY-MM-DD, Japan time; default today)")
    dg.add_argument("--out", help="write the HTML part to this file")
    vb = sub.add_parser("vendor-batch", help="render (or send) the vendor batch")
    vb.add_argument("--send", action="store_true", help="stamp the rows, queue the mail and send it to [vendor] to")
    vb.add_argument("--date", help="the batch day (YYYY-MM-DD, Japan time; default today)")
    mq = sub.add_parser("manual", help="mails held for a person (保留/隔離)")
    mq_sub = mq.add_subparsers(dest="manual_command", required=True, parser_class=_Parser)
    mq_sub.add_parser("list", help="list the held mails not yet resolved")
    mr = mq_sub.add_parser("resolve", help="mark a held mail as handled; it leaves the digest's queue")
    mr.add_argument("id", type=int, help="the mail id (as in the digest)")
    mr.add_argument("--note", help="what was done")
    mr.add_argument("--by", help="who did it (default: the login name)")
    ob = sub.add_parser("outbox", help="mails the bot sends (replies, vendor batches, digests)")
    ob_sub = ob.add_subparsers(dest="outbox_command", required=True, parser_class=_Parser)
    ob_sub.add_parser("list", help="list failed or retrying messages")
    orq = ob_sub.add_parser("requeue", help="send a failed message again (same bytes, same Message-ID)")
    orq.add_argument("id", type=int)
    ob_sub.add_parser("flush", help="send every due message now")
    tpl = sub.add_parser("templates", help="mail templates")
    tpl_sub = tpl.add_subparsers(dest="templates_command", required=True, parser_class=_Parser)
    tpl_sub.add_parser("check", help="render every template with sample data; non-zero exit on any error")
    pv = tpl_sub.add_parser("preview", help="write one template rendered with sample data to a file")
    pv.add_argument("name", help="template name, e.g. reject.txt.j2 or digest.html")
    pv.add_argument("--out", help="output file (default: a temp file)")
    web = sub.add_parser("web", help="the office console (HTTP; needs $BOT_WEB_SECRET_KEY)")
    web.add_argument("--host", help="listen address (default [web] host)")
    web.add_argument("--port", type=int, help="port (default [web] port)")
    from bot.commands.users import add_parser as add_users_parser

    add_users_parser(sub, _Parser)
    from bot.commands.scan_values import add_parser as add_scan_values_parser

    add_scan_values_parser(sub, _Parser)
    from bot.commands import reprocess, status

    status.add_parser(sub, _Parser)
    reprocess.add_parser(sub, _Parser)
    return p


def _parse_now(value: str | None, cfg: Config) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as err:
        raise UsageError(f"--now: not an ISO 8601 time: {value!r}") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=cfg.office.tz)  # a bare time is office (Japan) time
    return moment


def cmd_process(args: argparse.Namespace, cfg: Config) -> int:
    from bot import db
    from bot.commands.process import dry_run

    if not args.dry_run:
        raise UsageError("process decides files only with --dry-run (the daemon `bot run` acts on the mailbox)")
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
        has_schema = _has_schema(engine)
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


def _has_schema(engine: object) -> bool:
    try:
        return inspect(engine).has_table("mails")  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - e.g. a SQLite path whose folder does not exist: no data
        return False


def cmd_import_unis(args: argparse.Namespace, cfg: Config) -> int:
    from bot import db, unis

    engine = db.make_engine(cfg.database.url)
    db.upgrade(cfg.database.url)
    factory = db.session_factory(engine)

    def progress(n: int) -> None:
        print(f"  … {n:,} 行 / rows", file=sys.stderr, flush=True)

    try:
        with db.transaction(factory) as session:
            report = unis.import_file(session, args.file, now=dt.datetime.now(dt.UTC), progress=progress,
                                      columns=cfg.unis.columns)
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


def cmd_db_upgrade(args: argparse.Namespace, cfg: Config) -> int:
    from bot import db

    db.upgrade(cfg.database.url)
    print(f"database at head: {_mask_url(cfg.database.url)}")
    return EXIT_OK


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(unparseable url)"


def cmd_templates(args: argparse.Namespace, cfg: Config) -> int:
    from bot.template_samples import cli_templates_check, cli_templates_preview

    if args.templates_command == "preview":
        return cli_templates_preview(args, cfg)
    return cli_templates_check(args, cfg)


def cmd_digest(args: argparse.Namespace, cfg: Config) -> int:
    from bot.digest import cli_digest

    return cli_digest(args, cfg)


def cmd_outbox(args: argparse.Namespace, cfg: Config) -> int:
    from bot import db, outbox

    engine = db.make_engine(cfg.database.url)
    factory = db.session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    try:
        if args.outbox_command == "list":
            with factory() as session:
                rows = outbox.problems(session)
            if not rows:
                print("送信の問題はありません / no failed or retrying messages")
            for r in rows:
                print(f"{r.id}\t{r.status}\t{r.purpose}\t{r.attempts}回\t{', '.join(r.rcpt_to)}\t{r.subject}\t"
                      f"{(r.last_error or '').splitlines()[0] if r.last_error else ''}")
            return EXIT_OK
        if args.outbox_command == "requeue":
            try:
                with db.transaction(factory) as session:
                    outbox.requeue(session, args.id, now=now)
            except ValueError as err:
                raise UsageError(str(err)) from err
            print(f"outbox {args.id}: 再送待ち / queued again")
        result = outbox.flush(factory, cfg.smtp, now=now)
        print(f"送信 sent {result.sent}, 失敗 failed {result.failed}, 残り still due {result.remaining}")
        return EXIT_OK
    finally:
        engine.dispose()


def cmd_manual(args: argparse.Namespace, cfg: Config) -> int:
    from bot.manual import cli_manual

    return cli_manual(args, cfg)


def cmd_vendor_batch(args: argparse.Namespace, cfg: Config) -> int:
    from bot.vendor import cli_vendor_batch

    return cli_vendor_batch(args, cfg)


def cmd_web(args: argparse.Namespace, cfg: Config) -> int:
    from bot.web.app import serve

    try:
        return serve(cfg, host=args.host, port=args.port)
    except ConfigError as err:
        print(f"bot: 設定エラー / config error: {err}", file=sys.stderr)
        return EXIT_USAGE


def cmd_scan_values(args: argparse.Namespace, cfg: Config) -> int:
    from bot.commands.scan_values import cli_scan_values

    return cli_scan_values(args, cfg)


def cmd_users(args: argparse.Namespace, cfg: Config) -> int:
    from bot.commands.users import cli_users

    return cli_users(args, cfg)


def cmd_run(args: argparse.Namespace, cfg: Config) -> int:
    from bot.daemon import Daemon

    daemon = Daemon(cfg)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    daemon.run(stop)
    return EXIT_OK


def cmd_status(args: argparse.Namespace, cfg: Config) -> int:
    from bot.commands.status import cli_status

    return cli_status(args, cfg)


def cmd_reprocess(args: argparse.Namespace, cfg: Config) -> int:
    from bot.commands.reprocess import cli_reprocess

    return cli_reprocess(args, cfg)


def cmd_demo(args: argparse.Namespace, cfg: Config) -> int:
    from bot.demo import run_demo

    return run_demo(keep=args.keep)


COMMANDS = {
    "run": cmd_run,
    "demo": cmd_demo,
    "process": cmd_process,
    "import-unis": cmd_import_unis,
    "digest": cmd_digest,
    "vendor-batch": cmd_vendor_batch,
    "db": cmd_db_upgrade,
    "templates": cmd_templates,
    "manual": cmd_manual,
    "outbox": cmd_outbox,
    "web": cmd_web,
    "users": cmd_users,
    "scan-values": cmd_scan_values,
    "status": cmd_status,
    "reprocess": cmd_reprocess,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO if args.command in ("run",) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(f"bot: 設定エラー / config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    from bot.logs import configure

    try:
        configure(cfg, logging.getLogger().level)
    except OSError as err:
        print(f"bot: 設定エラー / config error: [log] file: {cfg.log.file}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args, cfg)
    except UsageError as err:
        print(f"bot: エラー / error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as err:  # found by a command (e.g. the database path), not at load
        print(f"bot: 設定エラー / config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception as err:  # noqa: BLE001 - the last line of defence prints, then exit 1
        log.debug("unhandled", exc_info=True)
        print(f"bot: 失敗しました / failed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_ERROR
