"""A client SQL result as it travels: Arrow IPC pieces, and the mark of a cut result.

A result cut at the [sql] limits says so in its schema metadata, whichever side cut it, so
`nls sql` and the SQL screen report the cut the same way embedded and attached. The thin client
reads results with this module alone (pyarrow, imported where used), never with the store.
"""

from __future__ import annotations

from typing import Any

CUT_KEY = b"nls.cut"


def ipc_stream(schema: Any, batches: list[Any]) -> bytes:
    """Record batches (possibly none) as one Arrow IPC stream."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as out:
        for batch in batches:
            out.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def with_cut(table: Any, cut: str | None) -> Any:
    """`table` marked as cut for the reason `cut` (unchanged when None)."""
    if not cut:
        return table
    return table.replace_schema_metadata({**(table.schema.metadata or {}), CUT_KEY: cut.encode()})


def result_cut(table: Any) -> str | None:
    """Why a client result is incomplete (the [sql] limits), or None when it is whole."""
    metadata = getattr(getattr(table, "schema", None), "metadata", None) or {}
    value = metadata.get(CUT_KEY)
    return value.decode() if value else None


def assemble(chunks: list[bytes], final: bytes, cut: str | None) -> Any:
    """The table of a streamed result: the chunks' batches under the final frame's schema."""
    import pyarrow as pa

    schema = pa.ipc.open_stream(final).schema
    batches = [batch for chunk in chunks for batch in pa.ipc.open_stream(chunk)]
    return with_cut(pa.Table.from_batches(batches, schema), cut)
