"""Facts for the checks, read once per mail: subject, body, sender authentication, PDFs
(inside the limits), UNIS lines and the ledger row.

The first look (:func:`look`: the subject classified, the sender authenticated and screened,
once per mail) comes before any attachment is opened: an outsider, a bounce or a forged From
costs nothing, and its result travels in the facts to every later step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import db, forms, ledger
from bot import decide as deciding
from bot.checks import authentication
from bot.checks.authentication import Verdict
from bot.checks.base import Branch, Facts, LedgerState, RuleSettings, UnisLine
from bot.config import Config
from bot.corporate import CorporateSettings, numbers
from bot.corporate.reading import Known, ListReading, find_list, read_list
from bot.corporate.rows import site_key
from bot.corporate.sheet import Caps
from bot.db.models import CorporateSite, LedgerEntry, LedgerEvent, UnisOrder, VendorRow
from bot.decide import FirstLook
from bot.domain import classify
from bot.domain.branches import load_directory
from bot.domain.calendar import BusinessCalendar
from bot.forms.reader import APPLICATION, TERMINATION, PdfReader
from bot.mail import InboundMail
from bot.mail.body import parse_body

# Kinds whose PDF is the application form (申込書) / the termination form (解約申請書).
FORM_KINDS = {classify.EQUIPMENT_ORDER, classify.ORIGINAL_SSID}
TERMINATION_FORM_KINDS = {classify.TERMINATION}


def branches_from(cfg: Config) -> Mapping[str, Branch]:
    if not cfg.branches.file:
        return {}
    return load_directory(cfg.branches.file)


def settings_from(cfg: Config) -> RuleSettings:
    return RuleSettings(allowed_domains=cfg.senders.allowed_domains, calendar=calendar_from(cfg),
                        branches=branches_from(cfg), authentication=cfg.senders.authentication,
                        scan_reject_codes=cfg.scans.reject_codes,
                        scan_integrated_decide=cfg.scans.integrated == "decide",
                        scan_accept=cfg.scans.accept and bool(cfg.vendor.pdf_password),
                        scan_hold_reason=("[scans] accept = false" if not cfg.scans.accept else
                                          "[vendor] pdf_password が未設定のため受付できません"),
                        scan_termination_reject_codes=cfg.scans.termination_reject_codes,
                        scan_termination_accept=cfg.scans.accept,
                        roles={"support": cfg.senders.support, "techsupport": cfg.senders.techsupport,
                               "engineers": cfg.senders.engineers},
                        corporate=CorporateSettings(senders=cfg.corporate.senders,
                                                    registration_to=cfg.corporate.registration_to,
                                                    from_addr=cfg.smtp.from_addr))


def calendar_from(cfg: Config) -> BusinessCalendar:
    return BusinessCalendar(
        tz=cfg.office.tz, cutoff=cfg.office.cutoff_time, company_holidays=cfg.office.company_holiday_dates
    )


def authenticate(mail: InboundMail, cfg: Config) -> Verdict | None:
    """What our MTA's Authentication-Results say of the From domain; None when the policy is off."""
    if cfg.senders.authentication == authentication.OFF:
        return None
    return authentication.verdict(mail.auth_results, authserv_id=cfg.senders.authserv_id, from_addr=mail.from_addr)


@dataclass(frozen=True)
class Attachments:
    """A mail's PDFs as read (see :func:`read_attachments`)."""

    forms: tuple[forms.FormReading, ...] = ()
    terminations: tuple[forms.TerminationReading, ...] = ()
    corporate: ListReading | None = None  # a 法人一括発注依頼's customer list
    first: FirstLook | None = None  # the first look that chose what to read


def look(mail: InboundMail, *, cfg: Config, settings: RuleSettings) -> FirstLook:
    """The first look at a mail (bot/decide/first_look.py), with our MTA's verdict on its sender."""
    return deciding.first_look(mail, settings, authenticate(mail, cfg), corporate_prefix=cfg.corporate.prefix)


def read_attachments(mail: InboundMail, *, cfg: Config, settings: RuleSettings, first: FirstLook | None = None,
                     reader: PdfReader | None = None) -> Attachments:
    """The PDFs the mail's kind needs, read inside the limits; nothing at all for a mail its
    first look settles (an outsider, or a 法人 list not from 法人営業, costs nothing).
    Raises ReaderFailed when a reader process dies or overruns."""
    first = first or look(mail, cfg=cfg, settings=settings)
    if first.settled is not None:
        return Attachments(first=first)
    c = first.classification
    reader = reader or PdfReader(cfg.pdf.password, cfg.limits)
    if c.kind == classify.CORPORATE_ORDER:
        return Attachments(corporate=read_corporate_list(mail, cfg=cfg, reader=reader), first=first)
    pdfs = mail.pdf_attachments()
    if c.kind in FORM_KINDS and pdfs:
        return Attachments(forms=reader.read(pdfs, APPLICATION), first=first)  # type: ignore[arg-type]
    if c.kind in TERMINATION_FORM_KINDS and pdfs:
        return Attachments(terminations=reader.read(pdfs, TERMINATION), first=first)  # type: ignore[arg-type]
    return Attachments(first=first)


def read_corporate_list(mail: InboundMail, *, cfg: Config, reader: PdfReader) -> ListReading:
    """The customer list, read in a reader process when there is a pool (a hostile .xlsx costs
    that process, bounded by its memory limit and `pdf_seconds`), inside [corporate]'s caps."""
    found = find_list(mail.attachments)
    if found is None:
        return ListReading()
    caps = Caps(max_bytes=cfg.corporate.max_bytes, max_rows=cfg.corporate.max_rows,
                max_unzipped_bytes=cfg.corporate.max_unzipped_bytes)
    args = (found.data, found.filename or "", found.content_type, caps)
    if reader.pool is None:
        return read_list(*args)
    return reader.pool.call(read_list, *args, timeout=cfg.limits.pdf_seconds)


def known_to_ledger(session: Session) -> Known:
    """Live customer codes of the 管理台帳 and the sites of earlier corporate lists."""
    live = session.scalars(select(LedgerEntry.customer_code).where(
        LedgerEntry.state.not_in((ledger.CANCELLED, ledger.TERMINATED))))
    keys = {site_key(name, address) for name, address in session.execute(
        select(CorporateSite.shop_name, CorporateSite.address))}
    return Known(codes=frozenset(live), site_keys=frozenset(keys))


def gather(
    mail: InboundMail, *, cfg: Config, session: Session | None, received_at: dt.datetime,
    settings: RuleSettings | None = None, reader: PdfReader | None = None, attachments: Attachments | None = None,
    first: FirstLook | None = None,
) -> Facts:
    """Everything the checks need, read once: subject, body, PDFs, UNIS lines, ledger row.

    Sender, loop, authentication and limit checks come first: a mail they settle (an outsider,
    a bounce, a forged From) has no attachment opened at all. `attachments`: the PDFs already
    read ahead (bot/pipeline/read.py), so they are not read twice. `first`: the mail's first look,
    when the caller took it already (it is taken once per mail).
    """
    settings = settings or settings_from(cfg)
    first = first or (attachments.first if attachments is not None else None) or look(mail, cfg=cfg, settings=settings)
    c = first.classification
    body = parse_body(mail.body_text)
    if attachments is None:
        attachments = read_attachments(mail, cfg=cfg, settings=settings, first=first, reader=reader)
    form_readings, termination_readings = attachments.forms, attachments.terminations
    unis: tuple[UnisLine, ...] = ()
    ledger_state: LedgerState | None = None
    if session is not None and c.customer_code:
        unis = tuple(
            UnisLine(o.customer_code, o.contract_no, o.line_no, o.item_code, o.status, o.shop_name, o.branch,
                     o.acquisition, o.cancel_date, o.termination_date)
            for o in session.scalars(
                select(UnisOrder).where(UnisOrder.customer_code == c.customer_code).order_by(UnisOrder.id)
            )
        )
        entry = session.get(LedgerEntry, c.customer_code)
        if entry is not None:
            sent = session.scalar(
                select(VendorRow).where(
                    VendorRow.customer_code == c.customer_code, VendorRow.category == "新規",
                    VendorRow.batch_id.is_not(None), VendorRow.cancelled_at.is_(None),
                ).order_by(VendorRow.id.desc()).limit(1)
            )
            # Did an order for this customer go through the bot (not only seeded from UNIS)?
            ordered = session.scalar(
                select(LedgerEvent.id).where(
                    LedgerEvent.customer_code == c.customer_code, LedgerEvent.event.in_(("order", "child_unit")),
                ).limit(1)
            )
            ledger_state = LedgerState(entry.customer_code, entry.state, entry.plus, entry.termination_date,
                                       sent_to_vendor=sent is not None, ship_date=sent.ship_date if sent else None,
                                       has_order=ordered is not None)
    corporate = attachments.corporate
    if corporate is not None and session is not None:
        # Held until the mail's transaction ends: two lists decided at once (two bot processes)
        # cannot both pass the duplicate check before either records its sites.
        db.serialise(session, numbers.LOCK)
        corporate = corporate.with_known(known_to_ledger(session))
    return Facts(
        mail=mail, classification=c, body=body, forms=form_readings,
        termination_forms=termination_readings, unis=unis, ledger=ledger_state, received_at=received_at,
        settings=settings, auth=first.auth, corporate=corporate, settled=first.settled,
    )
