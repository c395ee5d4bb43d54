"""Where a FleetSource comes from: the one place that chooses attached or embedded.

A daemon that answers for the configured database is used through its socket; otherwise the same
`FleetService` runs in this process for as long as the source is open. Every command and the
console go through `open_source`, so none of them can behave differently with and without a
daemon: they only ever see the FleetSource.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from console.config import Config
from console.fleetview import FleetSource


@contextlib.asynccontextmanager
async def open_source(
    config: Config,
    *,
    socket: Path | None = None,
    installer: str | None = None,
    live: bool = False,
) -> AsyncIterator[FleetSource]:
    """The daemon's source if one runs for `config`'s database, else an embedded one, acting
    for this process's account (console.identity): AccessDenied/NoRole when it has no role or
    asks for another installer than its own.

    `live` is for a console that stays open: the embedded service then probes on schedule and
    sends mail, as the daemon would. A one-shot command runs without either: what it does is
    stored exactly as the daemon would store it (a check's samples, alert states and mails),
    and the mails wait in the outbox for the next process that delivers them.
    """
    from console.daemon.remote import RemoteSource, find_daemon

    path = find_daemon(config.database_path, socket or config.access.socket)
    if path is not None:
        # The daemon decides who we are (SO_PEERCRED) and refuses an account with no role.
        async with RemoteSource(path, installer=installer) as remote:
            yield remote
        return
    from console.identity import local_caller
    from console.monitor.service import FleetService

    # Embedded, the same rules from this process's own credentials: no role, no source.
    caller = local_caller(config).narrow(installer)
    service = FleetService(config, schedule=live, deliver=live)
    view = service.view(caller)  # an unknown installer fails before the store is opened
    await service.start()
    try:
        yield view
    finally:
        await view.close()
        await service.stop()
