"""Shared fixtures: simulated fleets on loopback and an HTTP client.

Fleets bind port 0 (a free port per server) so test runs never collide with a
simulator someone left running on 8080.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # `pytest` (the script) does not put the project root on sys.path; `python -m pytest` does.
    sys.path.insert(0, str(ROOT))

from probes.simulator.fleet import Fleet, build_fleet  # noqa: E402

FleetFactory = Callable[..., Awaitable[Fleet]]


@pytest.fixture
async def fleet_factory() -> AsyncIterator[FleetFactory]:
    """make(n=3, **build_fleet kwargs) -> a started Fleet, stopped at teardown."""
    fleets: list[Fleet] = []

    async def make(n: int = 3, **kwargs: Any) -> Fleet:
        kwargs.setdefault("http_port", 0)
        kwargs.setdefault("cameras", 4)
        fleet = build_fleet(n, **kwargs)
        await fleet.start()
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        await fleet.stop()


@pytest.fixture
async def fleet(fleet_factory: FleetFactory) -> Fleet:
    """Three started servers with four cameras each."""
    return await fleet_factory(3)


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
