"""The fleet service: engine, schedule, alerting, outbox and the live fleet rows, in one process.

It is what `nls --daemon` runs and what the console embeds when no daemon is running; consoles
only ever see it through `view()`, a FleetSource, so attached and embedded consoles are the same.

Scheduling: every server has a stable phase inside the interval (a hash of its id), and one
APScheduler interval job ticks once per slot, probing the servers whose phase falls in it. The
period stays exact (no jitter drift) and the load is spread evenly over the interval. Servers
never probed are probed at once only when they fit in one batch (at most [monitor] concurrency
servers: a server just added, a small new fleet); a large new fleet is probed in its slots
like any other, never all at start. A slot whose probes start late (more than a slot after it
was due) is logged with its lag, and the lag is shown in the console's header.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import duckdb
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from console import __version__
from console.clock import Clock, utcnow
from console.config import Config
from console.desk.desk import Desk
from console.desk.records import (
    Incident,
    IncidentDetail,
    IncidentEvent,
    IncidentQuery,
    IncidentRow,
    IncidentStats,
)
from console.directory import Directory, ScopeKind
from console.errors import AccessDenied, BadRequest, MaintenanceError, NotFound, StoreError
from console.fleetview import (
    CameraRow,
    CheckResult,
    FleetSnapshot,
    MailMessage,
    MailRow,
    SampleRow,
    ServerDetail,
    ServerRow,
    SourceInfo,
)
from console.identity import Caller, this_process
from console.mail.health import health_mail
from console.mail.mailer import Mailer, MailError
from console.monitor.engine import Batch, BatchListener, Engine
from console.monitor.fleetrows import RowBuilder, counts
from console.monitor.health import HealthStatus
from console.monitor.maintenance import DuckMaintenanceStore, MaintenanceWindow
from console.monitor.pipeline import AlertPipeline
from console.monitor.reportsview import ReportsMixin
from console.store.database import Store, api_url, store_options
from console.store.sandbox import QueryLimits
from console.store.worker import ClientRun, StoreFatal, StoreWorker

if TYPE_CHECKING:
    from console.mail.outbox import OutboxWorker

T = TypeVar("T")
log = logging.getLogger("nls.service")
SLOT_SECONDS = 10.0
UPDATE_QUEUE = 256
DESK_SECONDS = 60.0
"""How often a scheduled service looks for SLA notices to send (and after every desk write)."""


def phase(server_id: str, slots: int) -> int:
    """Stable slot of a server inside the interval, the same in every process and release."""
    digest = hashlib.blake2b(server_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % slots


class FleetService:
    """`schedule`: probe on the interval; `deliver`: send the outbox's mails. A one-shot command
    runs with neither: its cycle stores samples, alert states and mails exactly as the daemon's
    would, and the mails wait in the outbox for the next process that delivers."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utcnow,
        schedule: bool = True,
        deliver: bool = True,
    ) -> None:
        self.config = config
        self.directory = Directory(config)
        self.clock = clock
        self.schedule = schedule
        self.deliver = deliver
        self.store = StoreWorker(
            config.database_path,
            options=store_options(config),
            limits=QueryLimits.from_settings(config.sql),
            concurrent=config.sql.concurrent,
        )
        self.engine = Engine(config, self.store, clock=clock)
        # Time zones are read from files on first use; with no free file descriptor (the very
        # failure the self-health alarm reports) they could not be, so load them now and keep them.
        zones = {"UTC", "Etc/UTC"} | {i.timezone for i in config.installers}
        zones |= {c.timezone for c in config.customers if c.timezone}
        self._zones = [ZoneInfo(zone) for zone in sorted(zones)]
        self.failed: BaseException | None = None
        """Set when the service cannot go on (the store is beyond repair): its owner must end
        the process with a non-zero status rather than run on storing nothing."""
        self.fatal = asyncio.Event()
        self.alerts = AlertPipeline(config, self.directory)
        self.rows: dict[str, ServerRow] = {}
        self.started = clock()
        self.desk = Desk(config, self.directory, self.store, clock)
        self.desk.on_change = self._incidents_changed
        self.desk.on_mail = self.kick_outbox
        self._builder = RowBuilder(
            self.directory,
            lambda s: self.alerts.policy(s).quiet_until,
            self.alerts.maintenance,
            self.alerts.confirmed,
        )
        self._subscribers: set[asyncio.Queue[tuple[ServerRow, ...] | None]] = set()
        self._batch_waiters: list[asyncio.Future[Batch]] = []
        self._scheduler: AsyncIOScheduler | None = None
        self._running: dict[int, asyncio.Task[Any]] = {}
        self._slots = max(1, int(config.monitor.interval // SLOT_SECONDS))
        self._slot_seconds = config.monitor.interval / self._slots
        self._buckets: dict[int, list[str]] = {}
        for server in config.servers:
            self._buckets.setdefault(phase(server.id, self._slots), []).append(server.id)
        self._outbox: OutboxWorker | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self._health_mail: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._failures = 0
        self._failure: str | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self.schedule:
            self.engine.targets  # noqa: B018 - read every secret now: a missing one fails at start
        await self.store.open()
        await self.engine.start()
        states = await self.store.call(Store.alert_states)
        windows = await self.store.call(lambda s: DuckMaintenanceStore(s.con).windows())
        self.alerts.load(states, windows)
        await self.desk.load()
        await self._refresh_rows(None)
        self.engine.listeners.append(self._on_batch)
        if self.config.smtp is not None and self.deliver:
            await self._start_outbox()
        self.engine.health.listeners.append(self._health_changed)
        if self.schedule:
            await self.retention()
            self._start_scheduler()
            await self.desk_tick()
            never = [server for server, row in self.rows.items() if row.last_check is None]
            capacity = max(
                -(-len(self.config.servers) // self._slots), self.config.monitor.concurrency
            )
            if never and len(never) <= capacity:
                self._running[-1] = asyncio.create_task(self._run_slot(never))
                self._running[-1].add_done_callback(lambda _t: self._running.pop(-1, None))
            elif never:
                log.info(
                    "%d servers never probed: each is probed in its own slot over the first "
                    "interval, not all at once",
                    len(never),
                )

    async def stop(self) -> None:
        """Stop scheduling, let in-flight batches finish, then close everything."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        if self._outbox_task is not None:
            await self._outbox_task
        if self._health_mail is not None:
            self._health_mail.cancel()
        for queue in list(self._subscribers):
            _close(queue)
        await self.engine.close()
        await self.store.close()

    async def __aenter__(self) -> FleetService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- cycles -----------------------------------------------------------------------------

    async def run_cycle(
        self, server_ids: Iterable[str] | None = None, *, due: datetime | None = None
    ) -> Batch:
        """Probe, decide alerts, store: one batch. The scheduler calls this per slot."""
        try:
            batch = await self.engine.run_cycle(server_ids, self.alerts, due=due)
        except StoreFatal as exc:
            self._fail(exc)
            raise
        if due is not None and batch.lag_s is not None:
            self.engine.health.slot_lag(
                batch.lag_s, self._slot_seconds, len({s.server for s in batch.samples})
            )
        return batch

    async def retention(self) -> list[Any]:
        """The nightly store work: raw samples older than [database] keep_raw_months to the
        Parquet archive, hourly rollups older than keep_hourly_days dropped, and yesterday's
        raw samples rewritten compactly (Store.compact_hour), an hour per store call so that
        slot batches interleave."""
        settings = self.config.database
        now = self.clock()
        files = await self._maintain(
            "archive", Store.apply_retention, now, settings.keep_raw_months
        )
        for path in files or ():
            log.info("archived raw samples", extra={"event": "archived", "file": str(path)})
        pruned = await self._maintain(
            "rollups", Store.prune_rollups, now, settings.keep_hourly_days
        )
        if pruned:
            log.info(
                "dropped old hourly rollups", extra={"event": "rollups_pruned", "rows": pruned}
            )
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        rewritten = 0
        for n in range(24):
            hour = day - timedelta(hours=24 - n)
            rewritten += await self._maintain("compact", Store.compact_hour, hour) or 0
        if rewritten:
            log.info("compacted raw samples", extra={"event": "compacted", "rows": rewritten})
        return files or []

    async def _maintain(self, step: str, fn: Callable[..., Any], *args: Any) -> Any:
        """One nightly store step: a failure is logged (or ends the daemon when the store is
        gone) and returns None, so one step's failure neither hides nor stops the other's."""
        if self.failed is not None:
            return None
        try:
            return await self.store.call(fn, *args)
        except StoreFatal as exc:
            self._fail(exc)
        except Exception as exc:
            log.error(
                f"retention ({step}) failed",
                extra={"event": "retention_failed", "step": step, "error": str(exc)},
            )
        return None

    def _fail(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = exc
            log.critical(str(exc), extra={"event": "fatal", "error": str(exc)})
        self.fatal.set()

    @property
    def health(self) -> HealthStatus:
        return self.engine.health.status

    async def wait_batch(self) -> Batch:
        """Resolves with the next stored batch, so tests and tools wait on events, not time."""
        future: asyncio.Future[Batch] = asyncio.get_running_loop().create_future()
        self._batch_waiters.append(future)
        return await future

    def add_listener(self, listener: BatchListener) -> None:
        """Call `listener(batch)` (sync or async) after every stored batch, e.g. to log it."""
        self.engine.listeners.append(listener)

    def kick_outbox(self) -> None:
        """Make the outbox try its pending mails now instead of at its next poll."""
        if self._outbox is not None:
            self._outbox.wake.set()

    def next_cycle(self) -> datetime | None:
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job("tick")
        return job.next_run_time.astimezone(UTC) if job and job.next_run_time else None

    def _start_scheduler(self) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = self.clock()
        epoch = datetime(2020, 1, 1, tzinfo=UTC)
        elapsed = (now - epoch).total_seconds()
        first = epoch + timedelta(seconds=(elapsed // self._slot_seconds + 1) * self._slot_seconds)
        scheduler.add_job(
            self._tick,
            IntervalTrigger(seconds=self._slot_seconds, start_date=first, timezone=UTC),
            id="tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(self._slot_seconds),
        )
        for n, (interval, ids) in enumerate(sorted(self._web_intervals().items())):
            # Web checks run at their own interval, each interval's checks as one batch, on
            # the same clock grid as the server slots (so restarts keep their phase).
            start = epoch + timedelta(seconds=(elapsed // interval + 1) * interval)
            scheduler.add_job(
                self._web_tick,
                IntervalTrigger(seconds=interval, start_date=start, timezone=UTC),
                args=[-2 - n, ids],
                id=f"web-{interval:g}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(interval),
            )
        scheduler.add_job(
            self.desk_tick,
            IntervalTrigger(seconds=DESK_SECONDS, timezone=UTC),
            id="desk",
            max_instances=1,
            coalesce=True,
        )
        scheduler.add_job(
            self.retention,
            CronTrigger(hour=0, minute=30, timezone=UTC),
            id="retention",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "schedule: %d servers over %g s in %d slots of %g s, %d web checks",
            len(self.config.servers),
            self.config.monitor.interval,
            self._slots,
            self._slot_seconds,
            len(self.config.web_checks),
        )

    def _web_intervals(self) -> dict[float, list[str]]:
        intervals: dict[float, list[str]] = {}
        for web in self.config.web_checks:
            intervals.setdefault(web.interval, []).append(web.id)
        return intervals

    async def _web_tick(self, key: int, ids: list[str]) -> None:
        """Start a batch of web checks unless the last one of this interval still runs; like a
        slot it is tracked in `_running`, so stopping waits for it."""
        if self._stop.is_set() or key in self._running:
            return
        task = asyncio.create_task(self._run_slot(ids))
        self._running[key] = task
        task.add_done_callback(lambda _t: self._running.pop(key, None))

    async def _tick(self) -> None:
        """Start the slot that is due; never waits for it, so a slow slot delays no other."""
        epoch = datetime(2020, 1, 1, tzinfo=UTC)
        index = round((self.clock() - epoch).total_seconds() / self._slot_seconds)
        due = epoch + timedelta(seconds=index * self._slot_seconds)
        slot = index % self._slots
        servers = self._buckets.get(slot)
        if not servers or self._stop.is_set():
            return
        if slot in self._running:
            log.warning(
                "slot still running from the last interval; skipped",
                extra={"event": "slot_skipped", "slot": slot, "servers": len(servers)},
            )
            self.engine.health.slot_lag(self.config.monitor.interval, self._slot_seconds, 0)
            return
        task = asyncio.create_task(self._run_slot(servers, due))
        self._running[slot] = task
        task.add_done_callback(lambda _t: self._running.pop(slot, None))

    async def _run_slot(self, servers: Sequence[str], due: datetime | None = None) -> None:
        """One slot's batch (or, at start, the servers never probed when they fit in a slot, so
        a new server shows real states at once rather than after up to one interval)."""
        try:
            await self.run_cycle(servers, due=due)
        except StoreFatal:
            pass  # logged once by _fail; the owner ends the process
        except Exception as exc:
            self._cycle_failed(exc, len(servers))
        else:
            if self._failures:
                _event(logging.WARNING, "cycle_recovered", failed_batches=self._failures)
                self._failures, self._failure = 0, None

    def _cycle_failed(self, exc: Exception, servers: int) -> None:
        """Log why batches fail once per cause, not once per batch: on a full disk the first
        line says "No space left on device" and the next ones would only bury it. The store
        rolled the batch back and the engine keeps its samples as unknown, stored once the
        store works again; the next slot tries again, and a success logs the recovery."""
        cause = " ".join(str(exc).split()) or type(exc).__name__
        self._failures += 1
        if cause == self._failure:
            _event(logging.DEBUG, "cycle_failed_again", servers=servers, failed=self._failures)
            return
        self._failure = cause
        known = isinstance(exc, duckdb.Error | OSError | StoreError)
        log.error(
            "batch not stored; its samples are kept as unknown" if known else "cycle_failed",
            exc_info=None if known else exc,
            extra={"event": "cycle_failed", "servers": servers, "error": cause},
        )

    def _schedule_retries(self) -> None:
        retry = self.config.monitor.retry_interval
        if retry is None or self._scheduler is None or self._stop.is_set():
            return
        when = self.clock() + timedelta(seconds=retry)
        for server in sorted(self.alerts.pending_servers()):
            self._scheduler.add_job(
                self._run_slot,
                DateTrigger(run_date=when),
                args=[[server]],
                id=f"retry-{server}",
                replace_existing=True,
            )

    async def desk_tick(self) -> int:
        """Queue the SLA notices now due (a scheduled job; tests call it with their clock)."""
        try:
            return await self.desk.tick()
        except Exception:
            log.exception("SLA notices failed")
            return 0

    async def _incidents_changed(self, servers: Sequence[str]) -> None:
        """A desk write: the fleet rows of these servers show their open incidents anew."""
        known = [s for s in servers if s in self.rows]
        if known:
            changed = await self._refresh_rows(known)
            if changed:
                self._publish(changed)

    async def _on_batch(self, batch: Batch) -> None:
        servers = sorted({s.server for s in batch.samples})
        if batch.incident_servers:
            await self.desk.reload(servers=batch.incident_servers, notify=False)
            if self.schedule:
                await self.desk_tick()
        changed = await self._refresh_rows(servers)
        if batch.notifications:
            self.kick_outbox()
        self._schedule_retries()
        if changed:
            self._publish(changed)
        waiters, self._batch_waiters = self._batch_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(batch)

    def config_ids(self) -> list[str]:
        """Every grid row's id: the servers, then the web checks."""
        return [s.id for s in self.config.servers] + [w.id for w in self.config.web_checks]

    async def _refresh_rows(self, servers: Sequence[str] | None) -> tuple[ServerRow, ...]:
        now = self.clock()
        since = now - timedelta(days=30)
        figures, availability = await self.store.call(_figures, servers, since, now)
        ids = servers if servers is not None else [*self.config_ids()]
        changed = []
        for server in ids:
            row = self._builder.build(server, figures.get(server), availability.get(server), now)
            mark = self.desk.mark(server, now)
            if mark is not None:
                row = dataclasses.replace(row, incident=mark)
            if self.rows.get(server) != row:
                self.rows[server] = row
                changed.append(row)
        return tuple(changed)

    # -- outbox -----------------------------------------------------------------------------

    async def _start_outbox(self) -> None:
        from console.mail.outbox import DuckOutboxStore, OutboxWorker

        assert self.config.smtp is not None
        outbox = await self.store.call(lambda store: DuckOutboxStore(store.con))

        async def on_store_thread(fn: Callable[[], T]) -> T:
            def run(store: Any) -> T:
                outbox.con = store.con  # the store may have been reopened since the last call
                return fn()

            return await self.store.call(run)

        self._outbox = OutboxWorker(
            outbox, Mailer(self.config.smtp), now=self.clock, offload=on_store_thread
        )
        self._outbox_task = asyncio.create_task(self._outbox.run(self._stop))

    # -- self-health --------------------------------------------------------------------------

    def _health_changed(self, old: HealthStatus, new: HealthStatus) -> None:
        """One mail to ops when the alarm is raised and one when it clears (never per batch)."""
        smtp = self.config.smtp
        if smtp is None or not self.deliver:  # a one-shot command reports it by its exit status
            return
        recipients = tuple(smtp.ops_emails or ([smtp.ops_address] if smtp.ops_address else ()))
        if not recipients:
            log.warning("self-health alarm: no ops_emails or ops_address to mail it to")
            return
        mail = health_mail(
            new if new.alarm else old, raised=new.alarm, at=self.clock(), recipients=recipients
        )
        previous = self._health_mail
        self._health_mail = asyncio.create_task(self._send_health(mail, previous))

    async def _send_health(self, mail: Any, previous: asyncio.Task[None] | None) -> None:

        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        assert self.config.smtp is not None
        mailer = Mailer(self.config.smtp)
        for attempt in range(10):
            try:
                await mailer.send(mail)
                log.info(
                    "self-health mail sent",
                    extra={"event": "health_mail", "to": mail.recipients[0]},
                )
                return
            except MailError as exc:
                log.warning("self-health mail not sent: %s", exc)
                if exc.permanent:
                    return
            await asyncio.sleep(min(300.0, 5.0 * 2**attempt))

    # -- views ------------------------------------------------------------------------------

    def view(self, scope: Caller | str | None = None) -> FleetView:
        """A FleetSource acting for `scope`: a Caller (the daemon's peer, or this process's own
        role from `console.sources.open_source`), or an installer id (or None) for this
        process's own user as ops, e.g. the demo or a test. NotFound for an unknown installer."""
        if isinstance(scope, Caller):
            caller = scope
        else:
            me = this_process()
            caller = Caller(me.uid, me.user, "ops").narrow(scope)
        if caller.installer is not None:
            self.directory.require("installer", caller.installer)
        return FleetView(self, caller)

    def subscribe(self) -> asyncio.Queue[tuple[ServerRow, ...] | None]:
        queue: asyncio.Queue[tuple[ServerRow, ...] | None] = asyncio.Queue(UPDATE_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Any]) -> None:
        self._subscribers.discard(queue)

    def _publish(self, rows: tuple[ServerRow, ...]) -> None:
        """Never block the service on a slow console: a full queue is replaced by one batch
        holding every row (a resync), so the console misses nothing."""
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(rows)
            except asyncio.QueueFull:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(tuple(self.rows.values()))


def _event(level: int, name: str, **fields: Any) -> None:
    log.log(level, name, extra={"event": name, **fields})


def _close(queue: asyncio.Queue[Any]) -> None:
    """Tell a subscriber the source is gone (its pending batches no longer matter)."""
    while True:
        try:
            queue.put_nowait(None)
            return
        except asyncio.QueueFull:
            queue.get_nowait()


def _figures(
    store: Store, servers: Sequence[str] | None, since: datetime, now: datetime
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[float | None, float]]]:
    ids = list(servers) if servers is not None else None
    figures = {r["server"]: r for r in store.named("fleet_rows", [ids]).to_pylist()}
    availability = {
        r["server"]: (r["availability"], r["known_s"])
        # a web check's availability is its page's (`web`); a server's, `server_online`
        for checks in (["server_online"], ["web"])
        for r in store.named("availability", [since, now, ids, checks]).to_pylist()
    }
    return figures, availability


class FleetView(ReportsMixin):
    """A FleetSource over the service acting for one Caller: ops see everything, a caller
    scoped to an installer sees only that installer's servers and gets no SQL. The view, not
    the client, decides what a write means: ids, authors and record times are its own."""

    mode: Literal["embedded", "attached"] = "embedded"

    def __init__(self, service: FleetService, caller: Caller) -> None:
        self.service = service
        self.caller = caller
        self.installer = caller.installer
        self.directory = service.directory
        self._servers = self.directory.visible_servers(self.installer)
        self._queues: list[asyncio.Queue[Any]] = []

    def _visible(self, server_id: str) -> bool:
        return self._servers is None or server_id in self._servers

    def _check(self, server_id: str) -> None:
        if server_id not in self.service.rows or not self._visible(server_id):
            raise NotFound(f"no server {server_id!r}; see `nls config check`")

    def _require(self, kind: ScopeKind, scope_id: str) -> None:
        """NotFound for an id that does not exist or lies outside this scope (a scoped console
        is not told which ids other installers have)."""
        if self.installer is None:
            self.directory.require(kind, scope_id)
        elif not self.directory.in_scope(self.installer, kind, scope_id):
            raise NotFound(f"no {kind} {scope_id!r}")

    async def info(self) -> SourceInfo:
        svc = self.service
        return SourceInfo(
            mode=self.mode,
            version=__version__,
            database=str(svc.config.database_path),
            interval_s=svc.config.monitor.interval,
            next_cycle=svc.next_cycle(),
            installer=self.installer,
            started=svc.started,
            user=self.caller.user,
            role=self.caller.role,
            mail_enabled=svc.config.smtp is not None,
            health=svc.health.line(),
            lag_s=svc.health.lag_s,
        )

    async def snapshot(self) -> FleetSnapshot:
        rows = tuple(r for r in self.service.rows.values() if self._visible(r.server_id))
        return FleetSnapshot(
            rows=rows,
            counts=counts(rows),
            next_cycle=self.service.next_cycle(),
            mode=self.mode,
            installer=self.installer,
        )

    async def updates(self) -> AsyncIterator[tuple[ServerRow, ...]]:
        queue = self.service.subscribe()
        self._queues.append(queue)
        try:
            while True:
                rows = await queue.get()
                if rows is None:
                    return
                visible = tuple(r for r in rows if self._visible(r.server_id))
                if visible:
                    yield visible
        finally:
            self.service.unsubscribe(queue)

    async def server_detail(self, server_id: str) -> ServerDetail:
        self._check(server_id)
        svc = self.service
        now = svc.clock()
        server = self.directory.server(server_id)
        cameras, latest, availability = await svc.store.read(
            _detail, server_id, now - timedelta(days=30), now
        )
        row = svc.rows[server_id]
        facts: dict[str, Any] = {
            "address": server.address,
            "platform": server.platform,
            "delivered": server.delivered.isoformat() if server.delivered else None,
            "eocortex_api": api_url(svc.config, server),
            "customer": f"{row.customer_name} ({row.customer_id})",
            "installer": f"{row.installer_name} ({row.installer_id})",
            "quiet_until": row.quiet_until.isoformat() if row.quiet_until else None,
            "maintenance": row.note or None,
        }
        return ServerDetail(row, facts, cameras, latest, availability)

    async def history(
        self, server_id: str, check: str, since: datetime
    ) -> list[tuple[datetime, float | None]]:
        self._check(server_id)
        if since.tzinfo is None:
            raise BadRequest(f"since {since.isoformat()} has no time zone; give UTC")
        now = self.service.clock()
        table = await self.service.store.read(
            Store.named, "history", [server_id, check, since, now]
        )
        return [(r["ts"], r["value"]) for r in table.to_pylist()]

    async def sql(self, query: str) -> Any:
        """The whole result (cut at the [sql] limits), e.g. for the embedded console."""
        self._sql_allowed()
        return await self.service.store.client_table(query, who=self.caller.user)

    def sql_stream(self, query: str) -> contextlib.AbstractAsyncContextManager[ClientRun]:
        """The result piece by piece, for the daemon's socket (see StoreWorker.client_query)."""
        self._sql_allowed()
        return self.service.store.client_query(query, who=self.caller.user)

    def _sql_allowed(self) -> None:
        if not self.caller.may_sql:
            who = (
                f"installer {self.installer}'s console"
                if self.caller.role == "ops"
                else f"{self.caller.user} (staff of installer {self.installer})"
            )
            raise AccessDenied(
                f"SQL is not available to {who}: SQL cannot be limited to one installer's data"
            )

    async def check_now(self, server_ids: Sequence[str] | None = None) -> CheckResult:
        """Probe now; each server once however often it is named (an empty list: all)."""
        ids = (
            list(dict.fromkeys(server_ids))
            if server_ids
            else [s for s in self.service.rows if self._visible(s)]
        )
        for server in ids:
            if not isinstance(server, str):
                raise BadRequest(f"server id {server!r} is not text")
            self._check(server)
        svc = self.service
        rows = tuple(svc.rows[s] for s in dict.fromkeys(ids))
        try:
            batch = await svc.run_cycle(ids)
        except StoreFatal:
            raise
        except (StoreError, OSError, duckdb.Error):
            # The monitor's own failure: the probes ran and their samples wait in the engine as
            # unknown until the store takes them; the caller gets those, with the alarm.
            if not svc.health.line():
                raise
            return CheckResult(svc.engine.unstored(ids), rows, 0, svc.health.line())
        rows = tuple(svc.rows[s] for s in dict.fromkeys(ids))
        return CheckResult(batch.samples, rows, batch.notifications, svc.health.line())

    async def scope_zone(self, scope_kind: ScopeKind, scope_id: str) -> str:
        self._require(scope_kind, scope_id)
        return self.directory.zone(scope_kind, scope_id)

    async def maintenance_list(self) -> list[MaintenanceWindow]:
        windows = await self.service.store.call(
            lambda s: DuckMaintenanceStore(s.con).windows(include_removed=False)
        )
        return [w for w in windows if self._window_visible(w)]

    async def maintenance_add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        """Store a window as this view's caller: the id, the author and the record time are the
        daemon's; an announcement in the future is refused, one in the past is kept beside the
        time it was recorded."""
        if not self._window_visible(window):
            raise AccessDenied(f"{window.scope_kind} {window.scope_id!r} is outside this console")
        self._require(window.scope_kind, window.scope_id)
        now = self.service.clock()
        if window.announced_at > now + timedelta(minutes=5):
            raise MaintenanceError(
                f"announced_at {window.announced_at.isoformat()} is in the future; give when the "
                "customer was told (default: now)"
            )
        window = dataclasses.replace(window, id=0, created_by=self.caller.user, removed_at=None)
        stored = await self.service.store.call(
            lambda s: DuckMaintenanceStore(s.con).add(
                window, author=self.caller.user, recorded_at=now
            )
        )
        await self._reload_windows()
        return stored

    async def maintenance_remove(self, window_id: int) -> None:
        visible = {w.id for w in await self.maintenance_list()}
        if window_id not in visible:
            raise NotFound(f"no active maintenance window {window_id}; see `nls maintenance list`")
        now = self.service.clock()
        user = self.caller.user
        await self.service.store.call(
            lambda s: DuckMaintenanceStore(s.con).remove(window_id, now, by=user)
        )
        await self._reload_windows()

    async def outbox(self, limit: int = 100) -> list[MailRow]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise BadRequest(f"limit {limit!r} is not a number of mails from 1 to 10000")
        rows = await self.service.store.read(Store.named, "outbox_recent", [limit, self.installer])
        return [
            MailRow(**{**r, "recipients": tuple(r["recipients"] or ())}) for r in rows.to_pylist()
        ]

    async def incident_open(
        self,
        customer: str,
        priority: str,
        server: str | None = None,
        incident_type: str = "problem",
        title: str = "",
        at: datetime | None = None,
    ) -> Incident:
        return await self.service.desk.open_incident(
            caller=self.caller,
            customer=customer,
            priority=priority,
            server=server,
            incident_type=incident_type,
            title=title,
            at=at,
        )

    async def incident_event(
        self, incident_id: int, kind: str, text: str = "", at: datetime | None = None
    ) -> IncidentEvent:
        return await self.service.desk.add_event(
            caller=self.caller,
            incident_id=incident_id,
            kind=kind,
            text=text,
            at=at,
        )

    async def incident_show(self, incident_id: int, now: datetime | None = None) -> IncidentDetail:
        return await self.service.desk.show(self.installer, incident_id, now, self.caller)

    async def incidents(
        self, where: IncidentQuery | None = None, now: datetime | None = None
    ) -> list[IncidentRow]:
        return await self.service.desk.incidents(
            self.installer, where or IncidentQuery(), now, self.caller
        )

    async def incident_stats(self, month: str) -> list[IncidentStats]:
        return await self.service.desk.stats(self.installer, month)

    async def mail(self, key: str) -> MailMessage:
        """A mail of another installer is NotFound, exactly like a key that does not exist."""
        if not isinstance(key, str) or not key:
            raise BadRequest(f"mail key {key!r} is not a key; see the outbox for them")
        rows = await self.service.store.read(Store.named, "outbox_mail", [key, self.installer])
        found = rows.to_pylist()
        if not found:
            raise NotFound(f"no mail {key!r}; see the outbox for the keys")
        r = found[0]
        text, html = r.pop("body_text"), r.pop("body_html")
        row = MailRow(**{**r, "recipients": tuple(r["recipients"] or ())})
        return MailMessage(row, text, html)

    async def close(self) -> None:
        for queue in self._queues:
            _close(queue)

    async def _reload_windows(self) -> None:
        svc = self.service
        windows = await svc.store.call(lambda s: DuckMaintenanceStore(s.con).windows())
        svc.alerts.load(svc.alerts.states.values(), windows)
        changed = await svc._refresh_rows(None)
        if changed:
            svc._publish(changed)

    def _window_visible(self, window: MaintenanceWindow) -> bool:
        return self.directory.in_scope(self.installer, window.scope_kind, window.scope_id)


def _detail(
    store: Store, server: str, since: datetime, now: datetime
) -> tuple[tuple[CameraRow, ...], tuple[SampleRow, ...], dict[str, float | None]]:
    cameras = tuple(
        CameraRow(r["camera"], r["name"], r["state"], r["since"], r["detail"])
        for r in store.named("server_cameras", [server]).to_pylist()
    )
    latest = tuple(
        SampleRow(r["ts"], r["check_name"], r["subject"], r["state"], r["value"], r["detail"])
        for r in store.named("server_latest", [server, 100]).to_pylist()
    )
    availability = {
        r["check_name"]: r["availability"]
        for r in store.named("availability", [since, now, [server], None]).to_pylist()
    }
    return cameras, latest, availability
