"""Command line (a contract: admins script against it). See DESIGN.md "Command line".

This module is only the top: the global options, logging and config, and the dispatch. Each
command is a small module in bot/commands/ (its parser, then parse → call the domain → print);
the domain modules it calls never print.

Exit codes: 0 done; 2 bad usage or bad config (the message names the key); 1 anything else;
141 (as a shell reports a command ended by SIGPIPE) when the reader of the output went away.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from bot import __version__
from bot.commands import (
    audit_unis,
    backup,
    check,
    db,
    demo,
    digest,
    import_unis,
    manual,
    outbox,
    process,
    reprocess,
    run,
    scan_values,
    scans_report,
    status,
    templates,
    users,
    vendor_batch,
    web,
)
from bot.commands.common import EXIT_ERROR, EXIT_USAGE, CommandError, fail
from bot.config import Config, ConfigError, load_config

log = logging.getLogger("bot.cli")

EXIT_PIPE = 141  # 128 + SIGPIPE: what the shell shows for `yes | head`

Handler = Callable[[argparse.Namespace, Config], int]
AddParser = Callable[[argparse._SubParsersAction, type], None]  # type: ignore[type-arg]

# Every command: its name, the function adding its parser, its handler; in the order
# `bot --help` lists them.
COMMAND_TABLE: tuple[tuple[str, AddParser, Handler], ...] = (
    ("run", run.add_parser, run.cli_run),
    ("demo", demo.add_parser, demo.cli_demo),
    ("process", process.add_parser, process.cli_process),
    ("import-unis", import_unis.add_parser, import_unis.cli_import_unis),
    ("db", db.add_parser, db.cli_db),
    ("backup", backup.add_parser, backup.cli_backup),
    ("digest", digest.add_parser, digest.cli_digest),
    ("vendor-batch", vendor_batch.add_parser, vendor_batch.cli_vendor_batch),
    ("manual", manual.add_parser, manual.cli_manual),
    ("outbox", outbox.add_parser, outbox.cli_outbox),
    ("templates", templates.add_parser, templates.cli_templates),
    ("web", web.add_parser, web.cli_web),
    ("users", users.add_parser, users.cli_users),
    ("scan-values", scan_values.add_parser, scan_values.cli_scan_values),
    ("status", status.add_parser, status.cli_status),
    ("reprocess", reprocess.add_parser, reprocess.cli_reprocess),
    ("audit-unis", audit_unis.add_parser, audit_unis.cli_audit_unis),
    ("check", check.add_parser, check.cli_check),
    ("scans", scans_report.add_parser, scans_report.cli_scans),
)
COMMANDS: dict[str, Handler] = {name: handler for name, _add, handler in COMMAND_TABLE}


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
    for _name, add_parser, _handler in COMMAND_TABLE:
        add_parser(sub, _Parser)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO if args.command in ("run", "web") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(f"bot: 設定エラー / config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    from bot.daemon.logs import configure

    try:
        configure(cfg, logging.getLogger().level)
    except OSError as err:
        print(f"bot: 設定エラー / config error: [log] file: {cfg.log.file}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        rc = COMMANDS[args.command](args, cfg)
        sys.stdout.flush()  # a closed pipe shows here, not as Python's complaint at exit
        return rc
    except CommandError as err:  # a command's message for the operator, with its exit code
        return fail(err)
    except ConfigError as err:  # found by a command (e.g. the database path), not at load
        print(f"bot: 設定エラー / config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader of our output went away (`bot outbox list | head`): quiet, as a shell
        # command killed by SIGPIPE is. Python would complain again when it flushes stdout at
        # exit, so stdout points at /dev/null from here on.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    except Exception as err:  # noqa: BLE001 - the last line of defence prints, then exit 1
        log.debug("unhandled", exc_info=True)
        print(f"bot: 失敗しました / failed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_ERROR
