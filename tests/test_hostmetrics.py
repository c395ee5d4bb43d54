"""Host metrics parsers: known answers, the whole-disk rule, and garbage -> MetricsParseError."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.hostmetrics import (
    MetricsParseError,
    describe_command,
    is_whole_disk,
    linux_command,
    metrics_command,
    parse_linux,
    parse_metrics,
    parse_windows,
    windows_command,
)
from probes.simulator.ssh import CPUS, HZ, linux_output, windows_output

MB = 1024 * 1024


def linux_text(cpu: list[float], bps: float, window: float = 5.0) -> str:
    spec = describe_command(linux_command(window, len(cpu)))
    assert spec is not None
    return linux_output(spec, cpu, bps, seed=42)


def windows_text(cpu: list[float], bps: float, disk: str | None = None) -> str:
    spec = describe_command(windows_command(5.0, len(cpu), disk))
    assert spec is not None
    return windows_output(spec, cpu, bps)


def test_linux_known_answer() -> None:
    text = (
        "@@nls linux v1 window=1 samples=1\n@@nls blocks sda sdb loop0 dm-0\n"
        "@@nls snap 0\n100.00 50.00\ncpu  100 0 100 700 100 0 0 0 50 0\n"
        "   8 0 sda 1 2 3 4 5 6 1000 8 9 10 11\n   8 1 sda1 1 2 3 4 5 6 1000 8 9 10 11\n"
        "   8 16 sdb 1 2 3 4 5 6 0 8 9 10 11\n 253 0 dm-0 1 2 3 4 5 6 0 8 9 10 11\n"
        "@@nls snap 1\n102.00 51.00\ncpu  200 0 200 1200 200 0 0 0 90 0\n"
        "   8 0 sda 1 2 3 4 5 6 3000 8 9 10 11\n   8 1 sda1 1 2 3 4 5 6 3000 8 9 10 11\n"
        "   8 16 sdb 1 2 3 4 5 6 2000 8 9 10 11\n 253 0 dm-0 1 2 3 4 5 6 4000 8 9 10 11\n"
        "@@nls end\n"
    )
    m = parse_linux(text)
    assert m.cpu_busy_pct == pytest.approx(100 * (1 - 600 / 800))
    assert m.cpu_min_pct == m.cpu_busy_pct and m.samples == 1
    assert m.disks == ("sda", "sdb")
    assert m.disk_write_bps == pytest.approx((2000 + 2000) * 512 / 2.0)
    assert m.window_s == 2.0
    only = parse_linux(text, disk="sdb")
    assert only.disks == ("sdb",) and only.disk_write_bps == pytest.approx(2000 * 512 / 2.0)


def test_windows_known_answer() -> None:
    text = (
        "junk before\r\n@@nls windows v1 window=5 samples=3\r\n"
        "@@nls cpu 0 99\r\n@@nls disk 0 1000 _Total\r\n"
        "@@nls cpu 1 100\r\n@@nls disk 1 2000 _Total\r\n"
        "@@nls cpu 2 98\r\n@@nls disk 2 3000 _Total\r\n@@nls end\r\n"
    )
    m = parse_windows(text, 5.0)
    assert (m.cpu_busy_pct, m.cpu_min_pct, m.samples) == (99.0, 98.0, 3)
    assert m.disk_write_bps == 2000.0 and m.disks == ("_Total",)


@pytest.mark.parametrize(
    ("name", "blocks", "whole"),
    [
        ("sda", None, True),
        ("sda1", None, False),
        ("vda", None, True),
        ("nvme0n1", None, True),
        ("nvme0n1p1", None, False),
        ("mmcblk0p2", None, False),
        ("loop0", None, False),
        ("dm-0", None, False),
        ("md0", None, False),
        ("zram0", None, False),
        ("sda1", frozenset({"sda"}), False),
        ("xyz9", frozenset({"xyz9"}), True),
        ("loop0", frozenset({"loop0"}), False),
    ],
)
def test_whole_disk_rule(name: str, blocks: frozenset[str] | None, whole: bool) -> None:
    assert is_whole_disk(name, blocks) is whole


@given(
    cpu=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=6),
    bps=st.floats(0.0, 500 * MB),
    window=st.sampled_from([1.0, 5.0, 15.0]),
)
def test_linux_roundtrip(cpu: list[float], bps: float, window: float) -> None:
    m = parse_linux(linux_text(cpu, bps, window))
    assert m.samples == len(cpu) and m.window_s == pytest.approx(window, abs=0.02)
    # /proc/stat counts whole ticks: a short sample (1 s over 6 samples on 4 CPUs is 67 ticks)
    # reads up to two ticks off, so the tolerance is two ticks, at least 1 point.
    ticks = CPUS * HZ * window / len(cpu)
    assert m.cpu_min_pct == pytest.approx(min(cpu), abs=max(1.0, 200 / ticks))
    assert m.cpu_min_pct <= m.cpu_busy_pct + 1e-6
    assert m.disk_write_bps == pytest.approx(bps, rel=0.01, abs=512 * len(cpu) / window)


@given(
    cpu=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=6),
    bps=st.floats(0.0, 500 * MB),
    disk=st.sampled_from([None, "D", "1 D:"]),
)
def test_windows_roundtrip(cpu: list[float], bps: float, disk: str | None) -> None:
    m = parse_windows(windows_text(cpu, bps, disk))
    assert m.samples == len(cpu)
    assert m.cpu_min_pct == pytest.approx(min(round(c) for c in cpu))


@given(
    window=st.floats(0.1, 600.0),
    samples=st.integers(1, 60),
    disk=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9 _.\-]{2,20}", fullmatch=True)),
)
def test_windows_command_describes_itself(window: float, samples: int, disk: str | None) -> None:
    cmd = windows_command(window, samples, disk)
    script = base64.b64decode(cmd.rsplit(" ", 1)[1]).decode("utf-16-le")
    assert "Win32_PerfFormattedData_PerfOS_Processor" in script
    assert "DiskWriteBytesPersec" in script
    spec = describe_command(cmd)
    assert spec is not None and spec.platform == "windows" and spec.samples == samples
    assert spec.window_s == pytest.approx(window, rel=1e-5)


@pytest.mark.parametrize("bad", ["sda; rm -rf /", "$(x)", "a'b", ""])
def test_unsafe_disk_names_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        metrics_command("linux", disk=bad)
    with pytest.raises(ValueError):
        metrics_command("windows", disk=bad)


@settings(max_examples=300)
@given(st.text(max_size=2000))
def test_garbage_raises_parse_error(text: str) -> None:
    for platform in ("linux", "windows"):
        with pytest.raises(MetricsParseError):
            parse_metrics(platform, text)  # type: ignore[arg-type]


_TOKENS = st.sampled_from(
    [
        "@@nls",
        "linux",
        "windows",
        "v1",
        "snap",
        "cpu",
        "disk",
        "end",
        "blocks",
        "0",
        "1",
        "²",
        "-1",
        "nan",
        "1e400",
        "window=5",
        "samples=3",
        "sda",
        "_Total",
        "cpu ",
        "12.5",
        "\u0661",
    ]
)
_LINE = st.lists(_TOKENS, max_size=14).map(" ".join)


@settings(max_examples=500)
@given(st.sampled_from(["linux", "windows"]), st.lists(_LINE, max_size=30))
def test_structured_garbage_never_escapes(platform: str, lines: list[str]) -> None:
    head = f"@@nls {platform} v1 window=5 samples=3"
    text = "\n".join([head, *lines, "@@nls end"])
    try:
        m = parse_metrics(platform, text)  # type: ignore[arg-type]
    except MetricsParseError:
        return
    assert 0.0 <= m.cpu_min_pct <= 100.0 and m.disk_write_bps >= 0.0


def _mutations(text: str) -> st.SearchStrategy[str]:
    lines = text.split("\n")

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        out = list(lines)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(out) - 1))
            op = draw(st.sampled_from(["drop", "dup", "junk", "cut", "swap"]))
            if op == "drop":
                del out[i]
            elif op == "dup":
                out.insert(i, out[i])
            elif op == "junk":
                out[i] = draw(st.text(max_size=40))
            elif op == "cut":
                out[i] = out[i][: draw(st.integers(0, len(out[i])))]
            else:
                j = draw(st.integers(0, len(out) - 1))
                out[i], out[j] = out[j], out[i]
            if not out:
                out = [""]
        return "\n".join(out)

    return mutate()


LINUX = linux_text([30.0, 50.0, 70.0], 3 * MB)
WINDOWS = windows_text([30.0, 50.0, 70.0], 3 * MB)


@settings(max_examples=400)
@given(_mutations(LINUX))
def test_mutated_linux_output_parses_or_raises_parse_error(text: str) -> None:
    try:
        m = parse_linux(text)
    except MetricsParseError:
        return
    assert 0.0 <= m.cpu_min_pct <= 100.0 and 0.0 <= m.cpu_busy_pct <= 100.0
    assert m.disk_write_bps >= 0.0 and m.window_s > 0


@settings(max_examples=400)
@given(_mutations(WINDOWS.replace("\r", "")))
def test_mutated_windows_output_parses_or_raises_parse_error(text: str) -> None:
    try:
        m = parse_windows(text)
    except MetricsParseError:
        return
    assert 0.0 <= m.cpu_min_pct <= m.cpu_busy_pct <= 100.0 and m.disk_write_bps >= 0.0


def test_metrics_error_is_a_value_error() -> None:
    assert issubclass(MetricsParseError, ValueError)
    rng = random.Random(1)
    with pytest.raises(MetricsParseError):
        parse_linux(LINUX.replace("@@nls end", ""))
    with pytest.raises(MetricsParseError):
        parse_linux(LINUX, disk="sdz")
    with pytest.raises(MetricsParseError):
        parse_windows(WINDOWS.replace("_Total", "").replace("disk", f"dsk{rng.random()}"))
