"""The owner directory: who owns a server, what is in an installer's scope, which zone applies.

Every question about ownership is answered here, from indexes built once per configuration, so a
10,000-server fleet costs dictionary lookups; and every scope check goes through `in_scope`, so
an installer-scoped console, the daemon and the CLI cannot draw the boundary differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from console.errors import NotFound

if TYPE_CHECKING:
    from console.config import Config, Customer, Installer, Server, WebCheck

T = TypeVar("T")
ScopeKind = Literal["server", "customer", "installer"]
SCOPE_KINDS: tuple[ScopeKind, ...] = ("server", "customer", "installer")


class Directory:
    """Lookups over one configuration; build it once and share it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.installers: dict[str, Installer] = {i.id: i for i in config.installers}
        self.customers: dict[str, Customer] = {c.id: c for c in config.customers}
        self.servers: dict[str, Server] = {s.id: s for s in config.servers}
        self.web_checks: dict[str, WebCheck] = {w.id: w for w in config.web_checks}
        # A web check is owned like a server (its customer's installer): the same scope rules
        # show it, alert on it and mail it to the same people.
        self._installer_of: dict[str, str] = {
            s.id: self.customers[s.customer].installer for s in config.servers
        }
        self._installer_of.update(
            (w.id, self.customers[w.customer].installer) for w in config.web_checks
        )

    # -- lookups ----------------------------------------------------------------------------

    def server(self, server_id: str) -> Server:
        return self._find(self.servers, "server", server_id)

    def customer(self, customer_id: str) -> Customer:
        return self._find(self.customers, "customer", customer_id)

    def installer(self, installer_id: str) -> Installer:
        return self._find(self.installers, "installer", installer_id)

    def require(self, kind: ScopeKind, scope_id: str) -> None:
        """Raise NotFound naming the configuration when `kind scope_id` does not exist."""
        {"server": self.server, "customer": self.customer, "installer": self.installer}[kind](
            scope_id
        )

    def _find(self, table: Mapping[str, T], kind: str, key: str) -> T:
        found = table.get(key)
        if found is None:
            raise NotFound(f"no {kind} {key!r} in {self.config.source}; known: {_some(table)}")
        return found

    # -- ownership --------------------------------------------------------------------------

    def owners(self, server: Server | str) -> tuple[Customer, Installer]:
        """The customer and installer of a server."""
        if isinstance(server, str):
            server = self.server(server)
        customer = self.customers[server.customer]
        return customer, self.installers[customer.installer]

    def installer_of(self, server_id: str) -> str | None:
        return self._installer_of.get(server_id)

    def customer_of(self, server_id: str) -> str | None:
        owned = self.servers.get(server_id) or self.web_checks.get(server_id)
        return owned.customer if owned else None

    def web_owners(self, check: WebCheck) -> tuple[Customer, Installer]:
        """The customer and installer of a web check."""
        customer = self.customers[check.customer]
        return customer, self.installers[customer.installer]

    def customers_of(self, installer_id: str) -> list[Customer]:
        return [c for c in self.customers.values() if c.installer == installer_id]

    def servers_of(self, installer_id: str) -> list[Server]:
        return [s for s in self.servers.values() if self._installer_of[s.id] == installer_id]

    # -- scope ------------------------------------------------------------------------------

    def in_scope(self, installer: str | None, kind: ScopeKind, scope_id: str) -> bool:
        """The one scope check: may a console of `installer` (None: ops, everything) see this
        server, customer or installer? Unknown ids are outside every installer's scope."""
        if installer is None:
            return True
        if kind == "server":
            return self._installer_of.get(scope_id) == installer
        if kind == "customer":
            customer = self.customers.get(scope_id)
            return customer is not None and customer.installer == installer
        return scope_id == installer

    def visible_servers(self, installer: str | None) -> frozenset[str] | None:
        """The server ids an installer may see; None when the scope is unlimited."""
        if installer is None:
            return None
        return frozenset(s for s, owner in self._installer_of.items() if owner == installer)

    # -- zones and settings -----------------------------------------------------------------

    def timezone(self, server: Server | str) -> str:
        customer, installer = self.owners(server)
        return customer.timezone or installer.timezone

    def zone(self, kind: ScopeKind, scope_id: str) -> str:
        """The IANA zone local times of a scope are read in (a server's is its customer's)."""
        if kind == "server":
            return self.timezone(self.server(scope_id))
        if kind == "customer":
            customer = self.customer(scope_id)
            return customer.timezone or self.installers[customer.installer].timezone
        return self.installer(scope_id).timezone

    def setting(self, server: Server, name: str) -> Any:
        """The most specific value of an overridable setting: server, then customer, then
        installer, then [monitor] (see `console.config.Thresholds`)."""
        for level in (server, *self.owners(server)):
            value = getattr(level, name)
            if value is not None:
                return value
        return getattr(self.config.monitor, name)


def _some(ids: Iterable[str], limit: int = 8) -> str:
    ordered = sorted(ids)
    text = ", ".join(ordered[:limit]) or "(none)"
    return text + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")
