"""Commands that read the database say plainly what to do when it has no schema yet (`bot db
upgrade`), in Japanese and English, instead of printing an SQL error; on a database with the
schema they print what they printed before."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.manual import cli_manual
from bot.commands.outbox import cli_outbox
from tests.support.app import make_config


def _empty_database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}"  # the file is created on connect, no tables


@pytest.mark.parametrize(("handler", "args", "table"), [
    (cli_manual, argparse.Namespace(manual_command="list"), "mails"),
    (cli_manual, argparse.Namespace(manual_command="resolve", id=3, note=None, by=None), "mails"),
    (cli_outbox, argparse.Namespace(outbox_command="list"), "outbox"),
])
def test_no_schema_names_the_fix(handler: object, args: argparse.Namespace, table: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Given a database without tables, when `bot manual …` / `bot outbox list` runs, then it
    exits 1 with one line naming the missing table and `bot db upgrade`, and no SQL."""
    assert handler(args, make_config(_empty_database(tmp_path))) == 1  # type: ignore[operator]
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert f"（{table} がありません）" in err and "`bot db upgrade` を実行してください" in err
    assert "SELECT" not in err and "OperationalError" not in err


def test_no_schema_through_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no ./config.toml
    monkeypatch.delenv("BOT_CONFIG", raising=False)
    monkeypatch.setenv("BOT_DATABASE_URL", _empty_database(tmp_path))
    assert main(["manual", "list"]) == 1
    assert capsys.readouterr().err.startswith("bot manual list: データベースが未作成か古い版です（mails がありません）")
    assert main(["outbox", "list"]) == 1
    assert capsys.readouterr().err.startswith("bot outbox list: データベースが未作成か古い版です（outbox がありません）")


def test_with_the_schema_the_lists_are_as_before(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = make_config(sqlite_url)
    assert cli_manual(argparse.Namespace(manual_command="list"), cfg) == 0
    assert capsys.readouterr().out == "保留中のメールはありません / nothing held for a person\n"
    assert cli_outbox(argparse.Namespace(outbox_command="list"), cfg) == 0
    assert capsys.readouterr().out == "未送信のメールはありません / nothing waiting to be sent\n"
    assert cli_manual(argparse.Namespace(manual_command="resolve", id=3, note=None, by="kagawa"), cfg) == 2
    assert capsys.readouterr().err == "bot manual resolve: メール #3 は見つかりません。\n"
    assert cli_outbox(argparse.Namespace(outbox_command="requeue", id=5), cfg) == 2
    assert capsys.readouterr().err == "bot: エラー / error: outbox 5: no such message\n"
