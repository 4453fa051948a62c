"""``bot reprocess ID... | --quarantined``: decide quarantined mails again and say what each
became (bot/actions/reprocess.py). Exit 0 when every one was decided, 1 otherwise."""

from __future__ import annotations

import argparse
import datetime as dt

from bot.commands.common import (
    DECISION_LABELS,
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    database,
    fail,
)
from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    rp = sub.add_parser("reprocess", help="decide quarantined mails again (after a fix) and report what they became")
    rp.add_argument("ids", nargs="*", type=int, metavar="ID", help="mail ids (bot manual list shows them)")
    rp.add_argument("--quarantined", action="store_true", help="every quarantined mail")


def cli_reprocess(args: argparse.Namespace, cfg: Config) -> int:
    from bot.actions.reprocess import quarantined_ids, reprocess
    from bot.pipeline.processor import Processor
    from bot.templating import Templates

    if bool(args.ids) == bool(args.quarantined):
        print("bot reprocess: ID を指定するか --quarantined を付けてください / give mail ids or --quarantined")
        return 2
    try:
        with database(cfg, "reprocess", "mails", "job_runs") as factory:
            processor = Processor(cfg, factory, Templates.from_config(cfg))
            ids = quarantined_ids(factory) if args.quarantined else list(dict.fromkeys(args.ids))
            if not ids:
                print("隔離中のメールはありません / nothing is quarantined")
                return EXIT_OK
            failures = 0
            for mail_id in ids:
                result = reprocess(cfg, processor, mail_id, now=dt.datetime.now(dt.UTC))
                if not result.done or result.outcome is None:
                    failures += 1
                    print(f"#{mail_id}: {result.message}")
                    continue
                o = result.outcome
                label = DECISION_LABELS.get(o.decision, o.decision)
                defects = f" [{', '.join(o.defects)}]" if o.defects else ""
                print(f"#{mail_id}: {label} {o.decision}{defects} {o.kind or '-'} {o.customer_code or '-'}"
                      f"{'  ' + o.reason if o.reason else ''}")
                if result.moved:
                    print(f"    {result.moved}")
    except CommandError as err:
        return fail(err)
    return EXIT_OK if not failures else EXIT_ERROR
