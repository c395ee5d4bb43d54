"""Timed fault scripts: a TOML list of steps applied to a running fleet.

```toml
[[step]]
at = "30s"            # 90, "90s", "2m", "1h", "1m30s"
server = "crest-0003"
fault = "camera_offline"
camera = 2            # index or camera id; camera faults only
on = true             # default true

[[step]]
at = "5m"
server = "crest-0003" # optional: without it every server heals
heal = true
```
"""

from __future__ import annotations

import asyncio
import re
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probes.simulator.fleet import ALL_FAULTS, CAMERA_FAULTS, Fleet

_KEYS = frozenset({"at", "server", "fault", "camera", "on", "heal"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


class ScenarioError(ValueError):
    """A scenario that cannot be applied; the message names the file, step and key."""


@dataclass(frozen=True, slots=True)
class Step:
    at: float
    server: str | None = None
    fault: str | None = None
    camera: int | str | None = None
    on: bool = True
    heal: bool = False
    index: int = 0
    """1-based position in the file, for error messages."""
    source: str = "<scenario>"

    def describe(self) -> str:
        if self.heal:
            return f"heal {self.server or 'all servers'}"
        where = self.server if self.camera is None else f"{self.server} camera {self.camera}"
        return f"{self.fault} {'on' if self.on else 'off'} for {where}"


def parse_duration(value: Any) -> float:
    """Seconds from an int/float or from "90s", "2m", "1h", "1m30s"."""
    if isinstance(value, bool):
        raise ValueError("a duration, not true/false")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"cannot read {value!r} as a duration")
    text = value.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise ValueError(f'cannot read {value!r} as a duration (use 90, "90s", "2m" or "1h")')
    return sum(float(n) * _UNITS[u] for n, u in parts)


def load_scenario(path: str | Path) -> list[Step]:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return parse_scenario(doc, source=str(path))


def parse_scenario(doc: dict[str, Any], *, source: str = "<scenario>") -> list[Step]:
    extra = set(doc) - {"step"}
    if extra:
        raise ScenarioError(f"{source}: unknown table {sorted(extra)[0]!r} (expected [[step]])")
    raw = doc.get("step", [])
    if not isinstance(raw, list):
        raise ScenarioError(f"{source}: 'step' must be an array of tables ([[step]])")
    return [_step(entry, i, source) for i, entry in enumerate(raw, start=1)]


def _step(entry: Any, index: int, source: str) -> Step:
    def error(key: str | None, message: str) -> ScenarioError:
        where = f"{source}: step {index}" + (f": key {key!r}" if key else "")
        return ScenarioError(f"{where}: {message}")

    if not isinstance(entry, dict):
        raise error(None, "must be a table")
    for key in entry:
        if key not in _KEYS:
            raise error(key, f"unknown key (known: {', '.join(sorted(_KEYS))})")
    if "at" not in entry:
        raise error("at", "missing (when to apply the step)")
    try:
        at = parse_duration(entry["at"])
    except ValueError as exc:
        raise error("at", str(exc)) from None
    server = entry.get("server")
    if server is not None and not isinstance(server, str):
        raise error("server", 'must be a server id such as "crest-0001"')
    for key in ("on", "heal"):
        if key in entry and not isinstance(entry[key], bool):
            raise error(key, "must be true or false")
    camera = entry.get("camera")
    if camera is not None and (isinstance(camera, bool) or not isinstance(camera, int | str)):
        raise error("camera", "must be a camera index or id")
    heal = entry.get("heal", False)
    fault = entry.get("fault")
    if heal:
        for key in ("fault", "camera", "on"):
            if key in entry:
                raise error(key, "not allowed in a heal step")
        return Step(at=at, server=server, heal=True, index=index, source=source)
    if fault is None:
        raise error("fault", "missing (or set heal = true)")
    if not isinstance(fault, str) or fault not in ALL_FAULTS:
        raise error("fault", f"unknown fault {fault!r} (known: {', '.join(sorted(ALL_FAULTS))})")
    if server is None:
        raise error("server", f"missing (which server gets {fault!r})")
    if fault in CAMERA_FAULTS and camera is None:
        raise error("camera", f"missing ({fault!r} applies to one camera)")
    if fault not in CAMERA_FAULTS and camera is not None:
        raise error("camera", f"not allowed ({fault!r} applies to the whole server)")
    return Step(
        at=at,
        server=server,
        fault=fault,
        camera=camera,
        on=entry.get("on", True),
        index=index,
        source=source,
    )


def check_steps(fleet: Fleet, steps: list[Step]) -> None:
    """Fail before the first step if any step names a server or camera the fleet lacks."""
    for step in steps:
        try:
            if step.server is not None:
                server = fleet.server(step.server)
                if step.camera is not None:
                    server.camera(step.camera)
        except KeyError as exc:
            key = "camera" if step.camera is not None and step.server in fleet.servers else "server"
            message = exc.args[0] if exc.args else str(exc)
            where = f"{step.source}: step {step.index}: key {key!r}"
            raise ScenarioError(f"{where}: {message}") from None


def apply_step(fleet: Fleet, step: Step) -> None:
    if step.heal:
        fleet.heal(step.server)
    else:
        assert step.server is not None and step.fault is not None
        fleet.set_fault(step.server, step.fault, step.on, camera=step.camera)


async def run_scenario(
    fleet: Fleet,
    steps: list[Step],
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    on_step: Callable[[Step], None] | None = None,
) -> None:
    """Apply steps in time order, `at` counted from the call; ties keep file order."""
    check_steps(fleet, steps)
    elapsed = 0.0
    for step in sorted(steps, key=lambda s: (s.at, s.index)):
        if step.at > elapsed:
            await sleep(step.at - elapsed)
            elapsed = step.at
        apply_step(fleet, step)
        if on_step is not None:
            on_step(step)
    await fleet.settle()
