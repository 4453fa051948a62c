"""``bot scans report [--since YYYY-MM-DD] [--json]``: how often the scan reader agreed with the
person who finished each held scan (issue 19 point 6; :mod:`bot.actions.scan_report`).

Per field: 件数, 一致, 不一致 (the bot sure and the person's value different: a would-be
misreading), 保留 (the bot not sure), 照合なし; per would-be decision, what the person did; per
defect code, who sent the scan back for it. The text comes from ``templates/cli/scans_report.txt.j2``;
``--json`` is one object with stable English keys (:meth:`bot.actions.scan_report.Report.as_json`).
Exit 0 done (with or without scans); 1 when the database cannot be read; 2 for bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from bot.actions.scan_report import (
    BOT_LABELS,
    FORM_KINDS,
    FORM_LABELS,
    OUTCOME_LABELS,
    OUTCOMES,
    Report,
    report,
)
from bot.commands.common import EXIT_OK, CommandError, database, fail
from bot.config import Config
from bot.decide import scans
from bot.templating import BUILTIN_DIR, make_environment, render_in

TEMPLATE_DIR = BUILTIN_DIR / "cli"
TEMPLATE = "scans_report.txt.j2"


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since は YYYY-MM-DD で指定してください / not a date: {text!r}") from None


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    sc = sub.add_parser("scans", help="scanned forms: how the reader fared against the office")
    sc_sub = sc.add_subparsers(dest="scans_command", required=True, parser_class=parser_class)
    rp = sc_sub.add_parser("report", help="how often the scan reader agreed with the person who finished each held scan")
    rp.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="scans finished on or after this day (Japan time)")
    rp.add_argument("--json", action="store_true", help="one JSON object with stable English keys")


def cli_scans(args: argparse.Namespace, cfg: Config) -> int:
    try:
        with database(cfg, "scans report", "scan_shadows") as factory, factory() as session:
            found = report(session, since=args.since, tz=cfg.office.tz)
    except CommandError as err:
        return fail(err)
    if args.json:
        print(json.dumps(found.as_json(), ensure_ascii=False))
    else:
        print(render(found), end="")
    return EXIT_OK


def render(found: Report) -> str:
    """The report in Japanese, from the template."""
    context = {"r": found, "field_label": scans.label, "bot_labels": BOT_LABELS, "outcome_labels": OUTCOME_LABELS,
               "outcomes": OUTCOMES, "form_kinds": FORM_KINDS, "form_labels": FORM_LABELS}
    return render_in(make_environment(TEMPLATE_DIR), TEMPLATE, context, [TEMPLATE_DIR]).text
