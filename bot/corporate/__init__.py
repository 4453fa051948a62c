"""法人一括発注依頼 (manual §IX): 法人営業's bulk order with a customer list (.xlsx or .csv).

One module per concern, in the order a list flows through them:

    sheet (bytes → cells, inside the caps; run in a reader process) → rows (headers by their
    Japanese names → sites) → checks (pure: sites → row defects) → numbers (6-digit management
    numbers, never reused) → act (sites recorded, vendor rows kept apart, the list with its
    numbers to 登録G) → serials (a confirmed UNIS line's serial linked to its number)

Deciding stays pure (sheet/rows/checks); numbers, act and serials are the side effects, run
in the mail's (or the UNIS import's) transaction.
"""

from __future__ import annotations

# Defect codes (DESIGN.md: stable ids). One 差戻 names every bad row and column.
CORPORATE_LIST_INVALID = "CORPORATE_LIST_INVALID"  # no list, unreadable, over the caps, columns missing
CORPORATE_ROW_INVALID = "CORPORATE_ROW_INVALID"  # detail: row, column, problem

VENDOR_CATEGORY = "法人新規"  # VendorRow.category of a corporate router (kept apart in the batch)

from dataclasses import dataclass


@dataclass(frozen=True)
class CorporateSettings:
    """What deciding and acting need of [corporate] (built by bot/pipeline/gather.py from the config)."""

    senders: tuple[str, ...] = ()  # addresses or domains of 法人営業
    registration_to: tuple[str, ...] = ()  # 登録G
    from_addr: str = "usen_spot@mx.usen.co.jp"  # [smtp] from_addr

    def is_corporate_sender(self, address: str | None) -> bool:
        """An exact address of the list, or a domain of it (subdomains too)."""
        from bot.checks.sender import listed

        return listed(address, self.senders)
