"""``bot users add | passwd | disable | list``: the office console's users.

A password is never taken from the command line (it would sit in the shell history and in
``ps``): it is asked twice at a terminal, or read as one line from standard input
(``--password-stdin``, for scripts). Every change is in the audit log as ``cli:<login name>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from bot.config import Config


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    us = sub.add_parser("users", help="the office console's users (roles staff, admin)")
    us_sub = us.add_subparsers(dest="users_command", required=True, parser_class=parser_class)
    add = us_sub.add_parser("add", help="add a user (password asked, or one line on stdin with --password-stdin)")
    add.add_argument("username")
    add.add_argument("--role", choices=("staff", "admin"), default="staff")
    add.add_argument("--name", default="", help="display name, e.g. 香川")
    add.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    pw = us_sub.add_parser("passwd", help="set a new password (ends the user's sessions)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    nm = us_sub.add_parser("name", help="set the display name the console shows (e.g. 香川)")
    nm.add_argument("username")
    nm.add_argument("display_name")
    dis = us_sub.add_parser("disable", help="disable a user (ends the user's sessions)")
    dis.add_argument("username")
    us_sub.add_parser("list", help="list the users")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.removesuffix("\n")
    first = getpass.getpass("パスワード / password: ")
    if getpass.getpass("もう一度 / again: ") != first:
        raise SystemExit("bot users: パスワードが一致しません / the passwords differ")
    return first


def cli_users(args: argparse.Namespace, cfg: Config) -> int:
    from bot import db
    from bot.web import users

    db.upgrade(cfg.database.url)
    engine = db.make_engine(cfg.database.url)
    factory = db.session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    by = f"cli:{getpass.getuser()}"
    try:
        if args.users_command == "list":
            with factory() as session:
                rows = users.list_users(session)
            if not rows:
                print("ユーザーはいません / no users (bot users add NAME --role admin)")
            for u in rows:
                state = "有効" if u.active else "無効"
                print(f"{u.username}\t{u.role}\t{state}\t{u.display_name}\t"
                      f"{u.password_changed_at.astimezone(cfg.office.tz):%Y/%m/%d %H:%M}")
            return 0
        try:
            password = _password(args) if args.users_command in ("add", "passwd") else ""
            with db.transaction(factory) as session:
                if args.users_command == "add":
                    users.add_user(session, args.username, password, role=args.role, display_name=args.name,
                                   now=now, by=by)
                    done = "追加しました / added"
                elif args.users_command == "name":
                    users.set_display_name(session, args.username, args.display_name, now=now, by=by)
                    done = "表示名を変更しました / display name set"
                elif args.users_command == "passwd":
                    users.set_password(session, args.username, password, now=now, by=by)
                    done = "パスワードを変更しました / password changed"
                else:
                    users.disable_user(session, args.username, now=now, by=by)
                    done = "無効にしました / disabled"
        except users.UserError as err:
            print(f"bot users: {err}", file=sys.stderr)
            return 2
        print(f"{users.normalise_username(args.username)}: {done}")
        return 0
    finally:
        engine.dispose()
