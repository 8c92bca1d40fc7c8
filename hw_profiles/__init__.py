"""Payload computer profiles (TOML) and the loader/profiler that reads them."""
