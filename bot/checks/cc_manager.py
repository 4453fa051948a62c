"""The branch manager (支店長) must be in CC (manual §II: 【CC】支店長), when the branch
directory knows them (CC_MANAGER_MISSING). Unknown branches are not held to it."""

from __future__ import annotations

from collections.abc import Mapping

from bot.checks.base import Branch, Defect, Facts

CC_MANAGER_MISSING = "CC_MANAGER_MISSING"


def find_branch(f: Facts, directory: Mapping[str, Branch]) -> Branch | None:
    """By the sender's domain (its own or a parent domain in the directory), else by 送付支店名."""
    if f.mail.from_addr and "@" in f.mail.from_addr:
        domain = f.mail.from_addr.rpartition("@")[2].lower()
        best: Branch | None = None
        for branch in directory.values():
            d = branch.domain.lower()
            if domain == d or domain.endswith("." + d):
                if best is None or len(d) > len(best.domain):
                    best = branch
        if best is not None:
            return best
    name = (f.body.get("送付支店名") or "").replace(" ", "")
    return directory.get(name) if name else None


def manager_in_cc(f: Facts) -> list[Defect]:
    branch = find_branch(f, f.settings.branches)
    if branch is None or not branch.manager:
        return []
    copied = {a.lower() for a in (*f.mail.cc, *f.mail.to)}
    if branch.manager.lower() in copied or (f.mail.from_addr or "").lower() == branch.manager.lower():
        return []
    return [Defect(CC_MANAGER_MISSING, {"manager": branch.manager, "branch": branch.name})]
