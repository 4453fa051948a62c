"""The メール詳細 page's table of what the reader read: a value read shows how sure the reader
was; writing it never reads (記入あり) has no value to be sure of, so no confidence (its 1.00 was
the ink being there)."""

from __future__ import annotations

from bot.web.detail import _fields


def test_writing_never_read_shows_no_confidence() -> None:
    facts = {"form_readings": {
        "customer_code": {"state": "read", "value": "123456789", "confidence": 0.987, "sure": True},
        "contact_last": {"state": "filled", "value": None, "confidence": 1.0, "sure": True},
    }}
    lines = {f.name: f for f in _fields(facts)}
    assert lines["customer_code"].confidence == "0.99"
    assert lines["contact_last"].confidence == "—"
    assert lines["contact_last"].state == "記入あり"
