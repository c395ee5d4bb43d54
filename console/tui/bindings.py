"""Every key binding of the console as data: one table feeds the footer, the help screen and the
command palette, so a key or a description is changed in one place and never drifts apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding, BindingType

Context = Literal[
    "app",
    "fleet",
    "detail",
    "sql",
    "mail",
    "message",
    "maintenance",
    "incidents",
    "incident",
    "availability",
]
CONTEXT_TITLES: dict[Context, str] = {
    "app": "Everywhere",
    "fleet": "Fleet grid",
    "detail": "Server detail",
    "sql": "SQL",
    "mail": "Sent mail",
    "message": "One mail",
    "maintenance": "Maintenance",
    "incidents": "Incidents",
    "incident": "One incident",
    "availability": "Availability",
}
MODE_CONTEXTS: frozenset[Context] = frozenset(
    {"fleet", "sql", "mail", "maintenance", "incidents", "availability"}
)


@dataclass(frozen=True, slots=True)
class Command:
    """One action the operator can take: its key, where it applies and what it does."""

    id: str
    key: str
    action: str
    label: str
    description: str
    context: Context
    show: bool = True
    palette: bool = True
    priority: bool = False

    @property
    def binding_id(self) -> str:
        return f"nls.{self.id}"

    @property
    def key_display(self) -> str:
        return ", ".join(_pretty(k) for k in self.key.split(","))


def _pretty(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "escape": "esc", "delete": "del"}
    key = key.strip()
    if key.startswith("ctrl+"):
        return "^" + key[5:]
    return names.get(key, key)


COMMANDS: tuple[Command, ...] = (
    Command("help", "f1,question_mark", "help", "Help", "Show every key binding", "app"),
    Command("fleet", "1", "switch_screen('fleet')", "Fleet", "Go to the fleet grid", "app"),
    Command("sql", "2", "switch_screen('sql')", "SQL", "Ad-hoc read-only SQL on the store", "app"),
    Command("mail", "3", "switch_screen('mail')", "Mail", "Sent mail (the outbox)", "app"),
    Command(
        "maintenance",
        "4",
        "switch_screen('maintenance')",
        "Maint",
        "Maintenance windows: list, add, remove",
        "app",
    ),
    Command(
        "incidents",
        "5",
        "switch_screen('incidents')",
        "Incidents",
        "Incident desk: open incidents, due first",
        "app",
    ),
    Command(
        "availability",
        "6",
        "switch_screen('availability')",
        "Avail",
        "Monthly availability, worst first",
        "app",
    ),
    Command(
        "theme", "f9", "toggle_theme", "Theme", "Switch between dark and light themes", "app", False
    ),
    Command("quit", "ctrl+q", "quit", "Quit", "Leave the console", "app", False, priority=True),
    Command("search", "slash", "focus_search", "Search", "Search as you type", "fleet"),
    Command("installer", "i", "pick_installer", "Installer", "Filter by installer", "fleet"),
    Command("customer", "c", "pick_customer", "Customer", "Filter by customer", "fleet"),
    Command(
        "status",
        "f",
        "cycle_status",
        "Status",
        "Cycle status filter: all, failing, quiet, maintenance",
        "fleet",
    ),
    Command(
        "problems",
        "p",
        "status_filter('problems')",
        "Failing",
        "Only failing servers: pending, problem or down",
        "fleet",
        False,
    ),
    Command(
        "quiet",
        "u",
        "status_filter('quiet')",
        "Quiet",
        "Status filter: quiet period only",
        "fleet",
        False,
    ),
    Command(
        "in_maintenance",
        "m",
        "status_filter('maintenance')",
        "In maint.",
        "Status filter: servers in maintenance",
        "fleet",
        False,
    ),
    Command(
        "all_statuses",
        "a",
        "status_filter('all')",
        "All statuses",
        "Status filter: every status",
        "fleet",
        False,
    ),
    Command("clear", "x", "clear_filters", "Clear", "Clear every filter and the search", "fleet"),
    Command(
        "open", "o", "open_detail", "Detail", "Open the server under the cursor", "fleet", False
    ),
    Command(
        "server_incidents",
        "e",
        "app.server_incidents",
        "Incidents",
        "Incidents of the server under the cursor",
        "fleet",
    ),
    Command(
        "new_incident",
        "E",
        "app.new_incident",
        "New incident",
        "Open an incident for the server under the cursor",
        "fleet",
        False,
    ),
    Command("back", "escape", "back", "Back", "Back to the previous screen", "detail"),
    Command(
        "period", "t", "cycle_period", "Period", "History period: last 24 h, 7 d or 30 d", "detail"
    ),
    Command("refresh_detail", "r", "refresh", "Refresh", "Reload this server", "detail"),
    Command("check_now", "n", "check_now", "Check now", "Probe this server now", "detail"),
    Command("run_sql", "ctrl+r,f5", "run_query", "Run", "Run the query", "sql"),
    Command("history", "ctrl+o", "history", "History", "Pick a query from the history", "sql"),
    Command("export_csv", "ctrl+s", "export('csv')", "CSV", "Export the result to CSV", "sql"),
    Command(
        "export_parquet",
        "ctrl+t",
        "export('parquet')",
        "Parquet",
        "Export the result to Parquet",
        "sql",
    ),
    Command("focus_editor", "ctrl+l", "focus_editor", "Editor", "Back to the query", "sql", False),
    Command(
        "clear_editor",
        "ctrl+n",
        "clear_editor",
        "New",
        "Clear the editor for a new query",
        "sql",
    ),
    Command(
        "leave_editor",
        "escape",
        "leave_editor",
        "Results",
        "Leave the editor (then 1-4 switch screens)",
        "sql",
        False,
    ),
    Command("open_mail", "enter", "open_mail", "Open", "Read the selected mail", "mail"),
    Command("refresh_mail", "r", "refresh", "Refresh", "Reload the outbox", "mail"),
    Command("back_mail", "escape", "back", "Back", "Back to the list of mails", "message"),
    Command(
        "mail_format",
        "h",
        "toggle_format",
        "Text/HTML",
        "Show the text body or the HTML body (rendered as text)",
        "message",
    ),
    Command("add_window", "a", "add_window", "Add", "Announce a maintenance window", "maintenance"),
    Command(
        "remove_window",
        "d,delete",
        "remove_window",
        "Remove",
        "Remove the selected window",
        "maintenance",
    ),
    Command("refresh_windows", "r", "refresh", "Refresh", "Reload the windows", "maintenance"),
    Command("open_incident", "enter", "open_incident", "Open", "Open the incident", "incidents"),
    Command("add_incident", "n", "new_incident", "New", "Open an incident by hand", "incidents"),
    Command(
        "incident_installer",
        "i",
        "pick('installer')",
        "Installer",
        "Filter by installer",
        "incidents",
    ),
    Command(
        "incident_customer",
        "c",
        "pick('customer')",
        "Customer",
        "Filter by customer",
        "incidents",
    ),
    Command(
        "incident_priority",
        "p",
        "pick('priority')",
        "Priority",
        "Filter by priority",
        "incidents",
    ),
    Command(
        "incident_state",
        "s",
        "cycle_state",
        "State",
        "State filter: open, all, waiting, resolved, closed",
        "incidents",
    ),
    Command(
        "incident_breaching",
        "b",
        "toggle_breaching",
        "Breaching",
        "Only incidents breached, urgent or at risk",
        "incidents",
    ),
    Command("incident_clear", "x", "clear_filters", "Clear", "Clear every filter", "incidents"),
    Command("incident_reload", "r", "refresh", "Refresh", "Reload the incidents", "incidents"),
    Command("incident_back", "escape", "back", "Back", "Back to the incidents", "incident"),
    Command("note", "n", "write('note')", "Note", "Add an internal note", "incident"),
    Command(
        "reply", "r", "write('reply')", "Reply", "Add a public reply to the customer", "incident"
    ),
    Command(
        "customer_message",
        "m",
        "write('customer-message')",
        "Message",
        "Record a message or call from the customer",
        "incident",
    ),
    Command("ack", "a", "record('ack')", "Ack", "Acknowledge the incident", "incident"),
    Command(
        "waiting",
        "w",
        "record('waiting')",
        "Waiting",
        "Waiting on the customer (pauses)",
        "incident",
    ),
    Command("resume", "u", "record('resume')", "Resume", "Resume after waiting", "incident"),
    Command("resolve", "v", "record('resolve')", "Resolve", "Resolve the incident", "incident"),
    Command(
        "reopen", "o", "record('reopen')", "Reopen", "Reopen a resolved incident", "incident", False
    ),
    Command("incident_refresh", "f5", "refresh", "Refresh", "Reload this incident", "incident"),
)
COMMANDS += (
    Command(
        "prev_month", "left_square_bracket", "month(-1)", "Prev", "Previous month", "availability"
    ),
    Command("next_month", "right_square_bracket", "month(1)", "Next", "Next month", "availability"),
    Command(
        "grouping",
        "b",
        "grouping",
        "By",
        "Rows by installer, customer, server or camera",
        "availability",
    ),
    Command(
        "export_report",
        "e",
        "export_report",
        "Export",
        "Export the rows: CSV, JSON, Parquet, XLSX or HTML",
        "availability",
    ),
    Command("refresh_availability", "r", "refresh", "Refresh", "Recompute", "availability"),
)
COMMAND_BY_ID: dict[str, Command] = {c.id: c for c in COMMANDS}


def commands_for(context: Context) -> list[Command]:
    return [c for c in COMMANDS if c.context == context]


def bindings_for(context: Context) -> list[BindingType]:
    """Textual bindings of one context, with ids so a user keymap can rebind them."""
    return [
        Binding(
            c.key,
            c.action,
            c.label,
            show=c.show,
            id=c.binding_id,
            tooltip=c.description,
            priority=c.priority,
        )
        for c in commands_for(context)
    ]
