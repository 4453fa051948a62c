"""``bot check``: prove a config before going live, and after every change (issue 18, point 3).

Each check connects for real and says, in one line, what it found and how to fix it:
the database (credentials, schema at head), the OAuth2 token when a server logs in with one
(issue 22), the IMAP mailbox (TLS as configured, login, the folders, its oldest mail against
``[mailbox] since``), SMTP (TLS or STARTTLS, EHLO and AUTH as configured; no mail is sent),
the age of the UNIS data, the templates, and the vendor batch's settings.
Exit 0 when every check passed, 1 when one failed. Nothing is changed, except that IMAP
folders the bot files into are created when missing (as `bot run` does at its start).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from bot import db
from bot.commands.common import EXIT_ERROR, EXIT_OK
from bot.config import Config
from bot.daemon import startup

# UNIS extracts arrive daily: data older than this (calendar days) means the import stopped.
UNIS_MAX_AGE_DAYS = 3


@dataclass(frozen=True)
class Result:
    what: str  # 確認項目
    ok: bool
    found: str  # what was found
    fix: str = ""  # what to do, when not ok

    def line(self) -> str:
        head = "OK" if self.ok else "NG"
        return f"{head}  {self.what}: {self.found}" + ("" if self.ok or not self.fix else f" → {self.fix}")


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    sub.add_parser("check", help="connect to the database, IMAP and SMTP, read UNIS age, templates, vendor "
                                 "settings: one line each, exit 1 on any failure (no mail is sent)")


def cli_check(args: argparse.Namespace, cfg: Config) -> int:
    results = run_checks(cfg)
    for r in results:
        print(r.line(), flush=True)
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)} 件 OK、{len(failed)} 件 NG" +
          ("：本番で動かせます / ready" if not failed else "：NG の行を直してから起動してください / fix the NG lines"))
    return EXIT_ERROR if failed else EXIT_OK


def run_checks(cfg: Config, now: dt.datetime | None = None) -> list[Result]:
    now = now or dt.datetime.now(dt.UTC)
    results = [check_database(cfg)]
    if results[0].ok:
        results.append(check_unis(cfg, now))
    if cfg.mailbox.auth == "oauth2" or cfg.smtp.auth_mode == "oauth2":
        results.append(check_oauth2(cfg))
    results += check_imap(cfg)
    results.append(check_smtp(cfg))
    results.append(check_templates(cfg))
    results.append(check_vendor(cfg))
    return results


def _guard(what: str, fn: Callable[[], Result]) -> Result:
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - a check that breaks is a failed check, said plainly
        return Result(what, False, f"確認できませんでした（{type(err).__name__}: {err}）")


# --------------------------------------------------------------------------- database


def check_database(cfg: Config) -> Result:
    what = "データベース"
    url = cfg.database.url
    shown = shown_url(url)
    try:
        db.check_url(url)
        engine = db.make_engine(url)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()
    except Exception as err:  # noqa: BLE001 - sorted into the admin's fix below
        kind, text = startup.database_failure(err), startup.first_line(err)
        low = text.lower()
        if kind == startup.REFUSED:
            return Result(what, False, f"{shown}: ログインが拒否されました（{text}）",
                          "BOT_DATABASE_URL（[database] url）のユーザー名とパスワードを確認してください")
        if kind == startup.MISSING:
            return Result(what, False, f"{shown}: データベースまたはロールがありません（{text}）",
                          "BOT_DATABASE_URL（[database] url）のデータベース名・ユーザー名を確認してください")
        if "refused" in low or "could not connect" in low or "timeout" in low or "unable to open" in low:
            return Result(what, False, f"{shown}: 接続できません（{text}）",
                          "サーバーが動いているか、[database] url のホスト・ポート（SQLite はファイルの場所）を確認してください")
        return Result(what, False, f"{shown}: {text}", "[database] url を確認してください")
    head = db.head_revision()
    if not db.at_head(url):
        return Result(what, False, f"{shown}: 接続できましたが、スキーマが最新（{head}）ではありません",
                      "bot db upgrade を実行してください")
    return Result(what, True, f"{shown}: 接続できました。スキーマは最新です（{head}）")


def shown_url(url: str) -> str:
    """The database URL without its password (it is printed)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL that does not parse is shown as far as it is harmless
        return url.split("@")[-1]


def check_unis(cfg: Config, now: dt.datetime) -> Result:
    from bot.db.models import UnisOrder

    what = "UNIS データ"

    def run() -> Result:
        engine = db.make_engine(cfg.database.url)
        try:
            with db.session_factory(engine)() as session:
                count, newest = session.execute(select(func.count(UnisOrder.id), func.max(UnisOrder.imported_at))).one()
        finally:
            engine.dispose()
        if not count or newest is None:
            return Result(what, False, "取り込まれた UNIS データがありません（すべての発注が UNIS_ORDER_MISSING で差戻になります）",
                          f"bot import-unis FILE.csv で最新の抽出を取り込むか、[unis] drop_dir（{cfg.unis.drop_dir or '未設定'}）に置いてください")
        newest = newest if newest.tzinfo else newest.replace(tzinfo=dt.UTC)
        days = (now - newest).total_seconds() / 86400
        local = newest.astimezone(cfg.office.tz).strftime("%Y-%m-%d %H:%M")
        if days > UNIS_MAX_AGE_DAYS:
            return Result(what, False, f"{count} 行、最後の取り込みは {local}（{days:.0f} 日前）で古すぎます",
                          f"毎日の UNIS 抽出が [unis] drop_dir（{cfg.unis.drop_dir or '未設定'}）に届いているか確認してください")
        return Result(what, True, f"{count} 行、最後の取り込みは {local}")

    return _guard(what, run)


# --------------------------------------------------------------------------- mail servers


def check_imap(cfg: Config) -> list[Result]:
    from bot.intake import mailbox_settings

    m = cfg.mailbox
    what, where = "IMAP", f"{m.user}@{m.host}:{m.port}（{m.security_mode}{'、OAuth2' if m.auth == 'oauth2' else ''}）"
    settings = mailbox_settings(cfg)
    probe = startup.imap_probe(settings)
    if probe.outcome == startup.REFUSED:
        fix = ("[oauth2] の設定と、アプリにこのメールボックスへのアクセスが許可されているかを確認してください"
               if m.auth == "oauth2" else "BOT_MAILBOX_PASSWORD（[mailbox] password）と [mailbox] user を確認してください")
        return [Result(what, False, f"{where}: ログインが拒否されました（{probe.detail}）", fix)]
    if probe.outcome == startup.TLS:  # the line names the key and the fix already
        return [Result(what, False, f"{where}: {probe.detail}")]
    if probe.outcome == startup.AWAY:
        return [Result(what, False, f"{where}: 接続できません（{probe.detail}）",
                       "サーバー名・ポート（[mailbox] host / port）とファイアウォールを確認してください")]
    if probe.outcome != startup.OK:
        return [Result(what, False, f"{where}: {probe.detail}", f"[mailbox] folder（{m.folder}）と権限を確認してください")]
    results = [Result(what, True, f"{where}: ログインし、フォルダ {m.folder} と振り分け先フォルダを確認しました")]
    results.append(since_result(settings.oldest_date(), probe.oldest, cfg))
    return results


def check_oauth2(cfg: Config) -> Result:
    """Fetch a token from the provider (the IMAP and SMTP checks then log in with it)."""
    from bot.intake.oauth2 import OAuth2Error, token_source

    o = cfg.oauth2
    what = "OAuth2"
    user = cfg.mailbox.user if cfg.mailbox.auth == "oauth2" else cfg.smtp.user
    how = ("サービスアカウント（ドメイン全体の委任）" if o.service_account_file else
           "リフレッシュトークン" if o.refresh_token else "クライアント資格情報")
    try:
        token_source(o, user).token()
    except OAuth2Error as err:
        return Result(what, False, f"{o.provider}（{how}、{user}）: {err}")
    return Result(what, True, f"{o.provider}（{how}）: {user} のアクセストークンを取得しました")


def since_result(first_day: dt.date | None, oldest: dt.datetime | None, cfg: Config) -> Result:
    """A mailbox with history and no ``since``: every old mail would be answered at the first start."""
    what = "受信箱の履歴"
    problem = startup.since_problem(first_day, oldest, cfg.office.tz, dt.datetime.now(cfg.office.tz).date())
    if problem:
        return Result(what, False, problem[0], problem[1])
    if oldest is None:
        return Result(what, True, f"{cfg.mailbox.folder} は空です")
    day = oldest.astimezone(cfg.office.tz).date() if oldest.tzinfo else oldest.date()
    if first_day is None:
        return Result(what, True, f"{cfg.mailbox.folder} のメールは今日届いたものだけです")
    if day < first_day:
        return Result(what, True, f"{first_day} より前のメール（最古 {day}）は処理しません（[mailbox] since / max_age_days）")
    return Result(what, True, f"最古のメールは {day}、処理は {first_day} 以降に届いたものから")


def check_smtp(cfg: Config) -> Result:
    s = cfg.smtp
    what, where = "SMTP", f"{s.host}:{s.port}（{s.security_mode}{'、OAuth2' if s.auth_mode == 'oauth2' else ''}）"
    probe = startup.smtp_probe(cfg)
    if probe.outcome == startup.REFUSED:
        fix = ("[oauth2] の設定と、アプリにこのアカウントからの送信（SMTP AUTH）が許可されているかを確認してください"
               if s.auth_mode == "oauth2" else "BOT_SMTP_PASSWORD（[smtp] password）と [smtp] user を確認してください")
        return Result(what, False, f"{where}: 認証が拒否されました（{probe.detail}）", fix)
    if probe.outcome == startup.TLS:
        return Result(what, False, f"{where}: {probe.detail}")
    if probe.outcome == startup.OTHER:
        return Result(what, False, f"{where}: {probe.detail}", "[smtp] security、または [smtp] auth / user（AUTH の要否）を確認してください")
    if probe.outcome == startup.AWAY:
        return Result(what, False, f"{where}: 接続できません（{probe.detail}）",
                      "[smtp] host / port とサーバーの状態を確認してください（メールは送っていません）")
    return Result(what, True, f"{where}: {' / '.join(probe.steps)} に成功（メールは送っていません）")


# --------------------------------------------------------------------------- the rest


def check_templates(cfg: Config) -> Result:
    from bot.templating.samples import render_all

    def run() -> Result:
        report = render_all(cfg)
        if not report.ok:
            first = report.problems[0]
            return Result("テンプレート", False, f"{len(report.problems)} 件のエラー（最初: {first}）",
                          "bot templates check で全件を確認し、テンプレートを直してください")
        return Result("テンプレート", True, f"{report.files} ファイルを描画できました")

    return _guard("テンプレート", run)


def check_vendor(cfg: Config) -> Result:
    v = cfg.vendor
    if not v.to:
        return Result("業者便", False, "送り先がありません", "[vendor] to に業者の受付アドレスを設定してください")
    if not v.pdf_password:
        return Result("業者便", False, f"送り先 {', '.join(v.to)}、申込書PDFのパスワードが未設定です",
                      "BOT_VENDOR_PDF_PASSWORD（[vendor] pdf_password）を設定してください（手書きの申込書を添付する便が送れません）")
    return Result("業者便", True, f"送り先 {', '.join(v.to)}、申込書PDFのパスワードは設定済みです")
