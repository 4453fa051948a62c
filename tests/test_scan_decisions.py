"""Scanned forms through the real decision (bot/decide/scans.py + bot/decide/): a scan is sent back
only for defects its reader is sure of, never for a misreading; anything unsure is held for a
person with the unsure fields named. Generated scans (tests/fixtures/scans), real OCR."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import decide as deciding
from bot.config import load_config
from bot.mail import parse_mail
from bot.pipeline.gather import gather
from tests.fixtures.scans import FormSpec, make
from tests.fixtures.scans.mails import order_mail

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def decide_scan(**traits: object) -> tuple[deciding.Decision, dict]:
    spec = FormSpec(index=0, seed=int(traits.pop("seed", 7)), **traits)  # type: ignore[arg-type]
    pdf, truth = make(spec)
    mail = parse_mail(order_mail(pdf, truth))
    facts = gather(mail, cfg=load_config(env={}), session=None, received_at=NOW)
    assert facts.form is not None and facts.form.shape == "scanned"
    return deciding.decide(facts), truth


SCAN_CODES = {"LINE_KIND_MISSING", "LINE_TYPE_MISSING", "MAIL_ADDRESS_MISSING", "PLUS_FLAG_MISMATCH"}


@pytest.mark.parametrize("traits", [
    dict(fill="typed", mark_style="printed_check", dpi=200, color="gray", defect="LINE_TYPE_MISSING", seed=21),
    dict(fill="typed", mark_style="printed_square", dpi=300, color="bw", defect="LINE_TYPE_MISSING", seed=22),
    dict(fill="hand", mark_style="tick", dpi=200, color="gray", defect="LINE_TYPE_MISSING", seed=23),
    dict(fill="typed", mark_style="printed_check", dpi=200, color="color", defect="LINE_KIND_MISSING", seed=24),
])
def test_a_scan_missing_its_line_type_or_kind_is_sent_back_or_held(traits: dict) -> None:
    """Given a scan whose marks show the defect, then it is rejected for exactly that defect
    (the UNIS order is missing in this dry run too: a body/UNIS defect rides along), or, where
    the reader is not sure, held for a person; never accepted."""
    decision, truth = decide_scan(**traits)
    assert decision.decision in (deciding.REJECTED, deciding.MANUAL), decision
    form_codes = set(decision.defect_codes) & SCAN_CODES
    if decision.decision == deciding.REJECTED:
        assert form_codes == set(truth["defects"]), (decision, truth["defects"])


@pytest.mark.parametrize("traits", [
    dict(fill="typed", mark_style="printed_check", dpi=200, color="gray", seed=31),
    dict(fill="typed", mark_style="printed_square", dpi=150, color="bw", seed=32),
    dict(fill="hand", mark_style="circle", dpi=200, color="gray", seed=33),
    dict(fill="hand", mark_style="cross", dpi=300, color="color", seed=34),
    dict(fill="mixed", mark_style="fill", dpi=200, color="gray", orientation=180, seed=35),
])
def test_a_correct_scan_is_never_sent_back_for_its_form(traits: dict) -> None:
    """Given a correct scan, then no form defect is ever claimed (a misreading never reaches the
    branch); it is held for a person (accept is off by default) with a reason."""
    decision, _truth = decide_scan(**traits)
    assert not set(decision.defect_codes) & SCAN_CODES, decision
    if decision.decision == deciding.MANUAL:
        assert decision.reason


def _facts_with(readings: dict[str, tuple[str | None, str, bool]], body: str = "") -> object:
    """Facts around a synthetic scan reading: name → (value, state, sure)."""
    import dataclasses as dc

    from bot.checks.base import Facts
    from bot.domain.classify import classify_subject
    from bot.forms import FormFields, FormReading
    from bot.forms.vocabulary import FieldReading
    from bot.mail.body import parse_body
    from bot.pipeline.gather import settings_from

    values = {n: (v if st in ("read", "empty") and sure else None) for n, (v, st, sure) in readings.items()
              if n in {f.name for f in dc.fields(FormFields)}}
    values["plus"] = values.get("plus") == "true"
    form = FormReading(shape="scanned", fields=FormFields(**values), defects=(), detail="scan", encrypted=True,
                       pages=1, readings=tuple(FieldReading(n, v, st, 1.0 if sure else 0.3, sure)
                                                for n, (v, st, sure) in readings.items()),
                       unsure=tuple(n for n, (_v, _st, sure) in readings.items() if not sure))
    mail = parse_mail(order_mail(b"%PDF-", {"body": {}, "fields": {"customer_code": "988776654"}, "id": "x"}))
    return Facts(mail=mail, classification=classify_subject(mail.subject), body=parse_body(body), forms=(form,),
                 termination_forms=(), unis=(), ledger=None, received_at=NOW, settings=settings_from(load_config(env={})))


BASE = {"customer_code": ("988776654", "read", True), "line_kind": ("hikari_next", "read", True),
        "mail_local": (None, "filled", True), "mail_reading": (None, "filled", True), "plus": ("false", "read", True)}
BODY = "顧客CD : 988776654\n店舗名 : カフェ\nリンク品使用 無\nSPOT Plus該当 無\n送付支店名 : 青山支店\n担当者名 : 内田\n"


def test_handwriting_that_is_only_filled_is_no_missing_address() -> None:
    from bot.decide import scans

    f = _facts_with(BASE, BODY)
    decision = deciding.decide(f)  # type: ignore[arg-type]
    assert "MAIL_ADDRESS_MISSING" not in decision.defect_codes
    assert decision.decision == deciding.REJECTED and decision.defect_codes == ["UNIS_ORDER_MISSING"]
    assert "mail_local" not in decision.reason  # contradicted by the sure "filled", not merely unsure
    assert scans.unread_needed(f) == ()  # type: ignore[arg-type]


def test_a_surely_empty_address_is_sent_back_only_if_its_code_may_send_a_scan_back() -> None:
    import dataclasses as dc

    f = _facts_with({**BASE, "mail_local": ("", "empty", True), "mail_reading": ("", "empty", True)}, BODY)
    decision = deciding.decide(f)  # type: ignore[arg-type]
    assert decision.decision == deciding.REJECTED and "MAIL_ADDRESS_MISSING" in decision.defect_codes
    held = dc.replace(f, settings=dc.replace(f.settings, scan_reject_codes=("LINE_KIND_MISSING",)))  # type: ignore[type-var]
    decision = deciding.decide(held)  # type: ignore[arg-type]
    assert decision.decision == deciding.MANUAL and "MAIL_ADDRESS_MISSING" in decision.reason


def test_an_unsure_line_kind_is_named_and_never_a_defect() -> None:
    f = _facts_with({**BASE, "line_kind": (None, "unsure", False)}, BODY)
    decision = deciding.decide(f)  # type: ignore[arg-type]
    assert "LINE_KIND_MISSING" not in decision.defect_codes
    assert decision.decision == deciding.REJECTED  # for UNIS_ORDER_MISSING, which is sure
    assert "ご利用回線種別（line_kind）" in decision.reason


def test_a_blank_address_beside_a_reading_only_known_as_written_goes_to_a_person() -> None:
    """ご希望のメールアドレス surely blank, its フリガナ surely written but not read (handwriting, or
    print the reader took for writing: seed 10202, an unread 【ご担当者】 heading in its place): not
    MAIL_ADDRESS_MISSING (something is written), but no address the vendor can use either: held,
    naming the reading.  Before, the form was accepted."""
    f = _facts_with({**BASE, "mail_local": ("", "empty", True)}, BODY)
    decision = deciding.decide(f)  # type: ignore[arg-type]
    assert "MAIL_ADDRESS_MISSING" not in decision.defect_codes
    assert "mail_reading" in decision.reason
