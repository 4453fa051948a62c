"""The pipeline a mail flows through once:

    store raw (commit) → classify → read body + PDF → check → decide → act (commit) → file away

Deciding is pure (`gather` reads, `decide` judges); acting happens in one transaction per
mail together with the decision; the IMAP move comes only after that commit. Every step is
safe to repeat after a crash, and a mail the bot fails on is quarantined with its traceback
while the others carry on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import blame, db, intake
from bot import store as storing
from bot import decide as deciding
from bot.actions.reply import build_reply, queue_reply, reply_recipient
from bot.actions.requests import act
from bot.blame import reader_reason  # noqa: F401 - where `bot process` finds it
from bot.checks.base import Facts
from bot.checks.cc_manager import find_branch
from bot.config import Config
from bot.decide import Decision
from bot.gather import gather, look, read_attachments, settings_from  # noqa: F401 - gather: a seam the tests patch
from bot.mail import InboundMail, parse_mail
from bot.models import (
    DECIDED,
    FILED,
    QUARANTINED,
    STORED,
    Mail,
    ReplyCount,
)
from bot.outbox import process_token
from bot.prefetch import Prefetcher, ReadAhead
from bot.reading import PdfReader
from bot.store import Incoming, StoredMail
from bot.templating import Templates
from bot.workers import ReaderFailed, shared_pool

log = logging.getLogger("bot.pipeline")

# IMAP folder per decision (intake owns the names); a quarantined mail goes to Quarantine.
FOLDERS = {**intake.FOLDERS, QUARANTINED: intake.QUARANTINE}
# Mails read ahead per reader process: a buffer for the stretches where deciding is slower
# than reading (a ledger write, a reply), so the readers never wait for the decider.
READ_AHEAD = 3
# SQLite allows 32,766 bound parameters per statement; stay well under for `id IN (...)`.
_IN_CHUNK = 500

@dataclass(frozen=True)
class Outcome:
    mail_id: int
    uid: int | None
    subject: str
    from_addr: str | None
    decision: str  # accepted/rejected/manual/ignored, or "quarantined"
    kind: str | None
    customer_code: str | None
    defects: tuple[str, ...]
    warnings: tuple[str, ...]
    reason: str
    folder: str
    reply_to: tuple[str, ...] = ()


@dataclass
class Processor:
    """Decides stored mails and acts on them, one transaction per mail."""

    cfg: Config
    factory: sessionmaker[Session]
    templates: Templates = field(default_factory=Templates)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        self.settings = settings_from(self.cfg)
        self.calendar = self.settings.calendar
        # PDFs are read in reader processes bounded in memory and time (bot/workers.py).
        self.reader = PdfReader(self.cfg.pdf.password, self.cfg.limits, pool=shared_pool(self.cfg.limits))
        self.owner = process_token()  # who holds this process's claims (bot/claims.py)
        self.hands = blame.Hands(self.factory, self.owner)  # the mails in hand (bot/blame.py)

    # -- store ---------------------------------------------------------------------------
    def store(
        self, raw: bytes, *, folder: str, uidvalidity: int, uid: int, arrived_at: dt.datetime | None = None,
        oversize: int | None = None,
    ) -> StoredMail:
        """Record the raw mail and commit; say what the row is now (see :class:`StoredMail`).

        The row is keyed by location and by a hash of the Message-ID. A mail already recorded:
        - at a stale location (another UIDVALIDITY or folder, e.g. the folder was recreated)
          and not filed yet: the row takes the new location, so it is finished, not answered
          again;
        - quarantined and filed, now back in the folder (a person moved it back to retry
          after a fix): the row is reset to be decided again;
        - otherwise a second copy of a mail already handled: the caller files it to Ignored.
        A *different* mail that merely reuses a Message-ID is stored as a mail of its own.
        `oversize`: the mail was over the limit mail_bytes and `raw` is its header only; it is
        held for a person (the whole mail stays in IMAP).
        """
        (result,) = self.store_many([Incoming(raw, folder, uidvalidity, uid, arrived_at, oversize)])
        if isinstance(result, Exception):
            raise result
        return result

    def store_many(self, mails: Sequence[Incoming]) -> list[StoredMail | Exception]:
        """Several fetched mails stored in one commit, each as :meth:`store` would (bot/store.py)."""
        return storing.store_many(self.factory, mails, limits=self.cfg.limits, now=self.clock)

    def warm_up(self) -> None:
        """Start the reader processes before any mail is taken into hand (bot/blame.py)."""
        self.hands.warm_up(self.reader.pool)

    # -- read ahead ------------------------------------------------------------------------
    def prefetch(self, mail_ids: Sequence[int]) -> Prefetcher:
        """Read these stored mails' PDFs ahead of deciding them, on the other reader processes.

        A mail is taken into hand (claimed, committed) before it is read ahead, with the next
        mails of the list, :data:`bot.blame.HAND_BLOCK` or more at a time (see :meth:`process`).
        """
        pool = self.reader.pool
        size = pool.size if pool is not None else 0
        return blame.ClaimingPrefetcher(self.hands, self.read_ahead, mail_ids, window=READ_AHEAD * size,
                                        threads=size, block=max(blame.HAND_BLOCK, READ_AHEAD * size))

    def read_ahead(self, mail_id: int) -> ReadAhead | None:
        with db.reading(self.factory) as session:
            row = session.get(Mail, mail_id)
            if row is None or row.status != STORED or (row.facts or {}).get("oversize"):
                return None
            raw = row.raw
        mail = parse_mail(raw, self.cfg.limits)
        first = look(mail, cfg=self.cfg, settings=self.settings)
        try:
            return ReadAhead(mail, read_attachments(mail, cfg=self.cfg, settings=self.settings, first=first,
                                                    reader=self.reader), first=first)
        except ReaderFailed as err:
            return ReadAhead(mail, None, err, first=first)

    # -- decide + act --------------------------------------------------------------------
    def process(self, mail_id: int, ahead: ReadAhead | None = None) -> Outcome | None:
        """Decide a stored mail and act, in one transaction. None when it was not ours to do
        (already decided, or another process holds it).

        The mail is in this process's hands (claimed, committed) before it is read: taken by
        :meth:`prefetch` with a block of mails read ahead, else here, alone. What counts against
        it (bot/blame.py): a reader that crashes or overruns its limits (tried again at once;
        quarantined at `reader_attempts` failures), and deaths of the bot while it was alone in
        hand (quarantined at `solo_deaths`, without being read again). A death while a block
        was in hand counts nothing; the runner then decides those mails alone (:meth:`suspects`).
        """
        limits = self.cfg.limits
        if self.hands.take(mail_id) is None and not self.hands.claim([mail_id], alone=True,
                                                                     deaths_below=limits.solo_deaths):
            # Not ours (another process has it), or the bot died with it alone in hand
            # `solo_deaths` times: then quarantined without being taken into hand again.
            return self._quarantine(mail_id, None)
        while True:
            try:
                # Read before the decision's transaction, so a slow PDF never holds SQLite's
                # write lock (the outbox marks a sent reply sent under it, right after the 250).
                return self._process_once(mail_id, ahead or self._read_alone(mail_id))
            except db.UNAVAILABLE:
                self.hands.release([mail_id])  # the database's fault, not the mail's
                raise
            except ReaderFailed as err:
                failures = self.hands.reader_failed(mail_id)
                log.warning("mail %s: reader failed (%d of %d): %s", mail_id, failures, limits.reader_attempts,
                            err.detail)
                if failures >= limits.reader_attempts:
                    return self._quarantine(mail_id, err)
            ahead = None  # a second attempt reads the mail again itself

    def _read_alone(self, mail_id: int) -> ReadAhead | None:
        try:
            return self.read_ahead(mail_id)
        except db.UNAVAILABLE:
            raise
        except Exception:  # noqa: BLE001 - read again inside the decision, which quarantines on a bug
            log.debug("mail %s: reading before the decision failed", mail_id, exc_info=True)
            return None

    def suspects(self, mail_ids: Iterable[int]) -> set[int]:
        """Of these stored mails, those in hand at an earlier death of a bot process: the runner
        decides them alone. Dead processes' claims on them are buried first (bot/blame.py)."""
        return blame.suspects(self.factory, mail_ids, dt.datetime.now(dt.UTC))

    def _process_once(self, mail_id: int, ahead: ReadAhead | None = None) -> Outcome | None:
        try:
            with self.factory() as session, session.begin():
                row = session.scalar(
                    select(Mail).where(Mail.id == mail_id).with_for_update(skip_locked=True)
                )
                if row is None or row.status != STORED:
                    return None
                return self._decide_and_act(session, row, ahead)
        except (*db.UNAVAILABLE, ReaderFailed):
            # The database is locked or gone: not this mail's fault. The pass ends, the watcher
            # backs off and the mail is decided on a later pass instead of being quarantined.
            # A reader failure is counted by the caller.
            raise
        except Exception as err:  # noqa: BLE001 - one bad mail never blocks the others
            return self._quarantine(mail_id, err)

    def decide_row(self, session: Session, row: Mail) -> Outcome:
        """Decide `row` (locked by the caller, set back to stored) and act, in the caller's
        transaction: an operator's redo of a quarantined mail (bot/actions/reprocess.py)."""
        return self._decide_and_act(session, row)

    def _decide_and_act(self, session: Session, row: Mail, ahead: ReadAhead | None = None) -> Outcome:
        now = self.clock()
        if ahead is not None and ahead.failure is not None:
            raise ahead.failure  # counted against this attempt by process()
        mail = ahead.mail if ahead is not None else parse_mail(row.raw, self.cfg.limits)
        oversize = (row.facts or {}).get("oversize")
        if oversize:
            return self._hold(row, mail, now, f"メールが大きすぎます（{oversize:,} バイト、上限 mail_bytes="
                              f"{self.cfg.limits.mail_bytes:,}）：本文と添付は取り込んでいません。IMAPの受信箱で確認してください")
        first = (ahead.first if ahead is not None else None) or look(mail, cfg=self.cfg, settings=self.settings)
        if first.customer_code:
            # One decision per customer at a time: two processes deciding mails about the same
            # customer must not both read the ledger before either moves it.
            db.serialise(session, f"customer:{first.customer_code}")
        facts = gather(mail, cfg=self.cfg, session=session, received_at=row.received_at, settings=self.settings,
                       reader=self.reader, attachments=ahead.attachments if ahead is not None else None, first=first)
        decision = deciding.decide(facts)
        reply_rcpts: tuple[str, ...] = ()
        note = ""
        if decision.decision == deciding.REJECTED and not self._reply_allowed(session, mail, now):
            decision = Decision(decision.kind, decision.customer_code, deciding.MANUAL, decision.defects,
                                decision.warnings, reason=f"返信上限（{self.cfg.senders.max_replies_per_hour}通/時）に達したため "
                                f"{reply_recipient(mail, self.cfg.senders.allowed_domains)} へ返信していません", variant=decision.variant)
        if decision.decision == deciding.REJECTED:
            # DESIGN.md: a 差戻 goes to the sender, CC the branch manager (when the directory knows them).
            branch = find_branch(facts, self.settings.branches)
            msg = build_reply(
                mail, decision, templates=self.templates, from_addr=self.cfg.smtp.from_addr,
                own_addresses=(self.cfg.mailbox.user,), received_at=row.received_at, tz=self.cfg.office.tz, now=now,
                extra_cc=(branch.manager,) if branch is not None and branch.manager else (),
                allowed_domains=self.cfg.senders.allowed_domains, max_recipients=self.cfg.senders.max_reply_recipients,
            )
            out = queue_reply(session, msg, mail_id=row.id, now=now)
            reply_rcpts = tuple(out.rcpt_to)
        elif decision.decision == deciding.ACCEPTED:
            note = act(session, facts, decision, mail_id=row.id, calendar=self.calendar, now=now)
        row.kind = decision.kind
        row.customer_code = decision.customer_code
        row.decision = decision.decision
        row.defects = [d.as_dict() for d in decision.defects]
        row.warnings = [w.as_dict() for w in decision.warnings]
        row.facts = _facts_summary(facts, decision)
        if note:
            row.facts = {**row.facts, "schedule": note}
        row.status = DECIDED
        row.decided_at = now
        row.error = None
        row.reading_by = row.reading_at = None  # out of hand: no death of ours is about it now
        log.info("mail %s uid %s: %s %s %s defects=%s warnings=%s %s", row.id, row.uid, decision.kind,
                 decision.customer_code, decision.decision, decision.defect_codes, decision.warning_codes,
                 decision.reason, extra={"mail_id": row.id, "uid": row.uid, "kind": decision.kind,
                                         "customer_code": decision.customer_code, "decision": decision.decision,
                                         "defects": list(decision.defect_codes)})
        return _outcome(row, decision.reason or note, reply_rcpts)

    def _hold(self, row: Mail, mail: InboundMail, now: dt.datetime, reason: str) -> Outcome:
        """Held for a person without reading the mail (sender checks still decide first)."""
        first = look(mail, cfg=self.cfg, settings=self.settings)
        c = first.classification
        decision = first.settled or Decision(c.kind, c.customer_code, deciding.MANUAL, reason=reason)
        row.kind, row.customer_code, row.decision = decision.kind, decision.customer_code, decision.decision
        row.defects, row.warnings = [], []
        row.facts = {**(row.facts or {}), "reason": decision.reason}
        row.status, row.decided_at, row.error = DECIDED, now, None
        log.info("mail %s uid %s: %s (%s)", row.id, row.uid, decision.decision, decision.reason)
        return _outcome(row, decision.reason, ())

    def _reply_allowed(self, session: Session, mail: InboundMail, now: dt.datetime) -> bool:
        """Cap replies per sender per hour: a misbehaving sender can never make the bot flood."""
        address = (reply_recipient(mail, self.cfg.senders.allowed_domains) or "").lower()
        hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        cap = self.cfg.senders.max_replies_per_hour
        if cap <= 0:
            return False
        # One statement, without a race: the hour's first reply creates the row, the next ones
        # count up while under the cap (two processes answering the same sender in the same hour
        # neither fail on the unique key nor both take the last reply). No row back: capped.
        counted = db.dialect_insert(session, ReplyCount).values(address=address, hour=hour, count=1)
        counted = counted.on_conflict_do_update(
            index_elements=[ReplyCount.address, ReplyCount.hour], set_={"count": ReplyCount.count + 1},
            where=ReplyCount.count < cap,
        ).returning(ReplyCount.count)
        return session.execute(counted).scalar() is not None

    def _quarantine(self, mail_id: int, err: BaseException | None) -> Outcome | None:
        """Quarantine the mail for `err`; without one, only a stored mail free to take whose
        solo deaths reached the limit (else None: not ours to do)."""
        with self.factory() as session, session.begin():
            if err is None:
                row, err = blame.over_the_limit(session, mail_id, self.owner, self.cfg.limits.solo_deaths)
            else:
                row = session.get(Mail, mail_id)
            if row is None or err is None:
                return None
            blame.quarantine(row, err, self.cfg.limits, self.clock())
            return _outcome(row, f"quarantined: {type(err).__name__}: {err}", ())

    def hold_vanished(self, mail_id: int) -> None:
        """A stored mail left the folder before it was decided: hold it for a person."""
        with self.factory() as session, session.begin():
            row = session.get(Mail, mail_id)
            if row is None or row.status != STORED:
                return
            row.status, row.decision, row.decided_at = FILED, deciding.MANUAL, self.clock()
            row.facts = {**(row.facts or {}), "reason": "判定前にメールがフォルダから移動または削除されました（内容は保存済み）"}
            log.warning("mail %s left %s before it was decided: held for a person", mail_id, row.folder)

    def mark_filed(self, mail_id: int, folder: str) -> None:
        self.mark_filed_many({mail_id: folder})

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
                for start in range(0, len(ids), _IN_CHUNK):
                    session.execute(
                        update(Mail).where(Mail.id.in_(ids[start:start + _IN_CHUNK]))
                        .values(status=case((Mail.status == DECIDED, FILED), else_=Mail.status),
                                filed_at=now, filed_folder=folder),
                        execution_options={"synchronize_session": False})

    def filing_targets(self, mail_ids: Iterable[int]) -> dict[int, str | None]:
        """Where each of these mails is to be filed: its folder; None when it is not finished
        (not decided yet). Mails already filed, or without a row, are left out."""
        ids = list(mail_ids)
        targets: dict[int, str | None] = {}
        with db.reading(self.factory) as session:
            for start in range(0, len(ids), _IN_CHUNK):
                rows = session.execute(select(Mail.id, Mail.status, Mail.decision, Mail.filed_at)
                                       .where(Mail.id.in_(ids[start:start + _IN_CHUNK])))
                for mail_id, status, decision, filed_at in rows:
                    if filed_at is not None:
                        continue
                    targets[mail_id] = _folder(status, decision) if status in (DECIDED, QUARANTINED, FILED) \
                        else None
        return targets


def folder_for(row: Mail) -> str:
    return _folder(row.status, row.decision)


def _folder(status: str, decision: str | None) -> str:
    if status == QUARANTINED:
        return FOLDERS[QUARANTINED]
    return FOLDERS[decision or deciding.MANUAL]


def _outcome(row: Mail, reason: str, reply_rcpts: tuple[str, ...]) -> Outcome:
    return Outcome(
        mail_id=row.id, uid=row.uid, subject=row.subject or "", from_addr=row.from_addr,
        decision=row.decision if row.status != QUARANTINED else QUARANTINED, kind=row.kind,
        customer_code=row.customer_code, defects=tuple(d["code"] for d in row.defects),
        warnings=tuple(w["code"] for w in row.warnings), reason=reason, folder=folder_for(row),
        reply_to=reply_rcpts,
    )


def _facts_summary(f: Facts, decision: Decision) -> dict[str, object]:
    """What the digest and a person need later, without re-reading the PDF."""
    summary: dict[str, object] = {"reason": decision.reason, "variant": decision.variant}
    branch = f.body.get("送付支店名")
    if branch:
        summary["branch"] = branch
    if f.form is not None:
        summary["form_shape"] = f.form.shape
        summary["form_kind"] = f.form.form  # dedicated | integrated (統合申込書)
        if f.form.fields is not None:
            summary["form"] = f.form.fields.as_dict()
        if f.form.readings:  # a scan: what the reader saw, per field (value/state, confidence, box)
            summary["form_readings"] = f.form.fields_json()
            summary["form_unsure"] = list(f.form.unsure)
        if f.form.detail:
            summary["form_detail"] = f.form.detail
    scanned = next((t for t in f.termination_forms if t.readings), None)
    if scanned is not None:  # a scanned 解約申請書: what its reader saw (the shadow figures, issue 19)
        summary["termination_shape"] = scanned.shape
        summary["termination_readings"] = {r.name: {"value": r.value, "state": r.state, "confidence": round(r.conf, 3),
                                                    "sure": r.sure} for r in scanned.readings}
        summary["termination_unsure"] = list(scanned.unsure)
    if f.mail.problems:
        summary["mail_problems"] = list(f.mail.problems)
    return summary
