"""`nls incident`: the incident desk from the command line (open, event, show, list, stats).

Every command goes through the FleetSource (attached to the daemon or embedded), so the author
of what it writes is the OS user running it, read by the daemon from the socket's peer
credentials; a command never names its author.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from console.cli import output
from console.cli.main import Context

TIME_HELP = "ISO 8601 with an offset, e.g. 2026-03-02T09:15:00+01:00 or 2026-03-02T08:15:00Z"


def _instant(text: str | None, option: str) -> datetime | None:
    """A time given on the command line; without an offset it is refused (exit 2)."""
    if text is None:
        return None
    from console.sla.calendar import parse_instant
    from console.sla.policy import SlaInputError

    try:
        return parse_instant(text)
    except ValueError as exc:
        raise SlaInputError(f"{option}: {exc}") from None


def _incident_id(text: str) -> int:
    from console.errors import NotFound

    try:
        value = int(text)
    except ValueError:
        raise NotFound(f"no incident {text!r}: incident ids are whole numbers") from None
    if value < 1:
        raise NotFound(f"no incident {value}; see `nls incident list`")
    return value


@click.group("incident")
def incident_group() -> None:
    """The incident desk: incidents with SLA timers from each customer's contract.

    Monitoring opens an outage incident when it mails an installer; ops open the others (a
    call, a question, a wish, an RMA) and record what happens to them.

    \b
    Examples:
      nls incident open --customer cust-001 --priority P2 --type question --title "export?"
      nls incident event 12 reply --text "Send us the log, please."
      nls incident event 12 waiting
      nls incident show 12
      nls incident list --open --breaching
      nls incident stats --month 2026-03
    """


@incident_group.command("open")
@click.option("--customer", required=True, metavar="ID", help="The customer who asks.")
@click.option(
    "--priority", required=True, metavar="P", help="A priority of the customer's SLA policy."
)
@click.option("--server", metavar="ID", help="The server it is about (optional).")
@click.option(
    "--type",
    "incident_type",
    default="problem",
    show_default=True,
    metavar="T",
    help="outage, problem, question, wish or rma.",
)
@click.option("--title", default="", help="One line saying what it is about.")
@click.option("--at", metavar="TIME", help=f"When the request came in (default: now); {TIME_HELP}.")
@click.pass_obj
def incident_open(
    obj: Context,
    customer: str,
    priority: str,
    server: str | None,
    incident_type: str,
    title: str,
    at: str | None,
) -> None:
    """Open an incident by hand; prints its id."""
    when = _instant(at, "--at")
    incident = obj.run(
        lambda source: source.incident_open(customer, priority, server, incident_type, title, when)
    )
    click.echo(str(incident.id))


@incident_group.command("event")
@click.argument("incident_id", metavar="ID")
@click.argument("kind", metavar="KIND")
@click.option(
    "--text",
    default="",
    help="What was said or done; the new priority for KIND priority; required for a note.",
)
@click.option("--at", metavar="TIME", help=f"When it happened (default: now); {TIME_HELP}.")
@click.pass_obj
def incident_event(obj: Context, incident_id: str, kind: str, text: str, at: str | None) -> None:
    """Record what happened to incident ID.

    \b
    KIND: customer-message  the customer wrote or called
          reply             a public answer: meets first response and next reply
          note              internal, needs --text
          ack               acknowledged
          waiting           waiting on the customer: the clocks pause
          resume            work goes on
          resolve, close, reopen
          priority          --text gives the new priority
    """
    number = _incident_id(incident_id)
    when = _instant(at, "--at")
    event = obj.run(lambda source: source.incident_event(number, kind, text, when))
    click.echo(f"incident {number}: {event.kind} recorded (event {event.seq})")


@incident_group.command("show")
@click.argument("incident_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--now", metavar="TIME", help=f"Evaluate the timers at this instant; {TIME_HELP}.")
@click.pass_obj
def incident_show(obj: Context, incident_id: str, as_json: bool, now: str | None) -> None:
    """An incident, its history and its timers."""
    from console.desk.records import iso
    from console.desk.text import countdown, duration, event_dict, incident_dict, short_time

    number = _incident_id(incident_id)
    at = _instant(now, "--now")
    detail = obj.run(lambda source: source.incident_show(number, at))
    if as_json:
        found = incident_dict(detail.incident)
        found["now"] = iso(detail.now)
        found["events"] = [event_dict(e) for e in detail.events]
        found["timers"] = [t.as_dict() for t in detail.timers]
        click.echo(json.dumps(found, ensure_ascii=False))
        return
    i = detail.incident
    where = f" · server {i.server}" if i.server else ""
    click.echo(f"incident {i.id}: {i.title}")
    click.echo(
        f"{i.status} · {i.type} · priority {i.priority} · customer {i.customer} · "
        f"installer {i.installer}{where} · policy {i.policy}"
    )
    click.echo(f"opened {short_time(i.opened_at)} by {i.opened_by} ({i.source})")
    click.echo("")
    if detail.timers:
        output.table(
            ("timer", "state", "warning", "due", "in", "remaining", "target"),
            [
                [
                    t.kind + (f" #{t.cycle + 1}" if t.cycle else ""),
                    t.state,
                    t.warning,
                    short_time(t.due),
                    countdown(t, detail.now),
                    duration(t.remaining_s) if t.open else "",
                    t.target,
                ]
                for t in detail.timers
            ],
        )
    else:
        click.echo("no timers: the policy sets no target at this priority")
    click.echo("")
    output.table(
        ("#", "at", "author", "kind", "text"),
        [
            [str(e.seq), short_time(e.at), e.author, e.kind, e.text]
            for e in sorted(detail.events, key=lambda e: (e.at, e.seq))
        ],
    )


LIST_COLUMNS = ("id", "priority", "status", "customer", "server", "timer", "due in", "state")


@incident_group.command("list")
@click.option("--installer", metavar="ID", help="Only this installer's incidents.")
@click.option("--customer", metavar="ID", help="Only this customer's incidents.")
@click.option("--open", "open_only", is_flag=True, help="Only open or waiting incidents.")
@click.option(
    "--breaching", is_flag=True, help="Only incidents with a timer breached, urgent or at risk."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per incident.")
@click.option("--now", metavar="TIME", help=f"Evaluate the timers at this instant; {TIME_HELP}.")
@click.pass_obj
def incident_list(
    obj: Context,
    installer: str | None,
    customer: str | None,
    open_only: bool,
    breaching: bool,
    as_json: bool,
    now: str | None,
) -> None:
    """Incidents, what is due next first."""
    from console.desk.records import IncidentQuery
    from console.desk.text import countdown, incident_dict, live_state

    at = _instant(now, "--now")
    query = IncidentQuery(
        installer=installer, customer=customer, open_only=open_only, breaching=breaching
    )
    rows = obj.run(lambda source: source.incidents(query, at))
    if as_json:
        for row in rows:
            found: dict[str, Any] = incident_dict(row.incident)
            found["timer"] = row.timer.as_dict() if row.timer else None
            found["breached"] = row.breached
            found["events"] = row.events
            click.echo(json.dumps(found, ensure_ascii=False))
        return
    moment = at or _clock_now()
    output.table(
        (*LIST_COLUMNS, "title"),
        [
            [
                str(r.incident.id),
                r.incident.priority,
                r.incident.status,
                r.incident.customer,
                r.incident.server or "",
                r.timer.kind if r.timer else "",
                countdown(r.timer, moment),
                live_state(r.timer, moment),
                r.incident.title,
            ]
            for r in rows
        ],
    )


def _clock_now() -> datetime:
    from console.clock import utcnow

    return utcnow()


STATS_COLUMNS = (
    "customer",
    "customer_name",
    "policy",
    "month",
    "requests",
    "quota",
    "over_quota",
    "questions",
    "contacts",
    "timers_met",
    "timers_breached",
)


@incident_group.command("stats")
@click.option("--month", required=True, metavar="YYYY-MM", help="A calendar month, e.g. 2026-03.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per customer.")
@click.pass_obj
def incident_stats(obj: Context, month: str, as_json: bool) -> None:
    """Per customer: requests against the plan's quota, questions and contacts (who asks much),
    timers met and breached in the month (in each policy's time zone)."""
    stats = obj.run(lambda source: source.incident_stats(month))
    records = output.records(stats)
    if as_json:
        output.emit("json", STATS_COLUMNS, records)
        return
    output.table(
        ("customer", "policy", "requests", "quota", "questions", "contacts", "met", "breached"),
        [
            [
                f"{s.customer_name} ({s.customer})",
                s.policy,
                str(s.requests) + (" OVER" if s.over_quota else ""),
                "" if s.quota is None else str(s.quota),
                str(s.questions),
                str(s.contacts),
                str(s.timers_met),
                str(s.timers_breached),
            ]
            for s in stats
        ],
    )
