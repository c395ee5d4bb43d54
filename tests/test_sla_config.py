"""SLA policy configuration: every mistake names the file, the key path and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import ConfigError, load_config
from console.monitor.checks import CHECKS
from console.sla.policy import MONITOR_CHECKS, load_sla_settings

BASE = """
[eocortex]
password_env = "NLS_TEST_PW"

[[installers]]
id = "inst"
name = "Installer"
emails = ["a@inst.example"]

[[customers]]
id = "acme"
name = "Acme"
installer = "inst"
sla_plan = "gold"

[calendars.office]
timezone = "Europe/Brussels"
hours = "09:00-17:00"
holidays = "BE"

[sla_policies.gold]
calendar = "office"

[sla_policies.gold.priorities.P1]
first_response = { business_minutes = 60 }
resolution = { calendar_days = 2 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nls.toml"
    path.write_text(text, encoding="utf-8")
    return path


def both_errors(tmp_path: Path, text: str) -> tuple[str, str]:
    """The message of the whole configuration and of `nls sla due`'s partial read."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as whole:
        load_config(path)
    if "sla_plan" in str(whole.value):
        return str(whole.value), ""
    with pytest.raises(ConfigError) as partial:
        load_sla_settings(path)
    return str(whole.value), str(partial.value)


def test_a_valid_policy_loads_both_ways(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    assert load_config(path).customers[0].sla_plan == "gold"
    assert list(load_sla_settings(path).sla_policies) == ["gold"]


def test_an_unknown_policy_names_the_customer(tmp_path: Path) -> None:
    whole, _ = both_errors(tmp_path, BASE.replace('sla_plan = "gold"', 'sla_plan = "platinum"'))
    assert "customers[0] (id 'acme').sla_plan" in whole
    assert "unknown SLA policy 'platinum' for customer 'acme'; known: gold" in whole


def test_an_unknown_priority_in_the_monitoring_mapping(tmp_path: Path) -> None:
    text = BASE + '\n[sla_policies.gold.monitoring]\npriorities = { server_online = "P0" }\n'
    for message in both_errors(tmp_path, text):
        assert "sla_policies.gold" in message
        assert "monitoring.priorities.server_online: unknown priority 'P0'; known: P1" in message


def test_an_unknown_check_in_the_monitoring_mapping(tmp_path: Path) -> None:
    text = BASE + '\n[sla_policies.gold.monitoring]\npriorities = { server_down = "P1" }\n'
    for message in both_errors(tmp_path, text):
        assert "sla_policies.gold.monitoring.priorities.server_down" in message


def test_an_unknown_timer_kind(tmp_path: Path) -> None:
    text = BASE.replace("first_response =", "first_reply =")
    for message in both_errors(tmp_path, text):
        assert "sla_policies.gold.priorities.P1.first_reply: unknown key" in message


def test_a_target_needs_exactly_one_unit(tmp_path: Path) -> None:
    text = BASE.replace("{ business_minutes = 60 }", "{ business_minutes = 60, hours = 1 }")
    for message in both_errors(tmp_path, text):
        assert "sla_policies.gold.priorities.P1.first_response" in message
        assert "give exactly one of" in message and "business_minutes, hours" in message
    text = BASE.replace("{ business_minutes = 60 }", "{ minutes = 60 }")
    for message in both_errors(tmp_path, text):
        assert "sla_policies.gold.priorities.P1.first_response.minutes: unknown key" in message


def test_an_unknown_calendar(tmp_path: Path) -> None:
    for message in both_errors(tmp_path, BASE.replace('calendar = "office"', 'calendar = "ofice"')):
        assert "sla_policies.gold.calendar: unknown calendar 'ofice'; known: office" in message
    text = BASE.replace(
        "{ business_minutes = 60 }", '{ business_minutes = 60, calendar = "night" }'
    )
    for message in both_errors(tmp_path, text):
        assert (
            "sla_policies.gold.priorities.P1.first_response.calendar: unknown calendar" in message
        )


def test_calendar_mistakes(tmp_path: Path) -> None:
    hours = 'hours = "09:00-17:00"'
    cases = [
        (hours, 'hours = "9-17"', "calendars.office.hours: '9-17' is not a range of hours"),
        (hours, 'hours = "17:00-09:00"', "must end after it starts"),
        (hours, hours + '\nweekdays = "fri-mon"', "calendars.office.weekdays: 'fri-mon' is not"),
        (hours, 'hours = "24/7"\nweekdays = "mon-fri"', 'hours = "24/7" already opens every day'),
        ('"Europe/Brussels"', '"Europe/Brussel"', "calendars.office.timezone: unknown time zone"),
        ('holidays = "BE"', 'holidays = "XX"', "calendars.office.holidays: the holidays package"),
        (
            'holidays = "BE"',
            'holidays = { country = "BE", subdivision = "XX" }',
            "calendars.office.holidays: BE has no subdivision 'XX'",
        ),
    ]
    for old, new, expected in cases:
        for message in both_errors(tmp_path, BASE.replace(old, new)):
            assert expected in message, message


def test_an_inline_calendar_error_names_the_key_inside(tmp_path: Path) -> None:
    text = BASE.replace('calendar = "office"', 'calendar = { timezone = "UTC", hour = "24/7" }')
    for message in both_errors(tmp_path, text):
        assert "sla_policies.gold.calendar: hour: unknown key" in message


def test_escalation_mistakes(tmp_path: Path) -> None:
    level = (
        '\n[[sla_policies.gold.escalations]]\nname = "boss"\nafter = "{after}"\n'
        "notify = [{notify}]\n"
    )
    text = BASE + level.format(after="soon", notify='"ops"')
    for message in both_errors(tmp_path, text):
        assert "sla_policies.gold.escalations[0].after: 'soon' is not an offset" in message
    text = BASE + level.format(after="-30m", notify='"the boss"')
    for message in both_errors(tmp_path, text):
        assert "'the boss' is neither an e-mail address nor one of ops, installer" in message


def test_a_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_sla_settings(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sla_settings(write(tmp_path, "[calendars\n"))


def test_the_policy_knows_the_monitors_checks() -> None:
    assert set(MONITOR_CHECKS) == set(CHECKS)
