"""Command implementations above the pipeline (the CLI calls these)."""
