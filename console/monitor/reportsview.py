"""The FleetSource calls of the availability desk (issue 12), as `FleetView` serves them.

Reports are computed on the store's read thread from `console.reports` over the caller's scope
(an installer's staff only ever see their own installer's servers and customers); exclusions,
claims and history imports are writes, which only ops may make, authored by the caller's account
(the daemon knows it from the socket's peer credentials). Errors of the report library become
the console's own (UsageError, NotFound), so they read the same attached and embedded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from console.errors import AccessDenied, BadRequest, NotFound, UsageError
from console.fleetview import (
    ClaimRow,
    ExclusionRow,
    ImportedSample,
    ImportSummary,
    ReportBy,
    ReportKind,
)

if TYPE_CHECKING:
    from console.identity import Caller
    from console.monitor.service import FleetService
    from console.reports.credits import TimerBreach
    from console.reports.scope import Scope

T = TypeVar("T")
MAX_STAGED = 2_000_000
"""Samples one import may stage before its commit (about 400 MB of memory at most)."""
_CHECK = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_STATES = frozenset({"ok", "fail", "unknown"})


class ReportInputError(UsageError, ValueError):
    """Bad report, exclusion, claim or import input (exit 2); the message names the value."""


def _input_errors(fn: Callable[[], T]) -> T:
    """Run `fn`, turning the report library's ValueErrors into the console's errors."""
    from console.reports.scope import ScopeError

    try:
        return fn()
    except ScopeError as exc:
        raise NotFound(str(exc)) from None
    except UsageError:
        raise
    except ValueError as exc:
        if getattr(exc, "exit_code", None) == 2:
            raise ReportInputError(str(exc)) from None
        raise


class ReportsMixin:
    """Mixed into FleetView: needs `service` and `caller`."""

    service: FleetService
    caller: Caller
    installer: str | None

    # -- reports ----------------------------------------------------------------------------

    def _report_scope(self, installer_id: str | None, customer_id: str | None) -> Scope:
        from console.reports.scope import scope_from_config

        scope = scope_from_config(self.service.config)
        if self.installer is not None:
            scope = scope.only(installer=self.installer)
        return scope.only(installer=installer_id, customer=customer_id)

    async def report(
        self,
        kind: ReportKind,
        month: str,
        by: ReportBy = "server",
        installer_id: str | None = None,
        customer_id: str | None = None,
    ) -> Any:
        from console.reports.period import Month

        parsed = _input_errors(lambda: Month.parse(month))
        scope = _input_errors(lambda: self._report_scope(installer_id, customer_id))
        config = self.service.config
        now = self.service.clock()
        if kind == "installer_html" and installer_id is None:
            if self.installer is None:
                raise ReportInputError("the HTML report is per installer: give --installer ID")
            installer_id = self.installer

        breaches: list[TimerBreach] = []
        if kind == "credits":  # the desk's breached timers are failures too (by policy)
            from console.reports.credits import TimerBreach

            breaches = [
                TimerBreach(b.ref, b.customer, b.due, b.what, b.kind)
                for b in await self.service.desk.breached_timers(self.installer, str(parsed))
            ]

        def compute(store: Any) -> Any:
            return _input_errors(
                lambda: _compute(
                    store, config, scope, parsed, kind, by, installer_id, now, breaches
                )
            )

        return await self.service.store.read(compute)

    # -- exclusions ---------------------------------------------------------------------------

    async def outage_list(self, include_revoked: bool = False) -> list[ExclusionRow]:
        from console.reports.exclusions import exclusions

        servers = self._scoped_servers()
        found = await self.service.store.read(
            lambda store: exclusions(store, servers=servers, include_revoked=include_revoked)
        )
        return list(found)

    async def outage_exclude(
        self, server_id: str, starts: datetime, ends: datetime, reason: str
    ) -> ExclusionRow:
        from console.reports.exclusions import add_exclusion

        self._may_write("exclude outage time")
        self._report_server(server_id)
        author, now = self.caller.user, self.service.clock
        stored = await self.service.store.call(
            lambda store: _input_errors(
                lambda: add_exclusion(
                    store,
                    server=server_id,
                    starts=starts,
                    ends=ends,
                    reason=reason,
                    author=author,
                    now=now,
                )
            )
        )
        return stored

    async def outage_revoke(self, exclusion_id: int) -> ExclusionRow:
        from console.reports.exclusions import revoke_exclusion

        self._may_write("revoke an exclusion")
        visible = {e.id for e in await self.outage_list(include_revoked=True)}
        if exclusion_id not in visible:
            raise NotFound(f"no exclusion {exclusion_id}; see `nls outage list`")
        author, now = self.caller.user, self.service.clock
        stored = await self.service.store.call(
            lambda store: _input_errors(
                lambda: revoke_exclusion(store, exclusion_id, author=author, now=now)
            )
        )
        return stored

    # -- credits ------------------------------------------------------------------------------

    async def credit_claim(
        self, customer_id: str, month: str, failure: str, claimed_at: datetime | None = None
    ) -> ClaimRow:
        from console.reports.exclusions import claim_credit

        self._may_write("record a credit claim")
        if not customer_id:
            raise BadRequest("credit_claim: give the customer")
        self._report_customer(customer_id)
        if claimed_at is not None and claimed_at > self.service.clock() + timedelta(minutes=5):
            raise ReportInputError(
                f"--at {claimed_at.isoformat()} is in the future; give when the customer claimed"
            )
        author, now = self.caller.user, self.service.clock
        claim, new = await self.service.store.call(
            lambda store: _input_errors(
                lambda: claim_credit(
                    store,
                    customer=customer_id,
                    month=month,
                    failure=failure,
                    author=author,
                    claimed_at=claimed_at,
                    now=now,
                )
            )
        )
        return ClaimRow(
            claim.customer,
            claim.month,
            claim.failure,
            claim.claimed_at,
            claim.author,
            claim.recorded_at,
            new,
        )

    # -- history import -----------------------------------------------------------------------

    async def import_samples(self, samples: list[ImportedSample], commit: bool) -> ImportSummary:
        self._may_write("import samples")
        staged: dict[tuple[datetime, str, str, str], ImportedSample] = self.__dict__.setdefault(
            "_staged_import", {}
        )
        try:
            self._stage(staged, samples)
        except Exception:
            staged.clear()  # a refused chunk ends the import: nothing staged survives it
            raise
        if not commit:
            return ImportSummary(staged=len(staged))
        rows = list(staged.values())
        staged.clear()
        if not rows:
            return ImportSummary(staged=0, committed=True)
        added, series = await self.service.store.call(lambda store: _store_samples(store, rows))
        return ImportSummary(
            staged=len(rows),
            rows=len(rows),
            added=added,
            skipped=len(rows) - added,
            series=series,
            committed=True,
        )

    def _stage(
        self,
        staged: dict[tuple[datetime, str, str, str], ImportedSample],
        samples: list[ImportedSample],
    ) -> None:
        latest = self.service.clock() + timedelta(days=1)
        scoped = self._scoped_servers()
        known = scoped if scoped is not None else _all_subjects(self.service)
        for sample in samples:
            _validate(sample, known, latest)
            key = (sample.ts.astimezone(UTC), sample.server, sample.check, sample.subject)
            before = staged.get(key)
            if before is not None and _values(before) != _values(sample):
                raise ReportInputError(
                    f"line {sample.line}: same ts, server, check and subject as line "
                    f"{before.line} but different values; keep one of them"
                )
            staged.setdefault(key, sample)
            if len(staged) > MAX_STAGED:
                raise ReportInputError(
                    f"more than {MAX_STAGED} samples in one import; split the file by month"
                )

    # -- scope --------------------------------------------------------------------------------

    def _may_write(self, what: str) -> None:
        if self.caller.role != "ops":
            raise AccessDenied(
                f"{self.caller.user} (staff of installer {self.installer}) may not {what}; "
                "ask the operations team"
            )

    def _scoped_servers(self) -> set[str] | None:
        """Servers and web checks of this caller's installer, or None for everything."""
        if self.installer is None:
            return None
        return {s.server for s in self._report_scope(None, None).subjects}

    def _report_server(self, server_id: str) -> None:
        scoped = self._scoped_servers()
        known = scoped if scoped is not None else _all_subjects(self.service)
        if server_id not in known:
            raise NotFound(f"no server {server_id!r}; see `nls config check`")

    def _report_customer(self, customer_id: str) -> None:
        _input_errors(lambda: self._report_scope(None, customer_id))


def _all_subjects(service: FleetService) -> set[str]:
    config = service.config
    return {s.id for s in config.servers} | {w.id for w in config.web_checks}


def _compute(
    store: Any,
    config: Any,
    scope: Scope,
    month: Any,
    kind: ReportKind,
    by: ReportBy,
    installer_id: str | None,
    now: datetime,
    breaches: Sequence[TimerBreach] = (),
) -> Any:
    import pyarrow as pa

    from console.reports import accounting, credits, latency
    from console.reports.scope import terms_from_config

    terms = terms_from_config(config)
    if kind == "availability":
        return accounting.availability(store, terms, scope, month, by=by)
    if kind == "outages":
        return accounting.outages(
            store, terms, scope, month, level="camera" if by == "camera" else "server"
        )
    if kind == "credits":
        return credits.credits(store, terms, scope, month, breaches)
    if kind == "latency":
        targets = {w.id: getattr(w, "latency_target_ms", None) for w in config.web_checks}
        return latency.latency(store, terms, scope, month, targets)
    from console.reports.html import installer_report

    assert installer_id is not None
    installer = next(i for i in config.installers if i.id == installer_id)
    page = installer_report(
        store,
        terms,
        scope,
        month,
        installer=installer_id,
        installer_name=installer.name,
        language=getattr(installer, "language", None) or "en",
        now=now,
    )
    return pa.table({"html": [page]})


def _validate(sample: ImportedSample, known: set[str], latest: datetime) -> None:
    """The daemon checks what the client validated: it never trusts a client's rows."""
    where = f"line {sample.line}"
    if sample.ts.tzinfo is None:
        raise ReportInputError(f"{where}: ts {sample.ts.isoformat()} has no time zone")
    if sample.ts > latest:
        raise ReportInputError(f"{where}: ts {sample.ts.isoformat()} lies in the future")
    if sample.server not in known:
        raise NotFound(f"{where}: no server {sample.server!r}; add it to the configuration first")
    if not _CHECK.match(sample.check):
        raise ReportInputError(f"{where}: check {sample.check!r} is not a check name")
    if sample.state not in _STATES:
        raise ReportInputError(f"{where}: state {sample.state!r} is not ok, fail or unknown")
    if sample.value is not None and not math.isfinite(sample.value):
        raise ReportInputError(f"{where}: value {sample.value!r} is not a finite number")
    if len(sample.subject) > 256 or len(sample.detail) > 4096:
        raise ReportInputError(f"{where}: subject or detail is too long")


def _values(s: ImportedSample) -> tuple[Any, ...]:
    return (s.state, s.value, s.detail)


def _store_samples(store: Any, rows: list[ImportedSample]) -> tuple[int, int]:
    import pyarrow as pa

    from console.reports.importer import IMPORT_SCHEMA, IMPORTED_CYCLE, store_samples

    ordered = sorted(rows, key=lambda r: (r.ts, r.server))
    table = pa.Table.from_pylist(
        [
            {
                "ts": r.ts.astimezone(UTC),
                "cycle": IMPORTED_CYCLE,
                "server": r.server,
                "check_name": r.check,
                "subject": r.subject,
                "state": r.state,
                "value": r.value,
                "latency_ms": None,
                "detail": r.detail,
            }
            for r in ordered
        ],
        schema=IMPORT_SCHEMA,
    )
    return _input_errors(lambda: store_samples(store, table))
