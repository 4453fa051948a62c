"""The quarter turn of a scan for the console's overlay (bot.web.scan_overlay.turn_of), from
fields the form prints in one order in every layout, not from where the customer code stands
(print_shop prints it at the foot: its pages were shown lying on their side)."""

from __future__ import annotations

import pytest

from bot.web.scan_overlay import turn_of
from bot.web.views.scan_review import ORDERED

# An upright print_shop page (page pixels): the choices' rows one under the other, the mail
# address over its reading, 姓 left of 名, the code at the foot (it plays no part).
UPRIGHT = {"line_kind": (600, 830), "line_type": (600, 890), "check_method": (700, 950),
           "mail_local": (500, 1107), "mail_reading": (900, 1180), "contact_last": (500, 1410),
           "contact_first": (1100, 1410), "customer_code": (450, 2040)}
W, H = 1654, 2339


def _turned(centres: dict[str, tuple[float, float]], turn: int) -> dict[str, tuple[float, float]]:
    """The centres on a page the scanner turned ``turn`` degrees clockwise."""
    out = {}
    for k, (x, y) in centres.items():
        for _ in range(turn // 90):
            x, y = H - y, x  # a quarter clockwise: the top comes to the right
        out[k] = (x, y)
    return out


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_the_turn_comes_from_the_forms_order_not_from_the_code(turn: int) -> None:
    centres = _turned(UPRIGHT, turn)
    pairs = [(centres[a], centres[b], way) for a, b, way in ORDERED]
    assert turn_of(pairs) == turn


def test_a_pair_out_of_its_usual_order_is_outvoted_and_none_means_upright() -> None:
    pairs = [(UPRIGHT[a], UPRIGHT[b], way) for a, b, way in ORDERED]
    pairs[2] = (UPRIGHT["mail_reading"], UPRIGHT["mail_local"], "down")  # a layout with them the other way
    assert turn_of(pairs) == 0
    assert turn_of([]) == 0
