"""What a report covers: the servers (and web checks) in scope with the facts accounting needs.

Reports never read the configuration themselves: the caller resolves owners, check interval and
`failures_before_alert` once (`scope_from_config`) and passes terms per customer, so a past month
can be recomputed with the terms and fleet it had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from console.sla.terms import AvailabilityTerms

if TYPE_CHECKING:
    from console.config import Config

SubjectKind = Literal["server", "web"]
# Terms per customer: one for all, a mapping (missing customers get the defaults) or a function.
Terms = AvailabilityTerms | Mapping[str, AvailabilityTerms] | Callable[[str], AvailabilityTerms]
WEB_CHECK = "web"


class ScopeError(ValueError):
    """An unknown installer, customer or server was asked for; the message lists known ones."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Subject:
    """One server or web check: whose it is and how often it is checked."""

    server: str
    customer: str
    installer: str
    timezone: str = "UTC"
    interval_s: float = 900.0
    failures_before_alert: int = 3
    kind: SubjectKind = "server"

    def checks(
        self, terms: AvailabilityTerms, level: Literal["server", "camera"]
    ) -> tuple[str, ...]:
        """The checks whose failures are downtime for this subject's rows at `level`."""
        if self.kind == "web":
            return (WEB_CHECK,) if level == "server" else ()
        return terms.server_checks if level == "server" else terms.camera_checks

    def zone(self, terms: AvailabilityTerms) -> str:
        return terms.timezone or self.timezone


@dataclass(frozen=True, slots=True)
class Scope:
    subjects: tuple[Subject, ...]

    def only(
        self,
        *,
        installer: str | None = None,
        customer: str | None = None,
        server: str | None = None,
    ) -> Scope:
        """The subset matching every filter given; an unknown id is a ScopeError."""
        subjects = self.subjects
        for name, wanted in (("installer", installer), ("customer", customer), ("server", server)):
            if wanted is None:
                continue
            known = {getattr(s, name) for s in subjects}
            if wanted not in known:
                raise ScopeError(f"no {name} {wanted!r} in scope; known: {_some(known)}")
            subjects = tuple(s for s in subjects if getattr(s, name) == wanted)
        return Scope(subjects)

    def by_server(self) -> dict[str, Subject]:
        return {s.server: s for s in self.subjects}

    def with_interval(self, seconds: float) -> Scope:
        return Scope(tuple(replace(s, interval_s=seconds) for s in self.subjects))


def terms_lookup(terms: Terms) -> Callable[[str], AvailabilityTerms]:
    """Normalise the accepted forms of `terms` to customer id -> AvailabilityTerms."""
    if isinstance(terms, AvailabilityTerms):
        return lambda _customer: terms
    if isinstance(terms, Mapping):
        default = AvailabilityTerms()
        return lambda customer: terms.get(customer, default)
    return terms


def terms_from_config(config: Config) -> dict[str, AvailabilityTerms]:
    """Each customer's availability terms from its SLA policy (`[sla_policies.NAME.availability]`),
    with the policy calendar's zone when the terms name none; customers without a plan get the
    defaults (99.9%, months in the customer's zone)."""
    found: dict[str, AvailabilityTerms] = {}
    for customer in config.customers:
        policy = config.sla_policies.get(customer.sla_plan or "")
        if policy is None:
            continue
        terms = policy.availability
        if terms.timezone is None:
            calendar = policy.calendar
            spec = config.calendars.get(calendar) if isinstance(calendar, str) else calendar
            if spec is not None:
                terms = terms.model_copy(update={"timezone": spec.timezone})
        found[customer.id] = terms
    return found


def scope_from_config(
    config: Config,
    *,
    installer: str | None = None,
    customer: str | None = None,
    server: str | None = None,
) -> Scope:
    """Every configured server and web check with owners, zone, interval and alert threshold."""
    from console.config import Overrides

    overrides = Overrides(config)
    subjects: list[Subject] = []
    for s in config.servers:
        owner, inst = overrides.owners(s)
        subjects.append(
            Subject(
                server=s.id,
                customer=owner.id,
                installer=inst.id,
                timezone=overrides.timezone(s),
                interval_s=config.monitor.interval,
                failures_before_alert=overrides.setting(s, "failures_before_alert"),
            )
        )
    customers = {c.id: c for c in config.customers}
    installers = {i.id: i for i in config.installers}
    for w in getattr(config, "web_checks", ()):
        owner = customers[w.customer]
        inst = installers[owner.installer]
        subjects.append(
            Subject(
                server=w.id,
                customer=owner.id,
                installer=inst.id,
                timezone=owner.timezone or inst.timezone,
                interval_s=w.interval,
                failures_before_alert=owner.failures_before_alert
                or inst.failures_before_alert
                or config.monitor.failures_before_alert,
                kind="web",
            )
        )
    return Scope(tuple(subjects)).only(installer=installer, customer=customer, server=server)


def _some(ids: Iterable[str], limit: int = 8) -> str:
    ordered = sorted(ids)
    text = ", ".join(ordered[:limit]) or "(none)"
    return text + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")
