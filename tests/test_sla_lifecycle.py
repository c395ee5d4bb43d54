"""Incident status, the events an incident accepts, and the notices its timers call for."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from console.config import load_config
from console.sla.calendar import parse_instant, to_us
from console.sla.lifecycle import check_event, check_new_incident, status_after
from console.sla.notices import notices
from console.sla.policy import SlaInputError, catalog_of
from console.sla.timers import Event, compute_timers

ROOT = Path(__file__).resolve().parent.parent
PRESETS = catalog_of(load_config(ROOT / "config.example.toml"))
OPENED = "2026-03-02T10:00:00+03:00"


def t(text: str) -> datetime:
    return parse_instant(text)


def ev(at: str, kind: str, text: str = "") -> Event:
    return Event(t(at), kind, "ops", text)


def test_status_follows_the_events_in_time_order() -> None:
    events = [ev("2026-03-02T11:00:00+03:00", "waiting")]
    assert status_after([]) == "open"
    assert status_after(events) == "waiting"
    events.append(ev("2026-03-02T12:00:00+03:00", "customer-message"))
    assert status_after(events) == "open"
    events.append(ev("2026-03-02T13:00:00+03:00", "resolve"))
    assert status_after(events) == "resolved"
    events.append(ev("2026-03-02T14:00:00+03:00", "close"))
    assert status_after(events) == "closed"
    events.insert(0, ev("2026-03-02T15:00:00+03:00", "reopen"))  # recorded first, happened last
    assert status_after(events) == "open"


def test_events_an_incident_refuses() -> None:
    policy = PRESETS.policy("navixy-onprem")
    opened = to_us(t(OPENED))
    later = opened + 60_000_000
    check_event(policy, "open", opened, "note", "called the partner", later)
    check_event(policy, "closed", opened, "reopen", "", later)
    check_event(policy, "open", opened, "priority", "P1", later)
    cases = [
        ("closed", "note", "x", later, "the incident is closed: only reopen is possible, not note"),
        ("open", "note", "  ", later, "an empty note"),
        ("open", "priority", "P9", later, "unknown priority 'P9' in policy navixy-onprem"),
        ("open", "reopen", "", later, "the incident is open: only a resolved or closed one"),
        ("open", "call", "", later, "unknown event kind 'call'"),
        ("open", "reply", "", opened - 1, "is before the incident was opened"),
    ]
    for status, kind, text, at, message in cases:
        with pytest.raises(SlaInputError, match=message):
            check_event(policy, status, opened, kind, text, at)
    check_new_incident(policy, "P2", "rma")
    with pytest.raises(SlaInputError, match="unknown incident type 'bug'"):
        check_new_incident(policy, "P2", "bug")
    with pytest.raises(SlaInputError, match="unknown priority 'high'"):
        check_new_incident(policy, "high", "problem")


def test_notices_once_per_threshold_and_level() -> None:
    policy = PRESETS.policy("navixy-onprem")  # P1: 2 business hours, escalations at due

    def keys(now: str, events: list[Event] | None = None) -> dict[str, tuple[str, ...]]:
        timers = compute_timers(policy, "P1", t(OPENED), events or [], t(now))
        return {n.key: n.recipients for n in notices(policy, timers)}

    assert keys("2026-03-02T11:00:00+03:00") == {}
    assert keys("2026-03-02T11:36:00+03:00") == {"first_response:0:at_risk": ("ops",)}
    assert keys("2026-03-02T11:45:00+03:00") == {"first_response:0:urgent": ("ops",)}
    assert keys("2026-03-02T12:00:01+03:00") == {
        "first_response:0:breached": ("ops",),
        "first_response:0:escalation:head-of-support": ("head.support@navixy.example", "ops"),
        "first_response:0:escalation:account-admin": ("account.admin@navixy.example",),
    }
    # answered: nothing more to say, even though it was late
    late = [ev("2026-03-02T12:30:00+03:00", "reply")]
    assert keys("2026-03-02T12:31:00+03:00", late) == {}
