"""``bot web [--host H] [--port N]``: the office console (HTTP; needs $BOT_WEB_SECRET_KEY)."""

from __future__ import annotations

import argparse
import sys

from bot.commands.common import EXIT_USAGE
from bot.config import Config, ConfigError


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    web = sub.add_parser("web", help="the office console (HTTP; needs $BOT_WEB_SECRET_KEY)")
    web.add_argument("--host", help="listen address (default [web] host)")
    web.add_argument("--port", type=int, help="port (default [web] port)")


def cli_web(args: argparse.Namespace, cfg: Config) -> int:
    from bot.web.app import serve

    try:
        return serve(cfg, host=args.host, port=args.port)
    except ConfigError as err:
        print(f"bot: 設定エラー / config error: {err}", file=sys.stderr)
        return EXIT_USAGE
