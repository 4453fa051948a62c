"""The file stage: which IMAP folder a mail belongs in after its decision, and the record that
it was moved there (the move itself is the runner's, after the decision's commit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import db, intake
from bot.db.models import DECIDED, FILED, QUARANTINED, Mail
from bot.decide import MANUAL

# IMAP folder per decision (intake owns the names); a quarantined mail goes to Quarantine.
FOLDERS = {**intake.FOLDERS, QUARANTINED: intake.QUARANTINE}
# SQLite allows 32,766 bound parameters per statement; stay well under for `id IN (...)`.
IN_CHUNK = 500


def folder_for(row: Mail) -> str:
    return folder_of(row.status, row.decision)


def folder_of(status: str, decision: str | None) -> str:
    if status == QUARANTINED:
        return FOLDERS[QUARANTINED]
    return FOLDERS[decision or MANUAL]


class Filing:
    """Records where mails were filed, and says where the unfiled ones go."""

    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], dt.datetime]) -> None:
        self.factory, self.clock = factory, clock

    def mark_filed_many(self, folders: Mapping[int, str]) -> None:
        """Mark these mails filed (mail id → the folder it was moved to), in one commit."""
        if not folders:
            return
        by_folder: dict[str, list[int]] = {}
        for mail_id, folder in folders.items():
            by_folder.setdefault(folder, []).append(mail_id)
        now = self.clock()
        with self.factory() as session, session.begin():
            for folder, ids in by_folder.items():
                for start in range(0, len(ids), IN_CHUNK):
                    session.execute(
                        update(Mail).where(Mail.id.in_(ids[start:start + IN_CHUNK]))
                        .values(status=case((Mail.status == DECIDED, FILED), else_=Mail.status),
                                filed_at=now, filed_folder=folder),
                        execution_options={"synchronize_session": False})

    def targets(self, mail_ids: Iterable[int]) -> dict[int, str | None]:
        """Where each of these mails is to be filed: its folder; None when it is not finished
        (not decided yet). Mails already filed, or without a row, are left out."""
        ids = list(mail_ids)
        targets: dict[int, str | None] = {}
        with db.reading(self.factory) as session:
            for start in range(0, len(ids), IN_CHUNK):
                rows = session.execute(select(Mail.id, Mail.status, Mail.decision, Mail.filed_at)
                                       .where(Mail.id.in_(ids[start:start + IN_CHUNK])))
                for mail_id, status, decision, filed_at in rows:
                    if filed_at is not None:
                        continue
                    targets[mail_id] = folder_of(status, decision) if status in (DECIDED, QUARANTINED, FILED) \
                        else None
        return targets
