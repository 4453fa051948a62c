"""Vendor CSV cells a spreadsheet would run as a formula are neutralised; data that merely
starts with + or - (an SSID, a phone number) stays exactly as written."""

from __future__ import annotations

import pytest

from bot.domain.csvsafe import neutralise


@pytest.mark.parametrize(
    ("cell", "out"),
    [
        ("=1+1", "'=1+1"),
        ("=HYPERLINK(\"http://evil.example\",\"click\")", "'=HYPERLINK(\"http://evil.example\",\"click\")"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("+HYPERLINK(\"x\")", "'+HYPERLINK(\"x\")"),
        ("\t=1", "'\t=1"),
        ("  =1", "'  =1"),
        ("+kitsune_Wi-Fi", "+kitsune_Wi-Fi"),
        ("-cafe-guest-", "-cafe-guest-"),
        ("+81-3-1234-5678", "+81-3-1234-5678"),
        ("青山店", "青山店"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_neutralise(cell: str, out: str) -> None:
    assert neutralise(cell) == out
