"""Textual views of the fleet. `gridmodel` stays importable without Textual; `FleetGrid` loads
Textual only when first asked for, so headless code can use the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.tui.gridmodel import GridFilter, GridModel

if TYPE_CHECKING:
    from console.tui.grid import FleetGrid


def __getattr__(name: str) -> Any:
    if name == "FleetGrid":
        from console.tui.grid import FleetGrid

        return FleetGrid
    raise AttributeError(name)


__all__ = ["FleetGrid", "GridFilter", "GridModel"]
