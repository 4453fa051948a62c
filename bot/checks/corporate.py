"""法人一括発注依頼 (manual §IX): the customer list, every row of it (bot/corporate/checks.py):
CORPORATE_LIST_INVALID, CORPORATE_ROW_INVALID. Pure: the list was read by bot/pipeline/gather.py."""

from __future__ import annotations

from bot.checks.base import Defect, Facts
from bot.corporate import checks


def list_usable(f: Facts) -> list[Defect]:
    """A list is attached, readable inside the caps, with a header naming the required columns."""
    return checks.list_defects(f.corporate)


def rows_valid(f: Facts) -> list[Defect]:
    """Every row: required cells, units, Enterprise, SSID half-width, duplicates (list and ledger)."""
    reading = f.corporate
    if reading is None or reading.sites is None or not reading.sites.header_row:
        return []
    return checks.row_defects(reading.sites, reading.known)
