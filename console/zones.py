"""The one validator for IANA time-zone names in configuration (customers, installers, SLA
calendars), so every zone error reads the same and names what to write instead."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator


def check_zone(name: Any) -> Any:
    """Accept a name ZoneInfo knows; anything not a string is left for pydantic to refuse."""
    if isinstance(name, str):
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}; use an IANA name such as Europe/Brussels"
            ) from None
    return name


TimeZone = Annotated[str, BeforeValidator(check_zone)]
