"""Which failed time is excused: maintenance windows that meet the policy, and exclusions.

A maintenance window excuses downtime only when the customer's `MaintenanceRule` holds for that
occurrence (announced at least `notice_days` before it starts, and wholly inside `allowed_hours`
in the policy zone); otherwise it is listed beside the outage it overlaps with the reason it did
not count. Exclusions (the `exclusions` table) excuse failed time on one server unless revoked.
Windows and exclusions become per-server rows of an Arrow table for the accounting SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from console.monitor.maintenance import DuckMaintenanceStore, MaintenanceWindow
from console.reports.period import zoneinfo
from console.reports.scope import Subject
from console.sla.terms import AvailabilityTerms, MaintenanceRule

EXCUSE_SCHEMA = pa.schema(
    [
        ("server", pa.string()),
        ("starts", pa.timestamp("us", tz="UTC")),
        ("ends", pa.timestamp("us", tz="UTC")),
        ("kind", pa.string()),  # maintenance | exclusion
        ("ref", pa.string()),  # "maintenance #3", "exclusion #7"
        ("qualifies", pa.bool_()),
        ("why", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class Excuse:
    server: str
    starts: datetime
    ends: datetime
    kind: str
    ref: str
    qualifies: bool
    why: str


def qualifies(
    start: datetime, end: datetime, announced_at: datetime, rule: MaintenanceRule, zone: str
) -> tuple[bool, str]:
    """Whether one occurrence meets the rule, and a sentence saying why (for the outage list)."""
    notice = start - announced_at
    days = notice.total_seconds() / 86400
    if notice < timedelta(days=rule.notice_days):
        when = "after it started" if days < 0 else f"{days:.1f} days before it started"
        return False, f"announced {when}; the policy needs {rule.notice_days:g} days' notice"
    hours = rule.hours()
    if hours is not None and not inside_hours(start, end, hours, zone):
        local = start.astimezone(zoneinfo(zone)), end.astimezone(zoneinfo(zone))
        return False, (
            f"runs {local[0]:%H:%M}-{local[1]:%H:%M} {zone}, outside the allowed hours "
            f"{rule.allowed_hours}"
        )
    inside = f", inside {rule.allowed_hours}" if rule.allowed_hours else ""
    return True, f"announced {days:.1f} days ahead{inside}"


def inside_hours(start: datetime, end: datetime, hours: Any, zone: str) -> bool:
    """[start, end) lies wholly inside one stretch of the wall-clock range `hours` in `zone`.

    `hours` is (from, to); to <= from wraps midnight (23:00-07:00 spans two dates)."""
    tz = zoneinfo(zone)
    first, last = hours
    local = start.astimezone(tz)
    day = local.date()
    wraps = last <= first
    if wraps and local.time() < first:
        day -= timedelta(days=1)
    open_at = datetime.combine(day, first, tz)
    close_at = datetime.combine(day + timedelta(days=1) if wraps else day, last, tz)
    return open_at.astimezone(UTC) <= start and end <= close_at.astimezone(UTC)


def maintenance_excuses(
    windows: Iterable[MaintenanceWindow],
    subjects: Sequence[Subject],
    terms_of: Callable[[str], AvailabilityTerms],
    since: datetime,
    until: datetime,
) -> list[Excuse]:
    """Every occurrence overlapping [since, until) on each subject it covers, judged by the
    subject's customer's rule in its policy zone. A removed window ends where it was removed."""
    by_scope: dict[tuple[str, str], list[Subject]] = {}
    for s in subjects:
        for key in (("server", s.server), ("customer", s.customer), ("installer", s.installer)):
            by_scope.setdefault(key, []).append(s)
    found: list[Excuse] = []
    for w in windows:
        covered = by_scope.get((w.scope_kind, w.scope_id), [])
        if not covered:
            continue
        for start, end in w.occurrences(since, until):
            if w.removed_at is not None:
                end = min(end, w.removed_at.astimezone(UTC))
            if end <= start:
                continue
            for s in covered:
                terms = terms_of(s.customer)
                ok, why = qualifies(start, end, w.announced_at, terms.maintenance, s.zone(terms))
                found.append(
                    Excuse(
                        s.server,
                        start,
                        end,
                        "maintenance",
                        f"maintenance #{w.id}",
                        ok,
                        f"{w.reason}: {why}",
                    )
                )
    return found


def stored_windows(con: Any) -> list[MaintenanceWindow]:
    """Every maintenance window ever recorded, removed ones included (they may cover the past).

    Read through the maintenance module so a later column (recorded_at) changes nothing here."""
    return DuckMaintenanceStore(con).windows(include_removed=True)


def exclusion_excuses(
    con: Any,
    servers: Sequence[str],
    since: datetime,
    until: datetime,
    as_of: datetime | None = None,
) -> list[Excuse]:
    """Exclusions overlapping [since, until) on these servers, as they stood at `as_of`."""
    if not servers or not _has_table(con, "exclusions"):
        return []
    rows = con.execute(
        "SELECT id, server, starts, ends, reason, author FROM exclusions "
        "WHERE list_contains($1::VARCHAR[], server) AND starts < $3 AND ends > $2 "
        "AND ($4::TIMESTAMPTZ IS NULL OR created_at <= $4) "
        "AND (revoked_at IS NULL OR ($4::TIMESTAMPTZ IS NOT NULL AND revoked_at > $4)) "
        "ORDER BY id",
        [list(servers), since, until, as_of],
    ).fetchall()
    return [
        Excuse(
            server,
            _utc(starts),
            _utc(ends),
            "exclusion",
            f"exclusion #{xid}",
            True,
            f"{reason} (by {author})",
        )
        for xid, server, starts, ends, reason, author in rows
    ]


def excuse_table(excuses: Iterable[Excuse]) -> pa.Table:
    rows = [
        {
            "server": e.server,
            "starts": e.starts,
            "ends": e.ends,
            "kind": e.kind,
            "ref": e.ref,
            "qualifies": e.qualifies,
            "why": e.why,
        }
        for e in excuses
    ]
    return pa.Table.from_pylist(rows, schema=EXCUSE_SCHEMA)


def _has_table(con: Any, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()[0]
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
