"""Schema, migrations and named queries as .sql files, shipped inside the wheel."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def query(name: str) -> str:
    """Text of the named query `sql/queries/<name>.sql`."""
    return files(__name__).joinpath("queries", f"{name}.sql").read_text(encoding="utf-8")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, text) of every migration, in order; the file name starts with the version."""
    found = []
    for entry in files(__name__).joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)
