"""Alerting glue: per-server policies, mail directory and maintenance windows from the config,
around the pure state machine (`console.monitor.alerting`) and mail rendering
(`console.mail.notify`).

The pipeline keeps the alert states in memory and only adopts a cycle's new states once the
store has committed them, so a crash between probe and commit replays from the stored states.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from console.config import Config, Customer, Installer, Server, WebCheck
from console.directory import Directory
from console.mail.notify import Notification, NotifySettings, ServerFacts, build_notifications
from console.monitor.alerting import AlertState, CycleResult, ServerPolicy, evaluate, quiet_until
from console.monitor.maintenance import MaintenanceWindow, active_window
from console.monitor.sample import Key, Sample


@dataclass(frozen=True, slots=True)
class Outcome:
    """One cycle's alerting result, not yet committed."""

    result: CycleResult
    notifications: tuple[Notification, ...]


class AlertPipeline:
    def __init__(self, config: Config, directory: Directory | None = None) -> None:
        self.config = config
        self.directory = directory = directory or Directory(config)
        self.states: dict[Key, AlertState] = {}
        self.windows: list[MaintenanceWindow] = []
        self._confirmed: dict[str, set[tuple[str, str]]] = {}
        self._policies: dict[str, ServerPolicy] = {}
        self._facts: dict[str, ServerFacts] = {}
        for server in config.servers:
            customer, installer = directory.owners(server)
            self._policies[server.id] = ServerPolicy(
                threshold=directory.setting(server, "failures_before_alert"),
                recover_after=config.monitor.recover_after,
                quiet_until=quiet_until(
                    server.delivered, config.monitor.quiet_days, directory.timezone(server)
                ),
            )
            self._facts[server.id] = _server_facts(server, customer, installer)
        for web in config.web_checks:
            # A web check alerts its customer's installer after the same number of failed
            # checks as their servers; it has no delivery date, so no quiet period.
            customer, installer = directory.web_owners(web)
            self._policies[web.id] = ServerPolicy(
                threshold=_owner_setting(config, (customer, installer), "failures_before_alert"),
                recover_after=config.monitor.recover_after,
            )
            self._facts[web.id] = _web_facts(web, customer, installer)
        smtp = config.smtp
        self.settings = (
            NotifySettings(support=smtp.support, ops_address=smtp.ops_address)
            if smtp
            else NotifySettings()
        )

    def load(self, states: Iterable[AlertState], windows: Iterable[MaintenanceWindow]) -> None:
        self.states = {s.key: s for s in states}
        self.windows = [w for w in windows if w.removed_at is None]
        self._confirmed = {}
        for state in self.states.values():
            self._note(state)

    def confirmed(self, server: str) -> frozenset[tuple[str, str]]:
        """(check, subject) of the server's failures that reached the alert threshold: what
        turns the dashboard from pending to problem, together with the installer's mail."""
        return frozenset(self._confirmed.get(server, ()))

    def _note(self, state: AlertState) -> None:
        item = (state.check_name, state.subject)
        if state.status == "alerting":
            self._confirmed.setdefault(state.server, set()).add(item)
        elif state.server in self._confirmed:
            self._confirmed[state.server].discard(item)

    def policy(self, server: str) -> ServerPolicy:
        return self._policies[server]

    def maintenance(self, server: str, at: datetime) -> MaintenanceWindow | None:
        directory = self.directory
        return active_window(
            self.windows, server, directory.customer_of(server), directory.installer_of(server), at
        )

    def process(self, cycle: int, samples: Sequence[Sample]) -> Outcome:
        result = evaluate(cycle, samples, self.states, self.policy, self.maintenance)
        notifications = build_notifications(result.events, self._facts, self.settings)
        return Outcome(result, tuple(notifications))

    def commit(self, outcome: Outcome) -> None:
        """Adopt the states once the store holds them."""
        for state in outcome.result.states:
            self.states[state.key] = state
            self._note(state)

    def pending_servers(self) -> set[str]:
        """Servers with a failure awaiting confirmation (for an optional faster retry)."""
        return {s.server for s in self.states.values() if s.status == "pending"}


def _owner_setting(config: Config, owners: tuple[Customer, Installer], name: str) -> int:
    """A setting from the customer, else the installer, else [monitor]."""
    for level in owners:
        value = getattr(level, name)
        if value is not None:
            return int(value)
    return int(getattr(config.monitor, name))


def _web_facts(web: WebCheck, customer: Customer, installer: Installer) -> ServerFacts:
    return ServerFacts(
        server=web.id,
        server_name=web.url,
        customer=customer.id,
        customer_name=customer.name,
        installer=installer.id,
        installer_name=installer.name,
        emails=tuple(installer.emails),
        language=installer.language,
        timezone=customer.timezone or installer.timezone,
    )


def _server_facts(server: Server, customer: Customer, installer: Installer) -> ServerFacts:
    return ServerFacts(
        server=server.id,
        server_name=server.name or server.id,
        customer=customer.id,
        customer_name=customer.name,
        installer=installer.id,
        installer_name=installer.name,
        emails=tuple(installer.emails),
        language=installer.language,
        timezone=customer.timezone or installer.timezone,
    )
