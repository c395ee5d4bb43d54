"""What every console screen shares: the header, the footer and the route for worker errors.

Worker state messages do not bubble in Textual, so each screen hands them to the app's one
handler; a failed source call becomes a notification instead of a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.screen import ModalScreen, Screen
from textual.worker import Worker

from console.tui.bindings import Context

if TYPE_CHECKING:
    from console.fleetview import FleetSource
    from console.tui.app import NlsApp


class NlsScreen(Screen[None]):
    CONTEXT: ClassVar[Context] = "app"
    TITLE: ClassVar[str] = ""

    @property
    def nls_app(self) -> NlsApp:
        return self.app  # type: ignore[return-value]

    @property
    def source(self) -> FleetSource:
        return self.nls_app.source

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.nls_app.worker_changed(event)


class NlsModal(ModalScreen[Any]):
    @property
    def nls_app(self) -> NlsApp:
        return self.app  # type: ignore[return-value]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.nls_app.worker_changed(event)
