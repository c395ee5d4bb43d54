"""Reclassification with an audit trail, and service-credit claims.

An exclusion excuses failed time on one server (customer fault, force majeure, a third party:
the SAFR exceptions). Nothing is ever deleted: undoing one stamps who revoked it and when, and
reports recompute from whatever is live (or was live at a given moment). The author is the
caller's identity (the daemon takes it from the socket's peer credentials); it is a parameter
here, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from console.fleetview import ExclusionRow as Exclusion
from console.reports.period import Month

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class ExclusionError(ValueError):
    """Bad exclusion or claim input; the message names the value and what to do."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Claim:
    customer: str
    month: str
    failure: str
    claimed_at: datetime
    author: str
    recorded_at: datetime


_EXCLUSION_FIELDS = "id, server, starts, ends, reason, author, created_at, revoked_at, revoked_by"


def add_exclusion(
    con: Any,
    *,
    server: str,
    starts: datetime,
    ends: datetime,
    reason: str,
    author: str,
    known_servers: Collection[str] | None = None,
    now: Clock = _now,
) -> Exclusion:
    """Record an exclusion; raises ExclusionError for an unknown server, an empty reason or
    author, a time without zone, or --to not after --from."""
    if known_servers is not None and server not in known_servers:
        raise ExclusionError(f"--server {server!r} is not a configured server")
    for name, value in (("--from", starts), ("--to", ends)):
        if value.tzinfo is None:
            raise ExclusionError(f"{name} {value.isoformat()} has no time zone")
    if ends <= starts:
        raise ExclusionError(
            f"--to {ends.isoformat()} is not after --from {starts.isoformat()}; "
            "give the end of the excused time"
        )
    if not reason.strip():
        raise ExclusionError("--reason is empty: say why the time is excused (SLA reports show it)")
    if not author.strip():
        raise ExclusionError("no author: an exclusion needs the identity of who made it")
    con = _con(con)
    ((next_id,),) = con.execute("SELECT coalesce(max(id), 0) + 1 FROM exclusions").fetchall()
    created = now()
    con.execute(
        f"INSERT INTO exclusions ({_EXCLUSION_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
        [next_id, server, starts, ends, reason.strip(), author, created],
    )
    return Exclusion(
        next_id,
        server,
        starts.astimezone(UTC),
        ends.astimezone(UTC),
        reason.strip(),
        author,
        created,
    )


def revoke_exclusion(con: Any, exclusion_id: int, *, author: str, now: Clock = _now) -> Exclusion:
    """Undo an exclusion (the row stays, stamped); ExclusionError if unknown or revoked."""
    con = _con(con)
    found = con.execute(
        "UPDATE exclusions SET revoked_at = ?, revoked_by = ? "
        "WHERE id = ? AND revoked_at IS NULL RETURNING id",
        [now(), author, exclusion_id],
    ).fetchall()
    if not found:
        exists = con.execute("SELECT count(*) FROM exclusions WHERE id = ?", [exclusion_id])
        if exists.fetchall()[0][0]:
            raise ExclusionError(f"exclusion {exclusion_id} is already revoked")
        raise ExclusionError(f"no exclusion {exclusion_id}; see the list of exclusions")
    return exclusions(con, ids=[exclusion_id])[0]


def exclusions(
    con: Any,
    *,
    servers: Collection[str] | None = None,
    ids: Collection[int] | None = None,
    include_revoked: bool = True,
) -> list[Exclusion]:
    """Exclusions, oldest first, optionally of some servers only (for a scoped installer)."""
    rows = (
        _con(con)
        .execute(
            f"SELECT {_EXCLUSION_FIELDS} FROM exclusions "
            "WHERE ($1::VARCHAR[] IS NULL OR list_contains($1::VARCHAR[], server)) "
            "AND ($2::BIGINT[] IS NULL OR list_contains($2::BIGINT[], id)) "
            "AND ($3 OR revoked_at IS NULL) ORDER BY id",
            [
                None if servers is None else list(servers),
                None if ids is None else list(ids),
                include_revoked,
            ],
        )
        .fetchall()
    )
    return [
        Exclusion(
            id=int(xid),
            server=server,
            starts=_utc(starts),
            ends=_utc(ends),
            reason=reason,
            author=author,
            created_at=_utc(created),
            revoked_at=None if revoked_at is None else _utc(revoked_at),
            revoked_by=revoked_by,
        )
        for xid, server, starts, ends, reason, author, created, revoked_at, revoked_by in rows
    ]


def exclusions_table(items: list[Exclusion]) -> pa.Table:
    return pa.Table.from_pylist([_as_dict(e) for e in items], schema=EXCLUSION_SCHEMA)


EXCLUSION_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("server", pa.string()),
        ("starts", pa.timestamp("us", tz="UTC")),
        ("ends", pa.timestamp("us", tz="UTC")),
        ("reason", pa.string()),
        ("author", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("revoked_at", pa.timestamp("us", tz="UTC")),
        ("revoked_by", pa.string()),
    ]
)


def claim_credit(
    con: Any,
    *,
    customer: str,
    month: Month | str,
    failure: str,
    author: str,
    claimed_at: datetime | None = None,
    known_customers: Collection[str] | None = None,
    now: Clock = _now,
) -> tuple[Claim, bool]:
    """Record a customer's claim of one failure; (claim, True) when new. A repeated claim keeps
    the first one (the earliest claim is the one that counts for the deadline)."""
    month_text = str(month if isinstance(month, Month) else Month.parse(month))
    if known_customers is not None and customer not in known_customers:
        raise ExclusionError(f"--customer {customer!r} is not a configured customer")
    if not failure.strip():
        raise ExclusionError("--failure is empty: give the failure's reference from the report")
    if claimed_at is not None and claimed_at.tzinfo is None:
        raise ExclusionError(f"--at {claimed_at.isoformat()} has no time zone")
    recorded = now()
    con = _con(con)
    inserted = con.execute(
        "INSERT INTO credit_claims VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING "
        "RETURNING customer",
        [customer, month_text, failure.strip(), claimed_at or recorded, author, recorded],
    ).fetchall()
    return claims(con, customer=customer, month=month_text, failure=failure.strip())[0], bool(
        inserted
    )


def claims(
    con: Any,
    *,
    customer: str | None = None,
    month: Month | str | None = None,
    failure: str | None = None,
) -> list[Claim]:
    rows = (
        _con(con)
        .execute(
            "SELECT customer, month, failure, claimed_at, author, recorded_at FROM credit_claims "
            "WHERE ($1::VARCHAR IS NULL OR customer = $1) AND ($2::VARCHAR IS NULL OR month = $2) "
            "AND ($3::VARCHAR IS NULL OR failure = $3) ORDER BY customer, month, claimed_at",
            [customer, None if month is None else str(month), failure],
        )
        .fetchall()
    )
    return [
        Claim(customer, month_text, ref, _utc(claimed_at), author, _utc(recorded_at))
        for customer, month_text, ref, claimed_at, author, recorded_at in rows
    ]


def _as_dict(e: Exclusion) -> dict[str, Any]:
    return {name: getattr(e, name) for name in EXCLUSION_SCHEMA.names}


def _con(con: Any) -> Any:
    return getattr(con, "con", con)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
