"""Config: TOML file, environment overrides, and errors that name the key (exit 2)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.source == "(defaults)"
    assert cfg.pdf.password == "uspot"
    assert cfg.office.cutoff_time == dt.time(17, 0)
    assert cfg.senders.allowed_domains == ("usen.co.jp",)


def test_file_values_and_env_override(tmp_path: Path) -> None:
    path = write(tmp_path, '[pdf]\npassword = "fromfile"\n[mailbox]\nport = 1143\nssl = true\n')
    cfg = load_config(path, env={"BOT_PDF_PASSWORD": "fromenv", "BOT_SENDERS_ALLOWED_DOMAINS": "usen.co.jp, usen.jp"})
    assert cfg.pdf.password == "fromenv"
    assert cfg.mailbox.port == 1143 and cfg.mailbox.ssl is True
    assert cfg.senders.allowed_domains == ("usen.co.jp", "usen.jp")


def test_bot_config_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[office]\ncutoff = "16:30"\n')
    cfg = load_config(env={"BOT_CONFIG": str(path)})
    assert cfg.office.cutoff_time == dt.time(16, 30)
    assert cfg.source == str(path)


@pytest.mark.parametrize(
    ("text", "env", "named"),
    [
        ("[pdf]\npasword = 'x'\n", {}, "[pdf] 'pasword'"),
        ("[mailbx]\nhost = 'x'\n", {}, "[mailbx]"),
        ("[mailbox]\nport = 'imap'\n", {}, "[mailbox] port"),
        ("[mailbox]\nssl = 'yes'\n", {}, "[mailbox] ssl"),
        ("[senders]\nallowed_domains = 3\n", {}, "[senders] allowed_domains"),
        ("[office]\ntimezone = 'Mars/Olympus'\n", {}, "[office] timezone"),
        ("[office]\ncutoff = '5pm'\n", {}, "[office] cutoff"),
        ("[vendor]\nencoding = 'klingon'\n", {}, "[vendor] encoding"),
        ("", {"BOT_MAILBOX_PORT": "abc"}, "$BOT_MAILBOX_PORT"),
        ("", {"BOT_PDF_PASSWROD": "x"}, "$BOT_PDF_PASSWROD"),
        ("[pdf\n", {}, "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, env: dict[str, str], named: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    assert named in str(info.value)


def test_cli_exit_code_2_on_bad_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[database]\nurll = 'sqlite://'\n")
    proc = subprocess.run([sys.executable, "-m", "bot", "--config", str(path), "db", "upgrade"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert "[database] 'urll'" in proc.stderr


def test_example_config_is_valid_and_documents_every_key() -> None:
    """config.example.toml loads, and every key the code knows appears in it, commented."""
    import dataclasses

    from bot.config import Config

    example = ROOT / "config.example.toml"
    cfg = load_config(example, env={})
    text = example.read_text(encoding="utf-8")
    for section in dataclasses.fields(Config):
        if section.name == "source":
            continue
        assert f"[{section.name}]" in text
        for key in dataclasses.fields(getattr(cfg, section.name)):
            assert f"\n{key.name} =" in text or f"\n# {key.name} =" in text, f"[{section.name}] {key.name} undocumented"
