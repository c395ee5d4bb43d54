"""`nls demo` in a real terminal: tmux runs it, the test reads the screen as an operator would,
presses keys, then closes the terminal and expects the console to exit (SIGHUP) in bounded time.

Each test gets its own tmux server (`-L`), and the fixture kills the console's process too, also
when the test fails: a console that hangs must not outlive the suite.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(
    TMUX is None and os.environ.get("CI") != "true", reason="tmux is not installed"
)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for tmux to reap it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def zombie_status(pid: int) -> int | None:
    """The exit status of `pid` if it has exited and nobody reaped it yet, read from
    /proc/PID/stat (field 52, in waitpid's form). tmux sometimes marks a pane dead without ever
    reaping its process, so its `pane_dead_status` stays empty although the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] != "Z":
        return None
    code = int(fields[-1])
    return 128 + (code & 0x7F) if code & 0x7F else code >> 8


def poll(what: str, check: Callable[[], object], limit: float, pane: Callable[[], str]) -> None:
    """Poll a condition until a deadline; the failure message carries the screen."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; the screen was:\n{pane()}")
        time.sleep(0.2)


@dataclass
class Terminal:
    """One tmux server with one session running a command (in the repository root); `pid` is
    the command's process."""

    socket: str
    pidfile: Path

    def tmux(self, *args: str) -> str:
        assert TMUX is not None, "tmux is required on CI"
        done = subprocess.run(
            [TMUX, "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        return done.stdout

    def pane(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    @property
    def pid(self) -> int | None:
        text = self.pidfile.read_text().strip() if self.pidfile.exists() else ""
        return int(text) if text else None

    def hang_up(self) -> None:
        """Close the terminal as a dropped SSH session does."""
        self.tmux("kill-server")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[[str], Terminal]]:
    started: list[Terminal] = []

    def start(command: str) -> Terminal:
        term = Terminal(f"nls-smoke-{uuid.uuid4().hex[:8]}", tmp_path / f"pid{len(started)}")
        started.append(term)
        shell = f"cd {ROOT} && echo $$ > {term.pidfile} && exec {command}"
        term.tmux("new-session", "-d", "-s", "main", "-x", "120", "-y", "40", shell)
        return term

    try:
        yield start
    finally:
        for term in started:
            term.hang_up()
            pid = term.pid
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)


def demo_command(tmp_path: Path) -> str:
    env = f"XDG_STATE_HOME={tmp_path / 'state'} PYTHONPATH={ROOT}"
    return (
        f"env {env} {sys.executable} -m console.cli "
        "demo --servers 30 --installers 3 --customers 6 --interval 5s"
    )


def test_demo_shows_the_live_grid_and_exits_on_hangup(
    terminal: Callable[[str], Terminal], tmp_path: Path
) -> None:
    term = terminal(demo_command(tmp_path))
    pane = term.pane
    poll("the console's pid", lambda: term.pid, 20, pane)
    pid = term.pid
    assert pid is not None
    poll("the grid", lambda: "CREST-0001" in pane() and "30 servers" in pane(), 60, pane)
    poll("probe results", lambda: "● UP" in pane(), 60, pane)
    os.kill(pid, signal.SIGCONT)  # as a hangup sends one: the console carries on as before
    faults = ("◔ PEND", "▲ PROB", "✖ DOWN")
    poll("a scenario fault", lambda: any(f in pane() for f in faults), 90, pane)
    screen = pane()
    assert "embedded" in screen and "next cycle" in screen
    term.keys("f")
    poll("the failing filter", lambda: "filter: down, problem or pending" in pane(), 20, pane)
    assert "● UP" not in pane().split("Status", 1)[1]
    term.keys("Enter")
    poll("the detail screen", lambda: "Server crest-" in pane(), 20, pane)
    # The demo's own mail server takes the alert mails: they show as sent, and can be read.
    term.keys("3")
    poll("a sent alert mail", lambda: " sent " in pane() and "[NLS]" in pane(), 90, pane)
    term.keys("Enter")
    poll("the mail's text", lambda: "Showing  the text body" in pane(), 20, pane)
    term.hang_up()
    poll("an exit on hangup", lambda: not alive(pid), 30, pane)


THREADS = textwrap.dedent(
    """
    import threading
    from textual.app import App
    from textual.widgets import Static
    from console.tui.app import NlsApp
    from tests.memsource import MemorySource

    class Threads(App):
        ticks = 0

        def compose(self):
            yield Static(id="threads")

        def on_mount(self):
            self.set_interval(0.1, self.show)

        def show(self):
            self.ticks += 1
            names = sorted(t.name for t in threading.enumerate() if t.name.startswith("textual"))
            self.query_one(Static).update(f"tick {self.ticks} threads: {' '.join(names)}.")

    Threads(driver_class=NlsApp(MemorySource([])).driver_class).run()
    """
)


def test_a_stray_sigcont_does_not_start_the_terminal_twice(
    terminal: Callable[[str], Terminal],
) -> None:
    """A hangup sends SIGCONT with SIGHUP; Textual 8.2 then started a second writer and input
    thread, which is how a closed SSH session left a console hanging (see console/tui/driver.py).
    The console's driver must resume only from a suspend of its own."""
    term = terminal(f"env PYTHONPATH={ROOT} {sys.executable} -c {shlex.quote(THREADS)}")
    pane = term.pane

    def tick() -> int:
        found = re.search(r"tick (\d+) ", pane())
        return int(found.group(1)) if found else -1

    poll("the thread list", lambda: tick() > 0, 30, pane)
    pid = term.pid
    assert pid is not None
    os.kill(pid, signal.SIGCONT)
    # The main thread runs a signal's Python handler before its next few bytecodes: two ticks
    # later the screen shows the threads as they are after the handler.
    after = tick() + 2
    poll("two more ticks", lambda: tick() >= after, 30, pane)
    assert "threads: textual-input textual-output." in pane()


def test_sigterm_ends_the_console_cleanly(
    terminal: Callable[[str], Terminal], tmp_path: Path
) -> None:
    """A service manager's SIGTERM ends the console like ctrl+q: terminal restored, exit 143."""
    command = demo_command(tmp_path).replace("--servers 30", "--servers 4")
    term = terminal(command)
    term.tmux("set-option", "-t", "main", "remain-on-exit", "on")
    pane = term.pane
    poll("the grid", lambda: "CREST-0001" in pane(), 60, pane)
    pid = term.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)

    def status() -> str:
        found = zombie_status(pid)
        if found is not None:
            return str(found)
        return term.tmux("display-message", "-p", "-t", "main", "#{pane_dead_status}").strip()

    poll("the console's exit", lambda: status() != "", 30, pane)
    assert status() == "143"


GUARDED = textwrap.dedent(
    """
    import signal, threading
    from console.tui.driver import HangupGuard
    guard = HangupGuard(0.2, 129)
    signal.signal(signal.SIGHUP, lambda *_: guard.trip())
    print("ready", flush=True)
    threading.Event().wait()  # stuck for good, as a deadlocked shutdown would be
    """
)


def test_a_stuck_console_still_ends_after_a_hangup() -> None:
    """The last resort behind every clean path: the hangup guard ends the process."""
    with subprocess.Popen(
        [sys.executable, "-c", GUARDED],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
            process.send_signal(signal.SIGHUP)
            assert process.wait(timeout=30) == 129
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
