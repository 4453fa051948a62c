"""Who a mail came from, as the digest, the monthly report and the console group mails: a branch
of the branch directory by the sender's domain, else the body's 送付支店名, else the sender's
sub-domain (aoyama.usen.co.jp → aoyama)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bot.config import Config

log = logging.getLogger("bot.digest")


def branch_domains(cfg: Config) -> list[tuple[str, str]]:
    """(domain, 支店名) from the branch directory, longest domain first."""
    if not cfg.branches.file:
        return []
    from bot.domain.branches import BranchDirectoryError, load_directory

    try:
        entries = load_directory(cfg.branches.file).values()
    except BranchDirectoryError as err:  # config validation normally catches this earlier
        log.warning("digest: branch directory unusable, grouping by sender domain: %s", err)
        return []
    return sorted(((b.domain.lower(), b.name) for b in entries), key=lambda item: -len(item[0]))


def branch_of(from_addr: str | None, facts: Mapping[str, Any] | None, *, directory: Sequence[tuple[str, str]],
              allowed_domains: Sequence[str]) -> str:
    """The branch a mail came from (see the module docstring for the order)."""
    domain = (from_addr or "").rpartition("@")[2].lower().strip()
    for known, name in directory:
        if domain == known or domain.endswith("." + known):
            return name
    for key in ("branch", "送付支店名"):
        value = (facts or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if not domain:
        return "（送信者不明）"
    for allowed in allowed_domains:
        allowed = allowed.lower().lstrip(".")
        if domain.endswith("." + allowed):
            return domain[: -len(allowed) - 1].split(".")[0]
    return domain
