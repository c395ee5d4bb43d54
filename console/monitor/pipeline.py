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
from console.desk.monitoring import MonitorAction, ServerOwner, monitor_actions
from console.directory import Directory
from console.mail.notify import (
    Notification,
    NotifySettings,
    ServerFacts,
    build_notifications,
    templates,
)
from console.monitor.alerting import AlertState, CycleResult, ServerPolicy, evaluate, quiet_until
from console.monitor.maintenance import MaintenanceWindow, active_window
from console.monitor.sample import Key, Sample
from console.sla.policy import catalog_of


@dataclass(frozen=True, slots=True)
class Outcome:
    """One cycle's alerting result, not yet committed."""

    result: CycleResult
    notifications: tuple[Notification, ...]
    incidents: tuple[MonitorAction, ...] = ()
    """What the desk records of this cycle (console.desk.monitoring), in the same transaction."""


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
        self.catalog = catalog_of(config)
        self._owners: dict[str, ServerOwner] = {}
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
        incidents: tuple[MonitorAction, ...] = ()
        if result.events:
            incidents = tuple(
                monitor_actions(
                    result.events,
                    self._owner,
                    lambda server: not self._alerting_after(server, result.states),
                    lambda policy: self.catalog.policy(policy).spec.monitoring.resolve_on_recovery,
                )
            )
        return Outcome(result, tuple(notifications), incidents)

    def _owner(self, server: str) -> ServerOwner:
        """Who owns a server and which policy its incidents follow (compiled once)."""
        found = self._owners.get(server)
        if found is None:
            facts = self._facts[server]
            plan = self.directory.customers[facts.customer].sla_plan
            if plan is None:
                found = ServerOwner(facts.server_name, facts.customer, facts.installer, None)
            else:
                policy = self.catalog.policy(plan)
                words = templates(facts.language)
                found = ServerOwner(
                    facts.server_name,
                    facts.customer,
                    facts.installer,
                    plan,
                    policy.priorities,
                    policy.monitoring_priority,
                    words["checks"],
                    words["units"]["label_separator"],
                )
            self._owners[server] = found
        return found

    def _alerting_after(self, server: str, states: Sequence[AlertState]) -> bool:
        """Whether any item of the server is alerting once this cycle's states are adopted."""
        items = set(self._confirmed.get(server, ()))
        for state in states:
            if state.server == server:
                item = (state.check_name, state.subject)
                if state.status == "alerting":
                    items.add(item)
                else:
                    items.discard(item)
        return bool(items)

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
