"""What an admin meets first: a bad config, a missing folder or driver, the service files.

Each test runs the `bot` command as an admin does (a subprocess, exit code and stderr) or reads
the files an admin installs (deploy/), against a real SQLite file or a real PostgreSQL server.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.cli import COMMANDS
from bot.config import ConfigError
from bot.config.load import _check_env_name

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = ("usen-spot-bot.service", "usen-spot-web.service")


def bot(tmp_path: Path, *args: str, prelude: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` from `tmp_path`, without the caller's BOT_* variables. `prelude` is
    Python run first in the same process (to take a module away)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env["PYTHONPATH"] = str(ROOT)
    code = (f"{prelude}\nimport runpy, sys\nsys.argv = ['bot', *{list(args)!r}]\n"
            "runpy.run_module('bot', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=timeout, check=False)


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the database URL


def test_sqlite_folder_missing_is_named_and_not_created(tmp_path: Path) -> None:
    """Given [database] url pointing into a folder that does not exist (a typo), when the admin
    runs `bot db upgrade`, then it fails naming [database] url and the folder, and creates
    neither the folder nor a database (SQLite alone says "unable to open database file")."""
    missing = tmp_path / "var" / "lib" / "usen-spot-bot"
    path = config(tmp_path, f'[database]\nurl = "sqlite:///{missing}/bot.sqlite3"\n')
    done = bot(tmp_path, "--config", str(path), "db", "upgrade")
    assert done.returncode != 0
    assert "[database] url: " in done.stderr and f"the folder {missing} does not exist" in done.stderr
    assert "unable to open database file" not in done.stderr
    assert not (tmp_path / "var").exists()


def test_daemon_start_refuses_a_missing_sqlite_folder_instead_of_waiting(tmp_path: Path) -> None:
    """Given the same typo, when the admin starts `bot run`, then it stops at once naming the
    folder: it does not sit waiting "for the database" as it does for a PostgreSQL still starting."""
    missing = tmp_path / "data"
    path = config(tmp_path, f'[database]\nurl = "sqlite:///{missing}/bot.sqlite3"\n'
                            '[mailbox]\nhost = "127.0.0.1"\nport = 9\n')
    try:
        done = bot(tmp_path, "--config", str(path), "run", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("bot run kept waiting for a database folder that does not exist")
    assert done.returncode != 0
    assert f"[database] url: フォルダがありません / the folder {missing} does not exist" in done.stderr
    assert not missing.exists()


def test_sqlite_folder_missing_exits_2_as_bad_config(tmp_path: Path) -> None:
    path = config(tmp_path, f'[database]\nurl = "sqlite:///{tmp_path}/nowhere/bot.sqlite3"\n')
    done = bot(tmp_path, "--config", str(path), "db", "upgrade")
    assert done.returncode == 2 and "設定エラー / config error: [database] url" in done.stderr


def test_missing_postgresql_driver_names_the_fix(tmp_path: Path) -> None:
    """Given a postgresql:// URL on an installation without psycopg (taken away in the process:
    uninstalling it is not ours to do), then every command stops with exit 2 and the pip command
    that fixes it, not "No module named psycopg"."""
    path = config(tmp_path, '[database]\nurl = "postgresql://usen_bot@127.0.0.1/usen_spot"\n')
    done = bot(tmp_path, "--config", str(path), "db", "upgrade", prelude="import sys; sys.modules['psycopg'] = None")
    assert done.returncode == 2, done.stderr
    assert "[database] url: " in done.stderr and "pip install 'psycopg[binary]'" in done.stderr


def test_postgres_url_as_libpq_writes_it_migrates(tmp_path: Path, postgres_url: str) -> None:
    """Given [database] url = postgres://… (no driver named), then `bot db upgrade` works with
    psycopg 3 and prints the URL without its password."""
    url = "postgres://" + postgres_url.split("://", 1)[1]
    done = bot(tmp_path, "db", "upgrade", prelude=f"import os; os.environ['BOT_DATABASE_URL'] = {url!r}")
    assert done.returncode == 0, done.stderr
    assert "database at head" in done.stdout


def test_postgresql_driver_is_a_default_dependency() -> None:
    """The production database must not need an extra the admin has to know about."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(dep.startswith("psycopg[binary]") for dep in project["dependencies"])
    assert "psycopg[binary]" in (ROOT / "README.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the config file


def test_config_with_bom_runs_a_command(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + f'# 設定\n[database]\nurl = "sqlite:///{tmp_path}/bot.sqlite3"\n'.encode())
    done = bot(tmp_path, "--config", str(path), "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bot.sqlite3").exists()


def test_config_in_shift_jis_exits_2_naming_file_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[office]\n# 締め時刻\ncutoff = "17:00"\n'.encode("cp932"))
    done = bot(tmp_path, "--config", str(path), "db", "upgrade")
    assert done.returncode == 2
    assert f"{path}: 文字コードがUTF-8ではありません / not UTF-8 text (line 2" in done.stderr
    assert "Shift_JIS" in done.stderr and "TOML" in done.stderr and "not valid TOML" not in done.stderr


# --------------------------------------------------------------------------- deploy/


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize("name", UNITS)
def test_units_restart_run_as_their_user_and_are_hardened(name: str) -> None:
    service = unit(name)["Service"]
    assert service["User"] == "usen-bot" and service["Group"] == "usen-bot"
    assert service["Restart"] == "on-failure" and service["RestartSec"]
    # bad config (exit 2) is not retried: restarting cannot fix it
    assert service["RestartPreventExitStatus"] == "2"
    assert service["EnvironmentFile"] == "/etc/usen-spot-bot/env"
    assert service["KillSignal"] == "SIGTERM" and service["TimeoutStopSec"] == "30"
    assert service["KillMode"] == "mixed"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6"}.items():
        assert service[key] == value, key
    assert "/var/lib/usen-spot-bot" in service["ReadWritePaths"].split()
    assert service["MemoryMax"]
    program, *args = service["ExecStart"].split()
    assert program == "/opt/usen-spot-bot/venv/bin/bot" and args[0] in COMMANDS


def test_env_example_names_only_real_config_keys() -> None:
    """A BOT_* name matching no key stops the bot: the example must not carry a typo."""
    names = [line.lstrip("#").split("=", 1)[0] for line in (DEPLOY / "env.example").read_text().splitlines()
             if line.lstrip("#").startswith("BOT_")]
    assert "BOT_PDF_PASSWORD" in names and "BOT_WEB_SECRET_KEY" in names
    for name in names:
        try:
            _check_env_name(name)
        except ConfigError as err:
            pytest.fail(str(err))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd itself parses both units (the program path swapped for one present here)."""
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/opt/usen-spot-bot/venv/bin/bot", f"{sys.executable} -m bot"),
                                     encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
