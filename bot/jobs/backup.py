"""Backups of the database (``bot backup``; deploy/usen-spot-backup.service runs it daily).

- SQLite: SQLite's online backup (safe while the bot runs; a ``cp`` of a live WAL database is
  not), then ``PRAGMA quick_check`` of the copy.
- PostgreSQL: ``pg_dump --format=custom`` with the password in the environment (never on the
  command line, where ``ps`` shows it), then ``pg_restore --list`` of the dump.

Every file is written mode 0600 under a temporary name and renamed when complete and checked,
so a backup that is there is whole; the folder must not be readable by others (the raw mails
hold customers' names, addresses and phone numbers). Rotation: backups older than
``keep_days`` are deleted, never the newest ``keep_min``. The off-host copy is the admin's
command after it (docs/operations.md section 5: rsync over SSH).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import sqlite3
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bot import db

log = logging.getLogger("bot.jobs.backup")

PREFIX = "usen_spot-"
NAME = re.compile(r"^usen_spot-\d{8}-\d{6}\.(sqlite3|dump)$")


class BackupError(Exception):
    """The backup could not be made; the message names the file, folder or program."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    removed: tuple[Path, ...]  # older backups rotated away


def make_backup(url: str, folder: Path, *, now: dt.datetime, keep_days: int = 14, keep_min: int = 3) -> Backup:
    folder_problem = _folder_problem(folder)
    if folder_problem:
        raise BackupError(folder_problem)
    parsed = make_url(db.normalise_url(url))
    backend = parsed.get_backend_name()
    suffix = "sqlite3" if backend == "sqlite" else "dump"
    target = folder / f"{PREFIX}{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}.{suffix}"
    part = target.with_name("." + target.name + ".part")
    try:
        if backend == "sqlite":
            _sqlite(parsed.database or "", part)
        elif backend == "postgresql":
            _postgres(parsed, part)
        else:
            raise BackupError(f"[database] url: {backend}: no backup for this database")
        os.chmod(part, 0o600)
        part.rename(target)
    finally:
        part.unlink(missing_ok=True)
    removed = rotate(folder, now=now, keep_days=keep_days, keep_min=keep_min)
    size = target.stat().st_size
    log.info("backup %s written (%d bytes); %d older backup(s) removed", target, size, len(removed))
    return Backup(target, size, removed)


def _folder_problem(folder: Path) -> str | None:
    if not folder.is_dir():
        return (f"backup folder {folder} does not exist: create it owned by the bot's user, mode 0700 "
                "(deploy/usen-spot-bot.tmpfiles)")
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o007:
        return f"backup folder {folder} is open to others (mode {mode:04o}): chmod 0700 {folder}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"backup folder {folder} is not writable by this user"
    return None


def _created_0600(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def _sqlite(database: str, part: Path) -> None:
    if not database or database == ":memory:" or not Path(database).is_file():
        raise BackupError(f"[database] url: SQLite file {database!r} not found")
    _created_0600(part)
    source = sqlite3.connect(f"file:{Path(database).resolve()}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(part)
    try:
        source.backup(target)
        check = target.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{part}: the copy fails SQLite's check: {check}")
    finally:
        target.close()
        source.close()


def _postgres(parsed: object, part: Path) -> None:
    from sqlalchemy.engine import URL

    assert isinstance(parsed, URL)
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if pg_dump is None or pg_restore is None:
        raise BackupError("pg_dump / pg_restore not found: apt-get install postgresql-client (the server's version)")
    env = {**os.environ, "PGHOST": parsed.host or "", "PGPORT": str(parsed.port or 5432),
           "PGUSER": parsed.username or "", "PGDATABASE": parsed.database or "", "PGAPPNAME": "usen-spot-bot backup"}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    _created_0600(part)
    for argv in ([pg_dump, "--format=custom", "--no-owner", f"--file={part}"], [pg_restore, "--list", str(part)]):
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=3600, check=False)
        if done.returncode != 0:
            raise BackupError(f"{Path(argv[0]).name} failed ({done.returncode}): "
                              f"{done.stderr.decode(errors='replace').strip()[:500]}")


def rotate(folder: Path, *, now: dt.datetime, keep_days: int, keep_min: int) -> tuple[Path, ...]:
    """Delete this bot's backups older than ``keep_days`` (by the time in their name), keeping
    the newest ``keep_min`` whatever their age; other files in the folder are never touched."""
    backups = sorted(p for p in folder.iterdir() if NAME.match(p.name))
    cutoff = now.astimezone(dt.UTC) - dt.timedelta(days=keep_days)
    removed = []
    for path in backups[:-keep_min] if keep_min else backups:
        taken = dt.datetime.strptime(path.name[len(PREFIX):len(PREFIX) + 15], "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
        if taken < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return tuple(removed)
