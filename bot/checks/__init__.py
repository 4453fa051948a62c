"""The checks: one pure rule a module, facts in, defects out, no I/O (base.py: what every check
sees and returns). bot/decide/chains.py lists which run for each kind."""
