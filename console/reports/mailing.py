"""The daemon's report mail: each installer's monthly availability report on the 1st, and a
weekly summary for customers whose plan includes one (Otter Premium), in the installer's
language and zone.

Everything goes through the outbox. A mail's key names the installer and the period, never the
clock, and the outbox keeps one row per key: a restart, a crash between computing and storing,
or a second daemon tick queues nothing twice, and an SMTP outage only delays delivery (the
outbox retries). A period is still mailed when the daemon was down at its start, for
`CATCH_UP` after it; a period of which the store holds no sample at all is not mailed (a fresh
installation does not mail months it never watched).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from string import Template
from typing import TYPE_CHECKING, Any, Literal, cast

from console.mail.notify import Notification, templates
from console.reports.period import Month, zoneinfo

if TYPE_CHECKING:
    from console.config import Config
    from console.monitor.service import FleetService

log = logging.getLogger("nls.reports")
Kind = Literal["monthly", "weekly"]
CATCH_UP = {"monthly": timedelta(days=7), "weekly": timedelta(days=3)}
POLL = 300.0
"""Seconds between looks at the clock; a period's mail is queued within this after it is due."""


@dataclass(frozen=True, slots=True)
class Due:
    """One report mail to queue: its outbox key, installer and period [start, end) in UTC."""

    kind: Kind
    installer: str
    label: str  # 2026-10, or 2026-W44
    start: datetime
    end: datetime
    zone: str

    @property
    def key(self) -> str:
        return f"report:{self.kind}:{self.installer}:{self.label}"


def due(config: Config, now: datetime) -> list[Due]:
    """The report mails whose period ended at most CATCH_UP before `now`, per installer with
    an address: the previous month in the installer's zone from its 1st, and the previous
    ISO week (Monday to Monday) for installers with a weekly-summary customer."""
    from console.reports.scope import terms_from_config

    terms = terms_from_config(config)
    weekly = {c.installer for c in config.customers if _weekly(terms.get(c.id))}
    found: list[Due] = []
    for inst in config.installers:
        if not inst.emails:
            continue
        zone = inst.timezone or "Europe/Brussels"
        local = now.astimezone(zoneinfo(zone))
        month = Month(local.year, local.month).previous()
        start, end = month.bounds(zone)
        if now - end < CATCH_UP["monthly"]:
            found.append(Due("monthly", inst.id, str(month), start, end, zone))
        if inst.id in weekly:
            monday = local.date() - timedelta(days=local.weekday())
            w_start, w_end = _day(monday - timedelta(days=7), zone), _day(monday, zone)
            if now - w_end < CATCH_UP["weekly"]:
                year, week, _ = (monday - timedelta(days=7)).isocalendar()
                found.append(Due("weekly", inst.id, f"{year}-W{week:02d}", w_start, w_end, zone))
    return found


def _weekly(terms: Any) -> bool:
    return bool(terms is not None and terms.weekly_summary)


def _day(day: date, zone: str) -> datetime:
    return datetime.combine(day, datetime.min.time(), zoneinfo(zone)).astimezone(UTC)


class ReportMailer:
    """Queue due report mails in the outbox, now and then every `poll` seconds."""

    def __init__(self, service: FleetService, *, poll: float = POLL) -> None:
        self.service = service
        self.poll = poll

    async def run(self, stop: asyncio.Event) -> None:
        first = True
        while not stop.is_set():
            try:
                queued = await self.run_once()
                if queued:
                    self.service.kick_outbox()
                if first:  # once per start: what a supervisor (or a test) can wait for
                    _event("reports_checked", queued=queued)
                    first = False
            except Exception:  # a report that cannot be computed must not stop the daemon
                log.exception("report mail failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll)

    async def run_once(self) -> int:
        """Queue every due mail not in the outbox yet; returns how many were queued."""
        service = self.service
        now = service.clock()
        queued = 0
        for item in due(service.config, now):
            if await service.store.read(_has_key, item.key):
                continue
            if not await service.store.read(_watched, item.start, item.end):
                continue  # the store holds nothing of that period: nls was not watching yet
            mail = await service.store.read(_compose, service.config, item, now)
            if mail is None:
                continue
            added = await service.store.call(_enqueue, mail, now)
            queued += added
            if added:
                _event("report_queued", key=item.key, installer=item.installer)
        return queued


def _event(name: str, **fields: Any) -> None:
    log.info(name, extra={"event": name, **fields})


def _watched(store: Any, start: datetime, end: datetime) -> bool:
    found = store.con.execute(
        "SELECT count(*) FROM (SELECT 1 FROM samples WHERE ts >= ? AND ts < ? LIMIT 1)",
        [start, end],
    ).fetchall()
    return bool(found[0][0])


def _has_key(store: Any, key: str) -> bool:
    # fetchall: a half-read result would block the next statement on this shared connection
    found = store.con.execute("SELECT count(*) FROM outbox WHERE key = ?", [key]).fetchall()
    return bool(found[0][0])


def _enqueue(store: Any, mail: Notification, now: datetime) -> int:
    from console.store.database import outbox_table

    con = store.con
    con.register("report_mail", outbox_table([mail], now))
    try:
        done = con.execute(
            "INSERT INTO outbox SELECT * FROM report_mail ON CONFLICT (key) DO NOTHING "
            "RETURNING key"
        ).fetchall()
    finally:
        con.unregister("report_mail")
    return len(done)


def _compose(store: Any, config: Config, item: Due, now: datetime) -> Notification | None:
    """The mail for one due report, or None when the installer has nothing in scope."""
    from console.reports.scope import ScopeError, scope_from_config, terms_from_config

    inst = next(i for i in config.installers if i.id == item.installer)
    try:
        scope = scope_from_config(config, installer=inst.id)
    except ScopeError:
        return None
    if not scope.subjects:
        return None
    words = templates(inst.language)["report"]
    terms = terms_from_config(config)
    names = {c.id: c.name for c in config.customers}
    settings = config.smtp
    tag = getattr(settings, "subject_tag", None) or "NLS"
    product = "Next Level Service"
    if item.kind == "monthly":
        text, page = _monthly(store, config, inst, scope, terms, item, names, words, now)
        subject = Template(words["monthly_subject"]).safe_substitute(
            tag=tag, month=item.label, installer_name=inst.name
        )
    else:
        weekly = {c.id for c in config.customers if _weekly(terms.get(c.id))}
        scope = type(scope)(tuple(s for s in scope.subjects if s.customer in weekly))
        if not scope.subjects:
            return None
        text, page = _weekly_body(store, scope, terms, item, names, words)
        subject = Template(words["weekly_subject"]).safe_substitute(
            tag=tag, week=item.label, installer_name=inst.name
        )
    template = words["monthly_text" if item.kind == "monthly" else "weekly_text"]
    body = (
        Template(template)
        .safe_substitute(
            installer_name=inst.name,
            month=item.label,
            week=item.label,
            zone=item.zone,
            lines=text,
            product=product,
        )
        .lstrip("\n")
    )
    return Notification(
        key=item.key,
        kind=cast(Any, "report"),
        server=cast(Any, None),
        installer=inst.id,
        recipients=tuple(inst.emails),
        subject=subject,
        body_text=body,
        body_html=page,
        created=now,
    )


def _monthly(
    store: Any,
    config: Config,
    inst: Any,
    scope: Any,
    terms: Any,
    item: Due,
    names: dict[str, str],
    words: Any,
    now: datetime,
) -> tuple[str, str]:
    from console.reports.accounting import availability
    from console.reports.html import installer_report

    month = Month.parse(item.label)
    page = installer_report(
        store,
        terms,
        scope,
        month,
        installer=inst.id,
        installer_name=inst.name,
        language=inst.language,
        now=now,
    )
    rows = availability(store, terms, scope, month, by="customer").to_pylist()
    return "".join(_customer_line(r, names, words) + "\n" for r in rows), page


def _customer_line(row: dict[str, Any], names: dict[str, str], words: Any) -> str:
    return Template(words["customer_line"]).safe_substitute(
        customer_name=names.get(row["customer"], row["customer"]),
        availability=f"{row['availability_pct']:.4f}",
        target=f"{row['target_pct']:g}",
        verdict=words["met"] if row["met"] else words["missed"],
    )


def _weekly_body(
    store: Any, scope: Any, terms: Any, item: Due, names: dict[str, str], words: Any
) -> tuple[str, str]:
    """Month-to-date availability per customer and the week's counted or excused outages."""
    from console.reports.accounting import availability, outages

    zone = zoneinfo(item.zone)
    last = (item.end - timedelta(seconds=1)).astimezone(zone)
    month = Month(last.year, last.month)
    months: Sequence[Month] = sorted({month, Month(*_ym(item.start.astimezone(zone)))})
    found = []
    for m in months:
        for o in outages(store, terms, scope, m, include_unknown=False).to_pylist():
            if item.start <= o["start"] < item.end and o["status"] in ("counted", "excluded"):
                found.append(o)
    rows = availability(store, terms, scope, month, by="customer").to_pylist()
    lines: list[str] = []
    parts: list[str] = []
    for r in rows:
        line = _customer_line(r, names, words)
        mine = [o for o in found if o["customer"] == r["customer"]]
        lines.append(line)
        lines.append(Template(words["month_to_date"]).safe_substitute(month=str(month)))
        items = [
            Template(words["outage_line"]).safe_substitute(
                server=o["server"],
                check=o["check"],
                start=o["start"].astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                minutes=f"{o['downtime_minutes']:g}",
                status=o["status"],
            )
            for o in mine
        ]
        lines += items or [words["no_outages"]]
        parts.append(
            f"<h3>{html.escape(line.lstrip('* '))}</h3><ul>"
            + "".join(f"<li>{html.escape(i.strip(' -'))}</li>" for i in items)
            + ("" if items else f"<li>{html.escape(words['no_outages'].strip())}</li>")
            + "</ul>"
        )
    text = "\n".join(lines) + "\n"
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        f"<h2>{html.escape(item.label)} ({html.escape(item.zone)})</h2>"
        + "".join(parts)
        + "</body></html>"
    )
    return text, page


def _ym(value: datetime) -> tuple[int, int]:
    return value.year, value.month
