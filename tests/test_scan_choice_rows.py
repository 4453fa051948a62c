"""Choice rows found by their printed words (issue 19): where a row may reach, which check box
is whose, and the 台数 place with its two frames.  Each case is one that gave a sure and wrong
reading (or no reading) on the tuning corpus; the geometry here is the page's, in pixels."""

from __future__ import annotations

import numpy as np

from bot.forms import scanned
from bot.forms.choice_lines import choice_rows, option_words_of
from bot.forms.choice_rows import boxes_fit_words, shared_boxes
from bot.forms.words import Band, Found
from tests.fixtures.scans.corpus import make, plan_families
from tests.support.app import UNHURRIED

H = 24  # the print's height


def _opt(key: str, x0: int, x1: int, y: int = 1000) -> Found:
    return Found(f"option:{key}", key, (x0, y, x1, y + H), 1.0, H)


def test_a_row_whose_last_word_is_unread_ends_before_print_the_vocabulary_does_not_know() -> None:
    """Seed 7171: Bフレッツ circled (unread) and ファミリー read as garbage (モジアァドリー).  The
    row of ご利用回線種別 reached as far as the next word it knew (マンション) and took
    ファミリー's box for Bフレッツ's: an unmarked box for a circled option, a false 差戻."""
    found = [_opt("line_kind.hikari_next", 240, 480), _opt("line_type.mansion", 1255, 1390)]
    no_rules = np.zeros((2000, 1700), bool)

    def right_end(bands: list[Band]) -> int:
        rows = {f: box for f, box, _ in choice_rows(found, bands, no_rules)}
        assert rows["line_kind"] is not None
        return rows["line_kind"][2]

    # the row reaches as far as Bフレッツ's letters may: not to マンション, the next word it knows
    assert right_end([]) < 1016
    # and never past print it does not know (ファミリー's □ read as モ: "モジアァドリー")
    garbage = Band(700, 864, 1000, 1000 + H)
    assert right_end([]) > garbage.x0 + H  # (without it the row would take in its □)
    assert right_end([garbage]) < garbage.x0 - 2 * H
    # print right beside the word read may be the unread Bフレッツ itself: it bounds nothing
    assert right_end([Band(520, 640, 1000, 1000 + H)]) == right_end([])


def test_a_box_judged_for_two_choices_is_sure_for_neither() -> None:
    boxes = {"line_kind": [(210, 1004, 231, 1025), (1017, 1004, 1038, 1025)],
             "line_type": [(1017, 1006, 1038, 1027), (1228, 1006, 1249, 1027)],
             "check_method": [(210, 1080, 231, 1101), (470, 1080, 491, 1101), (700, 1080, 721, 1101)]}
    assert shared_boxes(boxes) == {"line_kind", "line_type"}
    assert shared_boxes({k: v for k, v in boxes.items() if k != "line_type"}) == set()


def _row_ink(squares: list[int], width: int = 900) -> np.ndarray:
    """A row's ink (origin (0, 996)) with printed □ of side 24 at these x."""
    ink = np.zeros((40, width), bool)
    for x in squares:
        ink[4:28, x:x + 24] = False
        ink[4:6, x:x + 24] = ink[26:28, x:x + 24] = True
        ink[4:28, x:x + 2] = ink[4:28, x + 22:x + 24] = True
    return ink


OTHERS = [(440, 1000, 560, 1024), (715, 1000, 848, 1024)]
REST = [(390, 4, 414, 28), (680, 4, 704, 28)]


def test_a_check_box_read_into_its_words_first_character_is_that_words() -> None:
    """□開通通知書 read as one word from the □ on (Tesseract gave 開 the □'s box too): the box
    begins where the word begins, with paper before it."""
    word = (172, 1000, 342, 1024)
    assert boxes_fit_words([(172, 4, 196, 28), *REST], [word, *OTHERS], (0, 996), _row_ink([172, 390, 680]))
    # without the row's ink there is no telling it from a ring: not judged
    assert not boxes_fit_words([(172, 4, 196, 28), *REST], [word, *OTHERS], (0, 996))


def test_a_box_read_into_its_word_a_little_late_is_that_words() -> None:
    """Seed 20003 form 7 (a cross over Plus's □): the cross's ink out on the left widened the box
    OCR gave the word's first character, so the word begins half a box before the □ itself; the
    □ has paper before it: it is the word's box.  Three quarters of a box in is as far as that goes."""
    ink = _row_ink([172, 390, 680])
    assert boxes_fit_words([(172, 4, 196, 28), *REST], [(160, 1000, 342, 1024), *OTHERS], (0, 996), ink)
    assert not boxes_fit_words([(172, 4, 196, 28), *REST], [(150, 1000, 342, 1024), *OTHERS], (0, 996), ink)


def test_a_ring_of_a_box_and_the_letter_after_it_is_never_the_options_box() -> None:
    """The □ at 150 and 開 at 178: a "box" from the □'s right side to 開's stem begins near the
    word's box, but the □ itself stands right before it."""
    word = (178, 1000, 342, 1024)
    ring = (172, 4, 196, 28)
    assert not boxes_fit_words([ring, *REST], [word, *OTHERS], (0, 996), _row_ink([150, 390, 680]))
    # the □ itself, before the word, is its box
    assert boxes_fit_words([(150, 4, 174, 28), *REST], [word, *OTHERS], (0, 996), _row_ink([150, 390, 680]))


def test_a_box_a_cross_ran_out_of_is_its_options_box() -> None:
    """Seed 20002 form 4 (sections_dotted, a cross over マンション's □): the cross's strokes run out
    of the box on the left, so there is no paper right before it; but no □ stands a box before
    it either (what a ring of a □ and the letter after it has there): it is the option's box."""
    word = (178, 1000, 342, 1024)
    ink = _row_ink([150, 390, 680])
    for k in range(12):  # the cross's arms past the box's corners, 6 px out on the left
        ink[4 - k // 3 + 2, 150 - k // 2] = ink[27 + k // 3 - 2, 150 - k // 2] = True
        ink[4 - k // 3 + 2, 173 + k // 2] = ink[27 + k // 3 - 2, 173 + k // 2] = True
    ink[2:30, 140:146] = ink[2:30, 140:146] | (np.arange(28)[:, None] % 5 == 0)  # its ends, broken
    assert boxes_fit_words([(150, 4, 174, 28), *REST], [word, *OTHERS], (0, 996), ink)
    # a ring from the □'s right side to 開's stem still has the □ a box before it
    assert not boxes_fit_words([(172, 4, 196, 28), *REST], [word, *OTHERS], (0, 996), ink)


def test_units_in_two_frames_above_their_label_are_read() -> None:
    """Seed 7171, form 4 (label_below, handwritten, 150–300 dpi): 親機 [3] 台 子機 [2] 台 over
    「台数」.  The place was cut at the first frame's side (only 親機 was left in it), and the
    counts were never found."""
    spec = plan_families(120, 7171, ("ruled", "header_digits", "sections_dotted", "ver3_order", "label_below"))[4]
    assert spec.family == "label_below"
    pdf, truth = make(spec, password=None)
    result = scanned.read_scan(pdf, UNHURRIED)
    got = {r.name: r for r in result.readings}
    for name in ("parent_units", "child_units"):
        assert got[name].sure, (name, got[name], result.notes)
        assert got[name].value == str(truth["fields"][name])



def test_an_option_word_found_inside_the_one_before_it_is_unread() -> None:
    """Seed 7171, form 73: ファミリー and マンション read as one line, "ファミリーンション"; the
    "ーンション" found for マンション begins inside ファミリー, so its start says nothing of
    where its box stands."""
    found = [_opt("line_type.family", 486, 643), _opt("line_type.mansion", 623, 851)]
    assert option_words_of(found, "line_type") == ((486, 1000, 643, 1000 + H), None)
    apart = [_opt("line_type.family", 486, 643), _opt("line_type.mansion", 720, 851)]
    assert option_words_of(apart, "line_type")[1] == (720, 1000, 851, 1000 + H)


def test_a_ring_is_told_from_a_box_when_ocr_places_the_word_a_letter_late() -> None:
    """Seed 9393 (sections_dotted, bilevel 300 dpi): 「□Bフレッツ」 with B's box given to the □
    ("h") and the word read from its second letter on: the ring of the □'s right side and B's
    stem stood "right before the word" and was judged marked.  A printed □ has paper before it."""
    word = (230, 1000, 330, 1024)  # the word as OCR placed it, a letter late
    ring, square = (197, 4, 221, 28), (175, 4, 199, 28)
    first = [(40, 1000, 150, 1024)]
    ink = _row_ink([20, 175])  # the first option's □, and Bフレッツ's □ right before the ring
    assert not boxes_fit_words([(20, 4, 44, 28), ring], [*first, word], (0, 996), ink)
    assert boxes_fit_words([(20, 4, 44, 28), square], [*first, word], (0, 996), ink)
    # without the row's ink the ring is not told apart (the rule can fail)
    assert boxes_fit_words([(20, 4, 44, 28), ring], [*first, word], (0, 996))
