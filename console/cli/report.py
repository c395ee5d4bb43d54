"""`nls report`: monthly availability, outages, service credits and web latency.

Each report is computed by the source (the daemon when one runs, else this process) over the
caller's scope and arrives as an Arrow table; this process prints it or writes the file, so the
daemon never writes a client's files. The format and the output file are checked before the
report is computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from console.cli import output
from console.cli.main import Context
from console.errors import UsageError

BY = ("server", "camera", "customer", "installer")
FORMATS = ("table", "csv", "json", "parquet", "xlsx", "html")


@click.group("report")
def report_group() -> None:
    """Monthly reports: availability, outages, service credits, web latency.

    \b
    Examples:
      nls report availability --month 2026-03 --by customer
      nls report outages --month 2026-03 --customer acme --format csv
      nls report availability --month 2026-03 --by installer -o march.xlsx
      nls report html --month 2026-03 --installer visuatech-nl -o march.html
      nls report credits --month 2026-03 --format json
      nls report latency --month 2026-03
    """


def _options(by: bool = True) -> Any:
    def wrap(fn: Any) -> Any:
        fn = click.option(
            "-o",
            "--output",
            "out",
            metavar="FILE",
            type=click.Path(path_type=Path),
            help="Write to FILE (atomically) instead of standard output; the format follows "
            "the name's suffix unless --format says otherwise.",
        )(fn)
        fn = click.option(
            "--format",
            "fmt",
            metavar="FORMAT",
            help="table (default on a terminal), csv, json (a list of objects), parquet, xlsx "
            "or html.",
        )(fn)
        fn = click.option("--customer", metavar="ID", help="Only this customer's servers.")(fn)
        fn = click.option("--installer", metavar="ID", help="Only this installer's servers.")(fn)
        if by:
            fn = click.option(
                "--by",
                metavar="KEY",
                default="server",
                show_default=True,
                help="One row per server, camera, customer or installer.",
            )(fn)
        return click.option(
            "--month", required=True, metavar="YYYY-MM", help="Calendar month in the policy zone."
        )(fn)

    return wrap


def _run(
    obj: Context,
    kind: str,
    month: str,
    by: str,
    installer: str | None,
    customer: str | None,
    fmt: str | None,
    out: Path | None,
) -> None:
    from console.reports.accounting import RULES_VERSION
    from console.reports.delivery import deliver, target
    from console.reports.period import Month, PeriodError

    try:
        Month.parse(month)
    except PeriodError as exc:
        raise UsageError(str(exc)) from None
    if by not in BY:
        raise UsageError(f"--by {by!r} is not one of {', '.join(BY)}")
    where = target(fmt, out)  # before computing: a bad path fails now, having written nothing
    table = obj.run(lambda source: source.report(kind, month, by, installer, customer))  # type: ignore[arg-type]
    if kind == "installer_html":
        page = table.column("html")[0].as_py()
        if where.path is None:
            click.echo(page, nl=False)
        else:
            export_text(where.path, page)
        return
    title = f"{kind} {month}"
    meta = {"report": kind, "month": month, "by": by, "rules_version": RULES_VERSION}
    deliver(table, where, title=title, meta=meta, show=lambda c, r: output.emit("table", c, r))


def export_text(path: Path, text: str) -> None:
    """Write a finished page atomically (a temp file beside it, renamed into place)."""
    import os
    import tempfile

    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


@report_group.command("availability")
@_options()
@click.pass_obj
def availability(obj: Context, month: str, by: str, **kw: Any) -> None:
    """Availability per server, camera, customer or installer: period, downtime, confirmed,
    excluded and unknown minutes, availability vs target, outages, resolution."""
    _run(obj, "availability", month, by, kw["installer"], kw["customer"], kw["fmt"], kw["out"])


@report_group.command("outages")
@_options()
@click.pass_obj
def outages(obj: Context, month: str, by: str, **kw: Any) -> None:
    """Every outage and stretch of unknown time, whether it counted and why (--by camera:
    camera outages)."""
    _run(obj, "outages", month, by, kw["installer"], kw["customer"], kw["fmt"], kw["out"])


@report_group.command("credits")
@_options(by=False)
@click.pass_obj
def credits(obj: Context, month: str, **kw: Any) -> None:
    """Per customer: Service Level Failures, claims in time, and the credit owed."""
    _run(obj, "credits", month, "customer", kw["installer"], kw["customer"], kw["fmt"], kw["out"])


@report_group.command("latency")
@_options(by=False)
@click.pass_obj
def latency(obj: Context, month: str, **kw: Any) -> None:
    """Web checks: the month's percentile response time against the contract's target."""
    _run(obj, "latency", month, "server", kw["installer"], kw["customer"], kw["fmt"], kw["out"])


@report_group.command("html")
@click.option("--month", required=True, metavar="YYYY-MM", help="Calendar month.")
@click.option("--installer", metavar="ID", help="The installer (default: your own).")
@click.option(
    "-o",
    "--output",
    "out",
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="Write the page to FILE (atomically) instead of standard output.",
)
@click.pass_obj
def html_page(obj: Context, month: str, installer: str | None, out: Path | None) -> None:
    """The installer's monthly page (what the daemon mails on the 1st): daily bars, outage
    timeline, tables and the accounting rules, in the installer's language."""
    _run(obj, "installer_html", month, "server", installer, None, "html", out)
