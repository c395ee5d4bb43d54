"""How quantities read, the same on every screen, command and mail."""

from __future__ import annotations

_RATES = (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3))


def format_rate(bps: float) -> str:
    """Bytes per second in decimal SI units (1 kB = 1000 B), as disk tools report them:
    "512 B/s", "12.3 kB/s", "150 MB/s" (three significant figures at most)."""
    for unit, scale in _RATES:
        if abs(bps) >= scale:
            value = bps / scale
            return f"{value:.0f} {unit}" if abs(value) >= 100 else f"{value:.1f} {unit}"
    return f"{bps:.0f} B/s"
