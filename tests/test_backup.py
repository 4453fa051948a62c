"""Backups and the way back (issue 22 point 4): `bot backup` on SQLite and PostgreSQL makes a
checked 0600 file, rotates the old ones, and the restore commands of docs/operations.md bring
the data back; `bot db downgrade REV` walks every migration down and up again.

The restore of a backup holding a dead process's heartbeat is tests/test_startup.py (kept)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from bot import db
from bot.cli import main
from bot.db.models import Mail
from bot.jobs.backup import BackupError, make_backup, rotate
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC)


def _add_mail(url: str, n: int) -> None:
    engine = db.make_engine(url)
    factory = db.session_factory(engine)
    with db.transaction(factory) as s:
        s.add(Mail(folder="INBOX", uidvalidity=1, uid=n, msgid_hash=f"{n:064d}", raw=b"raw %d" % n, status="filed",
                   defects=[], warnings=[], facts={}, received_at=NOW))
    engine.dispose()


def _mails(url: str) -> list[bytes]:
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as s:
            return list(s.scalars(select(Mail.raw).order_by(Mail.uid)))
    finally:
        engine.dispose()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "backup"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def test_a_sqlite_backup_is_0600_checked_and_restores_by_the_documented_commands(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Given a live SQLite database (WAL, a connection open), `bot backup` writes a 0600 copy;
    mails added after it are gone once the copy is put in place as the docs say, the others are
    there, and `bot db upgrade` accepts it."""
    _add_mail(sqlite_url, 1)
    holder = db.make_engine(sqlite_url)  # a running bot's open connection
    holder.connect().close()
    folder = _folder(tmp_path)
    monkeypatch.setenv("BOT_DATABASE_URL", sqlite_url)
    assert main(["backup", "--dir", str(folder)]) == 0
    path = Path(capsys.readouterr().out.split("\t")[0])
    assert path.parent == folder and path.suffix == ".sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left
    _add_mail(sqlite_url, 2)
    holder.dispose()
    # Restore (docs/operations.md section 5): remove -wal/-shm, put the backup in place.
    live = Path(sqlite_url.removeprefix("sqlite:///"))
    for extra in (live.with_name(live.name + "-wal"), live.with_name(live.name + "-shm")):
        extra.unlink(missing_ok=True)
    shutil.copyfile(path, live)
    assert main(["db", "upgrade"]) == 0
    assert _mails(sqlite_url) == [b"raw 1"]


def test_a_postgres_backup_is_a_checked_custom_dump_that_pg_restore_brings_back(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    url = postgres_server.create_database()
    db.upgrade(url)
    _add_mail(url, 1)
    folder = _folder(tmp_path)
    made = make_backup(url, folder, now=NOW)
    assert made.path.suffix == ".dump" and stat.S_IMODE(made.path.stat().st_mode) == 0o600
    _add_mail(url, 2)
    # Restore as the docs say, into the stopped bot's database.
    database = url.rsplit("/", 1)[1]
    subprocess.run([shutil.which("pg_restore") or "pg_restore", "--clean", "--if-exists", "--no-owner",
                    f"--dbname={database}", str(made.path)], check=True, capture_output=True,
                   env={**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(postgres_server.port), "PGUSER": "bot"})
    assert _mails(url) == [b"raw 1"]


def test_a_backup_folder_open_to_others_or_missing_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    os.chmod(open_folder, 0o755)
    with pytest.raises(BackupError, match="open to others"):
        make_backup(sqlite_url, open_folder, now=NOW)
    with pytest.raises(BackupError, match="does not exist"):
        make_backup(sqlite_url, tmp_path / "nowhere", now=NOW)
    assert list(open_folder.iterdir()) == []


def test_rotation_deletes_old_backups_but_keeps_the_newest_and_other_files(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    names = [f"usen_spot-{(NOW - dt.timedelta(days=d)):%Y%m%d-%H%M%S}.sqlite3" for d in (40, 30, 20, 10, 1)]
    for name in [*names, "notes.txt"]:
        (folder / name).write_text("x")
    removed = rotate(folder, now=NOW, keep_days=14, keep_min=3)
    assert sorted(p.name for p in removed) == sorted(names[:2])
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names[2:], "notes.txt"])
    # Old as they all are, the newest keep_min stay: a bot whose backups stopped keeps its last ones.
    assert rotate(folder, now=NOW + dt.timedelta(days=365), keep_days=14, keep_min=3) == ()


def test_every_migration_goes_down_and_up_again(any_db_url: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`bot db downgrade 0013` drops what 0014 added and `bot db upgrade` brings it back; down
    to base leaves no table but alembic's, and up again builds them all."""
    monkeypatch.setenv("BOT_DATABASE_URL", any_db_url)
    engine = db.make_engine(any_db_url)
    try:
        head = db.head_revision()
        assert head is not None
        previous = f"{int(head) - 1:04d}"
        assert main(["db", "downgrade", previous]) == 0
        assert f"to {previous}" in capsys.readouterr().out
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == previous
        assert main(["db", "downgrade", "base"]) == 0
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert main(["db", "upgrade"]) == 0
        assert "mails" in inspect(engine).get_table_names()
        with db.session_factory(engine)() as s:
            assert s.scalar(select(func.count()).select_from(Mail)) == 0
        assert main(["db", "downgrade", "9999"]) == 2  # unknown: said, nothing done
        assert "unknown revision" in capsys.readouterr().err
        assert main(["db", "current"]) == 0
        assert head in capsys.readouterr().out
    finally:
        engine.dispose()


def test_the_backup_timer_and_service_are_in_deploy() -> None:
    service = (ROOT / "deploy" / "usen-spot-backup.service").read_text(encoding="utf-8")
    timer = (ROOT / "deploy" / "usen-spot-backup.timer").read_text(encoding="utf-8")
    assert "bot backup --dir /var/lib/usen-spot-bot/backup" in service and "User=usen-bot" in service
    assert "UMask=0077" in service
    assert "OnCalendar=" in timer and "Persistent=true" in timer
