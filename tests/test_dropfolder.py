"""The UNIS drop folder (issue 22 point 5): an upload is imported only once complete (renamed
from ``.part``, or standing still over two polls), an extract dropped while the bot was down is
imported at start, and the deploy files set the folder up for an uploaders' group."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from bot import db
from bot.config import UnisConfig
from bot.daemon.main import Daemon
from bot.db.models import UnisOrder
from bot.unis import import_drop_folder
from bot.unis.pickup import SETTLE, Sightings
from tests.fixtures.demo_mails import UNIS_CSV
from tests.support.app import make_config

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
DATA = UNIS_CSV.encode("cp932")
ROWS = len(UNIS_CSV.splitlines()) - 1


def _poll(factory, drop: Path, sightings: Sightings) -> int:  # noqa: ANN001
    sightings.begin()
    reports = import_drop_folder(factory, drop_dir=drop, columns=UnisConfig().columns, now=NOW,
                                 complete=sightings.complete)
    return sum(r.loaded for r in reports)


def _rows(factory) -> int:  # noqa: ANN001
    with factory() as s:
        return s.scalar(select(func.count()).select_from(UnisOrder)) or 0


def test_a_file_still_being_written_waits_until_it_stands_still(sqlite_url: str, tmp_path: Path) -> None:
    """Given an upload written straight to its final name, half of it at the first poll and the
    rest before the second, then nothing is imported until a poll finds it unchanged, and then
    every row is (a half file would have lost its last rows and refused a cut one)."""
    drop = tmp_path / "unis"
    drop.mkdir()
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    sightings = Sightings()
    target = drop / "unis_20261124.csv"
    half = DATA.rfind(b"\n", 0, len(DATA) // 2) + 5  # mid-row
    target.write_bytes(DATA[:half])
    assert _poll(factory, drop, sightings) == 0  # the first poll: fresh, may be uploading
    with target.open("ab") as f:
        f.write(DATA[half:])
    assert _poll(factory, drop, sightings) == 0  # grew since the last poll
    assert target.exists()
    assert _poll(factory, drop, sightings) == ROWS  # stood still over two polls
    assert (drop / "done" / target.name).exists() and _rows(factory) == ROWS
    assert not (drop / "done" / (target.name + ".refused.txt")).exists()
    engine.dispose()


def test_a_part_file_is_never_picked_up_and_its_rename_is(sqlite_url: str, tmp_path: Path) -> None:
    drop = tmp_path / "unis"
    drop.mkdir()
    engine = db.make_engine(sqlite_url)
    factory = db.session_factory(engine)
    sightings = Sightings()
    part = drop / "unis_20261124.csv.part"
    part.write_bytes(DATA)
    hidden = drop / ".unis_20261124.csv"  # a tool's temporary name
    hidden.write_bytes(DATA)
    old = time.time() - 3600
    for p in (part, hidden):
        os.utime(p, (old, old))
    assert _poll(factory, drop, sightings) == 0 and _poll(factory, drop, sightings) == 0
    part.rename(drop / "unis_20261124.csv")
    assert _poll(factory, drop, sightings) == 0  # seen for the first time after the first poll
    assert _poll(factory, drop, sightings) == ROWS
    assert hidden.exists() and _rows(factory) == ROWS
    engine.dispose()


def test_an_extract_dropped_while_the_bot_was_down_is_imported_at_its_first_poll(sqlite_url: str,
                                                                                tmp_path: Path) -> None:
    """Given a file untouched for longer than SETTLE when the daemon starts, then the daemon's
    first drop-folder run imports it, and that run is scheduled for the start, not 5 minutes on."""
    drop = tmp_path / "unis"
    drop.mkdir()
    (drop / "unis_20261124.csv").write_bytes(DATA)
    old = time.time() - SETTLE.total_seconds() - 5
    os.utime(drop / "unis_20261124.csv", (old, old))
    cfg = make_config(sqlite_url).replace(unis=UnisConfig(drop_dir=str(drop)))
    daemon = Daemon(cfg)
    scheduler = BackgroundScheduler(timezone=cfg.office.timezone)
    daemon.schedule(scheduler)
    job = scheduler.get_job("unis-drop")
    assert job is not None and job.next_run_time <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    daemon.import_unis_drops()
    assert _rows(daemon.factory) == ROWS
    daemon.engine.dispose()


def test_the_deploy_files_create_the_folder_for_the_uploaders_group_and_let_the_bot_write_it() -> None:
    tmpfiles = (ROOT / "deploy" / "usen-spot-bot.tmpfiles").read_text(encoding="utf-8")
    lines = [line.split() for line in tmpfiles.splitlines() if line.strip() and not line.startswith("#")]
    assert ["d", "/srv/usen-spot-unis", "2770", "usen-bot", "usen-unis", "-"] in lines
    unit = (ROOT / "deploy" / "usen-spot-bot.service").read_text(encoding="utf-8")
    assert "-/srv/usen-spot-unis" in next(line for line in unit.splitlines() if line.startswith("ReadWritePaths="))
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert "/srv/usen-spot-unis" in example
