"""The page read by its printed words (issue 19): found, turned and placed by
:mod:`.words` and :mod:`.places`, and a table's reading completed by it."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from bot.forms import places, raster, words
from bot.forms.cells import Page
from bot.forms.table import Table
from bot.forms.vocabulary import STATE_EMPTY, STATE_FILLED, STATE_READ, STATE_UNSURE, FieldReading

if TYPE_CHECKING:
    from bot.forms.scanned import ScanResult


# Sure characters (in lines of four or more) below which a page read upright and upside down is
# tried sideways as well.
SIDEWAYS_BELOW = 200


def by_words(index: int, up: raster.Upright, img: np.ndarray | None, deadline: float
              ) -> tuple[Page, places.Places] | None:
    """The page read by its printed words, turned as it reads best (the way it was put upright
    first, then the other way up, then sideways when neither read as a page of text: a page
    read sideways gives characters, seldom four in a row that OCR is sure of: 88 such on a
    sideways form of seed 20001 (corner_captions form 0, its upright reading 752), where the
    limit was 40 and the page was not found; a page of text, the form or not, gives hundreds)."""
    legible = 0
    for turn in (0, 180, 90, 270) if img is not None else (0,):
        if turn in (90, 270) and legible >= SIDEWAYS_BELOW:
            break  # the page read as text the way it was put: it is not sideways
        cand = up if turn == 0 or img is None else raster.turned(up, img, turn)
        lenient = raster.lenient_ink(cand)
        rules = words.rule_mask(lenient)
        lines_ = words.read_lines(cand, rules, seconds=deadline - time.monotonic())
        if turn in (0, 180):  # (a page turned 90° the wrong way reads as text too, upside down: the
            # other side is still tried; seed 11515 form 78 read 534 sure characters at 90°, none a label)
            legible = max(legible, sum(sum(c.conf >= 0.8 for c in ln.chars) for ln in lines_ if len(ln.chars) >= 4))
        found = words.find(lines_)
        shape = cand.image.shape
        tab = Table((0, 0, shape[1], shape[0]), 0, (), rules, np.zeros_like(rules))
        page = Page(index, cand, tab, deadline)
        placed = places.locate(found, lenient & ~rules, rules, lines_)
        if places.is_form(placed, found):
            return page, placed
    return None


def together(a: ScanResult, b: ScanResult, *, choices: set[str]) -> ScanResult:
    """The table's reading ``a`` completed by the words' reading ``b``: a field the table left
    unsure that the words read sure (a value or writing; an "empty" only where the table found no
    place for it, or did not trust the one it found: where the table saw its cell and was unsure
    of what is in it, the words' place showing nothing may be the wrong place) is taken, with its
    options' readings; a value both read sure and differently is unsure (two readers
    disagreeing: neither is trusted).

    A choice is taken only with every one of its options read sure: the words' reader judges a
    row it found by its words under its own rules (one option marked and going round it, or none
    where the boxes and the band round them are spotless), so a circle drawn round a neighbouring
    row's word does not make it sure (a ruled grid whose rows did not all assign: the choices went
    to a person on every such page before).  A choice whose options the words found on several
    lines is not the table's to read (its row holds one line of them)."""
    if a.fields is None or b.fields is None:
        return a
    mine = {r.name: r for r in a.readings}
    theirs = {r.name: r for r in b.readings}
    take = {n for n, r in theirs.items() if "." not in n and n not in choices and r.sure
            and (r.state in (STATE_READ, STATE_FILLED) or r.state == STATE_EMPTY and n in a.unplaced)
            and n in a.unsure and hasattr(a.fields, n)}
    take |= {n for n in choices if n in a.unsure and n not in b.unsure and hasattr(a.fields, n)
             and _sure_choice(n, b.readings)}
    clash = {n for n, r in mine.items() if r.sure and r.state == STATE_READ and n in theirs
             and theirs[n].sure and theirs[n].state == STATE_READ and theirs[n].value != r.value}
    # the table judges a choice's boxes on one line: options the words found on several lines
    # were not all in its row (a ring of a circle took the place of the box on the next line)
    lines = {n for n in b.wrapped if n not in take and n in mine and n not in clash}
    clash |= lines
    readings = []
    for r in a.readings:
        base = r.name.split(".")[0]
        if base in take and base in choices:
            continue  # the choice and its options as the words' reader read them, below
        if base in take:
            r = theirs.get(r.name, r)
        elif r.name in clash or base in clash:  # a choice's options too: neither reading stands
            r = FieldReading(r.name, None, STATE_UNSURE, 0.0, False, None, r.box)
        readings.append(r)
    readings.extend(r for r in b.readings if r.name.split(".")[0] in take & choices)
    changes = {n: getattr(b.fields, n) for n in take}
    changes.update({n: None for n in clash if hasattr(a.fields, n)})
    notes = a.notes + ["read by its words too" + (f": taken from them {', '.join(sorted(take))}" if take else "")]
    if clash - lines:
        notes.append("the two readings differ on " + ", ".join(sorted(clash - lines)))
    if lines:
        notes.append("options on several lines, the table's row holds one: " + ", ".join(sorted(lines)))
    unsure = tuple(n for n in dict.fromkeys((*a.unsure, *sorted(clash))) if n not in take)
    return dataclasses.replace(a, fields=dataclasses.replace(a.fields, **changes), readings=tuple(readings),
                               notes=notes, unsure=unsure)


def _sure_choice(name: str, readings: tuple[FieldReading, ...]) -> bool:
    """The choice read sure with a value, and each of its options (at least one) sure."""
    field = [r for r in readings if r.name == name]
    options = [r for r in readings if r.name.startswith(name + ".")]
    return bool(field) and bool(options) and all(r.sure and r.state == STATE_READ for r in field) \
        and all(r.sure for r in options)
