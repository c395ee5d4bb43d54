"""Business calendars: properties of the arithmetic and worked examples a service desk meets."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.sla.calendar import (
    MINUTE,
    WEEKDAYS,
    Calendar,
    HolidayRules,
    parse_instant,
    to_us,
    weekly,
)
from console.sla.timers import due_with_pauses, used_with_pauses

MON_FRI = ["mon", "tue", "wed", "thu", "fri"]
NL = Calendar("Europe/Amsterdam", weekly(MON_FRI, [(540, 1020)]), HolidayRules("NL"), name="nl")
MSK = Calendar("Europe/Moscow", weekly(MON_FRI, [(480, 960)]), HolidayRules("RU"), name="msk")
SPLIT = Calendar(
    "Europe/Brussels", weekly(MON_FRI, [(480, 720), (780, 1020)]), HolidayRules("BE"), name="split"
)
SUNDAYS = Calendar("Europe/Amsterdam", weekly(["sun"], [(0, 1440)]), name="sundays")
ALWAYS = Calendar.always("Europe/Paris")
# night shifts whose edges fall in the hour skipped or repeated by DST changes
NIGHTS = Calendar(
    "Europe/Amsterdam",
    weekly(list(WEEKDAYS), [(0, 150), (165, 360), (1320, 1440)]),
    HolidayRules("NL"),
    name="nights",
)
CALENDARS = [NL, MSK, SPLIT, SUNDAYS, ALWAYS, NIGHTS]


def t(text: str) -> datetime:
    return parse_instant(text)


# -- properties -----------------------------------------------------------------------------------

instants = st.integers(
    min_value=to_us(datetime(2024, 1, 1, tzinfo=UTC)),
    max_value=to_us(datetime(2028, 12, 31, tzinfo=UTC)),
)
amounts = st.integers(min_value=0, max_value=60 * 24 * 60 * MINUTE)  # up to 60 days of minutes
calendars = st.sampled_from(CALENDARS)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, amounts)
def test_counted_time_from_an_instant_to_its_due_instant_is_the_target(
    cal: Calendar, start: int, amount: int
) -> None:
    due = cal.add_us(start, amount)
    assert due >= start
    assert cal.counted_us(start, due) == amount
    if amount > 0:  # and it is the earliest such instant
        assert cal.counted_us(start, due - 1) < amount


@settings(max_examples=300, deadline=None)
@given(calendars, instants, amounts, amounts)
def test_due_never_decreases_as_the_target_grows(cal: Calendar, start: int, a: int, b: int) -> None:
    small, large = sorted((a, b))
    assert cal.add_us(start, small) <= cal.add_us(start, large)


@settings(max_examples=300, deadline=None)
@given(calendars, instants, st.lists(st.integers(0, 10**9), max_size=12), amounts)
def test_counted_time_is_additive(cal: Calendar, start: int, steps: list[int], amount: int) -> None:
    points = [start]
    for step in steps:
        points.append(points[-1] + step * 1000)
    total = sum(cal.counted_us(a, b) for a, b in itertools.pairwise(points))
    assert total == cal.counted_us(points[0], points[-1])


pauses = st.lists(st.tuples(st.integers(0, 20 * 86400), st.integers(1, 5 * 86400)), max_size=6).map(
    lambda spans: sorted((s * 1_000_000, (s + d) * 1_000_000) for s, d in spans)
)


def _disjoint(spans: list[tuple[int, int]], start: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        s, e = s + start, e + start
        if merged and merged[-1][1] >= s:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


@settings(max_examples=300, deadline=None)
@given(
    calendars,
    instants,
    amounts,
    pauses,
    st.tuples(st.integers(0, 30 * 86400), st.integers(1, 86400)),
)
def test_a_pause_only_ever_postpones(
    cal: Calendar, start: int, amount: int, spans: list[tuple[int, int]], extra: tuple[int, int]
) -> None:
    before = _disjoint(spans, start)
    s, d = extra
    after = _disjoint(sorted([*spans, (s * 1_000_000, (s + d) * 1_000_000)]), start)
    due_before = due_with_pauses(cal, start, amount, before)
    due_after = due_with_pauses(cal, start, amount, after)
    assert due_before >= cal.add_us(start, amount)
    assert due_after >= due_before
    # and the counted time outside the pauses up to the due instant is still the target
    inside = [(max(a, start), min(b, due_after)) for a, b in after if b > start and a < due_after]
    assert used_with_pauses(cal, start, due_after, inside) == amount


# -- worked examples ------------------------------------------------------------------------------


def test_a_deadline_used_up_at_closing_time_is_due_at_closing_time() -> None:
    # 4 business hours from 13:00 on a 09:00-17:00 day: 17:00 the same day, not 09:00 next day.
    assert NL.add(t("2026-03-03T13:00:00+01:00"), 240) == t("2026-03-03T17:00:00+01:00")
    assert NL.add(t("2026-03-03T13:00:00+01:00"), 241) == t("2026-03-04T09:01:00+01:00")
    # a request arriving at closing time starts counting at the next opening
    assert NL.add(t("2026-03-03T17:00:00+01:00"), 60) == t("2026-03-04T10:00:00+01:00")


def test_across_a_weekend() -> None:
    friday = t("2026-03-06T15:00:00+01:00")
    assert NL.add(friday, 240) == t("2026-03-09T11:00:00+01:00")
    assert NL.counted(friday, t("2026-03-09T11:00:00+01:00")) == timedelta(hours=4)
    # an arrival on Saturday starts at Monday's opening
    assert NL.add(t("2026-03-07T10:00:00+01:00"), 60) == t("2026-03-09T10:00:00+01:00")


def test_across_the_spring_dst_change() -> None:
    # Europe/Amsterdam moves to CEST on Sunday 2026-03-29: business hours stay 09:00-17:00 local.
    friday = t("2026-03-27T16:00:00+01:00")
    assert NL.add(friday, 120) == t("2026-03-30T10:00:00+02:00")
    # three calendar days: the same local time, 71 real hours later
    assert ALWAYS.add_calendar_days(t("2026-03-27T12:00:00+01:00"), 3) == t(
        "2026-03-30T12:00:00+02:00"
    )
    assert t("2026-03-30T12:00:00+02:00") - t("2026-03-27T12:00:00+01:00") == timedelta(hours=71)
    # 24 hours on a 24/7 clock are real hours: 13:00 local the next day
    assert ALWAYS.add(t("2026-03-28T12:00:00+01:00"), 24 * 60) == t("2026-03-29T13:00:00+02:00")
    # a Sunday open 00:00-24:00 holds 23 hours that day
    day = SUNDAYS.counted(t("2026-03-29T00:00:00+01:00"), t("2026-03-30T00:00:00+02:00"))
    assert day == timedelta(hours=23)


def test_across_the_autumn_dst_change() -> None:
    # back to CET on Sunday 2026-10-25: three calendar days are 73 real hours
    start = t("2026-10-23T12:00:00+02:00")
    due = ALWAYS.add_calendar_days(start, 3)
    assert due == t("2026-10-26T12:00:00+01:00")
    assert due - start == timedelta(hours=73)
    assert SUNDAYS.counted(
        t("2026-10-25T00:00:00+02:00"), t("2026-10-26T00:00:00+01:00")
    ) == timedelta(hours=25)
    assert NL.add(t("2026-10-23T16:00:00+02:00"), 120) == t("2026-10-26T10:00:00+01:00")


def test_a_dutch_public_holiday() -> None:
    # King's Day, Monday 2026-04-27: Friday 16:00 + 2 business hours is Tuesday 10:00.
    friday = t("2026-04-24T16:00:00+02:00")
    assert NL.add(friday, 120) == t("2026-04-28T10:00:00+02:00")
    # a contract that works on King's Day, and one that closes on Christmas Eve too
    worked = Calendar(
        "Europe/Amsterdam",
        weekly(MON_FRI, [(540, 1020)]),
        HolidayRules("NL", remove=frozenset({date(2026, 4, 27)})),
    )
    assert worked.add(friday, 120) == t("2026-04-27T10:00:00+02:00")
    closed = Calendar(
        "Europe/Amsterdam",
        weekly(MON_FRI, [(540, 1020)]),
        HolidayRules("NL", add=frozenset({date(2026, 12, 24)})),
    )
    assert closed.add(t("2026-12-23T16:00:00+01:00"), 120) == t("2026-12-28T10:00:00+01:00")


def test_a_russian_transfer_saturday() -> None:
    # Saturday 2025-11-01 is a working day in Russia (Monday 11-03 is off, 11-04 Unity Day).
    friday = t("2025-10-31T15:00:00+03:00")
    assert MSK.add(friday, 120) == t("2025-11-01T09:00:00+03:00")
    assert MSK.is_business_day(date(2025, 11, 1))
    assert not MSK.is_business_day(date(2025, 11, 3))
    without = Calendar(
        "Europe/Moscow",
        weekly(MON_FRI, [(480, 960)]),
        HolidayRules("RU", transfer_workdays=False),
    )
    assert without.add(friday, 120) == t("2025-11-05T09:00:00+03:00")
    # an extra working date of the contract's own, with the usual hours
    extra = Calendar(
        "Europe/Moscow",
        weekly(MON_FRI, [(480, 960)]),
        HolidayRules("RU", transfer_workdays=False, workdays=frozenset({date(2025, 11, 2)})),
    )
    assert extra.add(friday, 120) == t("2025-11-02T09:00:00+03:00")


def test_a_moscow_calendar_for_a_request_sent_from_amsterdam() -> None:
    # 09:30 in Amsterdam is 11:30 in Moscow: two Moscow business hours end at 13:30 MSK.
    assert MSK.add(t("2026-03-02T09:30:00+01:00"), 120) == t("2026-03-02T13:30:00+03:00")
    # 15:30 in Amsterdam is 17:30 in Moscow, after Moscow's closing: counting starts at 08:00
    # MSK the next day, whatever the hours in Amsterdam.
    due = MSK.add(t("2026-03-02T15:30:00+01:00"), 120)
    assert due == t("2026-03-03T10:00:00+03:00")
    assert due == t("2026-03-03T08:00:00+01:00")


def test_night_hours_across_dst_changes() -> None:
    # 00:00-02:30, 02:45-06:00 and 22:00-24:00 every day hold 7:45 hours; the night the clock
    # jumps from 02:00 to 03:00 holds one hour less, the night it falls back one more
    normal = NIGHTS.counted(t("2026-03-27T00:00:00+01:00"), t("2026-03-28T00:00:00+01:00"))
    assert normal == timedelta(hours=7, minutes=45)
    spring = NIGHTS.counted(t("2026-03-29T00:00:00+01:00"), t("2026-03-30T00:00:00+02:00"))
    assert spring == timedelta(hours=6, minutes=45)
    autumn = NIGHTS.counted(t("2026-10-25T00:00:00+02:00"), t("2026-10-26T00:00:00+01:00"))
    assert autumn == timedelta(hours=8, minutes=45)


def test_two_intervals_a_day() -> None:
    # 08:00-12:00 and 13:00-17:00: the lunch hour does not count
    assert SPLIT.add(t("2026-03-02T11:00:00+01:00"), 120) == t("2026-03-02T14:00:00+01:00")
    assert SPLIT.add(t("2026-03-02T11:00:00+01:00"), 60) == t("2026-03-02T12:00:00+01:00")
    assert SPLIT.counted(
        t("2026-03-02T00:00:00+01:00"), t("2026-03-03T00:00:00+01:00")
    ) == timedelta(hours=8)


def test_end_of_business_day() -> None:
    # "the same or the next day": closing time of the next business day after the day of receipt
    assert NL.end_of_business_day(t("2026-03-06T16:30:00+01:00"), 1) == t(
        "2026-03-09T17:00:00+01:00"
    )
    assert NL.end_of_business_day(t("2026-03-07T11:00:00+01:00"), 1) == t(
        "2026-03-09T17:00:00+01:00"
    )
    assert NL.end_of_business_day(t("2026-03-03T10:00:00+01:00"), 0) == t(
        "2026-03-03T17:00:00+01:00"
    )
    # N = 0 after closing means the next business day's closing, never a due before arrival
    assert NL.end_of_business_day(t("2026-03-03T18:00:00+01:00"), 0) == t(
        "2026-03-04T17:00:00+01:00"
    )
    # across King's Day
    assert NL.end_of_business_day(t("2026-04-24T12:00:00+02:00"), 1) == t(
        "2026-04-28T17:00:00+02:00"
    )


def test_open_and_closed() -> None:
    assert NL.is_open(t("2026-03-03T09:00:00+01:00"))
    assert not NL.is_open(t("2026-03-03T17:00:00+01:00"))
    assert not NL.is_open(t("2026-04-27T10:00:00+02:00"))
    assert ALWAYS.is_open(t("2026-12-25T03:00:00+01:00"))


def test_far_apart_instants_and_years_before_the_first_question() -> None:
    # the table grows both ways: a later question about an earlier year still answers
    cal = Calendar("Europe/Amsterdam", weekly(MON_FRI, [(540, 1020)]), HolidayRules("NL"))
    assert cal.add(t("2027-06-01T09:00:00+02:00"), 60) == t("2027-06-01T10:00:00+02:00")
    assert cal.add(t("2024-06-03T09:00:00+02:00"), 60) == t("2024-06-03T10:00:00+02:00")
    # 2025 in the Netherlands: 261 weekdays less 8 public holidays on weekdays (King's Day fell
    # on a Saturday) = 253 days of 8 hours
    year = cal.counted(t("2025-01-01T00:00:00+01:00"), t("2026-01-01T00:00:00+01:00"))
    assert year == timedelta(hours=8 * 253)


def test_times_without_offset_are_refused() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_instant("2026-03-02T09:00:00")
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        parse_instant("next tuesday")
    assert parse_instant("2026-03-02T08:00:00Z") == datetime(2026, 3, 2, 8, tzinfo=UTC)


def test_a_calendar_that_is_never_open_is_refused() -> None:
    with pytest.raises(ValueError, match="never open"):
        Calendar("UTC", ((),) * 7)


def test_threads_sharing_a_calendar_get_the_same_answers() -> None:
    """The daemon's loop and the console's workers share calendars while their tables grow."""
    from concurrent.futures import ThreadPoolExecutor

    starts = [
        to_us(datetime(year, month, 3, 8, tzinfo=UTC))
        for year in range(2020, 2031)
        for month in (1, 6, 11)
    ]
    amounts = [m * 97 * MINUTE for m in range(1, 40)]
    reference = Calendar("Europe/Moscow", weekly(MON_FRI, [(480, 960)]), HolidayRules("RU"))
    expected = [reference.add_us(s, a) for s in starts for a in amounts]
    shared = Calendar("Europe/Moscow", weekly(MON_FRI, [(480, 960)]), HolidayRules("RU"))
    jobs = [(s, a) for s in reversed(starts) for a in amounts]  # later years first: rebuilds
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda job: shared.add_us(*job), jobs))
    assert sorted(found) == sorted(expected)


def test_one_country_loaded_alone_has_the_packages_holidays() -> None:
    import holidays

    from console.sla.calendar import country_class

    for country, subdivision in (
        ("NL", None),
        ("BE", None),
        ("FR", None),
        ("RU", None),
        ("ES", "MD"),
    ):
        for year in (2025, 2026):
            fast = country_class(country)(subdiv=subdivision, years=year)
            official = holidays.country_holidays(country, subdiv=subdivision, years=year)
            assert dict(fast) == dict(official)
            assert set(fast.weekend_workdays) == set(official.weekend_workdays)
