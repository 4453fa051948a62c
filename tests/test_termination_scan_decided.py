"""A scanned 解約申請書 decided on the sure-only rule (issue 19, point 5; bot/decide/termination_scans.py):
sent back only for a defect its reader is sure of, accepted only with 顧客CD and 解約日 read
sure from print, otherwise held for a person with the unsure fields named.

Generated scans (tests/fixtures/scans/termination_scan.py), the real OCR engine, and the path
the other scan tests use: the branch's mail → parse_mail → gather (the real reader) → decide,
with one live UNIS line for the customer (no database)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bot import decide as deciding
from bot.checks import termination
from bot.checks.base import Facts, LedgerState, UnisLine
from bot.config import load_config
from bot.decide import termination_scans
from bot.forms import TerminationReading
from bot.forms.vocabulary import FieldReading
from bot.mail import parse_mail
from bot.pipeline.gather import gather, settings_from
from tests.fixtures.scans.termination_scan import (
    TerminationSpec,
    make,
    termination_mail,
)
from tests.support.mailbuilder import build_mail

JST = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=JST)  # a Monday, before every generated 解約日


def _installed(code: str) -> tuple[UnisLine, ...]:
    return (UnisLine(code, "C0001", "1", "Z100401", "確定", "店舗", "東京支店", "地区", None, None),)


def decide_scan(spec: TerminationSpec, *, accept: bool = True) -> tuple[deciding.Decision, Facts, dict]:
    pdf, truth = make(spec)
    facts = gather(parse_mail(termination_mail(pdf, truth)), cfg=load_config(env={}), session=None, received_at=NOW)
    assert facts.termination_forms and facts.termination_forms[0].shape == "scanned"
    facts = dataclasses.replace(facts, unis=_installed(truth["code"]),
                                settings=dataclasses.replace(facts.settings, scan_termination_accept=accept))
    return deciding.decide(facts), facts, truth


CLEAN_TYPED = TerminationSpec(index=0, seed=11, fill="typed", layout="table", dpi=300, color="gray")


def test_a_clean_typed_scan_is_accepted_with_the_date_on_the_form() -> None:
    """Given a typed 解約申請書 scanned at 300 dpi whose code matches the subject, then it is
    accepted, and the 解約日 the ledger and the vendor get is the one printed on the form."""
    decision, facts, truth = decide_scan(CLEAN_TYPED)
    assert decision.decision == deciding.ACCEPTED, decision
    assert str(termination.requested_date(facts)) == truth["fields"]["termination_date"]


def test_with_accept_off_a_clean_scan_is_an_accept_candidate_held_for_a_person() -> None:
    decision, _facts, _truth = decide_scan(CLEAN_TYPED, accept=False)
    assert decision.decision == deciding.MANUAL and not decision.defects
    assert "[scans] accept = false" in decision.reason


def test_another_customers_code_read_sure_is_sent_back_listing_it() -> None:
    """Given a typed scan whose printed 顧客CD is another customer's, then the 差戻 lists
    CUSTOMER_CODE_MISMATCH with both codes (the reader is sure of the printed code)."""
    spec = TerminationSpec(index=1, seed=12, fill="typed", layout="table", dpi=300, color="gray",
                           defect="CUSTOMER_CODE_MISMATCH")
    decision, _facts, truth = decide_scan(spec)
    assert decision.decision == deciding.REJECTED, decision
    assert decision.defect_codes == ["CUSTOMER_CODE_MISMATCH"]
    assert truth["fields"]["customer_code"] in decision.defects[0].detail["codes"]


@pytest.mark.parametrize("spec", [
    TerminationSpec(index=2, seed=13, fill="hand", layout="table", dpi=200, color="color"),
    TerminationSpec(index=3, seed=14, fill="mixed", layout="plain", dpi=200, color="gray"),
    TerminationSpec(index=4, seed=15, fill="hand", layout="digits", dpi=150, color="bw",
                    defect="CUSTOMER_CODE_MISMATCH"),
])
def test_handwriting_is_never_sure_it_is_held_with_the_fields_named(spec: TerminationSpec) -> None:
    """Given a scan with a handwritten 解約日 (and code), then it is neither accepted nor sent back
    for the form: held for a person, the reason naming the fields not read surely."""
    decision, facts, _truth = decide_scan(spec)
    assert decision.decision == deciding.MANUAL, decision
    assert "解約日（termination_date）" in decision.reason
    assert facts.termination_forms[0].termination_date is None  # a hand's date is never taken


def test_the_date_read_sure_sets_the_withdrawal_deadline_and_a_late_withdrawal_is_sent_back() -> None:
    """Given a typed scan accepted with its 解約日 read from print, when the branch withdraws the
    termination later than 3 business days before that date, then the withdrawal is sent back
    with the manual's defect WITHDRAWAL_TOO_LATE naming the date and the deadline."""
    decision, facts, truth = decide_scan(CLEAN_TYPED)
    assert decision.decision == deciding.ACCEPTED
    day = termination.requested_date(facts)
    assert day is not None and str(day) == truth["fields"]["termination_date"]
    code = truth["code"]
    cal = facts.settings.calendar
    late = dt.datetime.combine(cal.withdrawal_deadline(day) + dt.timedelta(days=1), dt.time(10), JST)
    mail = parse_mail(build_mail(f"USEN SPOT 解約キャンセル依頼_{code}", f"顧客CD : {code}\n"))
    withdrawal = gather(mail, cfg=load_config(env={}), session=None, received_at=late)
    withdrawal = dataclasses.replace(withdrawal, ledger=LedgerState(code, "termination_scheduled", False, day,
                                                                    sent_to_vendor=True))
    decided = deciding.decide(withdrawal)
    assert decided.decision == deciding.REJECTED and decided.defect_codes == ["WITHDRAWAL_TOO_LATE"]
    assert decided.defects[0].detail["termination_date"] == f"{day:%Y/%m/%d}"


# --------------------------------------------------------------------------- the rule, pure


def _facts(readings: dict[str, tuple[str | None, str, bool]], *, body: str = "", subject_code: str = "988776654",
           **settings: object) -> Facts:
    """Facts around a synthetic termination scan reading: name → (value, state, sure)."""
    sure = {n: v for n, (v, st, s) in readings.items() if s and st == "read"}
    form = TerminationReading(
        shape="scanned", customer_code=sure.get("customer_code"),
        termination_date=dt.date.fromisoformat(sure["termination_date"]) if "termination_date" in sure else None,
        defects=(), detail="scan", encrypted=True,
        readings=tuple(FieldReading(n, v, st, 0.97 if s else 0.4, s) for n, (v, st, s) in readings.items()),
        unsure=tuple(n for n, (_v, _st, s) in readings.items() if not s))
    mail = parse_mail(build_mail(f"USEN SPOT 解約申請_{subject_code}", body or f"顧客CD : {subject_code}\n"))
    f = gather(mail, cfg=load_config(env={}), session=None, received_at=NOW)
    return dataclasses.replace(f, termination_forms=(form,), unis=_installed(subject_code),
                               settings=dataclasses.replace(settings_from(load_config(env={})), **settings))


CODE = ("988776654", "read", True)
DATE = ("2026-11-30", "read", True)


def test_a_surely_empty_date_is_sent_back_unless_its_code_is_taken_off_the_list() -> None:
    f = _facts({"customer_code": CODE, "termination_date": ("", "empty", True)})
    decision = deciding.decide(f)
    assert decision.decision == deciding.REJECTED and decision.defect_codes == ["TERMINATION_DATE_MISSING"]
    held = dataclasses.replace(f, settings=dataclasses.replace(f.settings, scan_termination_reject_codes=()))
    decision = deciding.decide(held)
    assert decision.decision == deciding.MANUAL and "TERMINATION_DATE_MISSING" in decision.reason


def test_an_unsure_date_is_never_a_missing_date_even_with_none_in_the_body() -> None:
    f = _facts({"customer_code": CODE, "termination_date": (None, "unsure", False)})
    decision = deciding.decide(f)
    assert decision.decision == deciding.MANUAL and not decision.defects
    assert "解約日（termination_date）" in decision.reason


def test_a_body_date_does_not_stand_in_for_an_unsure_form_date() -> None:
    """The form's 解約日 is the one acted on: with it unsure, the body's date does not let the
    scan be accepted."""
    f = _facts({"customer_code": CODE, "termination_date": (None, "unsure", False)},
               body="顧客CD : 988776654\n解約日 : 2026/11/30\n", scan_termination_accept=True)
    decision = deciding.decide(f)
    assert decision.decision == deciding.MANUAL and "解約日（termination_date）" in decision.reason


def test_an_unsure_code_never_makes_a_mismatch_but_a_subject_body_mismatch_stands() -> None:
    f = _facts({"customer_code": (None, "unsure", False), "termination_date": DATE})
    assert deciding.decide(f).decision == deciding.MANUAL
    f = _facts({"customer_code": (None, "unsure", False), "termination_date": DATE}, body="顧客CD : 111222333\n")
    decision = deciding.decide(f)
    assert decision.decision == deciding.REJECTED and decision.defect_codes == ["CUSTOMER_CODE_MISMATCH"]
    assert "顧客コード（customer_code）" in decision.reason  # decided on the sure readings only, and says so


def test_a_sure_clean_reading_is_accepted_only_with_accept_on() -> None:
    f = _facts({"customer_code": CODE, "termination_date": DATE}, scan_termination_accept=True)
    assert deciding.decide(f).decision == deciding.ACCEPTED
    assert termination_scans.unread_needed(f) == ()
    off = dataclasses.replace(f, settings=dataclasses.replace(f.settings, scan_termination_accept=False))
    assert deciding.decide(off).decision == deciding.MANUAL


def test_a_scan_whose_labels_were_not_found_is_held_as_unreadable() -> None:
    f = _facts({})
    decision = deciding.decide(f)
    assert decision.decision == deciding.MANUAL and "顧客CD・解約日の欄を見つけられませんでした" in decision.reason


def test_the_config_switches_reach_the_rule() -> None:
    cfg = load_config(env={})
    s = settings_from(cfg)
    assert s.scan_termination_reject_codes == termination_scans.DEFAULT_REJECT_CODES
    assert s.scan_termination_accept is cfg.scans.accept  # no [vendor] pdf_password needed: nothing unread
    cfg = cfg.replace(scans=dataclasses.replace(cfg.scans, accept=False, termination_reject_codes=()))
    s = settings_from(cfg)
    assert (s.scan_termination_accept, s.scan_termination_reject_codes) == (False, ())
