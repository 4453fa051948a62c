"""A person's decision on a held mail (保留), acted through the pipeline's own action code.

    read the PDFs (reader pool, no lock held)  →  lock the row, still held?  →  act (commit)
    →  file the IMAP mail from Manual into Processed / Rejected (after the commit, retried later)

- accept: the facts are gathered as the pipeline gathers them (``gather`` with the PDFs read
  in a reader process), the kind's check chain must find no defect, and
  :func:`bot.actions.requests.act` does what an accepted decision of that kind and variant
  does. A scan: no defect the bot is sure of, and the values the person typed replace
  申込書参照 in the vendor row (:mod:`bot.actions.scan_values`); nothing is guessed.
- reject: the defects the person chose go out as a 差戻 built by ``build_reply`` from the same
  template, recipients and threading as the pipeline's, through the outbox.

The decision, its actions, the outbox row and the resolution are one transaction on a row
locked ``FOR UPDATE`` that must still be held: a double click or a second person sees a
stale page, never a second reply. The IMAP move comes after the commit (as in the runner);
when IMAP is away the decision stands and :func:`refile` moves the mail later. Pending moves
are derived from the row (filed in a folder other than its decision's), so nothing extra
must be remembered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot import decide as deciding
from bot.actions import scan_shadow, scan_values
from bot.actions.held import (  # noqa: F401 - re-exported: the actions on a held mail
    ClaimedError,
    Detail,
    Done,
    ResolveError,
    StaleError,
    Tools,
    close,
    locked_held,
    release,
    take,
)
from bot.actions.person_reject import (  # noqa: F401 - re-exported (差戻 by a person)
    DEFECT_CODES,
    defect_choices,
    grouped_choices,
    light_facts,
    preview,
    reject,
    stored_instances,
)
from bot.actions.requests import act
from bot.config import Config
from bot.db.models import FILED, Mail
from bot.decide import scans
from bot.forms.workers import ReaderFailed
from bot.intake import QUARANTINE, IntakeError, Mailbox, mailbox_settings
from bot.ledger import LedgerError
from bot.mail import content_fingerprint, parse_mail
from bot.pipeline.filing import FOLDERS, folder_for
from bot.pipeline.gather import Attachments, gather, look, read_attachments

log = logging.getLogger("bot.actions.resolve")

# A held mail is searched for in its IMAP folder by Message-ID; without one, among this many
# of the folder's newest mails by content (a mail without Message-ID is rare).
SCAN_WITHOUT_MESSAGE_ID = 500
# The console waits for IMAP at most this long: a page must answer, a later retry files it.
IMAP_SECONDS = 15.0


# -- accept ---------------------------------------------------------------------------------

def read_for_accept(tools: Tools, raw: bytes) -> Attachments:
    """The mail's PDFs, read as the pipeline reads them (reader pool, limits), before any lock
    is taken: a slow PDF must not hold the database's write lock."""
    mail = parse_mail(raw, tools.cfg.limits)
    try:
        return read_attachments(mail, cfg=tools.vouched_cfg, settings=tools.settings, reader=tools.reader)
    except ReaderFailed as err:
        raise ResolveError(f"添付PDFを読み取れないため受付できません（{err.detail}）。差戻すか、対応済みにしてください。") from err


def accept(session: Session, mail_id: int, *, tools: Tools, attachments: Attachments, by: str,
           now: dt.datetime, typed: Mapping[str, str] | None = None) -> Done:
    """What the pipeline does for an accepted decision of this kind and variant. `typed`: a
    scan's values typed in by the person (payload key → text, checked by the caller)."""
    row = locked_held(session, mail_id, by=by)
    if (row.facts or {}).get("oversize"):
        raise ResolveError("メールが大きすぎて本文と添付を取り込んでいないため、ここでは受付できません。")
    mail = parse_mail(row.raw, tools.cfg.limits)
    # Taken when the PDFs were read (read_for_accept), with authentication off: the person vouches.
    first = attachments.first or look(mail, cfg=tools.vouched_cfg, settings=tools.settings)
    if first.customer_code:
        db.serialise(session, f"customer:{first.customer_code}")  # as the pipeline: one decision per customer
    seen = scan_shadow.observe(session, row, cfg=tools.cfg, settings=tools.settings)  # before the ledger moves
    facts = gather(mail, cfg=tools.vouched_cfg, session=session, received_at=row.received_at,
                   settings=tools.settings, reader=tools.reader, attachments=attachments, first=first)
    decision = deciding.decide(facts, by_person=True)
    if decision.decision != deciding.ACCEPTED:
        raise ResolveError(decision.reason)
    if typed and scans.scanned_form(facts) is None:
        raise ResolveError("値の入力はスキャン画像の申込書を受付するときだけ使えます。")
    try:
        note = act(session, facts, decision, mail_id=row.id, calendar=tools.calendar, now=now)
        results = scan_values.apply_typed(session, row.id, typed or {}, now=now, by=by)
        scan_shadow.record(session, seen, outcome=scan_shadow.ACCEPTED, by=by, now=now,
                           typed={r.key: r.after for r in results})
    except LedgerError as err:
        raise ResolveError(f"管理台帳の状態と合わないため受付できません（{err}）。") from err
    except scan_values.ScanRefused as err:
        raise ResolveError(str(err)) from err
    variant = decision.variant
    close(row, decision, by=by, now=now, resolution=f"受付（{note}）",
           facts={"schedule": note, "variant": variant})
    log.info("mail %s: accepted by %s: %s", row.id, by, note)
    return Done(row.id, deciding.ACCEPTED, note, typed=tuple((r.key, r.after) for r in results))


# -- filing in IMAP -------------------------------------------------------------------------

@dataclass(frozen=True)
class Filing:
    done: bool  # False: the move is still to do (IMAP away); the decision stands regardless
    message: str


def pending_filing() -> Select[tuple[Mail]]:
    """Rows whose IMAP mail still sits in the folder of an earlier state: a person decided them
    (it is in Manual), or they were decided again out of quarantine (`bot reprocess`, the
    console's 再処理: it is in Quarantine, which never holds a decided mail)."""
    moved = or_(*(and_(Mail.decision == decision, Mail.filed_folder != folder)
                  for decision, folder in FOLDERS.items() if decision in (deciding.ACCEPTED, deciding.REJECTED)))
    by_person = and_(Mail.resolved_at.is_not(None), moved)
    reprocessed = and_(Mail.filed_folder == QUARANTINE, Mail.decision.is_not(None))
    return select(Mail).where(Mail.status == FILED, Mail.filed_folder.is_not(None), or_(by_person, reprocessed))


def refile(cfg: Config, factory: sessionmaker[Session], mail_id: int, *, now: dt.datetime,
           settings: Any | None = None) -> Filing:
    """Move a decided held mail from its IMAP folder into its decision's; record it when done.
    `settings`: the IMAP MailboxSettings (default: from the config)."""
    with factory() as session:
        row = session.get(Mail, mail_id)
        if row is None:
            return Filing(False, f"メール #{mail_id} は見つかりません。")
        target = folder_for(row)
        if row.filed_at is None or row.filed_folder is None:
            # Still in the INBOX (or gone before filing): the runner files it by its decision.
            return Filing(True, f"メールは取り込み処理が次の巡回で {target} フォルダへ移動します。")
        source = row.filed_folder
        if source == target:
            return Filing(True, f"メールは {target} フォルダにあります。")
        message_id, fingerprint = row.message_id, content_fingerprint(row.raw)
    if settings is None:
        settings = mailbox_settings(cfg)
    settings = dataclasses.replace(settings, folder=source, timeout=min(settings.timeout, IMAP_SECONDS))
    try:
        with Mailbox(settings) as box:  # selects the filing folder (Manual, Quarantine)
            uid = box.locate(message_id, lambda raw: content_fingerprint(raw) == fingerprint,
                             scan_last=SCAN_WITHOUT_MESSAGE_ID)
            if uid is not None:
                box.file_away(uid, target)
    except (IntakeError, OSError) as err:
        log.warning("mail %s: not moved from %s to %s (decision kept, to retry): %s", mail_id, source, target, err)
        return Filing(False, f"IMAPサーバーに接続できないため、メールはまだ {source} フォルダにあります（判定は保存済みです）。"
                             "あとで「IMAPの振り分けを再試行」を押してください。")
    with db.transaction(factory) as session:
        row = session.scalar(select(Mail).where(Mail.id == mail_id).with_for_update())
        if row is not None and row.filed_folder == source:
            row.filed_folder, row.filed_at = target, now
    if uid is None:
        # Not in the folder any more (moved by an earlier try that stopped before recording it,
        # or by a person): as the runner's file_away, "no longer there" is the goal reached.
        log.info("mail %s: not found in %s; recorded as filed to %s", mail_id, source, target)
        return Filing(True, f"メールは既に {source} フォルダにありません（{target} へ移動済みとして記録しました）。")
    log.info("mail %s: moved from %s to %s", mail_id, source, target)
    return Filing(True, f"メールを IMAP の {source} フォルダから {target} フォルダへ移動しました。")


def refile_pending(cfg: Config, factory: sessionmaker[Session], *, now: dt.datetime,
                   settings: Any | None = None, limit: int = 100) -> list[tuple[int, Filing]]:
    """Every pending move (a retry after IMAP was away); stops at the first connection failure."""
    with factory() as session:
        ids: Iterable[int] = session.scalars(pending_filing().with_only_columns(Mail.id).order_by(Mail.id)
                                             .limit(limit)).all()
    results: list[tuple[int, Filing]] = []
    for mail_id in ids:
        result = refile(cfg, factory, mail_id, now=now, settings=settings)
        results.append((mail_id, result))
        if not result.done:
            break
    return results
