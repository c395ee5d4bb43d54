"""The incident tables on the owning process's DuckDB connection: reads, and the two writes
(open an incident, append an event), each checked against the incident's lifecycle first.

Every function takes the connection and runs on the store's thread. The writes that a person
asks for run in their own transaction; monitoring's (`apply_monitoring`) runs inside the
transaction of the cycle that confirmed the fault (`Store.write_cycle`), so the samples, the
alert states, the installer's mail and the incident commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from console.desk.monitoring import MonitorAction
from console.desk.records import MONITORING_AUTHOR, Incident, IncidentEvent
from console.errors import NotFound
from console.sla.calendar import to_us
from console.sla.lifecycle import check_event, status_after
from console.sla.policy import Policy
from console.sla.timers import Event, current_priority

_COLUMNS = (
    "id, title, type, priority, opening_priority, status, server, customer, installer, policy, "
    "opened_at, recorded_at, opened_by, source"
)
_EVENT_COLUMNS = "incident, seq, ts, recorded_at, author, kind, text"


def timer_events(events: Iterable[IncidentEvent]) -> list[Event]:
    """The history as the timer engine reads it."""
    return [Event(e.at, e.kind, e.author, e.text) for e in events]


# -- reads ----------------------------------------------------------------------------------------


def incidents_where(
    con: Any, where: str = "true", params: Sequence[Any] = (), order: str = "ORDER BY id"
) -> list[Incident]:
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM incidents WHERE {where} {order}", list(params)
    ).fetchall()
    return [Incident(*row) for row in rows]


def events_of(con: Any, ids: Sequence[int]) -> dict[int, list[IncidentEvent]]:
    """Every event of these incidents, in recording order."""
    found: dict[int, list[IncidentEvent]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = con.execute(
        f"SELECT {_EVENT_COLUMNS} FROM incident_events WHERE incident IN "
        "(SELECT unnest($1::BIGINT[])) ORDER BY incident, seq",
        [list(ids)],
    ).fetchall()
    for row in rows:
        found[row[0]].append(IncidentEvent(*row))
    return found


def with_events(
    con: Any, where: str = "true", params: Sequence[Any] = (), order: str = "ORDER BY id"
) -> list[tuple[Incident, list[IncidentEvent]]]:
    incidents = incidents_where(con, where, params, order)
    events = events_of(con, [i.id for i in incidents])
    return [(i, events[i.id]) for i in incidents]


def one(con: Any, incident_id: int) -> tuple[Incident, list[IncidentEvent]]:
    found = with_events(con, "id = ?", [incident_id])
    if not found:
        raise NotFound(f"no incident {incident_id}; see `nls incident list`")
    return found[0]


def open_of_servers(con: Any, servers: Sequence[str]) -> list[tuple[Incident, list[IncidentEvent]]]:
    """Open or waiting incidents on these servers (what the fleet grid marks)."""
    return with_events(
        con,
        "status IN ('open', 'waiting') AND server IN (SELECT unnest($1::VARCHAR[]))",
        [list(servers)],
    )


# -- writes ---------------------------------------------------------------------------------------


def open_incident(
    con: Any,
    *,
    title: str,
    incident_type: str,
    priority: str,
    server: str | None,
    customer: str,
    installer: str,
    policy: str,
    opened_at: datetime,
    recorded_at: datetime,
    opened_by: str,
    source: str,
) -> Incident:
    """Insert an incident (inside the caller's transaction); its id is the next free one."""
    new_id = int(con.execute("SELECT coalesce(max(id), 0) + 1 FROM incidents").fetchone()[0])
    incident = Incident(
        new_id,
        title,
        incident_type,
        priority,
        priority,
        "open",
        server,
        customer,
        installer,
        policy,
        opened_at,
        recorded_at,
        opened_by,
        source,
    )
    con.execute(
        f"INSERT INTO incidents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            incident.id,
            incident.title,
            incident.type,
            incident.priority,
            incident.opening_priority,
            incident.status,
            incident.server,
            incident.customer,
            incident.installer,
            incident.policy,
            incident.opened_at,
            incident.recorded_at,
            incident.opened_by,
            incident.source,
        ],
    )
    return incident


def append_event(
    con: Any,
    incident: Incident,
    events: Sequence[IncidentEvent],
    *,
    at: datetime,
    recorded_at: datetime,
    author: str,
    kind: str,
    text: str,
) -> tuple[Incident, IncidentEvent]:
    """Append one event (inside the caller's transaction) and keep the incident's status and
    priority in step with its history. The caller has checked the event."""
    seq = max((e.seq for e in events), default=0) + 1
    event = IncidentEvent(incident.id, seq, at, recorded_at, author, kind, text)
    con.execute(
        f"INSERT INTO incident_events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [event.incident, event.seq, event.at, event.recorded_at, author, kind, text],
    )
    history = timer_events([*events, event])
    status = status_after(history)
    priority = current_priority(incident.opening_priority, history)
    if (status, priority) != (incident.status, incident.priority):
        con.execute(
            "UPDATE incidents SET status = ?, priority = ? WHERE id = ?",
            [status, priority, incident.id],
        )
        incident = replace(incident, status=status, priority=priority)
    return incident, event


def add_event(
    con: Any,
    incident_id: int,
    *,
    policy_of: Callable[[Incident], Policy],
    visible: Callable[[Incident], bool],
    at: datetime,
    recorded_at: datetime,
    author: str,
    kind: str,
    text: str,
) -> tuple[Incident, IncidentEvent]:
    """Check and append a person's event in one transaction (the check reads the stored
    history, so two consoles writing at once cannot both act on a stale status)."""
    incident, events = one(con, incident_id)
    if not visible(incident):
        raise NotFound(f"no incident {incident_id}; see `nls incident list`")
    check_event(
        policy_of(incident),
        incident.status,
        to_us(incident.opened_at),
        kind,
        text,
        to_us(at),
    )
    with transaction(con):
        return append_event(
            con,
            incident,
            events,
            at=at,
            recorded_at=recorded_at,
            author=author,
            kind=kind,
            text=text.strip(),
        )


def create(con: Any, **fields: Any) -> Incident:
    with transaction(con):
        return open_incident(con, **fields)


class transaction:
    """BEGIN ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN")

    def __exit__(self, kind: object, *_: object) -> None:
        self.con.execute("ROLLBACK" if kind is not None else "COMMIT")


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """A notice's mail as the outbox stores it."""

    key: str
    incident: Incident
    recipients: tuple[str, ...]
    subject: str
    body_text: str
    body_html: str


def queue_mails(con: Any, mails: Sequence[QueuedMail], now: datetime, kind: str) -> None:
    """Store notices' mails in the outbox in one transaction; a key stored before is kept as
    it is (a notice is sent once, whoever decided it again)."""
    with transaction(con):
        con.executemany(
            "INSERT INTO outbox (key, created, kind, server, installer, recipients, subject, "
            "body_text, body_html, status, attempts, next_attempt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (key) DO NOTHING",
            [
                [
                    m.key,
                    now,
                    kind,
                    m.incident.server,
                    m.incident.installer,
                    list(m.recipients),
                    m.subject,
                    m.body_text,
                    m.body_html,
                    now,
                ]
                for m in mails
            ],
        )


# -- monitoring -----------------------------------------------------------------------------------


def apply_monitoring(con: Any, actions: Sequence[MonitorAction], now: datetime) -> list[int]:
    """What monitoring decided this cycle, inside the cycle's transaction: per server, confirmed
    faults open an outage incident or add to the open one (raising its priority when a worse
    check failed), recoveries add an event and resolve it when the policy says so and nothing
    of the server is alerting any more. Returns the ids of the incidents touched."""
    touched: list[int] = []
    for action in actions:
        found = with_events(
            con,
            "server = ? AND type = 'outage' AND status IN ('open', 'waiting')",
            [action.server],
            "ORDER BY id DESC LIMIT 1",
        )
        incident, events = found[0] if found else (None, [])
        if incident is None:
            if not action.alerts:
                continue  # a recovery of something no open incident is about
            incident = open_incident(
                con,
                title=action.title,
                incident_type="outage",
                priority=action.priority,
                server=action.server,
                customer=action.customer,
                installer=action.installer,
                policy=action.policy,
                opened_at=action.at,
                recorded_at=now,
                opened_by=MONITORING_AUTHOR,
                source="monitoring",
            )
        elif action.alerts and action.raises(incident.priority):
            incident, event = append_event(
                con,
                incident,
                events,
                at=max(action.at, incident.opened_at),
                recorded_at=now,
                author=MONITORING_AUTHOR,
                kind="priority",
                text=action.priority,
            )
            events = [*events, event]
        at = max(action.at, incident.opened_at)
        for kind, text in action.entries():
            incident, event = append_event(
                con,
                incident,
                events,
                at=at,
                recorded_at=now,
                author=MONITORING_AUTHOR,
                kind=kind,
                text=text,
            )
            events = [*events, event]
        touched.append(incident.id)
    return touched
