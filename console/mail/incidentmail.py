"""The incident desk's notices as e-mails: a timer at risk, urgent or breached, or an escalation
level reached, in the installer's language (the `[incident_*]` tables of the templates).

Rendering only: which notices are due, and once each, is the desk's business
(`console.desk.desk.Desk.tick`); the outbox delivers.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.desk.records import Incident
from console.mail.notify import DEFAULT_TIMEZONE, NotifySettings, format_time, templates
from console.sla.timers import Timer


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """Who and what a notice is about, resolved by the desk from the configuration."""

    incident: Incident
    customer_name: str
    installer_name: str
    server_name: str
    emails: tuple[str, ...]
    language: str = "en"
    timezone: str = DEFAULT_TIMEZONE
    ops_address: str | None = None
    support: str = ""


def render_notice(
    facts: IncidentFacts,
    what: str,
    timer: Timer,
    settings: NotifySettings,
) -> tuple[str, str, str]:
    """(subject, text body, HTML body) of one notice; `what` as `console.sla.notices.Notice`
    names it: at_risk, urgent, breached or escalation:<level>."""
    lang = templates(facts.language)
    words = lang["incident_words"]
    try:
        zone = ZoneInfo(facts.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    due_local, due_utc = format_time(timer.due, zone)
    values = {
        "tag": settings.subject_tag,
        "product": settings.product,
        "incident_id": str(facts.incident.id),
        "title": facts.incident.title,
        "priority": timer.priority,
        "customer_name": facts.customer_name,
        "installer_name": facts.installer_name,
        "server_name": facts.server_name or words["no_server"],
        "timer": words.get(timer.kind, timer.kind),
        "target": target_text(words, timer.target.unit, timer.target.value),
        "what": what_text(words, what),
        "due_local": due_local,
        "due_utc": due_utc,
    }
    subject = Template(lang["incident_subject"]["notice"]).substitute(values)
    text = Template(lang["incident_text"]["notice"]).substitute(values)
    escaped = {k: html.escape(v) for k, v in values.items()}
    body_html = Template(lang["incident_html"]["notice"]).substitute(
        escaped, subject=html.escape(subject)
    )
    return subject, text, body_html


def what_text(words: Mapping[str, str], what: str) -> str:
    if what.startswith("escalation:"):
        return f"{words['escalation']}: {what.split(':', 1)[1]}"
    return words.get(what, what)


def target_text(words: Mapping[str, str], unit: str, value: float) -> str:
    template = words.get(f"target_{unit}")
    shown = f"{value:g}"
    return Template(template).substitute(value=shown) if template else f"{shown} {unit}"
