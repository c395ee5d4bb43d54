"""The DuckDB store and the one thread that uses its connection."""
