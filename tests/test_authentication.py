"""Sender authentication (bot/checks/authentication.py): only our MTA's Authentication-Results
count; DMARC pass, or (without a DMARC verdict) SPF/DKIM pass aligned with From."""

from __future__ import annotations

import pytest

from bot.checks.authentication import aligned, organisational_domain, parse, verdict

OURS = "mx.usen.co.jp"
FROM = "tanaka@aoyama.usen.co.jp"


@pytest.mark.parametrize(
    ("headers", "passed"),
    [
        pytest.param([f"{OURS}; dmarc=pass header.from=usen.co.jp"], True, id="dmarc-pass"),
        pytest.param([f"{OURS}; dmarc=fail (p=reject) header.from=usen.co.jp"], False, id="dmarc-fail"),
        pytest.param([f"{OURS}; spf=pass smtp.mailfrom=tanaka@aoyama.usen.co.jp; dmarc=fail header.from=usen.co.jp"],
                     False, id="dmarc-fail-wins-over-spf"),
        pytest.param([f"{OURS}; spf=pass smtp.mailfrom=bounce@mail.usen.co.jp"], True, id="spf-aligned-no-dmarc"),
        pytest.param([f"{OURS}; spf=pass smtp.mailfrom=x@evil.example"], False, id="spf-not-aligned"),
        pytest.param([f"{OURS}; dkim=pass header.d=usen.co.jp header.s=s1"], True, id="dkim-aligned"),
        pytest.param([f"{OURS}; dkim=pass header.d=evil.example; spf=softfail smtp.mailfrom=usen.co.jp"], False,
                     id="dkim-other-domain"),
        pytest.param([f"{OURS}; dmarc=none; dkim=pass (ok) header.d=\"usen.co.jp\""], True, id="dmarc-none-dkim"),
        pytest.param(["evil.example; dmarc=pass header.from=usen.co.jp"], False, id="foreign-header-ignored"),
        pytest.param([f"{OURS}; dmarc=fail header.from=usen.co.jp", f"{OURS}; dmarc=pass header.from=usen.co.jp"],
                     False, id="only-topmost-of-ours"),
        pytest.param([f"{OURS.upper()} 1; DMARC=PASS header.from=usen.co.jp"], True, id="case-and-version"),
        pytest.param([f"{OURS}; dmarc=pass header.from=evil.example"], False, id="dmarc-for-another-from"),
        pytest.param([], False, id="no-header"),
        pytest.param([f"{OURS}; none"], False, id="no-results"),
        pytest.param([f"{OURS} (comment; with semicolon); dmarc=pass header.from=usen.co.jp"], True,
                     id="comment-with-semicolon"),
    ],
)
def test_verdict(headers: list[str], passed: bool) -> None:
    v = verdict(headers, authserv_id=OURS, from_addr=FROM)
    assert v.passed is passed, v.reason
    assert v.reason


def test_failure_reason_names_what_was_found() -> None:
    v = verdict([f"{OURS}; spf=fail smtp.mailfrom=usen.co.jp; dmarc=fail header.from=usen.co.jp"],
                authserv_id=OURS, from_addr=FROM)
    assert "dmarc=fail" in v.reason and "aoyama.usen.co.jp" in v.reason


def test_without_our_authserv_id_nothing_passes() -> None:
    assert not verdict([f"{OURS}; dmarc=pass"], authserv_id="", from_addr=FROM).passed


@pytest.mark.parametrize(
    ("domain", "org"),
    [("aoyama.usen.co.jp", "usen.co.jp"), ("usen.co.jp", "usen.co.jp"), ("a.b.example.com", "example.com"),
     ("example.com", "example.com"), ("mail.usen.ne.jp", "usen.ne.jp")],
)
def test_organisational_domain(domain: str, org: str) -> None:
    assert organisational_domain(domain) == org


def test_alignment_is_not_a_suffix_match() -> None:
    assert not aligned("evilusen.co.jp", "usen.co.jp")
    assert not aligned("usen.co.jp.evil.example", "usen.co.jp")
    assert aligned("x@bounce.usen.co.jp", "aoyama.usen.co.jp")


def test_parse_is_bounded_on_hostile_input() -> None:
    server, results = parse(OURS + "; " + "(" * 100_000 + "dmarc=pass")
    assert server == OURS.lower() and results == []
    server, results = parse(OURS + ";" + " spf=pass" * 50_000)
    assert server == OURS.lower()
