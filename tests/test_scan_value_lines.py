"""The line a value is written on (bot/forms/value_lines.py): a dotted writing line is found,
a line of text never is (its bars would end the place above the value: a written value read
as empty would be a false 差戻)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from bot.forms.value_lines import writing_line
from tests.fixtures.scans.layout import font

H = 28


def _ink(draw_fn) -> np.ndarray:  # noqa: ANN001
    img = Image.new("L", (1200, 160), 255)
    draw_fn(ImageDraw.Draw(img))
    return np.asarray(img) < 128


def _dots(d: ImageDraw.ImageDraw, y: int, x0: int = 20, x1: int = 1100) -> None:
    for x in range(x0, x1, 7):
        d.rectangle((x, y, x + 2, y + 1), fill=0)


def test_a_dotted_line_under_an_empty_place_ends_it_there() -> None:
    ink = _ink(lambda d: (_dots(d, 60), d.text((20, 100), "【ご担当者】", font=font(34), fill=0)))
    line = writing_line(ink, (0, 0, 1200, 160), H)
    assert line is not None and 58 <= line.y <= 62
    assert line.x1 >= 1090  # as far as the dots run


def test_a_line_of_text_is_no_writing_line() -> None:
    def draw(d: ImageDraw.ImageDraw) -> None:
        d.text((20, 20), "エヌエージーオーエムアイ ー二三エ", font=font(H), fill=0)
        d.text((20, 62), "ニーエー・エーニーエー", font=font(H), fill=0)

    assert writing_line(_ink(draw), (0, 0, 1200, 160), H) is None


def test_the_value_over_its_dotted_line_stays_above_it() -> None:
    def draw(d: ImageDraw.ImageDraw) -> None:
        d.text((30, 20), "エヌエージーオー", font=font(H), fill=0)
        _dots(d, 56)

    line = writing_line(_ink(draw), (0, 0, 1200, 160), H)
    assert line is not None and line.y >= 54  # under the writing, not through its bars


def test_dots_that_start_far_from_the_place_are_not_its_line() -> None:
    ink = _ink(lambda d: _dots(d, 60, x0=600))
    assert writing_line(ink, (0, 0, 1200, 160), H) is None
