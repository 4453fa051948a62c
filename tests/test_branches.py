"""Branch directory (支店一覧): CSV (UTF-8 or CP932) or TOML; a bad row names file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.domain.branches import BranchDirectoryError, load_directory


def test_csv_in_cp932_with_japanese_headers(tmp_path: Path) -> None:
    path = tmp_path / "branches.csv"
    path.write_bytes("支店名,ドメイン,支店長\r\n青山支店,aoyama.usen.co.jp,Shitencho@aoyama.usen.co.jp\r\n"
                     "渋谷　支店,shibuya.usen.co.jp,\r\n".encode("cp932"))
    directory = load_directory(path)
    assert directory["青山支店"].manager == "shitencho@aoyama.usen.co.jp"
    assert directory["渋谷支店"].manager == ""  # known branch, no manager: CC not required


def test_toml_tables(tmp_path: Path) -> None:
    path = tmp_path / "branches.toml"
    path.write_text('[[branch]]\nname = "青山支店"\ndomain = "aoyama.usen.co.jp"\nmanager = "boss@aoyama.usen.co.jp"\n',
                    encoding="utf-8")
    assert load_directory(path)["青山支店"].domain == "aoyama.usen.co.jp"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("支店名,ドメイン,支店長\n青山支店,aoyama,boss@aoyama.usen.co.jp\n", "line 2: domain 'aoyama'"),
        ("支店名,ドメイン,支店長\n青山支店,aoyama.usen.co.jp,boss\n", "line 2: manager 'boss'"),
        ("支店名,ドメイン\n青山支店,aoyama.usen.co.jp\n", "line 1: no column 支店長"),
        ("支店名,ドメイン,支店長\n,aoyama.usen.co.jp,boss@x.jp\n", "line 2: empty branch name"),
    ],
)
def test_bad_rows_name_the_line(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "branches.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BranchDirectoryError, match=named):
        load_directory(path)


def test_a_broken_directory_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "branches.csv"
    bad.write_text("支店名,ドメイン,支店長\n青山支店,nodot,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[branches\] file"):
        load_config(env={"BOT_BRANCHES_FILE": str(bad)})
