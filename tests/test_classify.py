"""bot.domain.classify: subject → kind + 9-digit UNIS customer code, on real drifted subjects."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.classify import (
    ALIASES,
    CANCELLATION,
    CONTRACT_CHANGE,
    EQUIPMENT_ORDER,
    PREFIXES,
    RELOCATION,
    ROUTER_NOT_REMOVED,
    TERMINATION,
    TERMINATION_WITHDRAWAL,
    Classification,
    classify_subject,
)
from bot.mail import parse_mail
from tests.support.mailbuilder import build_mail

CODE = "988776654"

# (subject as received, kind, code)
SUBJECTS = [
    # the seven subjects of manual §II, exactly as written there
    ("USEN SPOT 器材発注依頼_988776654", EQUIPMENT_ORDER, CODE),
    ("USEN SPOT 契約変更_988776654", CONTRACT_CHANGE, CODE),
    ("USEN SPOT キャンセル申請_988776654", CANCELLATION, CODE),
    ("USEN SPOT 解約申請_988776654", TERMINATION, CODE),
    ("USEN SPOT ルーター未撤去_988776654", ROUTER_NOT_REMOVED, CODE),
    ("USEN SPOT 移設依頼_988776654", RELOCATION, CODE),
    ("USEN SPOT 解約キャンセル依頼_988776654", TERMINATION_WITHDRAWAL, CODE),
    # reply / forward markers, any number, full-width too
    ("Re: USEN SPOT 器材発注依頼_988776654", EQUIPMENT_ORDER, CODE),
    ("RE: Re: FW: USEN SPOT 解約申請_988776654", TERMINATION, CODE),
    ("Fwd: 転送: 返信: USEN SPOT 移設依頼_988776654", RELOCATION, CODE),
    ("Ｒｅ：ＦＷ：USEN SPOT 契約変更_988776654", CONTRACT_CHANGE, CODE),
    ("Re[2]: USEN SPOT キャンセル申請_988776654", CANCELLATION, CODE),
    ("転送：Re：【至急】USEN SPOT ルーター未撤去_988776654", ROUTER_NOT_REMOVED, CODE),
    # brackets, full-width digits and underscore, spacing
    ("【USEN SPOT】解約キャンセル依頼＿９８８７７６６５４", TERMINATION_WITHDRAWAL, CODE),
    ("[USEN SPOT] 器材発注依頼_988776654", EQUIPMENT_ORDER, CODE),
    ("USENSPOT器材発注依頼_988776654", EQUIPMENT_ORDER, CODE),
    ("ＵＳＥＮ　ＳＰＯＴ　解約申請＿988776654", TERMINATION, CODE),
    ("usen spot 移設依頼 _ 988776654", RELOCATION, CODE),
    ("USEN SPOT 器材 発注依頼_988776654", EQUIPMENT_ORDER, CODE),
    ("USEN SPOT 器材発注依頼 988776654", EQUIPMENT_ORDER, CODE),
    ("USEN SPOT 器材発注依頼(追加)_988776654", EQUIPMENT_ORDER, CODE),
    ("USEN-SPOT 契約変更_988776654", CONTRACT_CHANGE, CODE),
    # the manual's own section names for two requests
    ("USEN SPOT 契約変更依頼_988776654", CONTRACT_CHANGE, CODE),
    ("USEN SPOT キャンセル依頼_988776654", CANCELLATION, CODE),
    # code checks: exactly nine digits, preferably right after the prefix
    ("USEN SPOT 解約申請_98877665", TERMINATION, None),
    ("USEN SPOT 解約申請_9887766541", TERMINATION, None),
    ("USEN SPOT 解約申請_988776654 2026/11/30", TERMINATION, CODE),
    ("USEN SPOT 解約申請_ 123 988776654", TERMINATION, CODE),
    ("123456789 USEN SPOT 解約申請_988776654", TERMINATION, CODE),
    ("USEN SPOT 解約申請 (顧客 988776654)", TERMINATION, CODE),
    ("USEN SPOT 解約申請", TERMINATION, None),
    # a code written in groups right after the prefix
    ("USEN SPOT キャンセル申請_988-776-654", CANCELLATION, CODE),
    ("USEN SPOT キャンセル申請_988 776 654", CANCELLATION, CODE),
    ("USEN SPOT キャンセル申請＿９８８－７７６－６５４", CANCELLATION, CODE),
    ("USEN SPOT 解約申請_988-776-6541", TERMINATION, None),  # ten digits: no code
    ("USEN SPOT 解約申請_988-776-65", TERMINATION, None),  # eight digits
    # the manual's own wording (§V: 子機の機材発注依頼), and a withdrawal written with a separator
    ("USEN SPOT 機材発注依頼_988776654", EQUIPMENT_ORDER, CODE),
    ("USEN SPOT 解約・キャンセル依頼_988776654", TERMINATION_WITHDRAWAL, CODE),
    ("USEN SPOT 解約･キャンセル依頼_988776654", TERMINATION_WITHDRAWAL, CODE),
    ("USEN SPOT 解約／キャンセル依頼_988776654", TERMINATION_WITHDRAWAL, CODE),
    # no kind
    ("USEN SPOT 解約キャンセル申請_988776654", None, CODE),  # glued: neither 解約 nor キャンセル申請
    ("USEN SPOT 解約申請のキャンセル_988776654", None, CODE),
    ("USEN SPOT 解約・キャンセル申請_988776654", None, CODE),  # as 解約キャンセル申請: never a キャンセル申請
    ("USEN SPOT 器材発注依頼について", None, None),
    ("USEN SPOT お問い合わせ_988776654", None, CODE),
    ("会議のご案内", None, None),
    ("", None, None),
]


@pytest.mark.parametrize(("subject", "kind", "code"), SUBJECTS)
def test_subject_table(subject: str, kind: str | None, code: str | None) -> None:
    result = classify_subject(subject)
    assert (result.kind, result.customer_code) == (kind, code)


def test_names_spot() -> None:
    for subject in ("USEN SPOT x", "USENSPOT", "usen　spot", "Ｕｓｅｎ Ｓｐｏｔ", "【USEN SPOT】"):
        assert classify_subject(subject).names_spot, subject
    for subject in ("USEN 光", "SPOT USEN", "解約申請_988776654"):
        assert not classify_subject(subject).names_spot, subject


def test_normalised_form() -> None:
    result = classify_subject("Re: 【USEN　SPOT】器材発注依頼＿９８８７７６６５４")
    assert result.normalised == "USENSPOT器材発注依頼_988776654"


def test_prefixes_complete_and_matched_longest_first() -> None:
    """The one table of kinds: every kind but 法人 (its own configurable prefix) has one prefix
    (the seven of §II in the manual's order, then the five of its other parts), and matching
    tries prefixes and aliases longest first."""
    from bot.domain.classify import _MATCH_ORDER, CORPORATE_ORDER, KINDS

    assert [kind for _, kind in PREFIXES] == [k for k in KINDS if k != CORPORATE_ORDER]
    assert PREFIXES[0] == ("器材発注依頼", EQUIPMENT_ORDER) and PREFIXES[6] == ("解約キャンセル依頼", TERMINATION_WITHDRAWAL)
    lengths = [len(p) for p, _ in _MATCH_ORDER]
    assert lengths == sorted(lengths, reverse=True)
    assert not {p for p, _ in ALIASES} & {p for p, _ in PREFIXES}


def test_withdrawal_is_never_read_as_cancellation_or_termination() -> None:
    """キャンセル依頼 (an alias) and 解約申請 are inside or near 解約キャンセル依頼: the longest wins."""
    for subject in ("USEN SPOT 解約キャンセル依頼_988776654", "Re: 解約キャンセル依頼 988776654"):
        assert classify_subject(subject).kind == TERMINATION_WITHDRAWAL


@pytest.mark.parametrize(
    ("subject", "charset"),
    [
        ("Re: USEN SPOT 解約キャンセル依頼_988776654 ㈱青山①", "cp50220"),
        ("Fw: USEN SPOT 解約キャンセル依頼＿９８８７７６６５４", "utf-8"),
        ("USEN SPOT 解約キャンセル依頼_988776654", "shift_jis"),
    ],
)
def test_encoded_word_subjects_through_the_parser(subject: str, charset: str) -> None:
    mail = parse_mail(build_mail(subject, "本文", charset=charset))
    result = classify_subject(mail.subject)
    assert (result.kind, result.customer_code, result.names_spot) == (TERMINATION_WITHDRAWAL, CODE, True)


def test_non_string_input_does_not_raise() -> None:
    assert classify_subject(None) == Classification(None, None, False, "")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_a_classification(subject: str) -> None:
    result = classify_subject(subject)
    assert isinstance(result, Classification)
    assert result.kind is None or result.kind in {k for _, k in PREFIXES}
    assert result.customer_code is None or (len(result.customer_code) == 9 and result.customer_code.isdigit())


_pieces = st.sampled_from(
    ["USEN SPOT", "USENSPOT", "Re:", "【", "】", "_", "＿", " ", "　", "解約", "キャンセル", "申請", "依頼",
     "器材発注依頼", "988776654", "９８８", "0", "の"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=12).map("".join))
def test_subject_like_text_gives_a_classification(subject: str) -> None:
    result = classify_subject(subject)
    assert isinstance(result, Classification)
    if result.customer_code is not None:
        assert result.customer_code in result.normalised
