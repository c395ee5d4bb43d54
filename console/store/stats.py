"""Storage figures: bytes on disk per stored sample, raw and archived, and the rollups' size.

The counts come from the database through whichever path the caller has (the daemon's SQL or
the file opened read-only); the sizes from the files themselves, which every process can stat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

COUNTS = (
    "SELECT (SELECT count(*) FROM sample_rows) AS samples, "
    "(SELECT count(*) FROM rollup_hour) AS rollup_hours, "
    "(SELECT count(*) FROM rollup_day) AS rollup_days, "
    "(SELECT count(*) FROM series) AS series, "
    "(SELECT min(ts) FROM sample_rows) AS oldest, (SELECT max(ts) FROM sample_rows) AS newest"
)


@dataclass(frozen=True, slots=True)
class StoreStats:
    database_bytes: int
    samples: int
    archive_files: int
    archive_bytes: int
    archived_samples: int
    rollup_hours: int
    rollup_days: int
    series: int
    oldest: Any
    newest: Any

    @property
    def total_samples(self) -> int:
        return self.samples + self.archived_samples

    @property
    def bytes_per_sample(self) -> float | None:
        total = self.total_samples
        return (self.database_bytes + self.archive_bytes) / total if total else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_per_sample": self.bytes_per_sample}

    def lines(self) -> list[str]:
        per = self.bytes_per_sample
        return [
            f"database      {self.database_bytes:>16,} bytes  {self.samples:>16,} samples "
            f"({self.oldest} .. {self.newest})",
            f"archive       {self.archive_bytes:>16,} bytes  {self.archived_samples:>16,} samples "
            f"in {self.archive_files} Parquet files",
            f"rollups       {self.rollup_hours:>16,} hourly rows, {self.rollup_days:,} daily rows, "
            f"{self.series:,} series",
            "bytes/sample  "
            + (f"{per:16.2f}" if per is not None else "               —")
            + "  (database and archive files over every stored sample)",
        ]


def file_sizes(database: Path) -> int:
    """The database file and its write-ahead log."""
    total = 0
    for path in (database, database.with_name(database.name + ".wal")):
        if path.exists():
            total += path.stat().st_size
    return total


def archive_sizes(archive: Path) -> tuple[int, int, int]:
    """(files, bytes, rows) of the Parquet archive; rows from each file's footer."""
    files = sorted(archive.glob("samples-*.parquet")) if archive.is_dir() else []
    size = sum(f.stat().st_size for f in files)
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return len(files), size, rows


async def collect(
    database: Path, archive: Path, query: Callable[[str], Awaitable[Any]]
) -> StoreStats:
    """`query(sql)` returns an Arrow table (the daemon's `sql`, or a local read-only store)."""
    row = (await query(COUNTS)).to_pylist()[0]
    files, size, rows = archive_sizes(archive)
    return StoreStats(
        database_bytes=file_sizes(database),
        samples=int(row["samples"]),
        archive_files=files,
        archive_bytes=size,
        archived_samples=rows,
        rollup_hours=int(row["rollup_hours"]),
        rollup_days=int(row["rollup_days"]),
        series=int(row["series"]),
        oldest=row["oldest"],
        newest=row["newest"],
    )
