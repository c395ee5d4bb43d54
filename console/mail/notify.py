"""Turn one cycle's alert events into e-mails: one per (server, kind), in the installer's language.

Grouping matters: when a switch dies, ten cameras of one server cross the threshold in the same
cycle and the installer must get one mail listing them, not ten. The idempotence key is derived
from the incident (server, kind and each item's first failed check), never from the clock, so a
replayed cycle produces the same key and the outbox keeps a single copy.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from string import Template
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.monitor.alerting import Alert, Event, Recovery, StillFailing
from console.monitor.sample import Reason
from console.units import format_rate

Kind = Literal["alert", "recovery"]
LANGUAGES = ("en", "fr", "nl")
DEFAULT_TIMEZONE = "Europe/Brussels"


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """Who and what a server's mails are about; resolved by the caller from the inventory."""

    server: str
    server_name: str
    customer: str
    customer_name: str
    installer: str
    installer_name: str
    emails: tuple[str, ...]
    language: str = "en"
    timezone: str = DEFAULT_TIMEZONE


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """Deployment-wide facts every mail carries."""

    support: str = "support@visuatech.be"
    ops_address: str | None = None
    product: str = "Next Level Service"
    subject_tag: str = "NLS"


@dataclass(frozen=True, slots=True)
class Notification:
    """One e-mail ready for the outbox; mirrors the outbox table's content columns."""

    key: str
    kind: Kind
    server: str
    installer: str
    recipients: tuple[str, ...]
    subject: str
    body_text: str
    body_html: str
    created: datetime


Directory = Mapping[str, ServerFacts] | Callable[[str], ServerFacts]


def build_notifications(
    events: Iterable[Event], directory: Directory, settings: NotifySettings = NotifySettings()
) -> list[Notification]:
    """Group a cycle's events per (server, kind) and render each group once."""
    lookup = directory.__getitem__ if isinstance(directory, Mapping) else directory
    groups: dict[tuple[str, Kind], list[Event]] = {}
    for e in events:
        groups.setdefault((e.server, e.kind), []).append(e)
    return [
        render(kind, group, lookup(server), settings)
        for (server, kind), group in sorted(groups.items())
    ]


def notification_key(kind: Kind, server: str, events: Iterable[Event]) -> str:
    """Stable across replays: the same incident items give the same key."""
    items = sorted((e.check, e.subject, e.first_failed.astimezone(UTC).isoformat()) for e in events)
    digest = hashlib.sha256(json.dumps([kind, server, items]).encode()).hexdigest()
    return f"nls-{kind}-{digest[:32]}"


def recipients(facts: ServerFacts, settings: NotifySettings) -> tuple[str, ...]:
    """Installer addresses, then the ops address; each once, case-insensitively."""
    found: dict[str, str] = {}
    for address in (*facts.emails, settings.ops_address):
        if address and address.strip():
            found.setdefault(address.strip().lower(), address.strip())
    return tuple(found.values())


def render(
    kind: Kind, events: list[Event], facts: ServerFacts, settings: NotifySettings
) -> Notification:
    """Render one grouped mail; all facts come from the events and the directory."""
    lang = templates(facts.language)
    tz = _zone(facts.timezone)
    events = sorted(events, key=lambda e: (e.check != "server_online", e.check, e.label))
    common = {
        "product": settings.product,
        "support": settings.support,
        "installer_name": facts.installer_name,
        "customer_name": facts.customer_name,
        "server_name": facts.server_name,
        "server_id": facts.server,
        "count": str(len(events)),
        "what": _what(lang, events[0]),
        "tag": settings.subject_tag,
    }
    subject_name = f"{kind}_one" if len(events) == 1 else f"{kind}_many"
    subject = Template(lang["subject"][subject_name]).substitute(common)
    bodies = {}
    item_vars = [_item_vars(lang, e, tz) for e in events]
    for fmt in ("text", "html"):
        escape = html.escape if fmt == "html" else _identity
        parts = lang[fmt]
        items = "".join(
            Template(parts[f"{kind}_item"]).substitute({k: escape(v) for k, v in v_.items()})
            for v_ in item_vars
        )
        still = _still_failing(lang, fmt, events, tz, escape)
        values = {k: escape(v) for k, v in common.items()}
        values.update(items=items, still_failing=still, subject=escape(subject))
        bodies[fmt] = Template(parts[kind]).substitute(values)
    return Notification(
        key=notification_key(kind, facts.server, events),
        kind=kind,
        server=facts.server,
        installer=facts.installer,
        recipients=recipients(facts, settings),
        subject=subject,
        body_text=bodies["text"],
        body_html=bodies["html"],
        created=max(e.ts for e in events).astimezone(UTC),
    )


@functools.cache
def templates(language: str) -> Mapping[str, Mapping[str, str]]:
    """The template set for a language ('nl-BE' uses 'nl'); unknown languages get English."""
    code = (language or "en").split("-")[0].split("_")[0].lower()
    if code not in LANGUAGES:
        code = "en"
    text = resources.files("console.mail").joinpath("templates", f"{code}.toml").read_text("utf-8")
    return tomllib.loads(text)


def format_time(ts: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """(local, UTC) renderings of a time, e.g. ('2026-03-02 14:30 CET', '13:30 UTC')."""
    local = ts.astimezone(tz)
    utc = ts.astimezone(UTC)
    day = "" if utc.date() == local.date() else utc.strftime("%Y-%m-%d ")
    return local.strftime("%Y-%m-%d %H:%M %Z"), f"{day}{utc:%H:%M} UTC"


def describe(lang: Mapping, check: str, reason: Reason | None, value: float | None) -> str:
    """What an item reads now, in the mail's language: its Reason rendered from [details];
    without one (or with a code this language lacks), only the value with its unit. The
    English `detail` of a sample never reaches an installer."""
    if reason is None or reason.code not in lang["details"]:
        if value is None or check not in ("cpu", "disk_activity"):
            return "-"
        return _number(lang, value, "rate" if check == "disk_activity" else "value") + (
            " %" if check == "cpu" else ""
        )
    values: dict[str, str] = {}
    for name, arg in reason.args:
        if isinstance(arg, tuple):
            continue
        if isinstance(arg, float | int):
            values[name] = _number(lang, float(arg), name)
        elif name in CODE_TABLES:
            table = lang[CODE_TABLES[name]]
            values[name] = table.get(arg) or (f'"{arg}"' if name == "stream" else table["unknown"])
        else:
            values[name] = arg
    lists = [
        Template(lang["details"][f"{reason.code}_{name}"]).safe_substitute(names=", ".join(arg))
        for name, arg in reason.args
        if isinstance(arg, tuple) and arg and f"{reason.code}_{name}" in lang["details"]
    ]
    values["findings"] = "; ".join(lists)
    return Template(lang["details"][reason.code]).safe_substitute(values)


CODE_TABLES = {"error": "errors", "hint": "hints", "why": "why", "stream": "stream_states"}
"""Reason arguments that are codes: each language names them in its own table."""


def _number(lang: Mapping, value: float, name: str) -> str:
    point = lang["units"]["decimal"]
    if name == "rate":
        text = format_rate(value)
    elif name == "pct":
        text = f"{value:.1f}"
    elif name == "threshold":
        text = f"{value:g}"
    else:
        text = f"{value:.0f}"
    return text.replace(".", point)


def format_duration(delta: timedelta, units: Mapping[str, str]) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} {units['days']}")
    if hours:
        parts.append(f"{hours} {units['hours']}")
    if mins or not parts:
        parts.append(f"{mins} {units['minutes']}")
    return " ".join(parts)


def _item_vars(lang: Mapping, e: Event, tz: ZoneInfo) -> dict[str, str]:
    since_local, since_utc = format_time(e.first_failed, tz)
    at_local, at_utc = format_time(e.ts, tz)
    found = {
        "what": _what(lang, e),
        "since_local": since_local,
        "since_utc": since_utc,
        "checks": str(e.failures),
        "value": describe(lang, e.check, e.reason, e.value),
        "at_local": at_local,
        "at_utc": at_utc,
        "late": lang["text"]["late_note"] if isinstance(e, Alert) and e.late else "",
    }
    if isinstance(e, Recovery):
        found["duration"] = format_duration(e.ts - e.first_failed, lang["units"])
    return found


def _still_failing(
    lang: Mapping, fmt: str, events: list[Event], tz: ZoneInfo, escape: Callable[[str], str]
) -> str:
    still: list[StillFailing] = [
        s for e in events if isinstance(e, Recovery) for s in e.still_failing
    ]
    if not still:
        return ""
    parts = lang[fmt]
    lines = []
    for s in still:
        since_local, since_utc = format_time(s.first_failed, tz) if s.first_failed else ("-", "-")
        values = {
            "what": _check_label(lang, s.check, s.label),
            "since_local": since_local,
            "since_utc": since_utc,
            "checks": str(s.failures),
            "value": describe(lang, s.check, s.reason, None),
        }
        lines.append(
            Template(parts["still_failing_item"]).substitute(
                {k: escape(v) for k, v in values.items()}
            )
        )
    return Template(parts["still_failing"]).substitute(items="".join(lines))


def _what(lang: Mapping, e: Event) -> str:
    return _check_label(lang, e.check, e.label if e.subject else "")


def _check_label(lang: Mapping, check: str, label: str) -> str:
    name = lang["checks"].get(check, check)
    return f"{name}{lang['units']['label_separator']}{label}" if label else name


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def _identity(value: str) -> str:
    return value
