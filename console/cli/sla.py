"""`nls sla`: SLA questions answered from the configuration alone (no database, no secret).

Imports stay inside the commands: `nls sla due` must answer, as a whole process, in well under
half a second.
"""

from __future__ import annotations

import json
from typing import Any

import click


@click.group("sla")
def sla_group() -> None:
    """SLA policies: when a contract's timers are due.

    \b
    Example:
      nls sla due --policy texpro --priority P3 --opened 2026-03-06T16:30:00+01:00
    """


@sla_group.command("due")
@click.option("--policy", required=True, metavar="NAME", help="A [sla_policies.NAME] policy.")
@click.option("--priority", required=True, metavar="P", help="One of the policy's priorities.")
@click.option(
    "--opened",
    required=True,
    metavar="TIME",
    help="When the incident was opened (or the message came in): ISO 8601 with an offset, "
    "e.g. 2026-03-02T13:00:00+01:00 or 2026-03-02T12:00:00Z.",
)
@click.option(
    "--timer",
    "kind",
    metavar="KIND",
    help="first_response, next_reply, periodic_update, resolution or notify_after "
    "(default: every timer the priority has).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per timer.")
@click.pass_obj
def sla_due(
    obj: Any, policy: str, priority: str, opened: str, kind: str | None, as_json: bool
) -> None:
    """The due instant of a timer for an incident opened at TIME with nothing else happening.

    Reads only the SLA tables of the configuration: no database, no secret.
    """
    from console.sla.due import due_from_config

    answers = due_from_config(obj.config_path, policy, priority, opened, kind)
    if not answers:
        if not as_json:
            click.echo(f"{policy} {priority}: no timers (the policy sets no target here)")
        return
    for answer in answers:
        click.echo(json.dumps(answer.as_dict()) if as_json else answer.line())
