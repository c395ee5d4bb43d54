"""The `nls` command line: one module per command group, every command written once.

`main` (console/cli/main.py) is the root group: global options, the console, the daemon, and the
single place where an `NlsError` becomes a one-line message and its exit status. A command reaches
the fleet with `obj.run(lambda source: ...)`, which attaches to the daemon running for the
configured database or runs the same service embedded, so no command has a second code path.
Output goes through `console.cli.output` (table, CSV, JSON lines).

A new command group is a module `console/cli/<group>.py` defining a click command or group, with
its logic in a library module outside `console/cli/`, registered with one line below.
"""

from __future__ import annotations

from console.cli.check import check
from console.cli.config_cmd import config_group
from console.cli.credit import credit_group
from console.cli.demo import demo
from console.cli.import_cmd import import_group
from console.cli.incident import incident_group
from console.cli.mail import mail_group
from console.cli.main import main
from console.cli.maintenance import maintenance_group
from console.cli.outage import outage_group
from console.cli.report import report_group
from console.cli.simulate import fault, heal, simulate
from console.cli.sla import sla_group
from console.cli.sql import sql_command
from console.cli.sshgate import ssh_session
from console.cli.stats import stats

main.add_command(config_group)
main.add_command(check)
main.add_command(sql_command)
main.add_command(maintenance_group)
main.add_command(mail_group)
main.add_command(simulate)
main.add_command(fault)
main.add_command(heal)
main.add_command(demo)
main.add_command(sla_group)
main.add_command(incident_group)
main.add_command(ssh_session)
main.add_command(report_group)
main.add_command(outage_group)
main.add_command(credit_group)
main.add_command(import_group)
main.add_command(stats)

__all__ = ["main"]
