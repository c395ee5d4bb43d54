"""The Arrow schema of a sample as it enters the store: a probe cycle's batch and an imported
file (the columns of `nls check --json`) share it, so an import is stored exactly like a cycle.
Kept apart from database.py so that parsing a file to import does not load DuckDB."""

from __future__ import annotations

import pyarrow as pa

SAMPLE_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("us", tz="UTC")),
        ("cycle", pa.int64()),
        ("server", pa.string()),
        ("check_name", pa.string()),
        ("subject", pa.string()),
        ("state", pa.string()),
        ("value", pa.float64()),
        ("latency_ms", pa.float64()),
        ("detail", pa.string()),
    ]
)
