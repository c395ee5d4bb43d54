"""What a caller may write on the desk: ops everything, an installer's staff only their side of
the conversation.

Scope is decided elsewhere (an installer's staff never see another installer's incidents: the
desk answers NotFound). This is about the role: an installer's staff may record what they say
(`customer-message`, which pauses nothing and anchors the desk's next reply) and add notes, on
their own installer's incidents, at the time they say it. Opening incidents, the desk's own
answers (`reply` meets the desk's timers), acknowledging, waiting, resolving, closing, reopening
and priorities are the desk's, as is back-dating anything: a partner who could do those could
meet or break the timers they are measured against.

Reading is scoped the same way: notes are internal. An installer's staff read the notes their
own installer's staff wrote and monitoring's (the fault and recovery facts their alert mails
already carry), never a note of ops or of anyone the desk cannot place (`readable_events`).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from console.desk.records import MONITORING_AUTHOR, IncidentEvent
from console.errors import AccessDenied, NoRole
from console.identity import Caller, Peer, resolve

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


def readable_events(
    caller: Caller | None,
    events: Iterable[IncidentEvent],
    staff_of: Callable[[str], str | None],
) -> tuple[IncidentEvent, ...]:
    """The part of an incident's history `caller` may read (None: the desk itself, all of it).
    Ops read everything; an installer's staff everything but the notes not written by their own
    installer's staff or by monitoring. `staff_of(author)` names the installer whose staff an
    account is, None for ops and for accounts with no role (so an unknown author stays hidden)."""
    if caller is None or caller.role == "ops":
        return tuple(events)
    return tuple(
        e
        for e in events
        if e.kind != "note"
        or e.author == MONITORING_AUTHOR
        or staff_of(e.author) == caller.installer
    )


def staff_resolver(access: Any) -> Callable[[str], str | None]:
    """`staff_of` for readable_events from the [access] settings and the account database, as
    the socket decides a peer's role (the owning process's account is ops); remembered per
    author for one read."""
    known: dict[str, str | None] = {}

    def staff_of(author: str) -> str | None:
        if author not in known:
            known[author] = _installer_of(author, access)
        return known[author]

    return staff_of


def _installer_of(author: str, access: Any) -> str | None:
    try:
        account = pwd.getpwnam(author)
    except KeyError:
        return None  # a removed account, or not an account: not provably the installer's
    try:
        caller = resolve(Peer(account.pw_uid, account.pw_gid), access, owner_uid=os.getuid())
    except NoRole:
        return None
    return caller.installer if caller.role == "installer" else None
