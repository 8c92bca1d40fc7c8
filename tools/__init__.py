"""Command-line entry points and scripts (nothing imports tools)."""
