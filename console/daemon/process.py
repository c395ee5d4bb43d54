"""`nls --daemon`: the one process that owns the database, probes on schedule, alerts and serves.

Start-up order makes refusals cheap and clear: the instance lock first (a second daemon stops
there, before touching DuckDB), then the service (store, engine, schedule, alerting, outbox),
then the socket, and only then the `ready` line that supervisors and tests wait for. Shutdown
runs the other way round, after the service has finished its in-flight batch.

Nothing here may import Textual: the daemon runs on servers without a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console import __version__
from console.config import Config
from console.config_warnings import config_warnings
from console.daemon.api import ApiServer
from console.daemon.runtime import InstanceLock, bind_path, event, publish_pointer
from console.identity import Caller, Peer, resolve
from console.monitor.engine import Batch

if TYPE_CHECKING:
    from console.monitor.service import FleetService

log = logging.getLogger("nls.daemon")


class Daemon:
    """Run with `await Daemon(config).run()`; `stop()` (or SIGTERM/SIGINT) ends it cleanly."""

    def __init__(
        self,
        config: Config,
        *,
        socket_path: Path | None = None,
        clock: Callable[[], datetime] | None = None,
        report_poll: float | None = None,
    ) -> None:
        self.config = config
        self.database = config.database_path
        self.socket_path = bind_path(self.database, socket_path or config.access.socket)
        self.clock = clock
        self.report_poll = report_poll  # seconds between looks for due report mails
        self.lock = InstanceLock(self.database)
        self.service: FleetService | None = None
        self.api: ApiServer | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        """Serve until stopped; raises AlreadyRunning or StoreError before serving anything."""
        self.lock.acquire()
        try:
            return await self._run()
        finally:
            self.lock.release()

    async def _run(self) -> int:
        from console.monitor.service import FleetService

        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        # The store and its companions are this account's alone; the socket says who may talk.
        os.umask(os.umask(0o077) | 0o077)
        kwargs: dict[str, Any] = {"clock": self.clock} if self.clock else {}
        self.service = FleetService(self.config, **kwargs)
        self.service.add_listener(self._log_batch)
        await self.service.start()
        reports = self._start_report_mail()
        try:
            access = self.config.access
            self.api = ApiServer(
                self.service.view,
                self.socket_path,
                identify=self._identify,
                mode=access.socket_mode,
                group=access.socket_group,
            )
            await self.api.start()
            publish_pointer(self.database, self.socket_path)
            event(
                log,
                "ready",
                version=__version__,
                pid=os.getpid(),
                database=str(self.database),
                socket=str(self.socket_path),
                servers=len(self.config.servers),
                interval_s=self.config.monitor.interval,
                smtp="on" if self.config.smtp else "off",
                files=self.service.engine.budget.planned,
                nofile=self.service.engine.budget.limit,
            )
            for warning in config_warnings(self.config, self.service.engine.targets):
                event(log, "config_warning", logging.WARNING, detail=warning)
            stop = asyncio.create_task(self._stop.wait())
            fatal = asyncio.create_task(self.service.fatal.wait())
            await asyncio.wait({stop, fatal}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            fatal.cancel()
            event(log, "stopping", clients=self.api.clients)
        finally:
            if self.api is not None:  # clients first: their running statements are interrupted
                await self.api.close()
            self.service.store.interrupt_all()
            reports.cancel()
            await asyncio.gather(reports, return_exceptions=True)
            await self.service.stop()
            self._restore_signals(loop)
        if self.service.failed is not None:
            # One clear line, and a non-zero status so that systemd restarts the daemon: it
            # never stays up storing nothing.
            event(log, "stopped", level=logging.ERROR, status=1, error=str(self.service.failed))
            return 1
        event(log, "stopped")
        return 0

    def _start_report_mail(self) -> asyncio.Task[None]:
        """Monthly reports on the 1st and weekly summaries, queued in the outbox (issue 12)."""
        from console.reports.mailing import POLL, ReportMailer

        assert self.service is not None
        mailer = ReportMailer(self.service, poll=self.report_poll or POLL)
        return asyncio.create_task(mailer.run(self._stop))

    def _identify(self, peer: Peer) -> Caller:
        """A peer's role from the [access] section; this daemon's own account is ops."""
        return resolve(peer, self.config.access, owner_uid=os.getuid(), source=self.config.source)

    def _log_batch(self, batch: Batch) -> None:
        """One `event=cycle` line per stored batch: what journald and the tests follow."""
        samples = batch.samples
        event(
            log,
            "cycle",
            cycle=batch.cycle,
            servers=len({s.server for s in samples}),
            samples=len(samples),
            failing=sum(1 for s in samples if s.state == "fail"),
            unknown=sum(1 for s in samples if s.state == "unknown"),
            mails=batch.notifications,
            incidents=len(batch.incident_servers),
            lag_s=round(batch.lag_s, 1) if batch.lag_s is not None else "",
            ms=round((batch.finished - batch.started).total_seconds() * 1000),
            store_ms=round(batch.timings.get("total", 0.0) * 1000),
        )

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig, loop)

    def _on_signal(self, sig: signal.Signals, loop: asyncio.AbstractEventLoop) -> None:
        """The first signal finishes the batch; a second one means "now" and kills as usual."""
        event(log, "signal", signal=sig.name)
        self._restore_signals(loop)
        self.stop()

    @staticmethod
    def _restore_signals(loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)


def run_daemon(config: Config, *, socket_path: Path | None = None) -> int:
    return asyncio.run(Daemon(config, socket_path=socket_path).run())
