"""An incident's lifecycle: its status after its events, and which new events are acceptable.

The incident store, the daemon and every command check an incident or an event here before
writing anything, so the rules (and their one-line errors) exist once: a closed incident takes
only `reopen`, a note needs text, a priority change names a priority of the policy, no event
precedes the opening.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

from console.sla.calendar import from_us
from console.sla.policy import INCIDENT_TYPES, Policy, SlaInputError
from console.sla.timers import EVENT_KINDS, Event

STATUSES = ("open", "waiting", "resolved", "closed")


def status_after(events: Iterable[Event]) -> str:
    """open, waiting (on the customer), resolved or closed, after the events in time order; the
    same reading as the timers (a customer message ends a wait, reopen undoes resolve/close)."""
    status = "open"
    for event in sorted(events, key=attrgetter("us")):
        kind = event.kind
        if kind == "waiting" and status == "open":
            status = "waiting"
        elif kind in ("resume", "customer-message") and status == "waiting":
            status = "open"
        elif kind == "resolve" and status in ("open", "waiting"):
            status = "resolved"
        elif kind == "close":
            status = "closed"
        elif kind == "reopen" and status in ("resolved", "closed"):
            status = "open"
    return status


def check_new_incident(policy: Policy, priority: str, incident_type: str) -> None:
    """SlaInputError unless the priority is the policy's and the type is known."""
    policy.require_priority(priority)
    if incident_type not in INCIDENT_TYPES:
        raise SlaInputError(
            f"unknown incident type {incident_type!r}; known: {', '.join(INCIDENT_TYPES)}"
        )


def check_event(
    policy: Policy, status: str, opened_us: int, kind: str, text: str, at_us: int
) -> None:
    """SlaInputError naming the problem unless this event may be added to an incident whose
    current status is `status`."""
    if kind not in EVENT_KINDS:
        raise SlaInputError(f"unknown event kind {kind!r}; known: {', '.join(EVENT_KINDS)}")
    if status == "closed" and kind != "reopen":
        raise SlaInputError(f"the incident is closed: only reopen is possible, not {kind}")
    if kind == "reopen" and status not in ("resolved", "closed"):
        raise SlaInputError(f"the incident is {status}: only a resolved or closed one reopens")
    if kind == "note" and not text.strip():
        raise SlaInputError("an empty note: give its text with --text")
    if kind == "priority":
        if not text.strip():
            raise SlaInputError("a priority change needs the new priority as its text")
        policy.require_priority(text.strip())
    if at_us < opened_us:
        raise SlaInputError(
            f"{from_us(at_us).isoformat()} is before the incident was opened "
            f"({from_us(opened_us).isoformat()})"
        )
