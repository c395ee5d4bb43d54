"""The command palette: every action of the bindings table, plus "go to server <id>".

Server hits are prefiltered by substring before fuzzy scoring so a 10,000-server fleet costs a
few milliseconds per keystroke, not 10,000 fuzzy matches.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.tui.bindings import COMMANDS, Command

if TYPE_CHECKING:
    from console.tui.app import NlsApp

SERVER_HITS = 30
GO_PREFIXES = ("go to server", "go to", "goto", "server", "go")


def server_needle(query: str) -> str:
    text = query.strip().casefold()
    for prefix in GO_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix) :].strip()
    return text


class NlsCommands(Provider):
    @property
    def nls_app(self) -> NlsApp:
        return cast("NlsApp", self.app)

    def _commands(self) -> list[Command]:
        app = self.nls_app
        return [c for c in COMMANDS if c.palette and app.command_available(c)]

    def _title(self, command: Command) -> str:
        return f"{command.description} ({command.key_display})"

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(
                self._title(command),
                partial(self.nls_app.run_command, command),
                help=command.context,
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            title = self._title(command)
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(self.nls_app.run_command, command),
                    help=command.context,
                )
        needle = server_needle(query)
        if not needle:
            return
        found = 0
        for server_id, name, customer in self.nls_app.server_index():
            if needle in server_id.casefold() or needle in name.casefold():
                title = f"Go to server {name} ({server_id}, {customer})"
                score = max(matcher.match(title), 0.5)
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(self.nls_app.go_to_server, server_id),
                    help="open the server's detail",
                )
                found += 1
                if found >= SERVER_HITS:
                    return
