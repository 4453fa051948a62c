"""What every check sees (:class:`Facts`) and what it returns (:class:`Defect`).

A check is small and pure (Mailman ``rules/``): facts in, defects out, no I/O. Everything a
check may need (the parsed mail, its form, the UNIS lines and the ledger row for the code)
is gathered before the checks run, so the same facts always give the same decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.checks.authentication import Verdict
    from bot.corporate import CorporateSettings
    from bot.corporate.reading import ListReading
    from bot.decide import Decision
    from bot.domain.calendar import BusinessCalendar
    from bot.domain.classify import Classification
    from bot.forms import FormReading, TerminationReading
    from bot.mail import InboundMail
    from bot.mail.body import BodyFields

@dataclass(frozen=True)
class Defect:
    """A stable code (DESIGN.md) plus the details a template needs to say it in plain Japanese."""

    code: str
    detail: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "detail": dict(self.detail)}


@dataclass(frozen=True)
class UnisLine:
    """A UNIS contract line as the checks see it (a value copy of a `UnisOrder` row)."""

    customer_code: str
    contract_no: str
    line_no: str
    item_code: str | None
    status: str
    shop_name: str | None
    branch: str | None
    acquisition: str | None
    cancel_date: dt.date | None
    termination_date: dt.date | None


@dataclass(frozen=True)
class LedgerState:
    """The 管理台帳 row for the code, as the checks see it."""

    customer_code: str
    state: str
    plus: bool
    termination_date: dt.date | None
    sent_to_vendor: bool  # the new-install order already left in a vendor batch
    ship_date: dt.date | None = None  # 出荷予定日 of that order (N+2)
    has_order: bool = True  # an order (新規/子機) for this customer went through the bot


@dataclass(frozen=True)
class Branch:
    """A branch directory entry (支店): who its manager is and which mail domain its staff use."""

    name: str  # 支店名, e.g. 青山支店
    domain: str  # staff mail domain, e.g. aoyama.usen.co.jp
    manager: str  # 支店長 address


# The defects a scanned form may be sent back for when its reader is sure of them ([scans]
# reject_codes and termination_reject_codes; bot/decide/scans.py, bot/decide/termination_scans.py). Defined
# once: the config's defaults and the rule settings' are these.
# SPOT_NOT_SELECTED is not among them: a very light pencil loop on the 統合申込書's USEN SPOT box
# was read surely unmarked in 1 of 5 generated samples, so an unticked SPOT row on a scan is held
# for a person unless an admin adds the code to [scans] reject_codes.
SCAN_REJECT_CODES = ("LINE_KIND_MISSING", "LINE_TYPE_MISSING", "MAIL_ADDRESS_MISSING", "PLUS_FLAG_MISMATCH")
SCAN_TERMINATION_REJECT_CODES = ("CUSTOMER_CODE_MISMATCH", "TERMINATION_DATE_MISSING")


@dataclass(frozen=True)
class RuleSettings:
    allowed_domains: tuple[str, ...]
    calendar: BusinessCalendar
    branches: Mapping[str, Branch] = field(default_factory=dict)  # 支店名 → Branch
    authentication: str = "off"  # [senders] authentication: off | hold | ignore
    # [scans]: which defects may send a scanned form back, and whether a clean scan is accepted.
    scan_reject_codes: tuple[str, ...] = SCAN_REJECT_CODES
    scan_accept: bool = False
    # [scans] integrated = "decide": a scanned 統合申込書 is decided like a scanned ご加入申込書;
    # otherwise every one is held for a person.
    scan_integrated_decide: bool = False
    # Why a scan with no defect is held when scan_accept is off (the config key to change).
    scan_hold_reason: str = "[scans] accept = false"
    # A scanned 解約申請書 (bot/decide/termination_scans.py): the defects it may be sent back for, and
    # whether a clean one is accepted ([scans] accept alone: nothing unread reaches the vendor).
    scan_termination_reject_codes: tuple[str, ...] = SCAN_TERMINATION_REJECT_CODES
    scan_termination_accept: bool = False
    corporate: CorporateSettings | None = None  # [corporate]: 法人一括発注依頼 (bot/corporate/)
    # [senders] support / techsupport / engineers: role → addresses or domains (bot/checks/roles.py).
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    mail: InboundMail
    classification: Classification
    body: BodyFields
    forms: tuple[FormReading, ...]  # one per PDF attachment of an application-form kind
    termination_forms: tuple[TerminationReading, ...]
    unis: tuple[UnisLine, ...]
    ledger: LedgerState | None
    received_at: dt.datetime
    settings: RuleSettings
    auth: Verdict | None = None  # sender authentication; None when the policy is off
    corporate: ListReading | None = None  # a 法人一括発注依頼's customer list (bot/corporate/)
    # What the first look at the mail settled before any attachment was opened (an outsider, a
    # machine, a forged From, a mail over the limits, a 法人 list from someone else): gathered
    # once (bot.decide.first_look) and carried here, so nothing screens a mail twice.
    settled: Decision | None = None

    @property
    def form(self) -> FormReading | None:
        """The first PDF's reading (a branch attaches one application form)."""
        return self.forms[0] if self.forms else None

    @property
    def code(self) -> str | None:
        return self.classification.customer_code


Check = Callable[[Facts], list[Defect]]


def run_checks(checks: Sequence[Check], f: Facts) -> tuple[Defect, ...]:
    """Every check of a chain, in order; each defect once (a 差戻 lists them all)."""
    found: list[Defect] = []
    for check in checks:
        for defect in check(f):
            if defect not in found:
                found.append(defect)
    return tuple(found)
