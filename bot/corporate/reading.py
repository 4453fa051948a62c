"""The customer list of one mail, read: which attachment it is, its sites (or why none), and
what the ledger already knows (filled in by bot/pipeline/gather.py). :func:`read_list` is what a reader
process runs (bot/forms/workers.py): module level, picklable arguments and result."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

from bot.corporate.rows import SiteList, to_sites
from bot.corporate.sheet import Caps, ListUnreadable, list_kind, read_table
from bot.mail import Attachment


@dataclass(frozen=True)
class Known:
    """What the ledger already holds (read by bot/pipeline/gather.py): live customer codes and the site
    keys of earlier corporate lists."""

    codes: Collection[str] = frozenset()
    site_keys: Collection[str] = frozenset()


@dataclass(frozen=True)
class ListReading:
    """The list as read for one mail: its sites, or why there are none (`problem`, `limit`)."""

    filename: str = ""
    sites: SiteList | None = None
    problem: str = ""  # Japanese, for the 差戻
    limit: str | None = None
    known: Known = field(default_factory=Known)

    def with_known(self, known: Known) -> ListReading:
        return replace(self, known=known)


def find_list(attachments: Sequence[Attachment]) -> Attachment | None:
    """The first attachment that is an .xlsx or a .csv."""
    return next((a for a in attachments if list_kind(a.filename, a.content_type) is not None), None)


def read_list(data: bytes, filename: str, content_type: str, caps: Caps) -> ListReading:
    """The list's sites, or why it cannot be read. Never raises for a bad file."""
    kind = list_kind(filename, content_type)
    if kind is None:
        return ListReading(filename=filename, problem="顧客リスト（.xlsx または .csv）が添付されていません")
    try:
        table = read_table(data, kind, caps)
    except ListUnreadable as err:
        return ListReading(filename=filename, problem=err.problem, limit=err.limit)
    return ListReading(filename=filename, sites=to_sites(table))
