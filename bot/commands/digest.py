"""``bot digest [--send] [--date D] [--out F.html]``: render (or send) the office digest
(bot/digest/).

Without --send: the text part on stdout; the HTML part written to --out when given (its path
on stderr). With --send: queued in the outbox and flushed; prints the outbox id and status.
Exit 0 done, 2 bad usage/config (bad date, empty digest_to, no database), 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from bot import db
from bot.commands.common import EXIT_OK, EXIT_USAGE
from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    dg = sub.add_parser("digest", help="render (or send) the office digest")
    dg.add_argument("--send", action="store_true", help="queue it in the outbox and send it to [office] digest_to")
    dg.add_argument("--date", help="the day (YYYY-MM-DD, Japan time; default today)")
    dg.add_argument("--out", help="write the HTML part to this file")


def cli_digest(args: argparse.Namespace, cfg: Config) -> int:
    from sqlalchemy import inspect

    from bot.digest import (
        DigestError,
        build_digest,
        outbox_status,
        require_recipients,
        send_digest,
    )
    from bot.templating import Templates

    now = dt.datetime.now(dt.UTC)
    if getattr(args, "date", None):
        try:
            day = dt.date.fromisoformat(str(args.date))
        except ValueError:
            print(f"bot digest: --date: YYYY-MM-DD で指定してください / expected YYYY-MM-DD, got {args.date!r}",
                  file=sys.stderr)
            return EXIT_USAGE
    else:
        day = now.astimezone(cfg.office.tz).date()
    send = bool(getattr(args, "send", False))
    if send:
        try:
            require_recipients(cfg)
        except DigestError as err:
            print(f"bot digest: 送信できません / cannot send: {err}", file=sys.stderr)
            return EXIT_USAGE
    engine = db.make_engine(cfg.database.url)
    try:
        if not inspect(engine).has_table("mails"):
            print(f"bot digest: データベースが未作成です / no schema at {cfg.database.url}: run `bot db upgrade`",
                  file=sys.stderr)
            return EXIT_USAGE
        factory = db.session_factory(engine)
        templates = Templates.from_config(cfg)
        if send:
            row_id = send_digest(factory, cfg=cfg, day=day, now=now, templates=templates)
            with factory() as session:
                status, error = outbox_status(session, row_id)
            print(f"digest {day.isoformat()}: outbox {row_id} → {', '.join(cfg.office.digest_to)}: {status}"
                  + (f" ({error})" if error else ""))
            return EXIT_OK
        with factory() as session:
            digest = build_digest(session, cfg=cfg, day=day, now=now, templates=templates)
    finally:
        engine.dispose()
    print(f"Subject: {digest.subject}\n")
    sys.stdout.write(digest.text)
    out = getattr(args, "out", None)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(digest.html, encoding="utf-8")
        print(f"HTML: {path}", file=sys.stderr)
    else:
        print("（HTML版は --out FILE.html で保存できます / use --out FILE.html for the HTML part）", file=sys.stderr)
    return EXIT_OK
