"""`nls sla due` as a separate process: answers from the configuration alone, bad input exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "config.example.toml")


def nls(*args: str, config: str = EXAMPLE) -> subprocess.CompletedProcess[str]:
    # no secrets in the environment: the command must not need any
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLS_")}
    return subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", config, "sla", "due", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_due_in_the_policys_zone_and_in_utc() -> None:
    result = nls("--policy", "texpro", "--priority", "P3", "--opened", "2026-03-06T16:30:00+01:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "texpro P3 first_response (end of business day 1): due 2026-03-09T17:00+01:00 "
        "Europe/Amsterdam (2026-03-09T16:00:00Z)"
    )


def test_json_is_one_object_per_timer() -> None:
    result = nls(
        "--policy",
        "navixy-onprem",
        "--priority",
        "P1",
        "--opened",
        "2025-10-31T13:00:00+01:00",  # 15:00 in Moscow, sent from Amsterdam
        "--timer",
        "first_response",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    answer = json.loads(lines[0])
    assert {k: answer[k] for k in ("policy", "priority", "timer", "opened", "due")} == {
        "policy": "navixy-onprem",
        "priority": "P1",
        "timer": "first_response",
        "opened": "2025-10-31T12:00:00Z",
        "due": "2025-11-01T06:00:00Z",  # 09:00 MSK on Russia's transfer Saturday
    }
    assert answer["due_local"] == "2025-11-01T09:00:00+03:00"


def test_every_timer_of_the_priority_without_timer() -> None:
    result = nls("--policy", "safr", "--priority", "high", "--opened", "2026-03-27T12:00:00Z")
    assert result.returncode == 0, result.stderr
    assert [line.split(" (")[0] for line in result.stdout.splitlines()] == [
        "safr high first_response",
        "safr high periodic_update",
        "safr high notify_after",
    ]
    none = nls("--policy", "texpro", "--priority", "wish", "--opened", "2026-03-27T12:00:00Z")
    assert none.returncode == 0
    assert "no timers" in none.stdout


def test_bad_input_is_one_line_and_exit_2() -> None:
    cases = {
        ("--policy", "gold", "--priority", "P1", "--opened", "2026-03-02T09:00:00Z"): (
            "unknown SLA policy 'gold'; known: texpro, safr"
        ),
        ("--policy", "texpro", "--priority", "P9", "--opened", "2026-03-02T09:00:00Z"): (
            "unknown priority 'P9' in policy texpro; known: P1, P2, P3, wish"
        ),
        (
            "--policy",
            "texpro",
            "--priority",
            "P1",
            "--opened",
            "2026-03-02T09:00:00Z",
            "--timer",
            "first_reply",
        ): "unknown timer kind 'first_reply'; known: first_response, next_reply",
        ("--policy", "texpro", "--priority", "P1", "--opened", "2026-03-02T09:00:00"): (
            "'2026-03-02T09:00:00' has no UTC offset"
        ),
        ("--policy", "texpro", "--priority", "P1", "--opened", "Monday"): (
            "'Monday' is not an ISO 8601 time"
        ),
        (
            "--policy",
            "texpro",
            "--priority",
            "P1",
            "--opened",
            "2026-03-02T09:00:00Z",
            "--timer",
            "first_response",
        ): "policy texpro has no first_response target at priority P1; its targets: resolution",
    }
    for args, expected in cases.items():
        result = nls(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert expected in result.stderr, result.stderr


def test_a_broken_configuration_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "nls.toml"
    config.write_text('[sla_policies.x]\ncalendar = "nowhere"\npriorities.P1 = {}\n', "utf-8")
    result = nls(
        "--policy", "x", "--priority", "P1", "--opened", "2026-03-02T09:00:00Z", config=str(config)
    )
    assert result.returncode == 2
    assert "sla_policies.x.calendar: unknown calendar 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = nls(
        "--policy",
        "x",
        "--priority",
        "P1",
        "--opened",
        "2026-03-02T09:00:00Z",
        config=str(tmp_path / "no.toml"),
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_it_loads_neither_the_store_nor_the_console() -> None:
    """What keeps it fast and usable beside a daemon: no DuckDB, Arrow, Textual or daemon code."""
    probe = (
        "import sys\n"
        "from console.cli import main\n"
        "try:\n"
        f"    main(['--config', {EXAMPLE!r}, 'sla', 'due', '--policy', 'safr', '--priority',"
        " 'medium', '--opened', '2026-03-02T09:00:00Z'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'duckdb', 'pyarrow', 'textual', 'console.daemon', 'console.store', 'asyncssh'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
