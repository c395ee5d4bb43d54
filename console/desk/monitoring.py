"""Proactive support: what a cycle's confirmed faults and recoveries do to the incident desk.

Pure: the alerting pipeline hands over the cycle's alert events (the same ones that mail the
installer) and gets back one `MonitorAction` per server; the store applies them inside the
cycle's transaction (`console.desk.store.apply_monitoring`). A customer without an `sla_plan`
gets no incident: the desk tracks support contracts, and the installer's mail goes out as
before.

The texts are for ops (the desk's working language, English); what installers receive is
rendered from the mail templates in their language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

CHECK_TITLES = {
    "server_online": "server offline",
    "camera": "camera offline",
    "cpu": "CPU load too high",
    "disk_activity": "no disk activity (not recording)",
    "video_rights": "the monitoring user can view video",
}


class AlertEvent(Protocol):
    """What an Alert or a Recovery of `console.monitor.alerting` carries that matters here."""

    @property
    def server(self) -> str: ...
    @property
    def check(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def first_failed(self) -> datetime: ...
    @property
    def failures(self) -> int: ...
    @property
    def detail(self) -> str: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ServerOwner:
    server_name: str
    customer: str
    installer: str
    policy: str | None  # the customer's sla_plan
    priorities: tuple[str, ...] = ()  # the policy's, highest first
    check_priority: Callable[[str], str] | None = None
    # The installer's words for the checks (mail templates' [checks]): a new incident's title
    # is in the installer's language, since the installer's console and notices show it.
    check_names: Mapping[str, str] = field(default_factory=dict)
    separator: str = ": "

    def title(self, check: str, label: str, subject: str, more: int) -> str:
        name = self.check_names.get(check) or CHECK_TITLES.get(check, check)
        text = f"{self.server_name}: {name}"
        if subject:
            text += f"{self.separator}{label or subject}"
        return f"{text} (+{more})" if more else text


@dataclass(frozen=True, slots=True)
class MonitorAction:
    """One server's cycle, as the desk records it."""

    server: str
    customer: str
    installer: str
    policy: str
    priorities: tuple[str, ...]  # the policy's, highest first
    priority: str  # of the worst fault confirmed this cycle
    title: str  # for a new incident
    at: datetime
    alerts: tuple[str, ...] = ()
    recoveries: tuple[str, ...] = ()
    resolve: bool = False  # every item of the server is clear and the policy resolves

    def raises(self, current: str) -> bool:
        """Whether this cycle's worst fault ranks above the incident's current priority."""
        if current not in self.priorities:
            return True
        return self.priorities.index(self.priority) < self.priorities.index(current)

    def entries(self) -> list[tuple[str, str]]:
        """The events to append: a note per fault and per recovery, then the resolve."""
        found = [("note", text) for text in (*self.alerts, *self.recoveries)]
        if self.resolve:
            found.append(("resolve", "every check of the server passes again"))
        return found


def what(check: str, label: str, subject: str) -> str:
    title = CHECK_TITLES.get(check, check)
    return f"{title}: {label or subject}" if subject else title


def monitor_actions(
    events: Iterable[AlertEvent],
    owner: Callable[[str], ServerOwner],
    all_clear: Callable[[str], bool],
    resolve_on_recovery: Callable[[str], bool],
) -> list[MonitorAction]:
    """One action per server with alert events this cycle and a policy. `all_clear(server)`:
    nothing of the server is alerting once this cycle is stored; `resolve_on_recovery(policy)`
    is the policy's choice."""
    by_server: dict[str, list[AlertEvent]] = {}
    for event in events:
        by_server.setdefault(event.server, []).append(event)
    actions = []
    for server in sorted(by_server):
        who = owner(server)
        if who.policy is None or who.check_priority is None:
            continue
        found = by_server[server]
        alerts = [e for e in found if e.kind == "alert"]
        recoveries = [e for e in found if e.kind == "recovery"]
        ranked = sorted(
            alerts,
            key=lambda e: (_rank(who, who.check_priority(e.check)), e.check, e.subject),  # type: ignore[misc]
        )
        priority = who.check_priority(ranked[0].check) if ranked else who.priorities[0]
        worst = ranked[0] if ranked else found[0]
        title = who.title(worst.check, worst.label, worst.subject, max(0, len(ranked) - 1))
        clear = bool(recoveries) and not alerts and all_clear(server)
        actions.append(
            MonitorAction(
                server=server,
                customer=who.customer,
                installer=who.installer,
                policy=who.policy,
                priorities=who.priorities,
                priority=priority,
                title=title,
                at=max(e.ts for e in found),
                alerts=tuple(_alert_text(e) for e in ranked),
                recoveries=tuple(_recovery_text(e) for e in recoveries),
                resolve=clear and resolve_on_recovery(who.policy),
            )
        )
    return actions


def _rank(who: ServerOwner, priority: str) -> int:
    return who.priorities.index(priority) if priority in who.priorities else len(who.priorities)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _alert_text(e: AlertEvent) -> str:
    text = (
        f"confirmed: {what(e.check, e.label, e.subject)}, {e.failures} failed checks since "
        f"{_utc(e.first_failed)}"
    )
    return f"{text}: {e.detail}" if e.detail else text


def _recovery_text(e: AlertEvent) -> str:
    return (
        f"recovered: {what(e.check, e.label, e.subject)} at {_utc(e.ts)} "
        f"(failing since {_utc(e.first_failed)})"
    )
