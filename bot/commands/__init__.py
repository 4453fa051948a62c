"""The commands of ``bot`` (bot/cli.py dispatches to them): one small module per command, each
with ``add_parser(sub, parser_class)`` and ``cli_<name>(args, cfg) -> int``: parse, call the
domain, print. The domain modules they call (digest, vendor, manual, …) never print; what a
person reads, and the exit code, are decided here. common.py: opening the database with a
plain message when it is unreachable or has no schema yet."""
