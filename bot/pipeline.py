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
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import claims, classify, db, intake
from bot import store as storing
from bot import decide as deciding
from bot.actions.reply import build_reply, queue_reply, reply_recipient
from bot.actions.requests import act
from bot.checks.base import Facts
from bot.checks.cc_manager import find_branch
from bot.config import Config
from bot.decide import Decision
from bot.gather import authenticate, gather, read_attachments, settings_from  # noqa: F401 - gather: a seam the tests patch
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
# Mails whose attempts are counted in one transaction before the first of them is read ahead.
ATTEMPT_BLOCK = 8
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
        # Attempts counted by a read-ahead block and not yet taken by process(): mail id → number.
        self._counted: dict[int, int] = {}
        self._counted_lock = threading.Lock()
        self.owner = process_token()  # who holds this process's claims (bot/claims.py)

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

    # -- decide + act --------------------------------------------------------------------
    # -- read ahead ------------------------------------------------------------------------
    def prefetch(self, mail_ids: Sequence[int]) -> Prefetcher:
        """Read these stored mails' PDFs ahead of deciding them, on the other reader processes.

        Before a mail is read ahead, its attempt is counted and committed, for a block of the
        next :data:`ATTEMPT_BLOCK` mails of the list in one transaction (see :meth:`process`).
        """
        pool = self.reader.pool
        size = pool.size if pool is not None else 0
        return _CountingPrefetcher(self, mail_ids, window=READ_AHEAD * size, threads=size,
                                   block=max(ATTEMPT_BLOCK, READ_AHEAD * size))

    def read_ahead(self, mail_id: int) -> ReadAhead | None:
        with db.reading(self.factory) as session:
            row = session.get(Mail, mail_id)
            if row is None or row.status != STORED or (row.facts or {}).get("oversize"):
                return None
            raw = row.raw
        mail = parse_mail(raw, self.cfg.limits)
        try:
            return ReadAhead(mail, read_attachments(mail, cfg=self.cfg, settings=self.settings, reader=self.reader))
        except ReaderFailed as err:
            return ReadAhead(mail, None, err)

    def process(self, mail_id: int, ahead: ReadAhead | None = None) -> Outcome | None:
        """Decide a stored mail and act, in one transaction. None when it was not ours to do
        (already decided, or another process holds it).

        Each attempt is counted (and committed) before the mail's PDFs are read: by
        :meth:`prefetch` for a block of mails read ahead (one commit for the block, before the
        first of them is read), else here, alone. A reader that crashes or overruns its limits
        is tried again at once, and the mail is quarantined when `reader_attempts` attempts
        failed, so also when the daemon itself died while reading it (a mail that kills the bot
        is tried twice across restarts, never for ever). A daemon that dies counts an attempt
        for each mail of the block it was in; the runner decides such mails (attempts > 0)
        alone, without reading ahead, so an innocent neighbour of a mail that kills the bot is
        never blamed twice.
        """
        allowed = self.cfg.limits.reader_attempts
        attempt = self._take_counted(mail_id)
        while True:
            if attempt is None:
                attempt = self._count_attempt(mail_id)
            if attempt is None:
                return None
            if attempt > allowed:
                return self._quarantine(mail_id, RuntimeError(
                    f"processing this mail was started {attempt - 1} times and never finished "
                    f"(limit reader_attempts={allowed}): the bot stopped while reading it"))
            try:
                return self._process_once(mail_id, ahead)
            except db.UNAVAILABLE:
                self._refund_attempt(mail_id)  # the database's fault, not the mail's
                raise
            except ReaderFailed as err:
                log.warning("mail %s: reader failed on attempt %d of %d: %s", mail_id, attempt, allowed, err.detail)
                if attempt >= allowed:
                    return self._quarantine(mail_id, err)
            ahead = None  # a second attempt reads the mail again itself
            attempt = None

    def suspects(self, mail_ids: Iterable[int]) -> set[int]:
        """Of these stored mails, those with an attempt counted already: the bot stopped (or a
        pass failed) while they were being read or about to be. The runner decides them alone."""
        ids = list(mail_ids)
        found: set[int] = set()
        with db.reading(self.factory) as session:
            for start in range(0, len(ids), _IN_CHUNK):
                found.update(session.scalars(select(Mail.id).where(
                    Mail.id.in_(ids[start:start + _IN_CHUNK]), Mail.status == STORED, Mail.attempts > 0)))
        return found

    def count_attempts(self, mail_ids: Sequence[int]) -> dict[int, int]:
        """Count one attempt for each of these mails still stored, in one committed transaction;
        their attempt numbers now."""
        if not mail_ids:
            return {}
        with self.factory() as session, session.begin():
            # Mails another live bot process is reading are left out: not ours to do.
            return claims.claim_reading(session, mail_ids, self.owner, dt.datetime.now(dt.UTC))

    def _count_attempt(self, mail_id: int) -> int | None:
        return self.count_attempts([mail_id]).get(mail_id)

    def _take_counted(self, mail_id: int) -> int | None:
        with self._counted_lock:
            return self._counted.pop(mail_id, None)

    def _refund_attempt(self, mail_id: int) -> None:
        try:
            with self.factory() as session, session.begin():
                claims.release_reading(session, [mail_id], self.owner, refund=True)
        except db.UNAVAILABLE:
            pass  # still away: the count stays one high, which costs at most one retry

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
        code = classify.classify_subject(mail.subject).customer_code
        if code:
            # One decision per customer at a time: two processes deciding mails about the same
            # customer must not both read the ledger before either moves it.
            db.serialise(session, f"customer:{code}")
        facts = gather(mail, cfg=self.cfg, session=session, received_at=row.received_at, settings=self.settings,
                       reader=self.reader, attachments=ahead.attachments if ahead is not None else None)
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
        log.info("mail %s uid %s: %s %s %s defects=%s warnings=%s %s", row.id, row.uid, decision.kind,
                 decision.customer_code, decision.decision, decision.defect_codes, decision.warning_codes,
                 decision.reason, extra={"mail_id": row.id, "uid": row.uid, "kind": decision.kind,
                                         "customer_code": decision.customer_code, "decision": decision.decision,
                                         "defects": list(decision.defect_codes)})
        return _outcome(row, decision.reason or note, reply_rcpts)

    def _hold(self, row: Mail, mail: InboundMail, now: dt.datetime, reason: str) -> Outcome:
        """Held for a person without reading the mail (sender checks still decide first)."""
        c = classify.classify_subject(mail.subject)
        decision = deciding.screen(mail, c, self.settings, authenticate(mail, self.cfg)) or Decision(
            c.kind, c.customer_code, deciding.MANUAL, reason=reason)
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

    def _quarantine(self, mail_id: int, err: BaseException) -> Outcome | None:
        if isinstance(err, ReaderFailed) or err.__traceback__ is None:
            # A limit, not a bug: one line says which (no traceback storm in the log).
            log.error("mail %s: quarantined: %s", mail_id, err)
        else:
            log.error("mail %s: quarantined after an unexpected error", mail_id, exc_info=err)
        with self.factory() as session, session.begin():
            row = session.get(Mail, mail_id)
            if row is None:
                return None
            row.status = QUARANTINED
            row.decision = None
            row.error = "".join(traceback.format_exception(err))[-8000:]
            if isinstance(err, ReaderFailed):
                row.facts = {**(row.facts or {}), "reason": reader_reason(err, self.cfg.limits.reader_attempts)}
            row.decided_at = self.clock()
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


class _CountingPrefetcher(Prefetcher):
    """A :class:`Prefetcher` that counts attempts before reading: when a read starts on a mail
    not counted yet, the attempts of it and the next `block` - 1 mails of the list are counted
    in one committed transaction (so a daemon killed by a mail's reading has counted it). At
    the end, attempts counted for mails that were never decided (the pass failed, and this
    process lives on to know no reading killed it) are given back."""

    def __init__(self, processor: Processor, ids: Sequence[int], *, window: int, threads: int, block: int) -> None:
        super().__init__(self._read_one_counted, ids, window=window, threads=threads)
        self._processor = processor
        self._list = list(ids)
        self._index = {mail_id: i for i, mail_id in enumerate(self._list)}
        self._block = max(block, 1)
        self._done: set[int] = set()  # counted (or found not stored) by a block of this list
        self._lock = threading.Lock()

    def _read_one_counted(self, mail_id: int) -> ReadAhead | None:
        p = self._processor
        with self._lock:
            if mail_id not in self._done:
                start = self._index[mail_id]
                block = [i for i in self._list[start:start + self._block] if i not in self._done]
                counted = p.count_attempts(block)
                self._done.update(block)
                with p._counted_lock:
                    p._counted.update(counted)
        with p._counted_lock:
            if mail_id not in p._counted:
                return None  # not stored any more (another process decided it): nothing to read
        return p.read_ahead(mail_id)

    def close(self) -> None:
        super().close()  # waits for the reads under way
        p = self._processor
        with p._counted_lock:
            left = [mail_id for mail_id in self._done if p._counted.pop(mail_id, None) is not None]
        if left:
            try:
                with p.factory() as session, session.begin():
                    claims.release_reading(session, left, p.owner, refund=True)
            except db.UNAVAILABLE:
                pass  # the database is away: the counts stay one high (those mails are decided alone)


def reader_reason(err: ReaderFailed, attempts: int) -> str:
    """Why a mail was quarantined by its reader, in words for the digest and the console."""
    limit = f"（上限 {err.limit}）" if err.limit else ""
    return f"添付PDFの読み取りが{attempts}回とも失敗しました{limit}: {err.detail}"


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
    if f.mail.problems:
        summary["mail_problems"] = list(f.mail.problems)
    return summary
