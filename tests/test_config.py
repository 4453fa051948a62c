"""Config: TOML file, environment overrides, and errors that name the key (exit 2)."""

from __future__ import annotations

import datetime as dt
import os
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


# --------------------------------------------------------------------------- numeric ranges


def _numeric_keys() -> list[tuple[str, str]]:
    import dataclasses
    import typing

    from bot.config.load import _SECTIONS

    return [(section, f.name) for section, cls in _SECTIONS.items() for f in dataclasses.fields(cls)
            if typing.get_type_hints(cls)[f.name] in (int, float)]


def test_every_numeric_key_has_a_range_holding_its_default() -> None:
    """Given every int or float key of every section, then each has a range, and its default
    (and the value config.example.toml gives it) lies inside: a key added without one fails here."""
    from bot.config import RANGES

    keys = _numeric_keys()
    assert ("smtp", "port") in keys and ("limits", "pdf_pages") in keys
    assert set(keys) == set(RANGES), f"keys without a range: {sorted(set(keys) - set(RANGES))}"
    defaults, example = load_config(env={}), load_config(ROOT / "config.example.toml", env={})
    for section, key in keys:
        low, high, _unit = RANGES[(section, key)]
        for cfg in (defaults, example):
            assert low <= getattr(getattr(cfg, section), key) <= high, (section, key)


def test_port_99999_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[smtp]\nport = 99999\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: [smtp] port: 99999 is not a port (1–65535)"


def _out_of_range_cases() -> list[tuple[str, str, object]]:
    from bot.config import RANGES

    cases: list[tuple[str, str, object]] = []
    for (section, key), (low, high, _unit) in RANGES.items():
        is_int = isinstance(low, int) and isinstance(high, int)
        step = 1 if is_int else 0.25
        cases += [(section, key, low - step), (section, key, high + step)]
    return cases


@pytest.mark.parametrize(("section", "key", "value"), _out_of_range_cases())
def test_every_numeric_key_refuses_values_outside_its_range(tmp_path: Path, section: str, key: str,
                                                            value: float) -> None:
    """Given one number just below or just above its key's range, then loading stops naming the
    section, the key and the value; exactly at the bounds it loads."""
    from bot.config import RANGES

    path = write(tmp_path, f"[{section}]\n{key} = {value!r}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert f"[{section}] {key}: {value!r} is " in str(info.value)
    low, high, _unit = RANGES[(section, key)]
    for bound in (low, high):
        write(tmp_path, f"[{section}]\n{key} = {bound!r}\n")
        assert getattr(getattr(load_config(path, env={}), section), key) == bound


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_nan_and_infinity_are_refused(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"[mailbox]\npoll_seconds = {value}\n")
    with pytest.raises(ConfigError, match=r"\[mailbox\] poll_seconds: .* is out of range \(1–3600 seconds\)"):
        load_config(path, env={})


def test_range_error_from_the_environment_names_variable_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[web]\nport = 8080\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"BOT_WEB_PORT": "0"})
    assert str(info.value) == "$BOT_WEB_PORT ([web] port): 0 is not a port (1–65535)"


def test_cli_refuses_port_99999_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[smtp]\nport = 99999\n")
    proc = subprocess.run([sys.executable, "-m", "bot", "--config", str(path), "db", "upgrade"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("BOT_")},
                               "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert f"設定エラー / config error: {path}: [smtp] port: 99999 is not a port (1–65535)" in proc.stderr
    assert not (tmp_path / "usen_spot_bot.sqlite3").exists()  # stopped before touching the database


# --------------------------------------------------------------------------- file encodings

CP932_CONFIG = "# 事務センター用の設定\n[pdf]\npassword = \"uspot\"\n[office]\ncutoff = \"16:00\"  # 締め時刻\n"


def test_utf8_file_with_bom_is_read(tmp_path: Path) -> None:
    """Given config.toml saved by Notepad as 「UTF-8 (BOM付き)」, then it loads (tomllib alone
    calls the BOM an invalid statement at line 1)."""
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + CP932_CONFIG.encode("utf-8"))
    cfg = load_config(path, env={})
    assert cfg.office.cutoff_time == dt.time(16, 0)


def test_utf16_file_with_bom_is_read(tmp_path: Path) -> None:
    """Given Notepad's 「Unicode」 (UTF-16 LE with BOM), then it loads: the BOM says what it is."""
    path = tmp_path / "config.toml"
    path.write_bytes(CP932_CONFIG.encode("utf-16"))  # Python writes the BOM
    assert load_config(path, env={}).office.cutoff_time == dt.time(16, 0)


def test_shift_jis_file_is_refused_naming_file_encoding_and_line(tmp_path: Path) -> None:
    """Given config.toml saved as Shift_JIS (Notepad 「ANSI」), then loading stops with the file,
    the line of the first non-UTF-8 byte, the likely encoding and how to save it, not with a TOML
    syntax error."""
    path = tmp_path / "config.toml"
    path.write_bytes(('[pdf]\npassword = "uspot"\n' + CP932_CONFIG).encode("cp932"))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}: 文字コードがUTF-8ではありません / not UTF-8 text (line 3: byte 0x8e")
    assert "Shift_JIS (CP932)" in message and "UTF-8" in message and "iconv -f CP932" in message
    assert "TOML:" not in message and "not valid TOML" not in message


def test_utf16_without_bom_is_refused_not_called_a_toml_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[pdf]\npassword = "uspot"\n'.encode("utf-16-le"))
    with pytest.raises(ConfigError, match="NUL"):
        load_config(path, env={})
