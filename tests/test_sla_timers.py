"""Incident timers from event histories, and every preset's promises from config.example.toml."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.config import load_config
from console.sla.calendar import parse_instant, to_us
from console.sla.entitlements import IncidentRecord, monthly_counts
from console.sla.policy import Catalog, Policy, SlaSettings, catalog_of
from console.sla.timers import (
    Event,
    Timer,
    compute_timers,
    current_priority,
    due_instant,
    most_urgent,
    read_history,
    timers_at,
)

ROOT = Path(__file__).resolve().parent.parent
PRESETS = catalog_of(load_config(ROOT / "config.example.toml"))


def t(text: str) -> datetime:
    return parse_instant(text)


def policy(toml: str, name: str = "p") -> Policy:
    settings_ = SlaSettings.model_validate(tomllib.loads(toml))
    return Catalog(settings_.calendars, settings_.sla_policies).policy(name)


def ev(at: str, kind: str, text: str = "", author: str = "ops") -> Event:
    return Event(t(at), kind, author, text)


def timers_of(
    pol: Policy, priority: str, opened: str, events: list[Event], now: str
) -> dict[str, Timer]:
    found = compute_timers(pol, priority, t(opened), events, t(now))
    # the same from a history kept by a screen, when no event lies after now
    if all(e.us <= to_us(t(now)) for e in events):
        kept = read_history(pol, priority, t(opened), events)
        assert timers_at(pol, kept, t(now)) == found
    return {timer.kind: timer for timer in found}


OFFICE = """
[calendars.office]
timezone = "Europe/Amsterdam"
hours = "09:00-17:00"
holidays = "NL"

[sla_policies.p]
calendar = "office"
next_reply_anchor = "{anchor}"

[sla_policies.p.priorities.P1]
first_response = {{ business_minutes = 60 }}
next_reply = {{ business_minutes = 120 }}
periodic_update = {{ hours = 24 }}
resolution = {{ business_minutes = 480 }}
notify_after = {{ calendar_days = 3 }}

[sla_policies.p.priorities.P2]
first_response = {{ business_minutes = 240 }}
resolution = {{ business_minutes = 2400 }}

[[sla_policies.p.escalations]]
name = "warn-lead"
after = "-30m"
notify = ["lead@desk.example"]
timers = ["resolution"]

[[sla_policies.p.escalations]]
name = "head"
after = "1h"
notify = ["head@desk.example", "ops"]
priorities = ["P1"]
"""
FIRST = policy(OFFICE.format(anchor="first_unanswered"))
LAST = policy(OFFICE.format(anchor="last_message"))
MON_10 = "2026-03-02T10:00:00+01:00"


# -- states, due, remaining, warnings -------------------------------------------------------------


def test_an_untouched_incident_runs_every_timer_it_has() -> None:
    timers = timers_of(FIRST, "P1", MON_10, [], "2026-03-02T10:30:00+01:00")
    assert set(timers) == {"first_response", "resolution", "notify_after"}  # no reply yet
    first = timers["first_response"]
    assert first.state == "running"
    assert first.due == t("2026-03-02T11:00:00+01:00")
    assert first.remaining == timedelta(minutes=30)
    assert first.until_due == timedelta(minutes=30)
    assert first.warning == "none"
    assert timers["resolution"].due == t("2026-03-03T10:00:00+01:00")
    assert timers["notify_after"].due == t("2026-03-05T10:00:00+01:00")


def test_warnings_at_80_percent_and_at_15_minutes_left() -> None:
    def resolution(now: str) -> Timer:
        return timers_of(FIRST, "P1", MON_10, [], now)["resolution"]

    # 480 business minutes from Monday 10:00: 80% used at 16:24, 15 minutes left Tue 09:45
    assert resolution("2026-03-02T16:23:00+01:00").warning == "none"
    assert resolution("2026-03-02T16:24:00+01:00").warning == "at_risk"
    assert resolution("2026-03-03T09:44:00+01:00").warning == "at_risk"
    assert resolution("2026-03-03T09:45:00+01:00").warning == "urgent"
    assert resolution("2026-03-03T10:00:00+01:00").warning == "urgent"
    assert resolution("2026-03-03T10:00:01+01:00").state == "breached"
    # a 60-minute target is urgent before it is 80% used
    first = timers_of(FIRST, "P1", MON_10, [], "2026-03-02T10:46:00+01:00")["first_response"]
    assert first.warning == "urgent"


def test_a_reply_at_the_due_instant_meets_and_after_it_breaches() -> None:
    met = timers_of(
        FIRST,
        "P1",
        MON_10,
        [ev("2026-03-02T11:00:00+01:00", "reply")],
        MON_10[:11] + "12:00:00+01:00",
    )
    assert met["first_response"].state == "met"
    assert met["first_response"].stopped == t("2026-03-02T11:00:00+01:00")
    late = timers_of(
        FIRST, "P1", MON_10, [ev("2026-03-02T11:00:01+01:00", "reply")], "2026-03-02T12:00:00+01:00"
    )
    assert late["first_response"].state == "breached"
    # without a reply it shows breached, with the overdue counted time as negative remaining
    open_ = timers_of(FIRST, "P1", MON_10, [], "2026-03-02T11:20:00+01:00")["first_response"]
    assert open_.state == "breached" and open_.open
    assert open_.remaining == timedelta(minutes=-20)
    assert open_.until_due == timedelta(minutes=-20)


def test_the_countdown_is_real_time_and_remaining_is_counted_time() -> None:
    # opened Friday 16:30 with 60 business minutes: due Monday 09:30
    timers = timers_of(FIRST, "P1", "2026-03-06T16:30:00+01:00", [], "2026-03-06T16:40:00+01:00")
    first = timers["first_response"]
    assert first.due == t("2026-03-09T09:30:00+01:00")
    assert first.remaining == timedelta(minutes=50)
    assert first.until_due == timedelta(days=2, hours=16, minutes=50)


def test_a_note_or_an_ack_is_not_a_response() -> None:
    events = [
        ev("2026-03-02T10:10:00+01:00", "note", "looked at logs"),
        ev("2026-03-02T10:20:00+01:00", "ack"),
    ]
    first = timers_of(FIRST, "P1", MON_10, events, "2026-03-02T10:30:00+01:00")["first_response"]
    assert first.state == "running"
    acking = policy(
        OFFICE.format(anchor="first_unanswered").replace(
            'next_reply_anchor = "first_unanswered"',
            'next_reply_anchor = "first_unanswered"\nacknowledge_meets_first_response = true',
        )
    )
    first = timers_of(acking, "P1", MON_10, events, "2026-03-02T10:30:00+01:00")["first_response"]
    assert first.state == "met"


# -- pauses ---------------------------------------------------------------------------------------


def test_waiting_on_the_customer_pauses_and_postpones() -> None:
    events = [
        ev("2026-03-02T10:05:00+01:00", "reply", "which camera?"),
        ev("2026-03-02T10:06:00+01:00", "waiting"),
    ]
    paused = timers_of(FIRST, "P1", MON_10, events, "2026-03-02T15:06:00+01:00")
    resolution = paused["resolution"]
    assert resolution.state == "paused"
    assert resolution.remaining == timedelta(minutes=480 - 6)
    # the due instant shown while paused: as if resumed now (114 min today, 360 tomorrow)
    assert resolution.due == t("2026-03-03T15:00:00+01:00")
    resumed = [*events, ev("2026-03-02T15:06:00+01:00", "resume")]
    running = timers_of(FIRST, "P1", MON_10, resumed, "2026-03-02T15:30:00+01:00")["resolution"]
    assert running.state == "running"
    # 10:00 + 480 business minutes would be Tuesday 10:00; the 5 hours waited move it to 15:00
    assert running.due == t("2026-03-03T15:00:00+01:00")
    # a customer message ends the wait as well
    answered = [*events, ev("2026-03-02T15:06:00+01:00", "customer-message", "camera 4")]
    assert timers_of(FIRST, "P1", MON_10, answered, "2026-03-02T15:30:00+01:00")[
        "resolution"
    ].due == t("2026-03-03T15:00:00+01:00")


def test_a_pause_over_a_weekend_counts_only_business_time() -> None:
    opened = "2026-03-06T10:00:00+01:00"  # Friday
    events = [ev("2026-03-06T16:00:00+01:00", "waiting"), ev("2026-03-09T10:00:00+01:00", "resume")]
    resolution = timers_of(FIRST, "P1", opened, events, "2026-03-09T10:00:00+01:00")["resolution"]
    # 6 h used Friday, paused over the weekend and Monday 09:00-10:00: 2 h left from 10:00
    assert resolution.due == t("2026-03-09T12:00:00+01:00")


def test_a_target_that_ignores_pauses() -> None:
    text = OFFICE.format(anchor="first_unanswered").replace(
        "resolution = { business_minutes = 480 }",
        "resolution = { business_minutes = 480, pause = false }",
    )
    events = [ev("2026-03-02T10:06:00+01:00", "waiting"), ev("2026-03-02T15:06:00+01:00", "resume")]
    timers = timers_of(policy(text), "P1", MON_10, events, "2026-03-02T15:30:00+01:00")
    assert timers["resolution"].due == t("2026-03-03T10:00:00+01:00")
    assert timers["first_response"].due == t("2026-03-02T16:00:00+01:00")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 14 * 24 * 60), st.integers(1, 3 * 24 * 60)), max_size=4),
    st.integers(0, 20 * 24 * 60),
)
def test_waiting_never_brings_a_due_instant_forward(
    waits: list[tuple[int, int]], later: int
) -> None:
    opened = t(MON_10)
    events: list[Event] = [Event(opened + timedelta(minutes=1), "reply")]
    for start, length in sorted(waits):
        events.append(Event(opened + timedelta(minutes=2 + start), "waiting"))
        events.append(Event(opened + timedelta(minutes=2 + start + length), "resume"))
    events.sort(key=lambda e: e.us)
    now = opened + timedelta(minutes=1 + later)
    plain = {x.kind: x.due_us for x in compute_timers(FIRST, "P1", opened, events[:1], now)}
    waited = {x.kind: x.due_us for x in compute_timers(FIRST, "P1", opened, events, now)}
    for kind in ("resolution", "notify_after", "periodic_update"):
        assert waited[kind] >= plain[kind]


# -- next reply and periodic updates --------------------------------------------------------------


def _two_messages() -> list[Event]:
    return [
        ev("2026-03-02T10:10:00+01:00", "reply", "we are on it"),
        ev("2026-03-02T11:00:00+01:00", "customer-message", "any news?"),
        ev("2026-03-02T12:00:00+01:00", "customer-message", "still down!"),
    ]


def test_next_reply_from_the_first_unanswered_message() -> None:
    timer = timers_of(FIRST, "P1", MON_10, _two_messages(), "2026-03-02T12:30:00+01:00")[
        "next_reply"
    ]
    assert timer.anchor == t("2026-03-02T11:00:00+01:00")
    assert timer.due == t("2026-03-02T13:00:00+01:00")
    assert timer.state == "running"


def test_next_reply_from_the_last_message() -> None:
    timer = timers_of(LAST, "P1", MON_10, _two_messages(), "2026-03-02T12:30:00+01:00")[
        "next_reply"
    ]
    assert timer.anchor == t("2026-03-02T12:00:00+01:00")
    assert timer.due == t("2026-03-02T14:00:00+01:00")


def test_a_reply_meets_next_reply_and_restarts_the_periodic_update() -> None:
    events = [*_two_messages(), ev("2026-03-02T13:30:00+01:00", "reply", "fixed the switch")]
    now = "2026-03-02T14:00:00+01:00"
    first = timers_of(FIRST, "P1", MON_10, events, now)
    assert first["next_reply"].state == "breached"  # due 13:00 from the first message
    last = timers_of(LAST, "P1", MON_10, events, now)
    assert last["next_reply"].state == "met"  # due 14:00 from the last one
    update = first["periodic_update"]
    assert update.anchor == t("2026-03-02T13:30:00+01:00")
    assert update.due == t("2026-03-03T13:30:00+01:00")
    # with all cycles, every one is there for the monthly statistics
    cycles = compute_timers(FIRST, "P1", t(MON_10), events, t(now), all_cycles=True)
    updates = [c for c in cycles if c.kind == "periodic_update"]
    assert [(c.cycle, c.state) for c in updates] == [(0, "met"), (1, "running")]


def test_messages_before_the_first_reply_belong_to_first_response() -> None:
    events = [ev("2026-03-02T10:20:00+01:00", "customer-message", "hello?")]
    timers = timers_of(FIRST, "P1", MON_10, events, "2026-03-02T10:30:00+01:00")
    assert "next_reply" not in timers
    assert timers["first_response"].state == "running"


# -- resolve, reopen, priority --------------------------------------------------------------------


def test_resolve_stops_every_clock() -> None:
    events = [ev("2026-03-02T10:30:00+01:00", "reply"), ev("2026-03-02T16:00:00+01:00", "resolve")]
    timers = timers_of(FIRST, "P1", MON_10, events, "2026-03-05T12:00:00+01:00")
    assert {k: x.state.value for k, x in timers.items()} == {
        "first_response": "met",
        "periodic_update": "met",
        "resolution": "met",
        "notify_after": "met",
    }
    assert all(not x.open for x in timers.values())
    assert most_urgent(timers.values()) is None


def test_reopen_continues_the_resolution_clock_without_the_resolved_time() -> None:
    events = [
        ev("2026-03-02T10:30:00+01:00", "reply"),
        ev("2026-03-02T14:00:00+01:00", "resolve"),  # 4 h used
        ev("2026-03-03T09:00:00+01:00", "reopen"),  # the fix did not hold
    ]
    timers = timers_of(FIRST, "P1", MON_10, events, "2026-03-03T10:00:00+01:00")
    resolution = timers["resolution"]
    assert resolution.state == "running"
    assert resolution.remaining == timedelta(hours=3)
    assert resolution.due == t("2026-03-03T13:00:00+01:00")
    # updates are owed again from the reopen; the first response stays met
    assert timers["periodic_update"].anchor == t("2026-03-03T09:00:00+01:00")
    assert timers["first_response"].state == "met"
    # events on a resolved incident other than reopen do not restart anything
    late = [*events[:2], ev("2026-03-02T15:00:00+01:00", "customer-message")]
    assert "next_reply" not in timers_of(FIRST, "P1", MON_10, late, "2026-03-03T10:00:00+01:00")


def test_a_priority_change_retargets_running_timers_only() -> None:
    events = [
        ev("2026-03-02T10:30:00+01:00", "reply"),  # first response met under P2 (240 min)
        ev("2026-03-02T11:00:00+01:00", "priority", "P1"),
    ]
    timers = timers_of(FIRST, "P2", MON_10, events, "2026-03-02T11:30:00+01:00")
    assert timers["first_response"].priority == "P2"
    assert timers["first_response"].state == "met"  # 30 min would also meet P1's 60
    assert timers["resolution"].priority == "P1"
    assert timers["resolution"].due == t("2026-03-03T10:00:00+01:00")  # from the opening
    assert current_priority("P2", events) == "P1"
    # a priority with fewer targets drops the clocks it has none for
    down = [*events, ev("2026-03-02T11:10:00+01:00", "priority", "P2")]
    assert "notify_after" not in timers_of(FIRST, "P2", MON_10, down, "2026-03-02T11:30:00+01:00")


def test_escalation_levels_reached() -> None:
    early = timers_of(FIRST, "P1", MON_10, [], "2026-03-03T09:20:00+01:00")["resolution"]
    assert early.escalations == ()
    warned = timers_of(FIRST, "P1", MON_10, [], "2026-03-03T09:31:00+01:00")["resolution"]
    assert warned.escalations == ("warn-lead",)  # 30 business minutes before due
    head = timers_of(FIRST, "P1", MON_10, [], "2026-03-03T11:01:00+01:00")["resolution"]
    assert head.escalations == ("warn-lead", "head")  # one business hour after due
    p2 = timers_of(FIRST, "P2", MON_10, [], "2026-03-09T12:00:00+01:00")["resolution"]
    assert p2.escalations == ("warn-lead",)  # "head" is for P1 only
    # met before a level: never reached
    done = [ev("2026-03-02T10:10:00+01:00", "reply"), ev("2026-03-03T09:00:00+01:00", "resolve")]
    assert (
        timers_of(FIRST, "P1", MON_10, done, "2026-03-04T12:00:00+01:00")["resolution"].escalations
        == ()
    )


def test_events_after_now_are_ignored_and_order_does_not_matter() -> None:
    events = [ev("2026-03-02T10:30:00+01:00", "reply"), ev("2026-03-02T10:05:00+01:00", "note")]
    before = timers_of(FIRST, "P1", MON_10, events, "2026-03-02T10:20:00+01:00")
    assert before["first_response"].state == "running"
    after = timers_of(FIRST, "P1", MON_10, list(reversed(events)), "2026-03-02T10:40:00+01:00")
    assert after["first_response"].state == "met"
    # a kept history that holds later events refuses an earlier now instead of lying
    kept = read_history(FIRST, "P1", t(MON_10), events)
    with pytest.raises(ValueError, match="events after now"):
        timers_at(FIRST, kept, t("2026-03-02T10:20:00+01:00"))


def test_timer_json() -> None:
    timer = timers_of(FIRST, "P1", MON_10, [], "2026-03-02T10:30:00+01:00")["first_response"]
    data = timer.as_dict()
    assert data["kind"] == "first_response" and data["state"] == "running"
    assert data["due"] == "2026-03-02T10:00:00Z"
    assert data["remaining_s"] == 1800.0
    assert data["target"] == "60 business minutes"


# -- every preset's promises ----------------------------------------------------------------------

# Opened Monday 2026-03-02 10:00 local (no holiday in NL, BE, FR or RU that week): the due
# instant of every timer each contract promises, and nothing for what it does not promise.
PROMISES = {
    ("texpro", "P1"): {"resolution": "2026-03-03T10:00"},  # 1 workday
    ("texpro", "P2"): {"resolution": "2026-03-09T10:00"},  # 1 work week
    ("texpro", "P3"): {"first_response": "2026-03-03T17:00"},  # the next day's closing
    ("texpro", "wish"): {},
    ("safr", "high"): {
        "first_response": "2026-03-02T14:00",  # 4 h, 24/7
        "periodic_update": "2026-03-03T10:00",  # every 24 h
        "notify_after": "2026-03-05T10:00",  # 3 calendar days
    },
    ("safr", "medium"): {
        "first_response": "2026-03-03T10:00",  # 1 business day
        "periodic_update": "2026-03-03T10:00",
        "notify_after": "2026-03-09T10:00",
    },
    ("safr", "low"): {
        "first_response": "2026-03-05T10:00",  # 3 business days
        "notify_after": "2026-03-23T10:00",  # 21 calendar days
    },
    ("otter-basic", "critical"): {"first_response": "2026-03-03T10:00"},
    ("otter-basic", "high"): {},
    ("otter-basic", "low"): {},
    ("otter-extended", "critical"): {"first_response": "2026-03-02T14:00"},
    ("otter-extended", "high"): {"first_response": "2026-03-03T10:00"},
    ("otter-extended", "low"): {"first_response": "2026-03-03T10:00"},
    ("otter-premium", "critical"): {"first_response": "2026-03-02T12:00"},
    ("otter-premium", "high"): {"first_response": "2026-03-02T16:00"},
    ("otter-premium", "medium"): {"first_response": "2026-03-02T22:00"},
    ("otter-premium", "low"): {"first_response": "2026-03-02T22:00"},
    ("navixy-saas", "standard"): {
        "first_response": "2026-03-02T22:00",
        "next_reply": "2026-03-02T22:00",
    },
    ("navixy-onprem", "P1"): {
        "first_response": "2026-03-02T12:00",
        "next_reply": "2026-03-02T12:00",
    },
    ("navixy-onprem", "P2"): {
        "first_response": "2026-03-02T14:00",
        "next_reply": "2026-03-02T14:00",
    },
    ("navixy-onprem", "P3"): {
        "first_response": "2026-03-02T15:00",
        "next_reply": "2026-03-02T15:00",
    },
    ("navixy-onprem", "P4"): {
        "first_response": "2026-03-03T10:00",
        "next_reply": "2026-03-03T10:00",
    },
    ("visuatech", "P1"): {},
    ("visuatech", "P3"): {},
}


@pytest.mark.parametrize(("name", "priority"), sorted(PROMISES))
def test_every_preset_computes_the_timers_its_contract_promises(name: str, priority: str) -> None:
    pol = PRESETS.policy(name)
    zone = pol.calendar.tz
    opened = datetime(2026, 3, 2, 10, 0, tzinfo=zone)
    found = {}
    for kind in ("first_response", "next_reply", "periodic_update", "resolution", "notify_after"):
        due = due_instant(pol, priority, kind, opened)
        if due is not None:
            found[kind] = due.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    assert found == PROMISES[(name, priority)]
    # and an incident opened then, left alone, runs exactly its opening timers to those dues
    timers = compute_timers(pol, priority, opened, [], opened + timedelta(minutes=1))
    opening = {
        k: v for k, v in found.items() if k in ("first_response", "resolution", "notify_after")
    }
    assert {x.kind: x.due.astimezone(zone).strftime("%Y-%m-%dT%H:%M") for x in timers} == opening


def test_every_preset_is_named_and_every_example_customer_uses_one() -> None:
    assert set(PRESETS.names) == {
        "texpro",
        "safr",
        "otter-basic",
        "otter-extended",
        "otter-premium",
        "navixy-saas",
        "navixy-onprem",
        "visuatech",
    }
    config = load_config(ROOT / "config.example.toml")
    assert {c.sla_plan for c in config.customers} == set(PRESETS.names)


def test_preset_availability_terms_and_quotas() -> None:
    texpro = PRESETS.policy("texpro").spec.availability
    assert texpro.maintenance.notice_days == 5
    assert texpro.maintenance.allowed_hours == "23:00-07:00"
    assert texpro.latency_target_ms == 3000 and texpro.latency_percentile == 95
    safr = PRESETS.policy("safr").spec.availability
    assert (safr.target_pct, safr.credit_pct_per_failure, safr.credit_cap_pct) == (99.9, 2, 10)
    assert safr.claim_days == 7 and safr.timer_breach_is_failure
    assert PRESETS.policy("otter-basic").spec.quota.requests_per_month == 4
    assert PRESETS.policy("otter-extended").spec.quota.requests_per_month is None
    visuatech = PRESETS.policy("visuatech")
    assert visuatech.monitoring_priority("server_online") == "P1"
    assert visuatech.monitoring_priority("camera") == "P2"
    assert visuatech.spec.monitoring.resolve_on_recovery


def test_navixy_onprem_escalates_to_the_head_of_support() -> None:
    pol = PRESETS.policy("navixy-onprem")
    opened = t("2026-03-02T10:00:00+03:00")
    p1 = {x.kind: x for x in compute_timers(pol, "P1", opened, [], t("2026-03-02T12:01:00+03:00"))}
    assert p1["first_response"].state == "breached"
    assert p1["first_response"].escalations == ("head-of-support", "account-admin")
    p4 = {x.kind: x for x in compute_timers(pol, "P4", opened, [], t("2026-03-03T10:01:00+03:00"))}
    assert p4["first_response"].escalations == ()


def test_navixy_saas_answers_count_from_the_partners_last_message() -> None:
    pol = PRESETS.policy("navixy-saas")
    opened = t("2026-03-02T10:00:00+03:00")
    events = [
        Event(t("2026-03-02T11:00:00+03:00"), "reply"),
        Event(t("2026-03-02T12:00:00+03:00"), "customer-message"),
        Event(t("2026-03-02T20:00:00+03:00"), "customer-message"),
    ]
    timers = {
        x.kind: x
        for x in compute_timers(pol, "standard", opened, events, t("2026-03-03T01:00:00+03:00"))
    }
    assert timers["next_reply"].due == t("2026-03-03T08:00:00+03:00")


def test_safr_high_update_every_24_hours_across_dst() -> None:
    pol = PRESETS.policy("safr")
    opened = t("2026-03-28T10:00:00+01:00")
    events = [Event(t("2026-03-28T11:00:00+01:00"), "reply")]
    timers = {
        x.kind: x
        for x in compute_timers(pol, "high", opened, events, t("2026-03-28T12:00:00+01:00"))
    }
    # 24 real hours: 12:00 local the next day, after the change to CEST
    assert timers["periodic_update"].due == t("2026-03-29T12:00:00+02:00")
    # three calendar days in Brussels: 10:00 local on Tuesday, 71 real hours later
    assert timers["notify_after"].due == t("2026-03-31T10:00:00+02:00")


# -- monthly entitlements -------------------------------------------------------------------------


def test_monthly_requests_questions_and_contacts() -> None:
    otter = PRESETS.policy("otter-basic")

    def record(n: int, day: str, kind: str = "problem", monitoring: bool = False) -> IncidentRecord:
        opened = t(f"2026-03-{day}T10:00:00+01:00")
        events = (Event(opened + timedelta(hours=1), "customer-message"),)
        return IncidentRecord(n, "acme", kind, "critical", opened, events, monitoring)

    records = [
        record(1, "02"),
        record(2, "03", "question"),
        record(3, "04", "question"),
        record(4, "05", "wish"),
        record(5, "06", "rma"),  # the fifth request of March
        record(6, "07", "outage", monitoring=True),  # proactive: never counts as a request
        IncidentRecord(
            7, "acme", "problem", "critical", t("2026-02-28T23:30:00Z"), ()
        ),  # March 1 in Paris
        IncidentRecord(8, "other", "problem", "critical", t("2026-04-01T09:00:00+02:00"), ()),
    ]
    counts = {
        c.customer: c
        for c in monthly_counts(
            records, "2026-03", {"acme": otter, "other": otter}, now=t("2026-04-02T00:00:00Z")
        )
    }
    acme = counts["acme"]
    assert acme.requests == 6 and acme.quota == 4 and acme.over_quota
    assert acme.questions == 2
    assert acme.contacts == 6 + 6  # six opened by hand, six customer messages
    assert "other" not in counts or counts["other"].requests == 0
    # first response of a critical request: 1 business day; none was answered
    assert acme.timers_breached >= 1


def test_an_unknown_event_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event kind 'call'"):
        Event(t(MON_10), "call")


def test_opened_at_as_microseconds() -> None:
    opened = t(MON_10)
    a = compute_timers(FIRST, "P1", opened, [], t("2026-03-02T10:30:00+01:00"))
    b = compute_timers(FIRST, "P1", to_us(opened), [], to_us(t("2026-03-02T10:30:00+01:00")))
    assert a == b
