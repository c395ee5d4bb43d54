"""Every key binding, generated from the bindings table so it can never be out of date."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from console.tui.bindings import COMMANDS, CONTEXT_TITLES
from console.tui.screens.base import NlsModal


class HelpScreen(NlsModal):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 78; max-width: 100%; height: 90%; border: round $accent;
        background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,f1,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, *, scoped: bool) -> None:
        super().__init__()
        self.scoped = scoped

    def compose(self) -> ComposeResult:
        lines: list[Content] = [
            Content.styled("nls console: keys (ctrl+p opens the command palette)", "bold")
        ]
        for context, title in CONTEXT_TITLES.items():
            commands = [
                c
                for c in COMMANDS
                if c.context == context
                and not (self.scoped and c.context == "sql")
                and not (self.scoped and c.id == "sql")
            ]
            if not commands:
                continue
            lines.append(Content(""))
            lines.append(Content.styled(title, "bold $text-accent"))
            lines += [
                Content.assemble((f"  {c.key_display:<14}", "bold"), c.description)
                for c in commands
            ]
        lines.append(Content(""))
        lines.append(
            Content(
                "Fleet grid: ↑↓ PgUp PgDn Home End move, enter opens, s / S sort, "
                "click a header to sort."
            )
        )
        with VerticalScroll():
            yield Static(Content("\n").join(lines), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
