"""What a caller may write on the desk: ops everything, an installer's staff only their side of
the conversation.

Scope is decided elsewhere (an installer's staff never see another installer's incidents: the
desk answers NotFound). This is about the role: an installer's staff may record what they say
(`customer-message`, which pauses nothing and anchors the desk's next reply) and add notes, on
their own installer's incidents, at the time they say it. Opening incidents, the desk's own
answers (`reply` meets the desk's timers), acknowledging, waiting, resolving, closing, reopening
and priorities are the desk's, as is back-dating anything: a partner who could do those could
meet or break the timers they are measured against.
"""

from __future__ import annotations

from datetime import datetime

from console.errors import AccessDenied
from console.identity import Caller

STAFF_EVENTS = ("customer-message", "note")
"""The events an installer's staff may add to their own installer's incidents."""


def _staff(caller: Caller) -> str:
    return f"{caller.user} (staff of installer {caller.installer})"


def check_open(caller: Caller) -> None:
    if caller.role != "ops":
        raise AccessDenied(
            f"{_staff(caller)} cannot open incidents: the desk opens them (monitoring, or ops "
            "when you call or write); add what you have to say to an open incident with "
            "`nls incident event ID customer-message --text ...`"
        )


def check_event(caller: Caller, kind: str, at: datetime | None) -> None:
    if caller.role == "ops":
        return
    if kind not in STAFF_EVENTS:
        hint = " (your answer to the desk is a customer-message)" if kind == "reply" else ""
        raise AccessDenied(
            f"{_staff(caller)} may add {' or '.join(STAFF_EVENTS)} to an incident, not "
            f"{kind!r}{hint}"
        )
    if at is not None:
        raise AccessDenied(
            f"{_staff(caller)} cannot back-date an event (--at): it is recorded when you send it"
        )
