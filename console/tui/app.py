"""NlsApp: the one console for both modes; embedded or attached only changes the header label.

Data flow (after Harlequin): workers call the FleetSource and post typed messages; handlers on
the UI side apply them to widgets inside `batch_update()`. The UI never awaits the source itself,
and every failed worker ends in `worker_changed`, which turns it into a notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App
from textual.driver import Driver
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from console import userdirs
from console.fleetview import AccessDenied, FleetSource, ServerRow, SourceInfo
from console.tui.bindings import MODE_CONTEXTS, Command, bindings_for
from console.tui.gridmodel import utc_now
from console.tui.header import ConsoleStatus
from console.tui.messages import InfoLoaded, RowsChanged, SnapshotLoaded, SourceClosed
from console.tui.palette import NlsCommands
from console.tui.screens.availability import AvailabilityScreen
from console.tui.screens.detail import DetailScreen
from console.tui.screens.fleet import FleetScreen
from console.tui.screens.help import HelpScreen
from console.tui.screens.incident import IncidentForm, IncidentScreen
from console.tui.screens.incidents import IncidentsScreen
from console.tui.screens.maintenance import MaintenanceScreen
from console.tui.screens.outbox import OutboxScreen
from console.tui.screens.sql import SqlScreen

Clock = Callable[[], datetime]
EXIT_HANGUP = 129
EXIT_TERM = 143
STOP_DEADLINE_S = 10.0
"""After a hangup or SIGTERM the process ends within this time, cleanly or not (an engine
mid-cycle is crash-safe: the store commits a cycle at once or not at all)."""


class NlsApp(App[int]):
    TITLE = "nls"
    CSS_PATH = "styles.tcss"
    MODES: ClassVar[dict[str, Any]] = {
        "fleet": FleetScreen,
        "sql": SqlScreen,
        "mail": OutboxScreen,
        "maintenance": MaintenanceScreen,
        "incidents": IncidentsScreen,
        "availability": AvailabilityScreen,
    }
    DEFAULT_MODE: ClassVar[str] = "fleet"
    BINDINGS = bindings_for("app")
    COMMANDS = App.COMMANDS | {NlsCommands}
    ENABLE_COMMAND_PALETTE = True

    status: reactive[ConsoleStatus] = reactive(ConsoleStatus, always_update=False)

    def __init__(
        self,
        source: FleetSource,
        *,
        clock: Clock = utc_now,
        installer: str | None = None,
        state_dir: Path | None = None,
        export_dir: Path | None = None,
        watch_hangup: bool = True,
    ) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        self.installer = installer
        self.state_dir = state_dir if state_dir is not None else userdirs.state_dir()
        self.export_dir = export_dir if export_dir is not None else userdirs.export_dir()
        self.snapshot_rows: tuple[ServerRow, ...] | None = None
        self.source_info: SourceInfo | None = None
        self.batches = 0
        self._watch_hangup = watch_hangup
        self._previous_handlers: dict[signal.Signals, Any] = {}
        if installer is not None:
            self._modes.pop("sql", None)
        self.set_reactive(NlsApp.status, ConsoleStatus(mode=source.mode, installer=installer))

    # -- lifecycle ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.follow_source()
        if self._watch_hangup:
            self._install_hangup()

    def on_unmount(self) -> None:
        for signum, previous in self._previous_handlers.items():
            with contextlib.suppress(Exception):
                signal.signal(signum, previous)

    def get_driver_class(self) -> type[Driver]:
        """Textual's own driver, but on Linux/macOS one that survives a hangup (see driver.py)."""
        found = super().get_driver_class()
        if found.__name__ == "LinuxDriver":
            from console.tui.driver import NlsDriver

            return NlsDriver
        return found

    def _install_hangup(self) -> None:
        """Exit when the SSH connection (the terminal) goes away, or on SIGTERM, within
        STOP_DEADLINE_S whatever else happens.

        Plain signal handlers, not the event loop's: they must work even if the loop is stuck,
        and they only set flags and wake the loop. A hangup also tells the driver that the
        terminal is gone; SIGTERM leaves it, so the terminal is restored on the way out.
        """
        from console.tui.driver import HangupGuard

        loop = asyncio.get_running_loop()
        guards = {
            signal.SIGHUP: HangupGuard(STOP_DEADLINE_S, EXIT_HANGUP),
            signal.SIGTERM: HangupGuard(STOP_DEADLINE_S, EXIT_TERM),
        }

        def stop(signum: int, frame: Any) -> None:
            guards[signal.Signals(signum)].trip()
            if signum == signal.SIGHUP:
                hung_up = getattr(self._driver, "hung_up", None)
                if hung_up is not None:
                    hung_up()
            code = EXIT_HANGUP if signum == signal.SIGHUP else EXIT_TERM
            loop.call_soon_threadsafe(lambda: self.exit(return_code=code))

        for signum in guards:
            try:
                self._previous_handlers[signum] = signal.signal(signum, stop)
            except (ValueError, OSError, AttributeError):
                continue

    # -- data flow ------------------------------------------------------------------------

    @work(exclusive=True, group="source", exit_on_error=False)
    async def follow_source(self) -> None:
        """Subscribe before the snapshot, so no batch falls between the two."""
        self.refresh_info()
        updates = aiter(self.source.updates())
        first = asyncio.ensure_future(anext(updates, None))
        try:
            snapshot = await self.source.snapshot()
            self.post_message(SnapshotLoaded(snapshot))
            rows = await first
            while rows is not None:
                self.post_message(RowsChanged(rows))
                rows = await anext(updates, None)
        finally:
            if not first.done():
                first.cancel()
        self.post_message(SourceClosed())

    @work(exclusive=True, group="info", exit_on_error=False)
    async def refresh_info(self) -> None:
        self.post_message(InfoLoaded(await self.source.info()))

    def _scoped(self, rows: Iterable[ServerRow]) -> tuple[ServerRow, ...]:
        """Defence in depth: a scoped console drops any other installer's row it is handed."""
        if self.installer is None:
            return tuple(rows)
        return tuple(r for r in rows if r.installer_id == self.installer)

    @on(SnapshotLoaded)
    def _snapshot_loaded(self, message: SnapshotLoaded) -> None:
        rows = self.snapshot_rows = self._scoped(message.snapshot.rows)
        with self.batch_update():
            fleet = self.fleet_screen()
            if fleet is not None and fleet.is_mounted:
                fleet.load(rows)
            self.set_status(loading=False, next_cycle=message.snapshot.next_cycle)

    @on(RowsChanged)
    def _rows_changed(self, message: RowsChanged) -> None:
        rows = self._scoped(message.rows)
        self.batches += 1
        if not rows:
            return
        with self.batch_update():
            fleet = self.fleet_screen()
            if fleet is not None and fleet.is_mounted:
                fleet.apply_updates(rows)
            changed = {r.server_id for r in rows}
            for screen in self._all_screens():
                if isinstance(screen, DetailScreen):
                    screen.rows_changed(changed)
        self.refresh_info()

    @on(InfoLoaded)
    def _info_loaded(self, message: InfoLoaded) -> None:
        self.source_info = message.info
        self.set_status(
            next_cycle=message.info.next_cycle,
            mode=message.info.mode,
            health=message.info.health,
            lag_s=message.info.lag_s,
        )

    @on(SourceClosed)
    def _source_closed(self) -> None:
        self.set_status(closed=True)
        self.notify("The fleet source closed: no more live updates.", severity="warning")

    def worker_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed source call ends up: a notification, never a crash."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "source":
            self.set_status(closed=True, loading=False)
        if isinstance(error, AccessDenied):
            self.notify(str(error), title="Not allowed", severity="warning")
            return
        text = str(error).strip() or type(error).__name__
        self.notify(text, title=f"{event.worker.name or 'task'} failed", severity="error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_changed(event)

    def set_status(self, **changes: Any) -> None:
        from dataclasses import replace

        self.status = replace(self.status, **changes)

    # -- screens ---------------------------------------------------------------------------

    def _all_screens(self) -> Iterator[Any]:
        for stack in self._screen_stacks.values():
            yield from stack

    def fleet_screen(self) -> FleetScreen | None:
        stack = self._screen_stacks.get("fleet") or []
        return stack[0] if stack and isinstance(stack[0], FleetScreen) else None

    def cursor_server_id(self) -> str | None:
        if isinstance(self.screen, DetailScreen):
            return self.screen.server_id
        fleet = self.fleet_screen()
        return fleet.grid.cursor_server_id if fleet is not None and fleet.is_mounted else None

    def known_rows(self) -> Iterator[ServerRow]:
        """Every row the grid holds, whatever its filter."""
        fleet = self.fleet_screen()
        if fleet is not None and fleet.is_mounted:
            yield from fleet.grid.model.rows()
        elif self.snapshot_rows is not None:
            yield from self.snapshot_rows

    def server_index(self) -> Iterator[tuple[str, str, str]]:
        fleet = self.fleet_screen()
        if fleet is None or not fleet.is_mounted:
            return
        for row in fleet.grid.model.rows():
            yield row.server_id, row.name, row.customer_name

    def open_detail(self, server_id: str) -> None:
        self.push_screen(DetailScreen(server_id))

    async def go_to_server(self, server_id: str) -> None:
        await self.switch_mode("fleet")
        while isinstance(self.screen, DetailScreen) or len(self.screen_stack) > 1:
            await self.pop_screen()
        fleet = self.fleet_screen()
        if fleet is not None and not fleet.grid.select_server(server_id):
            fleet.action_clear_filters()
            fleet.grid.select_server(server_id)
        self.open_detail(server_id)

    # -- the incident desk -----------------------------------------------------------------

    def open_incident(self, incident_id: int) -> None:
        self.push_screen(IncidentScreen(incident_id))

    async def action_server_incidents(self) -> None:
        """The incidents of the server under the grid's cursor (open or not)."""
        server = self.cursor_server_id()
        await self.switch_mode("incidents")
        screen = self.screen
        if isinstance(screen, IncidentsScreen):
            screen.show_server(server)

    def action_new_incident(self, server: str | None = "") -> None:
        """The new-incident form for `server`; "" (a key on the grid): the server under the
        cursor; None: no server."""
        if server == "":
            server = self.cursor_server_id()
        customer = ""
        fleet = self.fleet_screen()
        if server and fleet is not None:
            row = fleet.grid.model.get(server)
            customer = row.customer_id if row is not None else ""

        def opened(incident: Any) -> None:
            if incident is not None:
                self.notify(f"Incident {incident.id} opened")
                self.open_incident(incident.id)

        self.push_screen(IncidentForm(customer=customer, server=server or ""), opened)

    def state_file(self, name: str) -> Path | None:
        return self.state_dir / name

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch_screen" and parameters and parameters[0] == "sql":
            return self.installer is None
        return True

    def command_available(self, command: Command) -> bool:
        if self.installer is not None and (command.context == "sql" or command.id == "sql"):
            return False
        if command.context == "app" or command.context in MODE_CONTEXTS:
            return True
        return command.context == getattr(self.screen, "CONTEXT", None)

    async def run_command(self, command: Command) -> None:
        """Run a palette command, first going to the screen it belongs to."""
        if command.context in MODE_CONTEXTS and command.context != getattr(
            self.screen, "CONTEXT", None
        ):
            await self.switch_mode(command.context)
            while len(self.screen_stack) > 1:
                await self.pop_screen()
        target = self if command.context == "app" else self.screen
        await self.run_action(command.action, target)

    async def action_switch_screen(self, name: str) -> None:
        if name == "sql" and self.installer is not None:
            self.notify("SQL is not available in an installer-scoped console.", severity="warning")
            return
        await self.switch_mode(name)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(scoped=self.installer is not None))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"
