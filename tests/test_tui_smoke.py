"""`nls demo` in a real terminal: tmux runs it, the test reads the screen as an operator would,
presses keys, then closes the terminal and expects the console to exit cleanly (SIGHUP)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(
    TMUX is None and os.environ.get("CI") != "true", reason="tmux is not installed"
)


def tmux(*args: str) -> str:
    assert TMUX is not None, "tmux is required on CI"
    done = subprocess.run([TMUX, *args], capture_output=True, text=True, check=False, timeout=10)
    return done.stdout


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def poll(what: str, check: Callable[[], bool], limit: float, pane: Callable[[], str]) -> None:
    """Poll a condition until a deadline; the failure message carries the screen."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; the screen was:\n{pane()}")
        time.sleep(0.2)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    name = f"nls-smoke-{uuid.uuid4().hex[:8]}"
    pidfile = tmp_path / "pid"
    env = f"XDG_STATE_HOME={tmp_path / 'state'} PYTHONPATH={ROOT}"
    command = (
        f"cd {ROOT} && echo $$ > {pidfile} && exec env {env} {sys.executable} -m console.cli "
        "demo --servers 30 --installers 3 --customers 6 --interval 5s"
    )
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", command)
    try:
        yield name, pidfile
    finally:
        tmux("kill-session", "-t", name)
        # a console that did not exit on hangup (the failure this test reports) is not left behind
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text and alive(int(text)):
            os.kill(int(text), signal.SIGKILL)


def test_demo_shows_the_live_grid_and_exits_on_hangup(session: tuple[str, Path]) -> None:
    name, pidfile = session

    def pane() -> str:
        return tmux("capture-pane", "-p", "-t", name)

    poll("the console's pid", lambda: pidfile.exists() and pidfile.read_text().strip(), 20, pane)
    pid = int(pidfile.read_text())
    poll("the grid", lambda: "CREST-0001" in pane() and "30 servers" in pane(), 60, pane)
    poll("probe results", lambda: "● UP" in pane(), 60, pane)
    faults = ("◔ PEND", "▲ PROB", "✖ DOWN")
    poll("a scenario fault", lambda: any(f in pane() for f in faults), 90, pane)
    screen = pane()
    assert "embedded" in screen and "next cycle" in screen
    tmux("send-keys", "-t", name, "f")
    poll("the problems filter", lambda: "filter: problems" in pane(), 20, pane)
    assert "● UP" not in pane().split("Status", 1)[1]
    tmux("send-keys", "-t", name, "Enter")
    poll("the detail screen", lambda: "Server crest-" in pane(), 20, pane)
    tmux("kill-session", "-t", name)
    poll("a clean exit on hangup", lambda: not alive(pid), 20, pane)
