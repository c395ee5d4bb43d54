"""SLA policies as configuration data: `[calendars.NAME]` and `[sla_policies.NAME]`.

A policy names a calendar and, per priority (highest first, in the order written), the targets
of the five timer kinds, each in one unit: business minutes/hours, workdays, end of business
day N, calendar days, or plain hours on a 24/7 clock. It also carries the warning thresholds,
escalation levels, the monthly request quota, how monitoring opens incidents, and the
availability terms. Nothing about a contract lives in code.

This module imports neither `console.config` nor anything heavy, so `nls sla due` can validate
just these two tables of the configuration and answer in a fraction of a second; `Config`
embeds the same models, so both paths accept and refuse the same text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from console.errors import UsageError
from console.sla.calendar import (
    DAY_MINUTES,
    MINUTE,
    WEEKDAYS,
    Calendar,
    HolidayRules,
    Hours,
    known_holiday_country,
    parse_hours,
)
from console.sla.terms import AvailabilityTerms, TimerKind
from console.zones import TimeZone

TIMER_KINDS = ("first_response", "next_reply", "periodic_update", "resolution", "notify_after")
INCIDENT_TYPES = ("outage", "problem", "question", "wish", "rma")
IncidentType = Literal["outage", "problem", "question", "wish", "rma"]
_ALL_TYPES: tuple[IncidentType, ...] = ("outage", "problem", "question", "wish", "rma")
# The monitor's check names (console.monitor.checks.CHECKS; a test keeps the two equal). Not
# imported from there: that module pulls in the probes, and `nls sla due` must start fast.
MONITOR_CHECKS = ("server_online", "camera", "cpu", "disk_activity", "video_rights")
MonitorCheck = Literal["server_online", "camera", "cpu", "disk_activity", "video_rights"]
RECIPIENT_ROLES = ("ops", "installer")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALWAYS = "24/7"

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Name = Annotated[str, Field(pattern=_NAME)]
_SIGNED = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d+)?)\s*(m|h|d)?\s*$")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class SlaRefError(ValueError):
    """A reference to an unknown name, with the key path that holds it (like config._RefError,
    which `Config` turns it into)."""

    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class SlaInputError(UsageError, ValueError):
    """A name or time given on a command line that the policies do not know (exit 2)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _country(value: Any) -> Any:
    return {"country": value} if isinstance(value, str) else value


class HolidaySource(Strict):
    """Public holidays from the `holidays` package: ISO 3166 country, optional subdivision."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self) -> HolidaySource:
        problem = known_holiday_country(self.country, self.subdivision)
        if problem:
            raise ValueError(problem)
        return self


def _ranges(value: str | list[str]) -> Hours:
    items = [value] if isinstance(value, str) else value
    return tuple(parse_hours(item) for item in items)


def _weekdays(value: str | Sequence[str]) -> tuple[str, ...]:
    if not isinstance(value, str):
        return tuple(value)
    m = re.fullmatch(r"\s*([a-z]{3})\s*-\s*([a-z]{3})\s*", value)
    if m and m.group(1) in WEEKDAYS and m.group(2) in WEEKDAYS:
        lo, hi = WEEKDAYS.index(m.group(1)), WEEKDAYS.index(m.group(2))
        if lo <= hi:
            return WEEKDAYS[lo : hi + 1]
    if value.strip() in WEEKDAYS:
        return (value.strip(),)
    raise ValueError(f"{value!r} is not a range of weekdays such as mon-fri, or a list of days")


class CalendarSpec(Strict):
    """`[calendars.NAME]`, or a policy's inline `calendar = { ... }`."""

    timezone: TimeZone
    # One range or a list ("08:00-12:00", "13:00-17:00") on each of `weekdays`; "24/7" opens
    # every day from 00:00 to 24:00.
    hours: str | list[str] = "09:00-17:00"
    weekdays: str | list[Weekday] = "mon-fri"
    # A weekday with other hours than `hours` ("closed" for none), e.g. days.sat = "10:00-14:00".
    days: dict[Weekday, str | list[str]] = Field(default_factory=dict)
    holidays: Annotated[HolidaySource | None, BeforeValidator(_country)] = None
    holidays_add: list[date] = Field(default_factory=list)  # closed on top of the country's
    holidays_remove: list[date] = Field(default_factory=list)  # country holidays worked anyway
    workdays_add: list[date] = Field(default_factory=list)  # open although weekend or holiday
    transfer_workdays: bool = True  # the country's moved working days (Russia's Saturdays)
    # Length of "1 workday" for `workdays` targets; default: the first open weekday's hours.
    workday_minutes: int | None = Field(None, gt=0, le=DAY_MINUTES)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | list[str]) -> str | list[str]:
        if value != ALWAYS:
            if isinstance(value, list) and not value:
                raise ValueError("give at least one range such as 09:00-17:00")
            _ranges(value)
        return value

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: str | list[Weekday]) -> str | list[Weekday]:
        _weekdays(value)
        return value

    @field_validator("days")
    @classmethod
    def _per_day(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for hours in value.values():
            if hours != "closed":
                _ranges(hours)
        return value

    @model_validator(mode="after")
    def _shape(self) -> CalendarSpec:
        if self.hours == ALWAYS and "weekdays" in self.model_fields_set:
            raise ValueError('hours = "24/7" already opens every day; drop weekdays')
        if not any(self.week()):
            raise ValueError("this calendar is never open: give hours on at least one weekday")
        return self

    def week(self) -> tuple[Hours, ...]:
        if self.hours == ALWAYS:
            week: list[Hours] = [((0, DAY_MINUTES),)] * 7
        else:
            days = set(_weekdays(self.weekdays))
            normal = _ranges(self.hours)
            week = [normal if name in days else () for name in WEEKDAYS]
        for name, hours in self.days.items():
            week[WEEKDAYS.index(name)] = () if hours == "closed" else _ranges(hours)
        return tuple(week)

    def build(self, name: str = "") -> Calendar:
        week = self.week()
        normal = () if self.hours == ALWAYS else _ranges(self.hours)
        return Calendar(
            self.timezone,
            week,
            HolidayRules(
                country=self.holidays.country if self.holidays else None,
                subdivision=self.holidays.subdivision if self.holidays else None,
                add=frozenset(self.holidays_add),
                remove=frozenset(self.holidays_remove),
                workdays=frozenset(self.workdays_add),
                transfer_workdays=self.transfer_workdays,
            ),
            extra_hours=normal or None,
            name=name,
            workday_minutes=self.workday_minutes or 0,
        )


Unit = Literal[
    "business_minutes",
    "business_hours",
    "workdays",
    "end_of_business_day",
    "calendar_days",
    "hours",
]
UNITS: tuple[Unit, ...] = (
    "business_minutes",
    "business_hours",
    "workdays",
    "end_of_business_day",
    "calendar_days",
    "hours",
)


class TargetSpec(Strict):
    """One promise, in exactly one unit:
    business_minutes / business_hours / workdays: counted in the calendar's opening hours;
    end_of_business_day = N: closing time of the Nth business day after the day of receipt;
    calendar_days = N: the same local time N dates later in the calendar's zone;
    hours: plain hours on a 24/7 clock."""

    business_minutes: float | None = Field(None, gt=0)
    business_hours: float | None = Field(None, gt=0)
    workdays: float | None = Field(None, gt=0)
    end_of_business_day: int | None = Field(None, ge=0, le=366)
    calendar_days: int | None = Field(None, ge=1, le=3660)
    hours: float | None = Field(None, gt=0)
    # Another calendar than the policy's for this target (a [calendars.NAME]).
    calendar: Name | None = None
    # Whether waiting on the customer stops this clock.
    pause: bool = True

    @model_validator(mode="after")
    def _one_unit(self) -> TargetSpec:
        given = [unit for unit in UNITS if getattr(self, unit) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of {', '.join(UNITS)} (got {', '.join(given) or 'none'})"
            )
        if self.calendar is not None and given[0] == "hours":
            raise ValueError("hours count on a 24/7 clock; a calendar does not apply")
        return self

    @property
    def unit(self) -> Unit:
        return next(unit for unit in UNITS if getattr(self, unit) is not None)

    @property
    def value(self) -> float:
        return float(getattr(self, self.unit))


class PriorityTargets(Strict):
    """The targets of one priority; a kind left out has no timer at that priority."""

    description: str = ""
    first_response: TargetSpec | None = None
    next_reply: TargetSpec | None = None
    periodic_update: TargetSpec | None = None
    resolution: TargetSpec | None = None
    notify_after: TargetSpec | None = None


def _recipients(value: list[str]) -> list[str]:
    for item in value:
        if item not in RECIPIENT_ROLES and not _EMAIL.fullmatch(item):
            raise ValueError(
                f"{item!r} is neither an e-mail address nor one of {', '.join(RECIPIENT_ROLES)}"
            )
    return value


Recipients = Annotated[list[str], Field(min_length=1), AfterValidator(_recipients)]


def _signed_minutes(value: Any) -> Any:
    """ "-30m", "2h", "1d", "0" or a number of minutes: an offset from the due instant."""
    if isinstance(value, bool):
        raise ValueError("expected an offset such as 0m, -30m or 2h")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (m := _SIGNED.match(value)):
        minutes = float(m.group(2)) * {"m": 1, "h": 60, "d": 1440, None: 1}[m.group(3)]
        return -minutes if m.group(1) == "-" else minutes
    raise ValueError(f"{value!r} is not an offset; write e.g. 0m, -30m (before due) or 2h (after)")


class EscalationSpec(Strict):
    """A level reached `after` the due instant (negative: before it), counted in the timer's
    calendar; each level notifies its own recipients once."""

    name: Name
    after: Annotated[float, BeforeValidator(_signed_minutes)] = 0.0
    notify: Recipients  # e-mail addresses, or "ops" / "installer"
    priorities: list[str] = Field(default_factory=list)  # empty: every priority
    timers: list[TimerKind] = Field(default_factory=list)  # empty: every timer kind


class WarningSpec(Strict):
    at_risk_pct: float = Field(80.0, gt=0, lt=100)  # "at risk" from this share of the target
    urgent_minutes: float = Field(15.0, ge=0)  # "urgent" at this much counted time left
    # Who is told once when a timer turns at risk, urgent or breached: e-mail addresses, or
    # "ops" (the [smtp] ops_address) / "installer" (the customer's installer).
    notify: Recipients = Field(default_factory=lambda: ["ops"])


class QuotaSpec(Strict):
    """Entitlements: requests a customer may open per calendar month (Otter Basic: 4)."""

    requests_per_month: int | None = Field(None, ge=0)
    # Which incident types count as requests (opened by hand; monitoring's never count).
    types: list[IncidentType] = Field(default_factory=lambda: list(_ALL_TYPES))


class MonitoringSpec(Strict):
    """Incidents that monitoring opens ("proactive support"): priority per check."""

    priorities: dict[MonitorCheck, str] = Field(default_factory=dict)
    default_priority: str | None = None  # checks not listed; default: the highest priority
    resolve_on_recovery: bool = False  # recovery resolves the incident, or leaves it to ops


def _calendar_ref(value: Any) -> Any:
    """A [calendars.NAME] name, or an inline table validated here so that its errors name the
    key inside the table (a plain union would report both alternatives)."""
    if isinstance(value, str):
        if not re.match(_NAME, value):
            raise ValueError(f"{value!r} is not a calendar name (letters, digits, . _ -)")
        return value
    if not isinstance(value, dict):
        raise ValueError("expected a calendar name or an inline table of calendar keys")
    try:
        return CalendarSpec.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key; check the spelling against config.example.toml"
        raise ValueError(f"{where + ': ' if where else ''}{message}") from None


class SlaPolicy(Strict):
    """`[sla_policies.NAME]`: one contract's timers, entitlements and availability terms."""

    description: str = ""
    calendar: Annotated[CalendarSpec | str, BeforeValidator(_calendar_ref)]
    # Priority name -> targets, highest priority first.
    priorities: dict[Name, PriorityTargets] = Field(min_length=1)
    # next_reply runs from the first unanswered customer message (Zendesk, Zammad, JSM) or
    # restarts at each one (Navixy: "from the partner's last message").
    next_reply_anchor: Literal["first_unanswered", "last_message"] = "first_unanswered"
    acknowledge_meets_first_response: bool = False
    warnings: WarningSpec = WarningSpec()
    escalations: list[EscalationSpec] = Field(default_factory=list)
    quota: QuotaSpec = QuotaSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    availability: AvailabilityTerms = AvailabilityTerms()

    @model_validator(mode="after")
    def _names(self) -> SlaPolicy:
        known = list(self.priorities)

        def check(where: str, name: str | None) -> None:
            if name is not None and name not in self.priorities:
                raise ValueError(f"{where}: unknown priority {name!r}; known: {', '.join(known)}")

        for check_name, priority in self.monitoring.priorities.items():
            check(f"monitoring.priorities.{check_name}", priority)
        check("monitoring.default_priority", self.monitoring.default_priority)
        seen: set[str] = set()
        for n, level in enumerate(self.escalations):
            if level.name in seen:
                raise ValueError(f"escalations[{n}]: duplicate name {level.name!r}")
            seen.add(level.name)
            for priority in level.priorities:
                check(f"escalations[{n}].priorities", priority)
        return self


def check_references(
    calendars: Mapping[str, CalendarSpec], policies: Mapping[str, SlaPolicy]
) -> None:
    """Every calendar a policy or target names exists; raises SlaRefError with its key path."""
    known = sorted(calendars)
    listed = ", ".join(known) or "(none: add a [calendars.NAME] table)"
    for name, policy in policies.items():
        if isinstance(policy.calendar, str) and policy.calendar not in calendars:
            raise SlaRefError(
                ("sla_policies", name, "calendar"),
                f"unknown calendar {policy.calendar!r}; known: {listed}",
            )
        for priority, targets in policy.priorities.items():
            for kind in TIMER_KINDS:
                target = getattr(targets, kind)
                if target is not None and target.calendar and target.calendar not in calendars:
                    raise SlaRefError(
                        ("sla_policies", name, "priorities", priority, kind, "calendar"),
                        f"unknown calendar {target.calendar!r}; known: {listed}",
                    )


class SlaSettings(Strict):
    """The two SLA tables of a configuration file, validated on their own (`nls sla due`)."""

    calendars: dict[Name, CalendarSpec] = Field(default_factory=dict)
    sla_policies: dict[Name, SlaPolicy] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> SlaSettings:
        check_references(self.calendars, self.sla_policies)
        return self


# -- compiled policies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """One promise ready to compute: how much counted time a timer anchored at an instant has,
    on which calendar. Calendar days and end-of-business-day targets depend on the anchor."""

    kind: str
    unit: Unit
    value: float
    clock: Calendar  # where time is counted (24/7 for hours and calendar days)
    calendar: Calendar  # the target's own calendar: its zone places calendar days
    pause: bool = True

    def amount_us(self, anchor: int) -> int:
        """Counted microseconds from the anchor to the due instant, before any pause."""
        unit = self.unit
        if unit == "business_minutes":
            return round(self.value * MINUTE)
        if unit == "business_hours" or unit == "hours":
            return round(self.value * 60 * MINUTE)
        if unit == "workdays":
            return round(self.value * self.clock.workday_minutes * MINUTE)
        if unit == "end_of_business_day":
            due = self.clock.end_of_business_day_us(anchor, int(self.value))
            return self.clock.counted_us(anchor, due)
        return self.calendar.add_calendar_days_us(anchor, int(self.value)) - anchor

    def describe(self) -> str:
        value = f"{self.value:g}"
        plural = "" if self.value == 1 else "s"
        unit = self.unit
        if unit == "workdays":
            minutes = self.value * self.clock.workday_minutes
            return f"{value} workday{plural} ({minutes:g} business minutes)"
        if unit == "end_of_business_day":
            return f"end of business day {value}"
        if unit == "hours":
            return f"{value} h on a 24/7 clock"
        return f"{value} {unit.replace('_', ' ').removesuffix('s')}{plural}"


@dataclass(frozen=True, slots=True)
class Escalation:
    name: str
    after_us: int
    notify: tuple[str, ...]
    priorities: frozenset[str]  # empty: all
    timers: frozenset[str]  # empty: all

    def applies(self, priority: str, kind: str) -> bool:
        return (not self.priorities or priority in self.priorities) and (
            not self.timers or kind in self.timers
        )


@dataclass(frozen=True, eq=False)
class Policy:
    """A policy with its calendars built: what the timer engine computes with."""

    name: str
    spec: SlaPolicy
    calendar: Calendar
    targets: Mapping[str, Mapping[str, Target]]  # priority -> kind -> target
    escalations: tuple[Escalation, ...]
    at_risk: float  # share of a target used from which a timer is "at risk"
    urgent_us: int  # counted time left at which it is "urgent"
    kinds: tuple[str, ...] = ()  # the timer kinds some priority has a target for

    def __post_init__(self) -> None:
        found = {kind for row in self.targets.values() for kind in row}
        object.__setattr__(self, "kinds", tuple(k for k in TIMER_KINDS if k in found))

    @property
    def priorities(self) -> tuple[str, ...]:
        return tuple(self.spec.priorities)

    @property
    def zone(self) -> str:
        return self.calendar.zone

    def target(self, priority: str, kind: str) -> Target | None:
        return self.targets.get(priority, {}).get(kind)

    def require_priority(self, priority: str) -> str:
        """The priority, or SlaInputError naming it and the policy's priorities."""
        if priority not in self.targets:
            raise SlaInputError(
                f"unknown priority {priority!r} in policy {self.name}; "
                f"known: {', '.join(self.priorities)}"
            )
        return priority

    def monitoring_priority(self, check: str) -> str:
        """The priority of an incident monitoring opens for a failed check."""
        rules = self.spec.monitoring
        mapped = next((p for c, p in rules.priorities.items() if c == check), None)
        return mapped or rules.default_priority or self.priorities[0]


class Catalog:
    """The configured policies, compiled on first use; calendars are built once and shared, so
    their per-year tables serve every incident."""

    def __init__(
        self, calendars: Mapping[str, CalendarSpec], policies: Mapping[str, SlaPolicy]
    ) -> None:
        self.calendar_specs = dict(calendars)
        self.policy_specs = dict(policies)
        self._calendars: dict[str, Calendar] = {}
        self._policies: dict[str, Policy] = {}
        self._always: dict[str, Calendar] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.policy_specs

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.policy_specs)

    def calendar(self, name: str) -> Calendar:
        built = self._calendars.get(name)
        if built is None:
            built = self._calendars[name] = self.calendar_specs[name].build(name)
        return built

    def always(self, zone: str) -> Calendar:
        built = self._always.get(zone)
        if built is None:
            built = self._always[zone] = Calendar.always(zone)
        return built

    def require(self, name: str) -> Policy:
        """The compiled policy, or SlaInputError naming it and the configured policies."""
        if name not in self.policy_specs:
            known = ", ".join(self.policy_specs) or "(none: add [sla_policies.NAME] tables)"
            raise SlaInputError(f"unknown SLA policy {name!r}; known: {known}")
        return self.policy(name)

    def policy(self, name: str) -> Policy:
        """The compiled policy; KeyError for an unknown name."""
        built = self._policies.get(name)
        if built is None:
            built = self._policies[name] = self._compile(name, self.policy_specs[name])
        return built

    def _compile(self, name: str, spec: SlaPolicy) -> Policy:
        if isinstance(spec.calendar, str):
            calendar = self.calendar(spec.calendar)
        else:
            calendar = spec.calendar.build(f"{name} calendar")
        targets: dict[str, dict[str, Target]] = {}
        for priority, given in spec.priorities.items():
            row: dict[str, Target] = {}
            for kind in TIMER_KINDS:
                target = getattr(given, kind)
                if target is None:
                    continue
                own = self.calendar(target.calendar) if target.calendar else calendar
                unit = target.unit
                clock = self.always(own.zone) if unit in ("hours", "calendar_days") else own
                row[kind] = Target(kind, unit, target.value, clock, own, target.pause)
            targets[priority] = row
        escalations = tuple(
            Escalation(
                level.name,
                round(level.after * MINUTE),
                tuple(level.notify),
                frozenset(level.priorities),
                frozenset(level.timers),
            )
            for level in spec.escalations
        )
        warnings = spec.warnings
        return Policy(
            name,
            spec,
            calendar,
            targets,
            escalations,
            warnings.at_risk_pct / 100,
            round(warnings.urgent_minutes * MINUTE),
        )


def require_kind(kind: str) -> str:
    """A timer kind, or SlaInputError naming it and the known kinds."""
    if kind not in TIMER_KINDS:
        raise SlaInputError(f"unknown timer kind {kind!r}; known: {', '.join(TIMER_KINDS)}")
    return kind


def catalog_of(config: Any) -> Catalog:
    """The catalog of a `Config` (or `SlaSettings`): anything with calendars and sla_policies."""
    return Catalog(config.calendars, config.sla_policies)


# -- reading just the SLA tables ------------------------------------------------------------------


def load_sla_settings(source: str | Path | None) -> SlaSettings:
    """The [calendars] and [sla_policies] tables of a configuration file, validated like the
    whole file would validate them, without the cost of the rest (no secrets, no database).

    Raises console.config.ConfigError (imported only on this error path) with the file and key
    path, like `load_config`."""
    import os

    path = Path(source or os.environ.get("NLS_CONFIG") or "nls.toml")  # = config.resolve_path
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        from console.config import load_config

        load_config(path)  # raises the same ConfigError every other command prints
        raise
    tables: dict[str, Any] = {k: raw[k] for k in ("calendars", "sla_policies") if k in raw}
    try:
        return SlaSettings.model_validate(tables)
    except ValidationError as exc:
        from console.config import ConfigError, _explain, _key_path

        for error in exc.errors():
            ref = error.get("ctx", {}).get("error")
            if isinstance(ref, SlaRefError):
                raise ConfigError(f"{path}: {_key_path(ref.loc, raw, {})}: {ref}") from None
        raise ConfigError(_explain(path, tables, exc, {})) from None
