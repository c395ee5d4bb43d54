"""Web checks as a whole capability, through the real FleetService: scheduled at their own
interval, stored, shown in the grid, alerted to their owner's installer in their language (the
certificate warning once, not once per cycle) and reported (p95 latency) from stored samples.
A real HTTPS server on 127.0.0.1 with a CA made here; the checks trust it via `ca_file`."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from console.config import parse_config
from console.monitor.service import FleetService
from tests.test_web_checks import _certificates, _Handler


@dataclass
class Https:
    url: str
    ca: Path


@pytest.fixture
def https(tmp_path: Path) -> Iterator[Https]:
    """HTTPS on 127.0.0.1 whose certificate expires in 10 days; /broken answers 500."""
    ca, cert, key, _ = _certificates(tmp_path, days=10)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Https(f"https://127.0.0.1:{server.server_address[1]}", ca)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class Clock:
    """Near the real time (the certificate's days left are counted from it), but never in the
    first or last days of a month, so every sample falls in the month the report asks for."""

    def __init__(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        if now.day >= 28:
            now -= timedelta(days=3)  # 13 days left: still inside the 14-day warning
        elif now.day == 1:
            now += timedelta(days=2)  # 8 days left
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _config(tmp_path: Path, site: Https, **web: Any) -> Any:
    return parse_config(
        {
            "database": {"path": str(tmp_path / "nls.duckdb")},
            "installers": [
                {"id": "vt", "name": "VT", "emails": ["vt@example.test"], "language": "nl"},
                {"id": "other", "name": "Other", "emails": ["o@example.test"], "language": "en"},
            ],
            "customers": [
                {"id": "texpro", "name": "Texpro", "installer": "vt"},
                {"id": "else", "name": "Elsewhere", "installer": "other"},
            ],
            "web_checks": [
                {
                    "id": "tommy",
                    "customer": "texpro",
                    "url": site.url + "/",
                    "keyword": "Dashboard",
                    "cert_warn_days": 14,
                    "latency_target_ms": 3000,
                    "ca_file": str(site.ca),
                    **web,
                },
                {
                    "id": "safr",
                    "customer": "texpro",
                    "url": site.url + "/broken",
                    "ca_file": str(site.ca),
                    **web,
                },
            ],
        },
        tmp_path / "nls.toml",
    )


async def test_failures_alert_the_owner_once_in_their_language_grid_and_p95(
    https: Https, tmp_path: Path
) -> None:
    clock = Clock()
    service = FleetService(_config(tmp_path, https), clock=clock, schedule=False, deliver=False)
    await service.start()
    try:
        view = service.view()
        before = {r.server_id: (r.kind, r.status) for r in (await view.snapshot()).rows}
        assert before == {"tommy": ("web", "unknown"), "safr": ("web", "unknown")}
        for _ in range(5):  # the threshold is 3: two more cycles must not mail again
            await service.run_cycle(["tommy", "safr"])
            clock.now += timedelta(minutes=5)

        rows = {r.server_id: r for r in (await view.snapshot()).rows}
        assert (rows["safr"].status, rows["tommy"].status) == ("down", "problem")
        assert [f.check for f in rows["tommy"].failing] == ["tls_cert"]
        assert rows["tommy"].name == https.url + "/"
        assert rows["safr"].availability_30d == 0.0
        assert rows["tommy"].availability_30d == 1.0

        mails = await view.outbox()
        assert sorted((m.kind, m.server) for m in mails) == [("alert", "safr"), ("alert", "tommy")]
        assert all(m.recipients == ("vt@example.test",) and m.installer == "vt" for m in mails)
        by_server = {m.server: await view.mail(m.key) for m in mails}
        cert = by_server["tommy"]
        assert "TLS-certificaat" in cert.row.subject
        assert "het TLS-certificaat verloopt over" in cert.body_text
        assert "vernieuw het" in cert.body_text
        page = by_server["safr"]
        assert page.row.subject.endswith("/broken: 2 fouten")  # the page and its certificate
        assert "Webdienst antwoordt niet correct" in page.body_text
        assert "de pagina antwoordde HTTP 500 in plaats van 200" in page.body_text

        other = service.view("other")
        assert (await other.snapshot()).rows == ()
        assert await other.outbox() == []

        month = f"{clock.now:%Y-%m}"
        latency = (await view.report("latency", month)).to_pylist()
        tommy = next(r for r in latency if r["web_check"] == "tommy")
        assert tommy["samples"] == 5
        assert 0 < tommy["percentile_ms"] < 3000
        assert tommy["target_ms"] == 3000 and tommy["met"] is True
        stored = await service.store.call(
            lambda s: s.query(
                "SELECT check_name, count(*) AS n, count(latency_ms) AS timed FROM samples "
                "WHERE server = 'tommy' GROUP BY ALL ORDER BY 1"
            ).to_pylist()
        )
        assert stored == [
            {"check_name": "tls_cert", "n": 5, "timed": 0},
            {"check_name": "web", "n": 5, "timed": 5},
            {"check_name": "web_latency", "n": 5, "timed": 5},
        ]
    finally:
        await service.stop()


async def test_the_daemon_schedule_probes_web_checks_at_their_interval(
    https: Https, tmp_path: Path
) -> None:
    service = FleetService(_config(tmp_path, https, interval="1s"), schedule=True, deliver=False)
    await service.start()
    try:
        seen: set[str] = set()
        for _ in range(3):  # the start's first probe, then scheduled batches
            batch = await asyncio.wait_for(service.wait_batch(), timeout=60)
            seen |= {s.server for s in batch.samples}
        assert seen == {"tommy", "safr"}
        assert service._scheduler is not None
        assert service._scheduler.get_job("web-1") is not None
    finally:
        await service.stop()
