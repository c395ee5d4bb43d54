"""Host metrics commands and their parsers: CPU busy % and disk write bytes/s.

The probe runs ONE command per host and gets every snapshot in one answer, so a probe costs one
SSH channel and no interactive shell. Parsers are pure and raise only `MetricsParseError`.

Linux: `/proc/stat` (cpu line) and `/proc/diskstats` snapshots `samples + 1` times, separated by
`window_s / samples`, with `/proc/uptime` as the clock (the real elapsed time, not the requested
one) and `/sys/block` listing the whole disks. Windows: CIM formatted counters (not localized,
unlike `Get-Counter` paths) sampled `samples` times, each after a pause of `window_s / samples`.

Whole-disk rule (Linux): a device counts when it is listed in `/sys/block` (partitions never are)
and is not virtual: loop*, ram*, zram*, dm-*, md*, nbd*, sr*, fd* are skipped because they are
either not disks or stacked on disks whose writes are already counted. Without a `/sys/block`
listing the name rule alone decides (sda1, vda2, nvme0n1p1, mmcblk0p1 are partitions). A named
archive disk is counted as asked, whatever its kind.
"""

from __future__ import annotations

import base64
import itertools
import math
import re
from dataclasses import dataclass
from typing import Literal

Platform = Literal["linux", "windows"]

MARK = "@@nls"
DEFAULT_WINDOW_S = 5.0
DEFAULT_SAMPLES = 3
SECTOR_BYTES = 512

_VIRTUAL = re.compile(r"^(loop|ram|zram|dm-|md|nbd|sr|fd)\d*")
_PARTITION = re.compile(r"^((sd|hd|vd|xvd)[a-z]+\d+|(nvme\d+n\d+|mmcblk\d+|nbd\d+)p\d+)$")
_LINUX_DISK = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_WINDOWS_DISK = re.compile(r"^[A-Za-z0-9 :_.\-]{1,64}$")
_DRIVE = re.compile(r"^[A-Za-z]:?$")
_INDEX = re.compile(r"^[0-9]{1,3}$")


class MetricsParseError(ValueError):
    """The command output is not what the metrics command prints (garbage, truncated, absurd)."""


@dataclass(frozen=True, slots=True)
class HostMetrics:
    """One window of host metrics.

    `cpu_min_pct` is the lowest per-sample busy %: the engine raises "CPU > 98%" only when even
    the minimum is above the threshold, so a single spike never alerts.
    """

    cpu_busy_pct: float
    cpu_min_pct: float
    samples: int
    disk_write_bps: float
    disks: tuple[str, ...]
    window_s: float


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What a metrics command asks for; lets the simulator answer the command it was sent."""

    platform: Platform
    window_s: float
    samples: int
    disk: str | None


def _check_args(window_s: float, samples: int) -> None:
    if not (math.isfinite(window_s) and 0 < window_s <= 600):
        raise ValueError(f"window_s must be in (0, 600], got {window_s!r}")
    if not 1 <= samples <= 60:
        raise ValueError(f"samples must be in [1, 60], got {samples!r}")


def linux_command(window_s: float = DEFAULT_WINDOW_S, samples: int = DEFAULT_SAMPLES) -> str:
    """`samples + 1` snapshots `window_s / samples` apart, in `sh -c '...'` so that the
    account's login shell (bash, fish, csh...) does not matter."""
    _check_args(window_s, samples)
    step = f"{window_s / samples:.3f}"
    script = (
        f'echo "{MARK} linux v1 window={window_s:g} samples={samples}"; '
        f'echo "{MARK} blocks $(ls /sys/block 2>/dev/null | tr "\\n" " ")"; '
        f'i=0; while :; do echo "{MARK} snap $i"; cat /proc/uptime; head -n 1 /proc/stat; '
        f"cat /proc/diskstats; [ $i -ge {samples} ] && break; i=$((i+1)); sleep {step}; done; "
        f'echo "{MARK} end"'
    )
    return f"env LC_ALL=C sh -c '{script}'"


def _windows_script(window_s: float, samples: int, disk: str | None) -> str:
    if disk is None:
        where = "Name='_Total'"
    elif _DRIVE.match(disk):
        where = f"Name LIKE '% {disk[0].upper()}:%'"
    else:
        where = f"Name='{disk}'"
    pause_ms = int(window_s * 1000 / samples)
    return (
        "$ErrorActionPreference='Stop';"
        f"'{MARK} windows v1 window={window_s:g} samples={samples}';"
        f"for($i=0;$i -lt {samples};$i++){{"
        f"Start-Sleep -Milliseconds {pause_ms};"
        "$c=Get-CimInstance Win32_PerfFormattedData_PerfOS_Processor -Filter \"Name='_Total'\";"
        f"'{MARK} cpu '+$i+' '+$c.PercentProcessorTime;"
        "foreach($d in @(Get-CimInstance Win32_PerfFormattedData_PerfDisk_PhysicalDisk"
        f' -Filter "{where}"))'
        f"{{'{MARK} disk '+$i+' '+$d.DiskWriteBytesPersec+' '+$d.Name}}"
        "};"
        f"'{MARK} end'"
    )


def windows_command(
    window_s: float = DEFAULT_WINDOW_S, samples: int = DEFAULT_SAMPLES, disk: str | None = None
) -> str:
    """A command for OpenSSH on Windows, whether its default shell is cmd.exe or PowerShell.

    `-EncodedCommand` (base64 UTF-16LE) avoids every quoting difference between the two shells.
    `disk` is a PhysicalDisk instance name ("1 D:") or a drive letter ("D"); None means _Total.
    """
    _check_args(window_s, samples)
    if disk is not None and not _WINDOWS_DISK.match(disk):
        raise ValueError(f"unsafe Windows disk name {disk!r}")
    script = _windows_script(window_s, samples, disk)
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return f"powershell -NoProfile -NonInteractive -EncodedCommand {encoded}"


def metrics_command(
    platform: Platform,
    window_s: float = DEFAULT_WINDOW_S,
    samples: int = DEFAULT_SAMPLES,
    disk: str | None = None,
) -> str:
    """The command for `platform`; on Linux the disk filter is applied by the parser."""
    if platform == "linux":
        if disk is not None and not _LINUX_DISK.match(disk):
            raise ValueError(f"unsafe Linux disk name {disk!r}")
        return linux_command(window_s, samples)
    if platform == "windows":
        return windows_command(window_s, samples, disk)
    raise ValueError(f"unknown platform {platform!r}")


_HEADER = re.compile(rf"{MARK} (linux|windows) v1 window=(\S+) samples=(\d+)")
_WHERE_NAME = re.compile(r"Name='([^']*)'\"\)\)")
_WHERE_LIKE = re.compile(r"Name LIKE '% ([A-Z]):%'")


def describe_command(command: str) -> CommandSpec | None:
    """Recognise a command built by `metrics_command`; None for anything else."""
    text = command
    if command.startswith("powershell ") and "-EncodedCommand " in command:
        try:
            raw = base64.b64decode(command.rsplit(" ", 1)[1], validate=True)
            text = raw.decode("utf-16-le")
        except (ValueError, UnicodeDecodeError):
            return None
    m = _HEADER.search(text)
    if m is None:
        return None
    try:
        window_s = float(m.group(2))
    except ValueError:
        return None
    disk = None
    if m.group(1) == "windows":
        like = _WHERE_LIKE.search(text)
        name = _WHERE_NAME.search(text)
        if like:
            disk = like.group(1)
        elif name and name.group(1) != "_Total":
            disk = name.group(1)
    platform: Platform = "windows" if m.group(1) == "windows" else "linux"
    return CommandSpec(platform, window_s, int(m.group(3)), disk)


def is_whole_disk(name: str, blocks: frozenset[str] | None = None) -> bool:
    """The whole-disk rule described in the module docstring."""
    if _VIRTUAL.match(name):
        return False
    if blocks is not None:
        return name in blocks
    return not _PARTITION.match(name)


@dataclass(slots=True)
class _Snapshot:
    uptime: float
    cpu: tuple[int, ...]
    sectors: dict[str, int]


def _ints(fields: list[str], what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(f) for f in fields)
    except ValueError:
        raise MetricsParseError(f"non-numeric {what}: {' '.join(fields)[:80]!r}") from None
    if any(v < 0 for v in values):
        raise MetricsParseError(f"negative {what}")
    return values


def _parse_linux_snapshot(lines: list[str]) -> _Snapshot:
    if len(lines) < 2:
        raise MetricsParseError("truncated snapshot")
    try:
        uptime = float(lines[0].split()[0])
    except (ValueError, IndexError):
        raise MetricsParseError(f"bad /proc/uptime line {lines[0][:80]!r}") from None
    if not math.isfinite(uptime) or uptime < 0:
        raise MetricsParseError("bad uptime")
    cpu_fields = lines[1].split()
    if not cpu_fields or cpu_fields[0] != "cpu" or len(cpu_fields) < 5:
        raise MetricsParseError(f"bad /proc/stat cpu line {lines[1][:80]!r}")
    cpu = _ints(cpu_fields[1:11], "cpu counters")
    sectors: dict[str, int] = {}
    for line in lines[2:]:
        f = line.split()
        if len(f) < 14:
            raise MetricsParseError(f"bad /proc/diskstats line {line[:80]!r}")
        sectors[f[2]] = _ints(f[9:10], "sectors written")[0]
    return _Snapshot(uptime, cpu, sectors)


def _busy(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    pad = (0,) * 8
    a8, b8 = (a + pad)[:8], (b + pad)[:8]
    total = sum(b8) - sum(a8)
    idle = (b8[3] + b8[4]) - (a8[3] + a8[4])
    if total <= 0:
        raise MetricsParseError("CPU counters did not advance (window too short or garbage)")
    if idle < 0 or idle > total:
        raise MetricsParseError("CPU counters went backwards")
    return 100.0 * (1.0 - idle / total)


def _body(text: str, platform: str) -> list[str]:
    if not isinstance(text, str):
        raise MetricsParseError("output is not text")
    lines = [ln for ln in (raw.strip() for raw in text.replace("\r", "").split("\n")) if ln]
    start = next((i for i, ln in enumerate(lines) if ln.startswith(f"{MARK} {platform} v1")), None)
    if start is None:
        raise MetricsParseError(f"no {platform} metrics header in output")
    try:
        end = lines.index(f"{MARK} end", start)
    except ValueError:
        raise MetricsParseError("output truncated: no end marker") from None
    return lines[start + 1 : end]


def parse_linux(text: str, disk: str | None = None) -> HostMetrics:
    """Parse the output of `linux_command`; `disk` restricts writes to one named device."""
    body = _body(text, "linux")
    blocks: frozenset[str] | None = None
    groups: list[list[str]] = []
    for line in body:
        if line.startswith(f"{MARK} blocks"):
            blocks = frozenset(line.split()[2:]) or None
        elif line.startswith(f"{MARK} snap"):
            groups.append([])
        elif line.startswith(MARK):
            raise MetricsParseError(f"unexpected marker {line[:40]!r}")
        elif groups:
            groups[-1].append(line)
        else:
            raise MetricsParseError("data before the first snapshot")
    if len(groups) < 2:
        raise MetricsParseError(f"need at least 2 snapshots, got {len(groups)}")
    snaps = [_parse_linux_snapshot(g) for g in groups]
    first, last = snaps[0], snaps[-1]
    window = last.uptime - first.uptime
    if window <= 0:
        raise MetricsParseError("uptime did not advance between snapshots")
    per_sample = [_busy(a.cpu, b.cpu) for a, b in itertools.pairwise(snaps)]
    overall = _busy(first.cpu, last.cpu)
    if disk is not None:
        if disk not in first.sectors or disk not in last.sectors:
            raise MetricsParseError(f"disk {disk!r} not in /proc/diskstats")
        names = [disk]
    else:
        names = sorted(n for n in first.sectors if n in last.sectors and is_whole_disk(n, blocks))
    written = 0
    for n in names:
        delta = last.sectors[n] - first.sectors[n]
        if delta > 0:
            written += delta
    return HostMetrics(
        cpu_busy_pct=round(overall, 3),
        cpu_min_pct=round(min(per_sample), 3),
        samples=len(per_sample),
        disk_write_bps=written * SECTOR_BYTES / window,
        disks=tuple(names),
        window_s=round(window, 3),
    )


def _number(text: str, what: str) -> float:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise MetricsParseError(f"non-numeric {what} {text[:40]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise MetricsParseError(f"bad {what} {text[:40]!r}")
    return value


def parse_windows(text: str, window_s: float = DEFAULT_WINDOW_S) -> HostMetrics:
    """Parse the output of `windows_command`; the rate is the mean of the per-sample rates."""
    body = _body(text, "windows")
    cpu: dict[int, float] = {}
    disk: dict[int, float] = {}
    names: set[str] = set()
    for line in body:
        parts = line.split(" ", 4)
        if len(parts) < 4 or parts[0] != MARK or parts[1] not in ("cpu", "disk"):
            raise MetricsParseError(f"unexpected line {line[:60]!r}")
        if not _INDEX.match(parts[2]):
            raise MetricsParseError(f"bad sample index {parts[2][:20]!r}")
        i = int(parts[2])
        if parts[1] == "cpu":
            value = _number(parts[3], "PercentProcessorTime")
            if value > 100.5:
                raise MetricsParseError(f"CPU above 100%: {value}")
            cpu[i] = min(value, 100.0)
        else:
            if len(parts) < 5:
                raise MetricsParseError("disk line without a name")
            disk[i] = disk.get(i, 0.0) + _number(parts[3], "DiskWriteBytesPersec")
            names.add(parts[4])
    if not cpu:
        raise MetricsParseError("no CPU samples")
    if not disk:
        raise MetricsParseError("no disk samples (unknown disk name?)")
    return HostMetrics(
        cpu_busy_pct=round(sum(cpu.values()) / len(cpu), 3),
        cpu_min_pct=round(min(cpu.values()), 3),
        samples=len(cpu),
        disk_write_bps=sum(disk.values()) / len(disk),
        disks=tuple(sorted(names)),
        window_s=window_s,
    )


def parse_metrics(
    platform: Platform, text: str, window_s: float = DEFAULT_WINDOW_S, disk: str | None = None
) -> HostMetrics:
    """Parse `text` printed by `metrics_command(platform, ...)`."""
    if platform == "linux":
        return parse_linux(text, disk)
    if platform == "windows":
        return parse_windows(text, window_s)
    raise MetricsParseError(f"unknown platform {platform!r}")
